// SPDX-License-Identifier: Apache-2.0
#pragma once
// Between cpp-httplib's messages and vaultfwd's http:: ones, for the test upstreams: httplib is
// kept there as an HTTP implementation independent of vaultfwd's own (no user's byte crosses it).

#include <string_view>

#include "core/http/message.hpp"

namespace httplib {
struct Request;
} // namespace httplib

namespace vaultfwd::test {

// httplib's server acts by itself on three request headers: Content-Type (it parses
// multipart/form-data into parts and leaves the body empty, and refuses a form-urlencoded body
// over 8 KiB), Range (it slices whatever the handler answers, or answers 416 itself) and
// Accept-Encoding (it compresses the answer). hide_from_httplib passes these (and, so that the
// renaming is reversible, any header already carrying the prefix) under
// "X-Vaultfwd-Hidden-<name>"; unhide_header_name gives back the client's name.
inline constexpr std::string_view k_hidden_prefix = "X-Vaultfwd-Hidden-";
bool hidden_from_httplib(std::string_view name);
std::string_view unhide_header_name(std::string_view name);

// The request as the test upstream records it: httplib's decoded path, the query as it was sent
// (from the raw target), the headers under the client's names (see hidden_from_httplib) without
// httplib's REMOTE_ADDR/REMOTE_PORT/LOCAL_ADDR/LOCAL_PORT entries, the body, and the peer's
// address (without its port).
http::Request from_httplib(const httplib::Request& req);

// From a pre-routing handler, which runs before httplib reads the body: hides the headers above
// so the body arrives as sent and the answer goes out whole and unencoded. (httplib has parsed
// Range before that handler: a malformed one still gets its 416.)
void hide_from_httplib(const httplib::Request& req);

} // namespace vaultfwd::test
