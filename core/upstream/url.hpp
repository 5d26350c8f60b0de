// SPDX-License-Identifier: Apache-2.0
#pragma once
// Destination URLs and the host allowlist, checked against the host that will really be dialed.

#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.hpp"

namespace vaultfwd::upstream {

struct Url {
    std::string scheme; // "http" or "https", lower-case
    std::string host;   // lower-case; IPv6 without brackets
    int port = 0;       // explicit or the scheme's default
    std::string path_and_query = "/";
    bool ipv6 = false;

    std::string host_for_url() const { return ipv6 ? "[" + host + "]" : host; }
    // "https://host:port/path?query" with the port only when not the default.
    std::string to_string() const;
};

// Parses an absolute http(s) URL. Refuses userinfo ("user@host"), other schemes, control or
// space characters, empty hosts and bad ports ("upstream.bad_url", message names the problem).
Result<Url> parse_url(std::string_view text);

struct Allowlist {
    std::vector<std::string> https; // "api.example.com", "*.example.com" (subdomains), "*"
    std::vector<std::string> http;  // hosts that may be reached over plain http
};

// Checks the host that will be dialed: "upstream.host_not_allowed" (with the host and where to
// allow it) or "upstream.http_not_allowed" for plain http to a host not in `http`.
Result<void> check_allowed(const Url& url, const Allowlist& allow);
bool host_matches(std::string_view host, std::string_view pattern);

} // namespace vaultfwd::upstream
