// SPDX-License-Identifier: Apache-2.0
#include "core/http/message.hpp"

#include <algorithm>

#include "core/util/strings.hpp"

namespace vaultfwd::http {

std::optional<std::string> find(const Headers& headers, std::string_view name) {
    for (const auto& h : headers)
        if (util::iequals(h.name, name))
            return h.value;
    return std::nullopt;
}

std::vector<std::string> find_all(const Headers& headers, std::string_view name) {
    std::vector<std::string> out;
    for (const auto& h : headers)
        if (util::iequals(h.name, name))
            out.push_back(h.value);
    return out;
}

void remove(Headers& headers, std::string_view name) {
    headers.erase(std::remove_if(headers.begin(), headers.end(),
                                 [&](const Header& h) { return util::iequals(h.name, name); }),
                  headers.end());
}

void set(Headers& headers, std::string_view name, std::string value) {
    remove(headers, name);
    headers.push_back({std::string(name), std::move(value)});
}

bool is_hop_by_hop(std::string_view name) {
    static const char* k_names[] = {"connection", "keep-alive",        "proxy-authenticate",
                                    "proxy-authorization", "te",       "trailer",
                                    "transfer-encoding", "upgrade",    "host",
                                    "content-length", "proxy-connection"};
    for (const char* n : k_names)
        if (util::iequals(name, n))
            return true;
    return false;
}

void remove_hop_by_hop(Headers& headers, bool keep_content_length) {
    std::vector<std::string> named;
    for (const auto& h : headers)
        if (util::iequals(h.name, "connection"))
            for (const auto& token : util::split(h.value, ','))
                if (auto name = util::trim(token); !name.empty())
                    named.emplace_back(name);
    auto drop = [&](const Header& h) {
        if (keep_content_length && util::iequals(h.name, "content-length"))
            return false;
        if (is_hop_by_hop(h.name))
            return true;
        return std::any_of(named.begin(), named.end(),
                           [&](const std::string& n) { return util::iequals(h.name, n); });
    };
    headers.erase(std::remove_if(headers.begin(), headers.end(), drop), headers.end());
}

bool is_safe_value(std::string_view value) {
    return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool is_token(std::string_view name) {
    if (name.empty())
        return false;
    for (unsigned char c : name) {
        if (std::isalnum(c))
            continue;
        if (std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos)
            return false;
    }
    return true;
}

std::string_view status_text(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

} // namespace vaultfwd::http
