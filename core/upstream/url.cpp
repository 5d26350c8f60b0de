// SPDX-License-Identifier: Apache-2.0
#include "core/upstream/url.hpp"

#include <arpa/inet.h>
#include <cctype>

#include "core/util/strings.hpp"

namespace vaultfwd::upstream {

std::string Url::to_string() const {
    bool default_port = (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
    return scheme + "://" + host_for_url() + (default_port ? "" : ":" + std::to_string(port)) +
           path_and_query;
}

Result<Url> parse_url(std::string_view text) {
    auto bad = [&](const std::string& why) {
        return make_error("upstream.bad_url", "destination URL is invalid: " + why);
    };
    for (unsigned char c : text)
        if (c <= 0x20 || c == 0x7f)
            return bad("it contains a space or control character");
    Url url;
    auto sep = text.find("://");
    if (sep == std::string_view::npos)
        return bad("it must start with https:// or http://");
    url.scheme = util::to_lower(text.substr(0, sep));
    if (url.scheme != "https" && url.scheme != "http")
        return bad("scheme \"" + url.scheme + "\" is not http or https");
    auto rest = text.substr(sep + 3);
    auto end = rest.find_first_of("/?#");
    auto authority = rest.substr(0, end);
    std::string_view tail = end == std::string_view::npos ? "" : rest.substr(end);
    if (authority.find('@') != std::string_view::npos)
        return bad("user info (user@host) is not allowed");
    if (authority.find('\\') != std::string_view::npos)
        return bad("the host contains a backslash");
    std::string_view host, port;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos)
            return bad("unterminated IPv6 address");
        host = authority.substr(1, close - 1);
        auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':')
                return bad("unexpected text after the IPv6 address");
            port = after.substr(1);
        }
        in6_addr addr;
        std::string h(host);
        if (inet_pton(AF_INET6, h.c_str(), &addr) != 1)
            return bad("\"" + h + "\" is not an IPv6 address");
        url.ipv6 = true;
    } else {
        auto colon = authority.rfind(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos)
            port = authority.substr(colon + 1);
    }
    if (host.empty())
        return bad("the host is empty");
    for (unsigned char c : host)
        if (!(std::isalnum(c) || c == '-' || c == '.' || c == '_' || (url.ipv6 && c == ':')))
            return bad("the host contains '" + std::string(1, static_cast<char>(c)) + "'");
    url.host = util::to_lower(host);
    if (!url.ipv6) {
        if (url.host.back() == '.')
            url.host.pop_back(); // "example.com." dials the same host; compare without the dot
        if (url.host.empty() || url.host.front() == '.' || url.host.back() == '.' ||
            url.host.find("..") != std::string::npos)
            return bad("the host \"" + std::string(host) + "\" has an empty label");
    }
    if (!port.empty()) {
        if (port.size() > 5)
            return bad("port \"" + std::string(port) + "\" is out of range");
        int p = 0;
        for (char c : port) {
            if (!std::isdigit(static_cast<unsigned char>(c)))
                return bad("port \"" + std::string(port) + "\" is not a number");
            p = p * 10 + (c - '0');
        }
        if (p < 1 || p > 65535)
            return bad("port \"" + std::string(port) + "\" is out of range");
        url.port = p;
    } else {
        url.port = url.scheme == "https" ? 443 : 80;
    }
    auto hash = tail.find('#');
    if (hash != std::string_view::npos)
        tail = tail.substr(0, hash);
    if (tail.empty())
        url.path_and_query = "/";
    else if (tail.front() == '?')
        url.path_and_query = "/" + std::string(tail);
    else
        url.path_and_query = std::string(tail);
    return url;
}

bool host_matches(std::string_view host, std::string_view pattern) {
    if (pattern == "*")
        return true;
    if (pattern.size() > 2 && pattern.substr(0, 2) == "*.") {
        auto suffix = pattern.substr(1); // ".example.com"
        return host.size() > suffix.size() &&
               util::iequals(host.substr(host.size() - suffix.size()), suffix);
    }
    if (!pattern.empty() && pattern.front() == '[' && pattern.back() == ']')
        pattern = pattern.substr(1, pattern.size() - 2);
    return util::iequals(host, pattern);
}

Result<void> check_allowed(const Url& url, const Allowlist& allow) {
    auto any = [&](const std::vector<std::string>& patterns) {
        for (const auto& p : patterns)
            if (host_matches(url.host, p))
                return true;
        return false;
    };
    if (url.scheme == "http") {
        if (!any(allow.http))
            return make_error("upstream.http_not_allowed",
                              "plain http to " + url.host_for_url() +
                                  " is not allowed: use https, or add the host to upstream.allow_http");
        return {};
    }
    if (!any(allow.https) && !any(allow.http))
        return make_error("upstream.host_not_allowed",
                          "host " + url.host_for_url() +
                              " is not allowed: add it to upstream.allow in the profile");
    return {};
}

} // namespace vaultfwd::upstream
