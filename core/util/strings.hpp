// SPDX-License-Identifier: Apache-2.0
#pragma once
// Small string helpers with nothing vaultfwd-specific in them.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vaultfwd::util {

std::string_view trim(std::string_view s);
constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }
std::string to_lower(std::string_view s); // ASCII letters only

bool iequals(std::string_view a, std::string_view b);
bool starts_with_icase(std::string_view s, std::string_view prefix);
// Splits on every occurrence of `sep`; keeps empty pieces.
std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::string replace_all(std::string_view s, std::string_view from, std::string_view to);

// Lowercase hex of the bytes; from_hex accepts either case and fails on odd length or non-hex.
std::string to_hex(std::string_view bytes);
std::optional<std::string> from_hex(std::string_view hex);
// Standard base64 with padding; base64url without padding. Decoders accept either padding.
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);
// RFC 3986 percent-decoding ('+' stays '+'); fails on a malformed escape.
std::optional<std::string> percent_decode(std::string_view text);
std::string percent_encode(std::string_view bytes);

// True when the bytes are well-formed UTF-8.
bool is_valid_utf8(std::string_view s);
// Edit distance, for "did you mean" suggestions.
std::size_t levenshtein(std::string_view a, std::string_view b);
// The candidate closest to `word` (distance at most max(2, len/3)), or empty.
std::string nearest(std::string_view word, const std::vector<std::string>& candidates);

} // namespace vaultfwd::util
