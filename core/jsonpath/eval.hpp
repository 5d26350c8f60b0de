// SPDX-License-Identifier: Apache-2.0
#pragma once
// Evaluation of a compiled query against a document (internal to jsonpath).

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/jsonpath/ast.hpp"

namespace vaultfwd::jsonpath::detail {

// The normalized paths of the nodes being selected, as a tree of steps that share their
// prefixes, so a path costs one entry per step and is only spelled out for nodes in the result.
class PathTree {
  public:
    static constexpr std::size_t k_root = 0;

    PathTree();
    std::size_t add_member(std::size_t parent, const std::string& name);
    std::size_t add_index(std::size_t parent, std::size_t index);
    std::string render(std::size_t node) const;
    // The steps from the root down to `node` (the root itself left out).
    std::vector<std::size_t> chain(std::size_t node) const;
    // Document order of two steps from the same parent node: negative, zero or positive.
    int compare_siblings(std::size_t a, std::size_t b) const;

  private:
    struct Step {
        std::size_t parent;
        const std::string* name; // points into the document; null for an index step
        std::size_t index;
    };
    std::vector<Step> m_steps;
};

struct Located {
    const nlohmann::json* value;
    std::size_t path; // a PathTree node, or PathTree::k_root when paths are not tracked
};

// The nodelist of `query` run against `root`; records paths in `paths`.
std::vector<Located> evaluate(const CompiledQuery& query, const nlohmann::json& root,
                              PathTree& paths);

} // namespace vaultfwd::jsonpath::detail
