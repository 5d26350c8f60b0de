// SPDX-License-Identifier: Apache-2.0
#pragma once
// Gr4vy's Vault Forward: POST /vault-forward with x-vault-forward-* headers and
// {{ CARD_NUMBER_X }} placeholders. Validation errors are 4XX before anything is sent; after
// that the answer is always 200 with the upstream's status, headers and body in
// x-vault-forward-* headers (or x-vault-forward-error and an empty body).

#include "core/dialect/services.hpp"

namespace vaultfwd::dialect::gr4vy {

http::Response handle(const http::Request& request, Services& services, server::AccessEntry& log);

// Gr4vy's error body: {"type":"error","code","status","message","details":[…]} with the marker
// header; `vaultfwd_code` carries vaultfwd's precise code.
http::Response error(int status, const std::string& gr4vy_code, const std::string& message,
                     const std::string& code, const std::string& header = {});

} // namespace vaultfwd::dialect::gr4vy
