// SPDX-License-Identifier: Apache-2.0
#pragma once
// Nesting depth of parsed JSON, measured without recursion: nlohmann's dump() recurses once per
// level, so documents from the network are checked before they are ever serialised again.

#include <cstddef>
#include <nlohmann/json.hpp>

namespace vaultfwd::util {

// True when `doc` nests arrays/objects more than `limit` levels deep.
bool json_deeper_than(const nlohmann::json& doc, std::size_t limit);

inline constexpr std::size_t k_max_json_depth = 256;

} // namespace vaultfwd::util
