// SPDX-License-Identifier: Apache-2.0
#pragma once
// Public-key encryption for Footprint's `encrypt(...)` filter: RSAES-PKCS1-v1_5 and the ECIES
// sealed box (P-256, ECDH, one X9.63 SHA-256 round, AES-256-GCM) in Footprint's CBOR layout.
// Keys come in as bytes (DER SubjectPublicKeyInfo, PEM private keys); no OpenSSL type leaks out.

#include <optional>
#include <string>
#include <string_view>

#include "core/util/result.hpp"

namespace vaultfwd::crypto {

enum class SealAlgorithm { rsa_pkcs1v15, ecies_p256_x963_sha256_aes_gcm };

// "rsa_pkcs1v15" or "ecies_p256_x963_sha256_aes_gcm" (exact, case-sensitive), else nullopt.
std::optional<SealAlgorithm> seal_algorithm_from_name(std::string_view name);
std::string_view seal_algorithm_name(SealAlgorithm algorithm);

// Encrypts `plaintext` to a DER SubjectPublicKeyInfo public key. RSA gives the raw ciphertext
// (key-sized, random padding); ECIES gives the CBOR map {"v": 1, "epk": [..], "iv": [..],
// "c": [..]} with arrays of unsigned ints, one per byte. Errors: "crypto.public_key" with message
// "Invalid der public key" when the DER is not an SPKI of the algorithm's key type (RSA; EC P-256),
// "crypto.message_too_long" when RSA cannot hold the plaintext, "crypto.internal" otherwise.
Result<std::string> seal(SealAlgorithm algorithm, std::string_view public_key_der,
                         std::string_view plaintext);

// Reverses seal() with a PEM private key (PKCS#8, or traditional RSA/EC PEM). For ECIES it accepts
// the CBOR map in any key order, without "v" (legacy boxes), and byte strings as well as integer
// arrays. Errors: "crypto.private_key" (unreadable key or wrong type for the algorithm),
// "crypto.sealed_box" (malformed CBOR/ciphertext), "crypto.decrypt" (wrong key or tampered data).
Result<std::string> open(SealAlgorithm algorithm, std::string_view private_key_pem,
                         std::string_view sealed);

// The algorithm a PEM private key can open (RSA → rsa_pkcs1v15, EC P-256 → ECIES), or an error
// "crypto.private_key".
Result<SealAlgorithm> algorithm_for_private_key(std::string_view private_key_pem);

// A fresh key pair for tests and `vaultfwd decrypt` demos: the public key as DER SPKI bytes and
// the private key as PKCS#8 PEM. RSA keys have `rsa_bits` bits.
struct TestKeyPair {
    std::string public_key_der;
    std::string private_key_pem;
};
TestKeyPair make_test_key_pair(SealAlgorithm algorithm, int rsa_bits = 2048);

} // namespace vaultfwd::crypto
