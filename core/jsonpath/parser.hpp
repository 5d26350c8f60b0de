// SPDX-License-Identifier: Apache-2.0
#pragma once
// RFC 9535 query text to its compiled form (internal to jsonpath).

#include <string_view>

#include "core/jsonpath/ast.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::jsonpath::detail {

// Parses and type-checks a whole query; "jsonpath.syntax" with line and column on failure.
Result<CompiledQuery> parse_query(std::string_view text);

} // namespace vaultfwd::jsonpath::detail
