// SPDX-License-Identifier: Apache-2.0
#pragma once
// Gr4vy's Vault Forward: POST /vault-forward with x-vault-forward-* headers and
// {{ CARD_NUMBER_X }} placeholders. Validation errors are 4XX before anything is sent; after
// that the answer is always 200 with the upstream's status, headers and body in
// x-vault-forward-* headers (or x-vault-forward-error and an empty body).
// Advanced authentication, mTLS: a forward to an endpoint of [[gr4vy_endpoints]] presents that
// endpoint's client certificate. Request signing and payload encryption, the seed's other two
// kinds, are not specified by it and not offered.

#include "core/dialect/services.hpp"

namespace vaultfwd::dialect::gr4vy {

// The request phase of /vault-forward: an answer of its own (a refusal), or the call to the
// destination and the response phase that wraps its answer.
server::Step handle(const http::Request& request, Services& services, server::AccessEntry& log);

// The [[gr4vy_endpoints]] entry a forward to `url` goes to: its host (and port, when the entry
// names one) equal to the URL's, its path a whole-segment prefix of the URL's path; the longest
// path wins. nullptr when none matches.
const profile::Gr4vyEndpoint* match_endpoint(const profile::Profile& profile, const upstream::Url& url);
// The outbound certificate presented to `endpoint`: its client_cert, else the [[certs]] entry
// tied to it (gr4vy_endpoint = its id); empty when it has none.
std::string endpoint_cert(const profile::Profile& profile, const profile::Gr4vyEndpoint& endpoint);

// Gr4vy's error body: {"type":"error","code","status","message","details":[…]} with the marker
// header; `vaultfwd_code` carries vaultfwd's precise code.
http::Response error(int status, const std::string& gr4vy_code, const std::string& message,
                     const std::string& code, const std::string& header = {});

} // namespace vaultfwd::dialect::gr4vy
