// SPDX-License-Identifier: Apache-2.0
#pragma once
// The compiled form of a query, shared by the parser and the evaluator (internal to jsonpath).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vaultfwd::jsonpath::detail {

class Regex;
struct Expr;

struct Slice {
    std::optional<std::int64_t> start;
    std::optional<std::int64_t> end;
    std::int64_t step = 1;
};

enum class SelectorKind { name, wildcard, index, slice, filter };

struct Selector {
    SelectorKind kind = SelectorKind::wildcard;
    std::string name;
    std::int64_t index = 0;
    Slice slice;
    std::unique_ptr<Expr> filter;
};

struct Segment {
    bool descendant = false;
    std::vector<Selector> selectors;
};

// A query: absolute ($...) or relative to the current node (@...).
struct PathExpr {
    bool absolute = true;
    std::vector<Segment> segments;

    // Only child segments, each with a single name or index selector.
    bool singular() const;
};

enum class Function { length, count, match, search, value };
// RFC 9535 section 2.4.1: the types of function parameters and results.
enum class Type { value, logical, nodes };
enum class ExprKind { literal, query, function, logical_or, logical_and, logical_not, comparison };
enum class CompareOp { eq, ne, lt, le, gt, ge };

struct Expr {
    ExprKind kind = ExprKind::literal;
    std::size_t offset = 0; // where it starts in the query text, for error positions
    nlohmann::json literal;
    PathExpr query;
    Function function = Function::length;
    CompareOp op = CompareOp::eq;
    // Operands of logical operators and comparisons, arguments of functions.
    std::vector<Expr> operands;
    // match()/search() whose pattern is a string literal: compiled once with the query; null
    // when the pattern is not a valid I-Regexp (the function is then always false).
    std::shared_ptr<const Regex> regex;
    bool regex_compiled = false;
};

struct CompiledQuery {
    std::string text;
    PathExpr path;
};

// The declared result type of a function.
Type result_type(Function f);

} // namespace vaultfwd::jsonpath::detail
