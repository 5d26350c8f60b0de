// SPDX-License-Identifier: Apache-2.0
#pragma once
// The result of one replayed request as a text that is the same from one run to the next, so it
// can be kept as a golden file and compared:
//
//     HTTP/1.1 200 OK
//     content-type: application/json                 (names lower-cased, sorted by name)
//     x-footprint-proxy-upstream-status-code: 200
//     <empty line>
//     > POST /charge?currency=usd                   (only when the body is a ditto JSON echo:
//     > content-type: application/json               what the third party received, its headers
//     >                                              sorted by name)
//     {"name":"Jane Doe"}                            (the body, byte for byte)
//
// Left out or masked because they change between runs: Date, Server, Content-Length and the
// connection headers (also inside x-footprint-proxy-fwd-* and x-vault-forward-header-*), the
// value of every "support_id" in a JSON body, client certificate serials, and the origins the
// caller names (the in-process servers' random ports).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/http/message.hpp"

namespace vaultfwd::replay {

struct NormalizeOptions {
    // Literal texts replaced everywhere, in this order ("https://127.0.0.1:41234" → "<echo>").
    std::vector<std::pair<std::string, std::string>> replacements;
    // More header names to leave out (case-insensitive), in the answer and in the echo.
    std::vector<std::string> ignore_headers;
};

// True for the headers normalize() always leaves out: those above, bare or inside the dialects'
// relay prefixes ("x-footprint-proxy-fwd-date").
bool is_volatile_header(std::string_view name);

// The result text for `response` (see above).
std::string normalize(const http::Response& response, const NormalizeOptions& options);

// The body with the value of every JSON "support_id" member replaced by "<support-id>" (works on
// the text, so the rest of the body keeps its bytes).
std::string mask_support_ids(std::string_view body);

} // namespace vaultfwd::replay
