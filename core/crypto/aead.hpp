// SPDX-License-Identifier: Apache-2.0
#pragma once
// AES-256-GCM authenticated encryption of small blobs (OpenSSL EVP). A sealed blob is
// nonce (12) || ciphertext || tag (16); the nonce is fresh and random for every seal.

#include <cstddef>
#include <memory>
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

// Overwrites `s` with zeros (a write the compiler keeps) and empties it: for plaintext that was
// only needed for a moment.
void wipe(std::string& s);

// aead_open for many blobs under one key: the cipher is fetched and the key expanded once, so
// checking a blob costs its bytes, not OpenSSL's set-up (what opening a large vault is made
// of). One opener is used by one thread at a time.
class AeadOpener {
  public:
    // Error "crypto.bad_key" (not 32 bytes), "crypto.failed".
    static Result<AeadOpener> make(std::string_view key);
    // As aead_open, writing the plaintext into `out` (its capacity is reused). On failure `out`
    // is wiped and emptied.
    Result<void> open(std::string_view sealed, std::string_view aad, std::string& out);

  private:
    struct State;
    explicit AeadOpener(std::shared_ptr<State> state) : m_state(std::move(state)) {}
    std::shared_ptr<State> m_state;
};

} // namespace vaultfwd::crypto
