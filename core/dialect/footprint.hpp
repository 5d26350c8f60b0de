// SPDX-License-Identifier: Apache-2.0
#pragma once
// Footprint's Vault Proxy: POST /vault_proxy/jit, /vault_proxy/{proxy_id}, /vault_proxy/reflect,
// with the x-fp-* headers, templates, mTLS, pins and ingress vaulting, answering as Footprint
// does (shared/notes/footprint-behaviour.md).

#include <string>

#include "core/dialect/services.hpp"

namespace vaultfwd::dialect::footprint {

struct Caller {
    const profile::ApiKey* key = nullptr; // the authenticated API key
};

// Which endpoint a path names: "jit", "reflect", a proxy id, or empty when not Footprint's.
std::string endpoint_of(const std::string& path);

// The request phase of one request to `endpoint` (from endpoint_of): an answer of its own, or
// the upstream call and its response phase (relay, ingress vaulting). Fills `log` (tokens,
// access reason, upstream host, error code). Never throws for bad input.
server::Step handle(const std::string& endpoint, const http::Request& request,
                      const Caller& caller, Services& services, server::AccessEntry& log);

// Footprint's error envelope: {"error": {message, status_code, support_id, code, context}} with
// message, code, context and support_id repeated at top level, plus the marker header.
http::Response error(int status, const std::string& message, const std::string& code,
                     const std::string& context = {});

// The body size limit check for a declared Content-Length (run before the body is read):
// an error response when it is over the limit or not an integer, else nullopt.
std::optional<http::Response> check_content_length(const std::string& content_length,
                                                   std::size_t limit);

} // namespace vaultfwd::dialect::footprint
