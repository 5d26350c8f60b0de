// SPDX-License-Identifier: Apache-2.0
#include "core/template/text.hpp"

#include <cstdint>
#include <cstring>

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

} // namespace

std::optional<std::size_t> find_invalid_utf8(std::string_view s) {
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

std::string_view trim_unicode(std::string_view s) {
    std::size_t b = 0;
    while (b < s.size()) {
        std::size_t len;
        if (!is_white_space(decode(s, b, len)))
            break;
        b += len;
    }
    std::size_t e = s.size();
    while (e > b) {
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
