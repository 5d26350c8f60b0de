// SPDX-License-Identifier: Apache-2.0
#pragma once
// Plain HTTP messages that the dialects take and return, so their logic runs without sockets.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vaultfwd::http {

struct Header {
    std::string name;
    std::string value;
};
using Headers = std::vector<Header>;

// The first value of `name` (case-insensitive), or nullopt.
std::optional<std::string> find(const Headers& headers, std::string_view name);
// Every value of `name`, in order.
std::vector<std::string> find_all(const Headers& headers, std::string_view name);
// Replaces every `name` header with one of `value`.
void set(Headers& headers, std::string_view name, std::string value);
void remove(Headers& headers, std::string_view name);
// True for the hop-by-hop headers (RFC 9110 §7.6.1) and the ones a client library sets itself
// (host, content-length), which are never copied between hops.
bool is_hop_by_hop(std::string_view name);
// Removes, in place and keeping the order of the rest, the hop-by-hop headers (is_hop_by_hop)
// and every header a Connection header names ("Connection: keep-alive, X-Hop" takes X-Hop
// with it; RFC 9110 §7.6.1). Content-Length stays when `keep_content_length` (an answer's
// length: the answer to HEAD tells it without a body).
void remove_hop_by_hop(Headers& headers, bool keep_content_length = false);
// A header value is safe to send when it has no CR, LF or NUL.
bool is_safe_value(std::string_view value);
// A header name is a non-empty RFC 9110 token.
bool is_token(std::string_view name);

struct Request {
    std::string method;
    std::string path;  // without the query
    std::string query; // without '?'
    Headers headers;
    std::string body;
    std::string remote_addr;
};

struct Response {
    int status = 200;
    Headers headers;
    std::string body;
};

// The reason phrase for a status (for logs and raw messages).
std::string_view status_text(int status);

} // namespace vaultfwd::http
