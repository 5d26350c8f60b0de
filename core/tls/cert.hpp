// SPDX-License-Identifier: Apache-2.0
#pragma once
// Keys and X.509 certificates: generation (the local CA, minted leaves, client certificates for
// tests), PEM/DER/PKCS#12 conversion, inspection. Every handle is RAII (core/util/ossl.hpp).

#include <chrono>
#include <string>
#include <vector>

#include "core/util/ossl.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::tls {

enum class KeyType { ec_p256, rsa2048 };
enum class Usage { ca, server, client, server_and_client };

struct KeyPair {
    ossl::X509Ptr cert;
    ossl::PkeyPtr key;
};

ossl::PkeyPtr generate_key(KeyType type = KeyType::ec_p256);

struct IssueOptions {
    std::string common_name;
    std::vector<std::string> dns_names; // subjectAltName DNS entries
    std::vector<std::string> ip_addresses; // subjectAltName IP entries ("127.0.0.1", "::1")
    Usage usage = Usage::server;
    KeyType key_type = KeyType::ec_p256;
    int days = 825;
    int not_before_offset_days = -1; // negative: valid from slightly in the past
    std::string organization = "vaultfwd";
};

// A self-signed CA certificate with its key.
Result<KeyPair> make_ca(const std::string& common_name, int days = 3650,
                        KeyType type = KeyType::ec_p256);
// A certificate for `opts`, signed by `issuer` (pass nullptr issuer for self-signed).
Result<KeyPair> issue(const IssueOptions& opts, const KeyPair* issuer);

std::string cert_to_pem(X509* cert);
std::string key_to_pem(EVP_PKEY* key); // PKCS#8, unencrypted
std::string cert_to_der(X509* cert);
// The attribute Java looks for on a PKCS#12 certificate bag to treat it as a trusted entry, and
// the value keytool gives it.
inline constexpr const char* k_java_trusted_key_usage = "2.16.840.1.113894.746875.1.1";
inline constexpr const char* k_any_extended_key_usage = "2.5.29.37.0";

// PKCS#12 bundle, protected with `password`. With `key`: a key entry (cert+key, and chain), as
// Java and OpenSSL read it. Without: `cert` and `chain` as trusted certificates, each bag with
// the Java trusted-key-usage attribute, so keytool and -Djavax.net.ssl.trustStore see them.
Result<std::string> to_pkcs12(X509* cert, EVP_PKEY* key, const std::string& password,
                              const std::vector<X509*>& chain = {});

// The first certificate in a PEM text; errors name what is wrong ("tls.bad_pem").
Result<ossl::X509Ptr> load_cert_pem(std::string_view pem);
// Every certificate in a PEM text (at least one).
Result<std::vector<ossl::X509Ptr>> load_certs_pem(std::string_view pem);
Result<ossl::PkeyPtr> load_key_pem(std::string_view pem);
// Loads a certificate/key pair from two PEM files.
Result<KeyPair> load_pair_files(const std::string& cert_file, const std::string& key_file);
// True when `key` is the private key of `cert`.
bool key_matches(X509* cert, EVP_PKEY* key);

// Computes the certificate's cached extension data (key identifiers, usages, flags) now.
// OpenSSL 3.0 fills that cache on first use with an unlocked fast path, so a certificate that
// several threads will verify against (a shared trust store, a cached minted leaf) must have it
// filled before it is shared.
void prepare_for_sharing(X509* cert);

struct CertInfo {
    std::string subject;        // RFC 2253 one-line form
    std::string issuer;
    std::string common_name;
    std::string serial_decimal; // as `openssl x509 -serial` prints it, but in decimal
    std::string serial_hex;     // uppercase hex, as `openssl x509 -serial` prints it
    std::string not_before;     // ISO 8601 UTC
    std::string not_after;
    std::int64_t not_after_epoch = 0;
    std::string sha256_fingerprint; // AA:BB:… uppercase
    bool self_signed = false;
    bool is_ca = false;
    std::vector<std::string> dns_names;
    std::vector<std::string> ip_addresses;
};

CertInfo inspect(X509* cert);
// Seconds since the epoch, for expiry checks (injectable for tests).
std::int64_t now_epoch();

} // namespace vaultfwd::tls
