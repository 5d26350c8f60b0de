// SPDX-License-Identifier: Apache-2.0
#pragma once
// AES-256-GCM authenticated encryption of small blobs (OpenSSL EVP). A sealed blob is
// nonce (12) || ciphertext || tag (16); the nonce is fresh and random for every seal.

#include <cstddef>
#include <string>
#include <string_view>

#include "core/util/result.hpp"

namespace vaultfwd::crypto {

inline constexpr std::size_t k_aead_key_size = 32;
inline constexpr std::size_t k_aead_nonce_size = 12;
inline constexpr std::size_t k_aead_tag_size = 16;
inline constexpr std::size_t k_aead_overhead = k_aead_nonce_size + k_aead_tag_size;

// Encrypts `plaintext` under the raw 32-byte `key`, authenticating `aad` with it.
// Errors: "crypto.bad_key" (key not 32 bytes), "crypto.failed" (OpenSSL refused).
Result<std::string> aead_seal(std::string_view key, std::string_view plaintext,
                              std::string_view aad = {});
// Checks and decrypts a blob made by aead_seal with the same key and aad. Errors:
// "crypto.bad_key", "crypto.truncated" (shorter than nonce + tag), "crypto.auth_failed" (wrong
// key, wrong aad, or altered bytes: nothing of the plaintext is returned).
Result<std::string> aead_open(std::string_view key, std::string_view sealed,
                              std::string_view aad = {});

} // namespace vaultfwd::crypto
