// SPDX-License-Identifier: Apache-2.0
#include "core/template/text.hpp"

#include <cstdint>
#include <cstring>

#include "core/util/simd.hpp"

#if VAULTFWD_X86
#include <immintrin.h>
#endif

namespace vaultfwd::tmpl {

namespace {

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Decodes the code point at `i` of valid UTF-8, returning it and its length.
char32_t decode(std::string_view s, std::size_t i, std::size_t& len) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
        len = 1;
        return c;
    }
    len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    // A stray continuation byte or a cut sequence is one U+FFFD of one byte, so callers that
    // step by `len` never run past the end of `s`.
    if (c < 0xC0 || c > 0xF7 || i + len > s.size()) {
        len = 1;
        return 0xFFFD;
    }
    char32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (std::size_t k = 1; k < len; ++k) {
        auto cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xC0) != 0x80) {
            len = 1;
            return 0xFFFD;
        }
        cp = (cp << 6) | (cc & 0x3F);
    }
    return cp;
}

bool is_white_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

#if VAULTFWD_X86
// UTF-8 validation 32 bytes at a time with AVX2, after Keiser and Lemire, "Validating UTF-8 in
// less than one instruction per byte" (2021): three 16-entry table lookups on the high and low
// nibbles of each byte and of the byte before it flag every ill-formed two-byte pattern
// (too short, too long, overlong, surrogate, above U+10FFFF), and a saturating subtraction
// checks where a third or fourth continuation byte is due. It only says whether the text is
// valid; the scalar loop then finds where it is not.
namespace avx2 {

constexpr std::uint8_t k_too_short = 1 << 0;
constexpr std::uint8_t k_too_long = 1 << 1;
constexpr std::uint8_t k_overlong_3 = 1 << 2;
constexpr std::uint8_t k_too_large = 1 << 3;
constexpr std::uint8_t k_surrogate = 1 << 4;
constexpr std::uint8_t k_overlong_2 = 1 << 5;
constexpr std::uint8_t k_too_large_1000 = 1 << 6;
constexpr std::uint8_t k_overlong_4 = 1 << 6;
constexpr std::uint8_t k_two_conts = 1 << 7;
constexpr std::uint8_t k_carry = k_too_short | k_too_long | k_two_conts;

__attribute__((target("avx2"))) inline __m256i table(const std::uint8_t (&t)[16]) {
    __m128i half = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t));
    return _mm256_broadcastsi128_si256(half);
}

__attribute__((target("avx2"))) inline __m256i high_nibbles(__m256i v) {
    return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0F));
}

// The 32 bytes ending N bytes before the end of `input`: the last N of `prev` then `input`.
template <int N>
__attribute__((target("avx2"))) inline __m256i before(__m256i input, __m256i prev) {
    return _mm256_alignr_epi8(input, _mm256_permute2x128_si256(prev, input, 0x21), 16 - N);
}

struct Checker {
    __m256i byte_1_high, byte_1_low, byte_2_high, incomplete_max;
    __m256i error, prev_input, prev_incomplete;

    __attribute__((target("avx2"))) Checker() {
        static constexpr std::uint8_t t1[16] = {k_too_long,
                                                k_too_long,
                                                k_too_long,
                                                k_too_long,
                                                k_too_long,
                                                k_too_long,
                                                k_too_long,
                                                k_too_long,
                                                k_two_conts,
                                                k_two_conts,
                                                k_two_conts,
                                                k_two_conts,
                                                k_too_short | k_overlong_2,
                                                k_too_short,
                                                k_too_short | k_overlong_3 | k_surrogate,
                                                k_too_short | k_too_large | k_too_large_1000 |
                                                    k_overlong_4};
        static constexpr std::uint8_t t2[16] = {
            k_carry | k_overlong_3 | k_overlong_2 | k_overlong_4,
            k_carry | k_overlong_2,
            k_carry,
            k_carry,
            k_carry | k_too_large,
            k_carry | k_too_large | k_too_large_1000,
            k_carry | k_too_large | k_too_large_1000,
            k_carry | k_too_large | k_too_large_1000,
            k_carry | k_too_large | k_too_large_1000,
            k_carry | k_too_large | k_too_large_1000,
            k_carry | k_too_large | k_too_large_1000,
            k_carry | k_too_large | k_too_large_1000,
            k_carry | k_too_large | k_too_large_1000,
            k_carry | k_too_large | k_too_large_1000 | k_surrogate,
            k_carry | k_too_large | k_too_large_1000,
            k_carry | k_too_large | k_too_large_1000};
        static constexpr std::uint8_t t3[16] = {
            k_too_short,
            k_too_short,
            k_too_short,
            k_too_short,
            k_too_short,
            k_too_short,
            k_too_short,
            k_too_short,
            k_too_long | k_overlong_2 | k_two_conts | k_overlong_3 | k_too_large_1000 |
                k_overlong_4,
            k_too_long | k_overlong_2 | k_two_conts | k_overlong_3 | k_too_large,
            k_too_long | k_overlong_2 | k_two_conts | k_surrogate | k_too_large,
            k_too_long | k_overlong_2 | k_two_conts | k_surrogate | k_too_large,
            k_too_short,
            k_too_short,
            k_too_short,
            k_too_short};
        byte_1_high = table(t1);
        byte_1_low = table(t2);
        byte_2_high = table(t3);
        // A lead byte in the last three places whose sequence does not fit in the block.
        incomplete_max = _mm256_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, static_cast<char>(0xF0 - 1),
                                          static_cast<char>(0xE0 - 1), static_cast<char>(0xC0 - 1));
        error = prev_input = prev_incomplete = _mm256_setzero_si256();
    }

    __attribute__((target("avx2"))) void block(__m256i input) {
        if (_mm256_movemask_epi8(input) == 0) {
            // ASCII: fine unless the block before ended inside a sequence.
            error = _mm256_or_si256(error, prev_incomplete);
            prev_input = input;
            return;
        }
        const __m256i prev1 = before<1>(input, prev_input);
        const __m256i special = _mm256_and_si256(
            _mm256_and_si256(
                _mm256_shuffle_epi8(byte_1_high, high_nibbles(prev1)),
                _mm256_shuffle_epi8(byte_1_low, _mm256_and_si256(prev1, _mm256_set1_epi8(0x0F)))),
            _mm256_shuffle_epi8(byte_2_high, high_nibbles(input)));
        const __m256i third =
            _mm256_subs_epu8(before<2>(input, prev_input), _mm256_set1_epi8(0xE0 - 0x80));
        const __m256i fourth = _mm256_subs_epu8(before<3>(input, prev_input),
                                                _mm256_set1_epi8(static_cast<char>(0xF0 - 0x80)));
        const __m256i must_continue = _mm256_and_si256(_mm256_or_si256(third, fourth),
                                                       _mm256_set1_epi8(static_cast<char>(0x80)));
        error = _mm256_or_si256(error, _mm256_xor_si256(must_continue, special));
        prev_incomplete = _mm256_subs_epu8(input, incomplete_max);
        prev_input = input;
    }
};

__attribute__((target("avx2"))) bool valid(const unsigned char* p, std::size_t n) {
    Checker c;
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32)
        c.block(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    if (i < n) {
        // The tail, padded with ASCII zeros: a sequence cut by the end fails as too short.
        unsigned char last[32] = {};
        std::memcpy(last, p + i, n - i);
        c.block(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(last)));
    }
    const __m256i error = _mm256_or_si256(c.error, c.prev_incomplete);
    return _mm256_testz_si256(error, error) != 0;
}

} // namespace avx2
#endif

} // namespace

std::optional<std::size_t> find_invalid_utf8_scalar(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t n = s.size(), i = 0;
    while (i < n) {
        // Bodies are mostly ASCII: skip eight bytes at a time while no high bit is set.
        while (i + 8 <= n) {
            std::uint64_t w;
            std::memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        unsigned char c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len;
        char32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (n - i < len)
            return i;
        for (std::size_t k = 1; k < len; ++k) {
            if (!is_continuation(p[i + k]))
                return i;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return std::nullopt;
}

std::optional<std::size_t> find_invalid_utf8(std::string_view s) {
#if VAULTFWD_X86
    // Long bodies are nearly always valid: prove it at AVX2 speed, search only when not.
    if (s.size() >= 64 && util::has_avx2() &&
        avx2::valid(reinterpret_cast<const unsigned char*>(s.data()), s.size()))
        return std::nullopt;
#endif
    return find_invalid_utf8_scalar(s);
}

std::string_view trim_unicode(std::string_view s) {
    // ASCII is settled here, the rest decoded: every token of a render is trimmed, and its
    // ends are nearly always a space or a letter.
    auto ascii_space = [](unsigned char c) { return c == ' ' || (c >= 0x09 && c <= 0x0D); };
    std::size_t b = 0;
    while (b < s.size()) {
        const auto c = static_cast<unsigned char>(s[b]);
        if (c < 0x80) {
            if (!ascii_space(c))
                break;
            ++b;
            continue;
        }
        std::size_t len;
        if (!is_white_space(decode(s, b, len)))
            break;
        b += len;
    }
    std::size_t e = s.size();
    while (e > b) {
        const auto last = static_cast<unsigned char>(s[e - 1]);
        if (last < 0x80) {
            if (!ascii_space(last))
                break;
            --e;
            continue;
        }
        std::size_t start = e - 1;
        while (start > b && is_continuation(static_cast<unsigned char>(s[start])))
            --start;
        std::size_t len;
        if (!is_white_space(decode(s, start, len)))
            break;
        e = start;
    }
    return s.substr(b, e - b);
}

std::size_t count_code_points(std::string_view s) {
    std::size_t n = 0;
    for (char c : s)
        n += !is_continuation(static_cast<unsigned char>(c));
    return n;
}

std::size_t offset_of_code_point(std::string_view s, std::size_t n) {
    std::size_t seen = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (is_continuation(static_cast<unsigned char>(s[i])))
            continue;
        if (seen == n)
            return i;
        ++seen;
    }
    return s.size();
}

Position PositionCounter::at(std::size_t offset) {
    if (offset > m_text.size())
        offset = m_text.size();
    if (offset < m_pos)
        *this = PositionCounter(m_text);
    const char* base = m_text.data();
    while (m_pos < offset) {
        const void* nl = std::memchr(base + m_pos, '\n', offset - m_pos);
        if (!nl) {
            m_pos = offset;
            break;
        }
        m_pos = static_cast<std::size_t>(static_cast<const char*>(nl) - base) + 1;
        ++m_line;
        m_line_start = m_pos;
    }
    if (m_col_pos < m_line_start) {
        m_col_pos = m_line_start;
        m_col_chars = 0;
    }
    m_col_chars += count_code_points(m_text.substr(m_col_pos, offset - m_col_pos));
    m_col_pos = offset;
    return Position{m_line, static_cast<int>(m_col_chars) + 1};
}

} // namespace vaultfwd::tmpl
