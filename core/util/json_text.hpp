// SPDX-License-Identifier: Apache-2.0
#pragma once
// Parsing JSON that a user or a file handed us, into an Error rather than an exception. Every
// failure nlohmann can raise while parsing is covered (syntax errors, and numbers too large for a
// double, which nlohmann reports as out_of_range rather than parse_error), with a 1-based
// line/column, and the message never quotes the input: nlohmann's "last read: '…'" and
// "number overflow parsing '…'" would copy a piece of the document (maybe a secret) into a log.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/util/result.hpp"

namespace vaultfwd::util {

// The parsed document, or `code` with "invalid JSON: <reason>" at the line/column of the fault.
Result<nlohmann::json> parse_json(std::string_view text, const std::string& code);

// 1-based line and column (in bytes) of byte offset `at` in `text`.
std::pair<int, int> line_column(std::string_view text, std::size_t at);

} // namespace vaultfwd::util
