// SPDX-License-Identifier: Apache-2.0
#include "core/server/connect_head.hpp"

#include <cctype>

#include "core/tls/minter.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::server {

std::optional<Head> parse_head(std::string_view text) {
    auto lines = util::split(text, '\n');
    if (lines.empty())
        return std::nullopt;
    auto strip = [](std::string s) {
        if (!s.empty() && s.back() == '\r')
            s.pop_back();
        return s;
    };
    auto parts = util::split(strip(lines[0]), ' ');
    if (parts.size() != 3 || parts[0].empty() || parts[1].empty() ||
        parts[2].rfind("HTTP/1.", 0) != 0 || !http::is_token(parts[0]))
        return std::nullopt;
    Head head{parts[0], parts[1], {}};
    for (std::size_t i = 1; i < lines.size(); ++i) {
        std::string line = strip(lines[i]);
        if (line.empty())
            continue;
        auto colon = line.find(':');
        if (colon == std::string::npos || colon == 0 || line[0] == ' ' || line[0] == '\t')
            return std::nullopt; // no obsolete line folding, no garbage
        head.headers.push_back({line.substr(0, colon), std::string(util::trim(line.substr(colon + 1)))});
    }
    return head;
}

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
        if (host.find(':') == std::string::npos)
            return std::nullopt;
    } else if (host.find(':') != std::string::npos) {
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
