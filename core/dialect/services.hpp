// SPDX-License-Identifier: Apache-2.0
#pragma once
// What a dialect handler works with: the profile, the vault, the upstream client. Handlers take
// plain http::Request values and return http::Response values, so they run without a socket.

#include <string>

#include "core/http/message.hpp"
#include "core/profile/profile.hpp"
#include "core/server/access_log.hpp"
#include "core/server/step.hpp"
#include "core/upstream/client.hpp"
#include "core/vault/store.hpp"

namespace vaultfwd::dialect {

struct Services {
    const profile::Profile& profile;
    vault::Store& store;
    upstream::Client& client;
};

// The header that marks an answer vaultfwd made itself (an error), as opposed to one relayed
// from the upstream: `x-vaultfwd-error: <code>`.
inline constexpr const char* k_error_header = "x-vaultfwd-error";

// A JSON error in the generic shape {"error": {"code", "message"}} with the marker header.
http::Response json_error(int status, const std::string& code, const std::string& message);

// The upstream allowlist of the profile.
upstream::Allowlist allowlist(const profile::Profile& profile);
// Upstream call defaults from the profile (timeouts, extra roots).
upstream::Call base_call(const profile::Profile& profile);
// PEM text of a [[certs]] entry's certificate and key (for mTLS), or an error naming the entry.
Result<std::pair<std::string, std::string>> client_identity(const profile::Profile& profile,
                                                            const std::string& cert_name);
// PEM text of a [[pins]] entry.
Result<std::string> pin_pem(const profile::Profile& profile, const std::string& pin_name);
// "host:port" of a URL, for logs.
std::string host_port(const upstream::Url& url);

} // namespace vaultfwd::dialect
