// SPDX-License-Identifier: Apache-2.0
#pragma once
// Where values sit in a JSON text, by their RFC 9535 normalized path ($['a'][0]), so that a
// filter can swap a few values in place and leave every other byte of the body as the client
// wrote it (spacing, key order, number spelling, escapes).

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/util/result.hpp"

namespace vaultfwd::dialect::vgs {

struct Span {
    std::size_t begin = 0; // first byte of the value (the opening quote of a string)
    std::size_t end = 0;   // one past its last byte
};

// The spans of the values at `paths` in `text`, which must be valid JSON (parse it first).
// A path that occurs twice (a duplicated member name) maps to its last occurrence, the one a
// JSON parser keeps. Error "vgs.json_too_deep" past 1000 levels of nesting.
Result<std::map<std::string, Span>> locate_json_values(std::string_view text,
                                                       const std::set<std::string>& paths);

// `text` with each span replaced by its text; spans must not overlap.
std::string splice(std::string_view text, std::vector<std::pair<Span, std::string>> replacements);

} // namespace vaultfwd::dialect::vgs
