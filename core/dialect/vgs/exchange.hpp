// SPDX-License-Identifier: Apache-2.0
#pragma once
// What VGS's two ports do alike to an exchange: the forward proxy (proxy.hpp, outbound routes)
// and the inbound port (inbound.hpp, inbound routes). Each answer is vaultfwd's JSON error.

#include <optional>
#include <string>
#include <vector>

#include "core/dialect/vgs/routes.hpp"
#include "core/http/message.hpp"
#include "core/server/access_log.hpp"
#include "core/server/engine.hpp"
#include "core/upstream/client.hpp"
#include "core/vault/store.hpp"

namespace vaultfwd::dialect::vgs {

// The methods both ports relay (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS).
bool relayed_method(const std::string& method);
// localhost, ::1 or 127.0.0.0/8 (a route or target that would loop back into serve).
bool is_loopback(const std::string& host);

// The filters read the body as text: a gzip- or deflate-encoded request body is decoded (and goes
// on decoded, without Content-Encoding); any other coding is refused (415), naming `route_id`.
// nullopt when the body is ready for the filters.
std::optional<http::Response> decode_for_filters(http::Request& request, const std::string& route_id,
                                                 std::size_t max_body_bytes);

// Runs `filters` of `phase` on a message and counts what they did in `entry`; the answer to give
// when they fail (a vault error 500; a request 400, nothing sent; an answer 502), else nullopt.
std::optional<http::Response> run_filters(const std::vector<const CompiledFilter*>& filters, Phase phase,
                                          http::Headers& headers, std::string& body, vault::Store& store,
                                          server::AccessEntry& entry);

// True when none of `filters` redacts (redacting writes aliases to the vault): running them only
// reads the vault, quick enough for the connection's event loop (Exchange::request_on_loop).
bool reads_only(const std::vector<const CompiledFilter*>& filters);

// The answer to an upstream call that failed: 504 on a timeout, 502 otherwise, with the
// outcome's code and its message followed by `hint`.
http::Response upstream_failure(const upstream::Outcome& outcome, const std::string& hint = "");

// The access-log line of an exchange; an accepted CONNECT has none (its requests have theirs).
void log_exchange(server::AccessLog& log, const server::Exchange& ex);

} // namespace vaultfwd::dialect::vgs
