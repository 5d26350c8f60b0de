// SPDX-License-Identifier: Apache-2.0
#pragma once
// UTF-8 helpers the template code needs on hot paths: validation that says where it failed,
// Unicode-whitespace trimming (Footprint trims like Rust's str::trim), code point counting, and
// 1-based line/column positions with the column counted in characters.

#include <cstddef>
#include <optional>
#include <string_view>

namespace vaultfwd::tmpl {

// Offset of the first byte that is not part of well-formed UTF-8 (overlongs, surrogates and
// code points above U+10FFFF are ill-formed), or nullopt when all of `s` is valid.
std::optional<std::size_t> find_invalid_utf8(std::string_view s);
// The same, one code point at a time: what find_invalid_utf8 falls back to without AVX2, and
// what tests compare it with.
std::optional<std::size_t> find_invalid_utf8_scalar(std::string_view s);

// Trims White_Space characters (ASCII whitespace, U+0085, U+00A0, U+1680, U+2000..U+200A,
// U+2028, U+2029, U+202F, U+205F, U+3000) from both ends. `s` must be valid UTF-8.
std::string_view trim_unicode(std::string_view s);

// Code points in valid UTF-8 text.
std::size_t count_code_points(std::string_view s);
// Byte offset of code point number `n` (0-based) in valid UTF-8, or s.size() when shorter.
std::size_t offset_of_code_point(std::string_view s, std::size_t n);

struct Position {
    int line = 1;
    int column = 1;
};

// Maps byte offsets of one text to 1-based line and column (column in code points). Successive
// calls with non-decreasing offsets cost O(total distance), so positioning every token of a
// large body is a single pass; a smaller offset restarts from the top.
class PositionCounter {
  public:
    explicit PositionCounter(std::string_view text) : m_text(text) {}
    Position at(std::size_t offset);

  private:
    std::string_view m_text;
    std::size_t m_pos = 0;
    int m_line = 1;
    std::size_t m_line_start = 0;
    std::size_t m_col_pos = 0;
    std::size_t m_col_chars = 0;
};

} // namespace vaultfwd::tmpl
