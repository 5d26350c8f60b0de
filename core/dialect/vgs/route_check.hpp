// SPDX-License-Identifier: Apache-2.0
#pragma once
// Every problem of a profile's routes at once, located for messages that point into the
// profile (config check and serve), where RouteTable::compile stops at the first.

#include <string>
#include <vector>

#include "core/profile/profile.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::dialect::vgs {

// `key` is the value's profile key ("routes[0].host", "routes[0].filters[1].targets[2]",
// "routes[0].filters[1]" for the filter as a whole) and error.column, when not 0, the 1-based
// byte column inside that value (where a regex or JSONPath goes wrong).
struct RouteProblem {
    std::string key;
    Error error;
};

// Every problem RouteTable::compile would stop at, in profile order (empty: they compile).
std::vector<RouteProblem> check_routes(const std::vector<profile::Route>& routes);

} // namespace vaultfwd::dialect::vgs
