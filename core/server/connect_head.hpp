// SPDX-License-Identifier: Apache-2.0
#pragma once
// The one request head the forward proxy reads by hand: the first head on its port, to tell a
// CONNECT (answered by the proxy itself) from an absolute-form request (handed to httplib).
// Everything else about HTTP is parsed by cpp-httplib.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/http/message.hpp"

namespace vaultfwd::server {

struct Head {
    std::string method;
    std::string target;
    std::vector<http::Header> headers; // names as sent, values trimmed
};

// A whole head (request line and header lines, CRLF or LF, up to and including the blank
// line). Nothing for a malformed request line (not three parts, a method that is not a token, a
// version that is not HTTP/1.x) or a malformed header line (no colon, an empty name, obsolete
// line folding).
std::optional<Head> parse_head(std::string_view text);

// The "host:port" or "[v6]:port" of a CONNECT, the host normalised as tls::normalize_host does
// (lower case, no trailing dot, no brackets); nothing for a missing or out-of-range port, an
// unbracketed IPv6 address, a wildcard or a name that is not a plausible host.
std::optional<std::pair<std::string, int>> parse_authority(const std::string& target);

} // namespace vaultfwd::server
