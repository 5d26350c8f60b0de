// SPDX-License-Identifier: Apache-2.0
#pragma once
// RFC 9535 JSONPath over nlohmann::json: compile a query once, then select or replace many times.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/util/result.hpp"

namespace vaultfwd::jsonpath {

namespace detail {
struct CompiledQuery;
}

// A compiled query. Cheap to copy; immutable, so one Query may be evaluated from several
// threads at once.
class Query {
  public:
    // Made by compile().
    explicit Query(std::shared_ptr<const detail::CompiledQuery> compiled);

    // The query text it was compiled from.
    const std::string& text() const;
    // True when the query is a singular query (only name and index selectors in child
    // segments), so that it selects at most one node in any document.
    bool is_singular() const;

    // For the evaluator; not for callers outside core/jsonpath.
    const detail::CompiledQuery& compiled() const { return *m_compiled; }

  private:
    std::shared_ptr<const detail::CompiledQuery> m_compiled;
};

// Compiles an RFC 9535 query. Every query the RFC's grammar, singular-query rules and function
// type system reject fails with code "jsonpath.syntax", a message naming the problem, and the
// 1-based line and column (in characters) where it was found.
Result<Query> compile(std::string_view text);

// One selected node: its RFC 9535 normalized path (like $['a'][0]) and the value inside the
// document passed to select(), valid while that document is alive and unchanged.
struct Node {
    std::string path;
    const nlohmann::json* value = nullptr;
};

// The nodelist the query selects from `doc`, in the RFC's order (objects are visited in
// nlohmann::json's key order). The same node appears more than once when the query selects it
// more than once (for example $['a','a']).
std::vector<Node> select(const Query& query, const nlohmann::json& doc);

// The replacement for one selected node, given its current value and normalized path;
// std::nullopt leaves the node unchanged.
using Replacer = std::function<std::optional<nlohmann::json>(const nlohmann::json& current,
                                                             const std::string& path)>;

// Replaces in place each distinct node the query selects from `doc` with fn's result and returns
// how many were replaced. fn is called once per distinct node, in document order except that a
// node comes after the selected nodes inside it (post-order): replacing a node never disturbs
// one still to come, and fn sees a node with its selected descendants already replaced. Paths
// are those of the document before any replacement.
std::size_t replace(const Query& query, nlohmann::json& doc, const Replacer& fn);

// The normalized-path form of a member name, quotes included: 'a', 'it\'s', '\u000b'.
std::string normalized_name(std::string_view name);

} // namespace vaultfwd::jsonpath
