// SPDX-License-Identifier: Apache-2.0
#include "core/util/json_depth.hpp"

#include <utility>
#include <vector>

namespace vaultfwd::util {

bool json_deeper_than(const nlohmann::json& doc, std::size_t limit) {
    std::vector<std::pair<const nlohmann::json*, std::size_t>> stack{{&doc, 1}};
    while (!stack.empty()) {
        auto [node, depth] = stack.back();
        stack.pop_back();
        if (!node->is_structured())
            continue;
        if (depth > limit)
            return true;
        for (const auto& child : *node)
            stack.emplace_back(&child, depth + 1);
    }
    return false;
}

} // namespace vaultfwd::util
