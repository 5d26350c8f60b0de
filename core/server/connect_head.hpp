// SPDX-License-Identifier: Apache-2.0
#pragma once
// The target of a CONNECT (its head is read by http::Parser like every other).

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/http/message.hpp"

namespace vaultfwd::server {

// The "host:port" or "[v6]:port" of a CONNECT, the host normalised as tls::normalize_host does
// (lower case, no trailing dot, no brackets); nothing for a missing or out-of-range port, an
// unbracketed IPv6 address, a wildcard or a name that is not a plausible host.
std::optional<std::pair<std::string, int>> parse_authority(const std::string& target);

} // namespace vaultfwd::server
