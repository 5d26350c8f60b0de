// SPDX-License-Identifier: Apache-2.0
#include "core/server/connect_head.hpp"

#include <arpa/inet.h>
#include <cctype>

#include "core/tls/minter.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::server {

std::optional<std::pair<std::string, int>> parse_authority(const std::string& target) {
    auto colon = target.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == target.size() ||
        target.size() - colon - 1 > 5)
        return std::nullopt;
    std::string host = target.substr(0, colon);
    if (host.front() == '[') {
        if (host.back() != ']')
            return std::nullopt;
        host = host.substr(1, host.size() - 2);
        // Brackets hold an IPv6 address and nothing else (the fuzzer found "[::…\r]]:1" let
        // through with a ']' and control bytes in the host).
        in6_addr addr{};
        if (host.find('\0') != std::string::npos || ::inet_pton(AF_INET6, host.c_str(), &addr) != 1)
            return std::nullopt;
    } else if (host.find_first_of(":[]") != std::string::npos) {
        return std::nullopt;
    }
    int port = 0;
    for (char c : target.substr(colon + 1)) {
        if (!std::isdigit(static_cast<unsigned char>(c)))
            return std::nullopt;
        port = port * 10 + (c - '0');
    }
    std::string norm = tls::normalize_host(host);
    if (port < 1 || port > 65535 || norm.empty() || norm.find('*') != std::string::npos)
        return std::nullopt;
    return std::make_pair(norm, port);
}

} // namespace vaultfwd::server
