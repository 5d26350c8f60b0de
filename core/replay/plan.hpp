// SPDX-License-Identifier: Apache-2.0
#pragma once
// How a recorded request is sent to `serve` for replay (no sockets; the only I/O is reading the
// client certificate a /vault_proxy/{id} configuration names). Two ways:
//
// - reflect: the body goes to POST /vault_proxy/reflect with the recording's x-fp-id (or its
//   x-fp-proxy-footprint-token) and access reason, so the result is the rendered body. Only
//   Footprint templates render there, so Gr4vy and VTEX recordings are refused.
// - echo: the request goes through the proxy to an echo server (ditto) instead of the third
//   party, so the result shows what the third party would receive:
//     Footprint /vault_proxy/jit      → /vault_proxy/jit, x-fp-proxy-target-url re-pointed
//     Footprint /vault_proxy/{id}     → /vault_proxy/jit with the profile's configuration for
//                                       {id} (URL path, method, headers, client certificate)
//     Footprint /vault_proxy/reflect  → /vault_proxy/jit to the echo server's "/"
//     Gr4vy (x-vault-forward-*)       → /vault-forward, x-vault-forward-url re-pointed
//     VTEX (X-PROVIDER-Forward-To)    → its secure proxy path, X-PROVIDER-Forward-To re-pointed
//     anything else (a request to a third party with templates in it)
//                                     → /vault_proxy/jit with its method, path and headers
//   "Re-pointed" keeps the recorded URL's path and query and swaps its origin for the echo
//   server's. The recording's pins are replaced by `Target::pin_pem`; ingress rules are dropped
//   (an echo is not the third party's answer, and nothing from it should be vaulted).
// The recording's Authorization (a key for another server) is never sent; the runner adds its own.

#include <string>

#include "core/http/message.hpp"
#include "core/profile/profile.hpp"
#include "core/replay/recording.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::replay {

enum class Kind { footprint_jit, footprint_proxy, footprint_reflect, gr4vy, vtex, plain };

// Which kind of request a recording is: by its path, then by its headers.
Kind classify(const Recording& rec);
std::string_view kind_name(Kind kind);

enum class Via { reflect, echo };

struct Target {
    Via via = Via::reflect;
    std::string echo_origin; // Via::echo: "https://127.0.0.1:PORT" (a base path may follow)
    std::string pin_pem;     // sent as x-fp-proxy-pin-cert on Footprint requests when not empty
    // Gr4vy and VTEX requests cannot pin a certificate: when set, they go to this origin instead
    // (a plain-http echo a running serve can reach without trusting the local CA).
    std::string unpinned_origin;
};

// The request to send to the API server for `rec`, without authentication. `profile` supplies
// the configurations of /vault_proxy/{id}. Errors: "replay.reflect_unsupported",
// "replay.unknown_proxy", "replay.proxy_disabled", "replay.bad_target", "replay.bad_header".
Result<http::Request> plan(const Recording& rec, const Target& target,
                           const profile::Profile& profile);

// `origin` (without a trailing '/') followed by the path and query of `url` (absolute or
// origin-form). Error "replay.bad_target".
Result<std::string> repoint(const std::string& url, const std::string& origin);

} // namespace vaultfwd::replay
