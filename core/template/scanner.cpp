// SPDX-License-Identifier: Apache-2.0
#include "core/template/scanner.hpp"

#include <cstring>

#include "core/util/simd.hpp"

#if VAULTFWD_X86
#include <immintrin.h>
#endif

namespace vaultfwd::tmpl {

namespace {

#if VAULTFWD_X86
// The first "{{" at or after `from` (its offset), or n: 32 places per step, each compared with
// '{' and so is the place after it.
__attribute__((target("avx2"))) std::size_t find_open_avx2(const char* s, std::size_t from,
                                                           std::size_t n) {
    const __m256i brace = _mm256_set1_epi8('{');
    std::size_t i = from;
    for (; i + 33 <= n; i += 32) {
        const __m256i here = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i));
        const __m256i next = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i + 1));
        const auto hits = static_cast<unsigned>(_mm256_movemask_epi8(
            _mm256_and_si256(_mm256_cmpeq_epi8(here, brace), _mm256_cmpeq_epi8(next, brace))));
        if (hits)
            return i + static_cast<std::size_t>(__builtin_ctz(hits));
    }
    for (; i + 1 < n; ++i)
        if (s[i] == '{' && s[i + 1] == '{')
            return i;
    return n;
}

// The first '{' or '}' at or after `from` and before n - 1 (a pair can start only there), or
// n - 1: inside a token, 32 places per step.
__attribute__((target("avx2"))) std::size_t find_brace_avx2(const char* s, std::size_t from,
                                                            std::size_t n) {
    const __m256i open = _mm256_set1_epi8('{');
    const __m256i close = _mm256_set1_epi8('}');
    std::size_t i = from;
    for (; i + 33 <= n; i += 32) {
        const __m256i here = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i));
        const auto hits = static_cast<unsigned>(_mm256_movemask_epi8(
            _mm256_or_si256(_mm256_cmpeq_epi8(here, open), _mm256_cmpeq_epi8(here, close))));
        if (hits)
            return i + static_cast<std::size_t>(__builtin_ctz(hits));
    }
    while (i + 1 < n && s[i] != '{' && s[i] != '}')
        ++i;
    return i;
}
#endif

// The first '{' or '}' at or after `from` and before n - 1, or n - 1 (n when from >= n).
std::size_t find_brace(const char* s, std::size_t from, std::size_t n) {
#if VAULTFWD_X86
    if (util::has_avx2())
        return find_brace_avx2(s, from, n);
#endif
    std::size_t i = from;
    while (i + 1 < n && s[i] != '{' && s[i] != '}')
        ++i;
    return i;
}

// The first "{{" at or after `from`, or n.
std::size_t find_open(const char* s, std::size_t from, std::size_t n) {
#if VAULTFWD_X86
    if (util::has_avx2())
        return find_open_avx2(s, from, n);
#endif
    std::size_t i = from;
    while (i + 1 < n) {
        const void* hit = std::memchr(s + i, '{', n - 1 - i);
        if (!hit)
            return n;
        std::size_t j = static_cast<std::size_t>(static_cast<const char*>(hit) - s);
        if (s[j + 1] == '{')
            return j;
        i = j + 1;
    }
    return n;
}

} // namespace

BraceScan scan_braces(std::string_view body) {
    BraceScan out;
    const char* s = body.data();
    const std::size_t n = body.size();
    std::size_t i = 0;
    bool open = false;
    std::size_t open_at = 0, inner_begin = 0;
    // Footprint looks at (current, next) pairs, so a pair can only start before the last byte.
    while (i + 1 < n) {
        if (!open) {
            // Token-sparse bodies spend nearly all their time here: skip to the next "{{".
            std::size_t j = find_open(s, i, n);
            if (j >= n)
                break;
            i = j + 2;
            while (i < n && s[i] == '{')
                ++i;
            open = true;
            open_at = i - 2;
            inner_begin = i;
            continue;
        }
        std::size_t j = find_brace(s, i, n);
        if (j + 1 >= n)
            break;
        if (s[j] == '{' && s[j + 1] == '{') {
            // The open token was not real: it stays text and this `{{` starts over.
            out.unclosed.push_back(open_at);
            open = false;
            i = j;
            continue;
        }
        if (s[j] == '}' && s[j + 1] == '}') {
            out.spans.push_back(BraceSpan{open_at, j + 2, body.substr(inner_begin, j - inner_begin)});
            open = false;
            i = j + 2;
            continue;
        }
        i = j + 1;
    }
    if (open)
        out.unclosed.push_back(open_at);
    return out;
}

} // namespace vaultfwd::tmpl
