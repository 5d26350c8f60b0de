// SPDX-License-Identifier: Apache-2.0
#include "core/server/auth.hpp"

#include <unordered_map>

#include "core/crypto/hash.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::server {

namespace {
// "Basic <b64>" → "user:pass"; "Bearer <t>" → "<t>:". Empty when malformed.
std::string credentials_of(std::string_view header) {
    header = util::trim(header);
    auto space = header.find(' ');
    if (space == std::string_view::npos)
        return {};
    auto scheme = header.substr(0, space);
    auto rest = util::trim(header.substr(space + 1));
    if (util::iequals(scheme, "basic")) {
        auto decoded = util::base64_decode(rest);
        return decoded ? *decoded : std::string();
    }
    if (util::iequals(scheme, "bearer"))
        return std::string(rest) + ":";
    return {};
}

// The SHA-256 of a configured secret (an API key, a proxy username or password), computed once
// per thread: every request compares the digest of what it presents with these, and hashing
// each configured secret again was most of authentication's cost. A profile read again brings
// new secrets, hashed on first use; the memo is emptied past 256 of them. The lookup's timing
// depends on the configured secret only, never on what a client sent.
const std::string& digest_of_configured(const std::string& secret) {
    thread_local std::unordered_map<std::string, std::string> memo;
    if (auto it = memo.find(secret); it != memo.end())
        return it->second;
    if (memo.size() >= 256)
        memo.clear();
    return memo.emplace(secret, crypto::sha256(secret)).first->second;
}
} // namespace

const profile::ApiKey* authenticate_api_key(const std::vector<profile::ApiKey>& keys,
                                            std::string_view authorization) {
    auto creds = credentials_of(authorization);
    auto colon = creds.find(':');
    if (colon == std::string::npos)
        return nullptr;
    const std::string user = crypto::sha256(creds.substr(0, colon));
    const profile::ApiKey* found = nullptr;
    for (const auto& k : keys)
        if (crypto::constant_time_equal(digest_of_configured(k.key), user))
            found = &k;
    return found;
}

const profile::ProxyCredential*
authenticate_proxy(const std::vector<profile::ProxyCredential>& credentials,
                   std::string_view proxy_authorization) {
    auto creds = credentials_of(proxy_authorization);
    auto colon = creds.find(':');
    if (colon == std::string::npos)
        return nullptr;
    const std::string user = crypto::sha256(creds.substr(0, colon)), pass = crypto::sha256(creds.substr(colon + 1));
    const profile::ProxyCredential* found = nullptr;
    for (const auto& c : credentials) {
        bool u = crypto::constant_time_equal(digest_of_configured(c.username), user);
        bool p = crypto::constant_time_equal(digest_of_configured(c.password), pass);
        if (u && p)
            found = &c;
    }
    return found;
}

bool may_reveal(const profile::ApiKey& key, std::string_view di) {
    for (const auto& pattern : key.reveal) {
        if (pattern == "*" || pattern == di)
            return true;
        if (pattern.size() >= 2 && pattern.compare(pattern.size() - 2, 2, ".*") == 0 &&
            di.substr(0, pattern.size() - 1) == std::string_view(pattern).substr(0, pattern.size() - 1))
            return true;
    }
    return false;
}

} // namespace vaultfwd::server
