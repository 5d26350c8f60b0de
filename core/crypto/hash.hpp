// SPDX-License-Identifier: Apache-2.0
#pragma once
// Message digests and HMAC over raw bytes (OpenSSL EVP). Outputs are raw bytes; hex/base64 them
// with core/util/strings.hpp.

#include <optional>
#include <string>
#include <string_view>

namespace vaultfwd::crypto {

enum class Digest { md5, sha1, sha256, sha384, sha512 };

// "md5", "sha1", "sha256", "sha384", "sha512" (case-insensitive), else nullopt.
std::optional<Digest> digest_from_name(std::string_view name);
std::string digest(Digest alg, std::string_view data);
std::string hmac(Digest alg, std::string_view key, std::string_view data);
inline std::string sha256(std::string_view data) { return digest(Digest::sha256, data); }
inline std::string hmac_sha256(std::string_view key, std::string_view data) {
    return hmac(Digest::sha256, key, data);
}
// Constant-time comparison for secrets (API keys, passwords, MACs).
bool constant_time_equal(std::string_view a, std::string_view b);

} // namespace vaultfwd::crypto
