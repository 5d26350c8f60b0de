// SPDX-License-Identifier: Apache-2.0
#pragma once
// Who is calling: API keys on the API port (Basic with the key as user, or Bearer), proxy
// credentials on the proxy port (Proxy-Authorization: Basic). Comparisons are constant-time.

#include <string>
#include <string_view>
#include <vector>

#include "core/profile/profile.hpp"

namespace vaultfwd::server {

// The API key named by an Authorization header value, or nullptr.
const profile::ApiKey* authenticate_api_key(const std::vector<profile::ApiKey>& keys,
                                            std::string_view authorization);
// The proxy credential named by a Proxy-Authorization header value, or nullptr.
const profile::ProxyCredential*
authenticate_proxy(const std::vector<profile::ProxyCredential>& credentials,
                   std::string_view proxy_authorization);
// True when `data_identifier` ("card.primary.number") matches one of the key's reveal patterns
// ("*", "card.*", "id.first_name").
bool may_reveal(const profile::ApiKey& key, std::string_view data_identifier);

} // namespace vaultfwd::server
