// SPDX-License-Identifier: Apache-2.0
#pragma once
// The certificates a profile holds: mTLS pairs ([[certs]]), pinned certificates ([[pins]]) and
// the local CA. Added PEM files are copied into <home>/<profile>/certs/ and .../pins/, and the
// profile is changed only through profile::append_entry/remove_entry, so what a person wrote in
// it (comments, order) survives. Times are passed in (`now`, seconds since the epoch).

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/profile/profile.hpp"
#include "core/tls/cert.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::tls {

inline constexpr std::int64_t k_expires_soon_seconds = 30 * 86400;

enum class Expiry { refuse, allow };

// The certificate of `cert_pem` (the first, when it holds a chain) checked against `key_pem`:
// both parse ("tls.bad_pem", "tls.bad_key"), the key belongs to the certificate
// ("tls.key_mismatch") and, unless `expiry` is allow, the certificate has not expired at `now`
// ("cert.expired"). Messages name `cert_name`/`key_name` (file names, for the user).
Result<CertInfo> check_pair(std::string_view cert_pem, std::string_view key_pem, std::int64_t now,
                            Expiry expiry, const std::string& cert_name = "the certificate",
                            const std::string& key_name = "the key");
// Every certificate of `pem` (at least one, "tls.bad_pem"), none expired unless allowed.
Result<std::vector<CertInfo>> check_certs(std::string_view pem, std::int64_t now, Expiry expiry,
                                          const std::string& name = "the certificate");

// What is wrong with the chain in `pem` past its first certificate, in words for the user: a
// certificate of the chain that expired (or is not valid yet) at `now`, a certificate that did
// not sign the one before it (out of order, or from another chain). Empty when it is fine or
// holds one certificate. Servers and clients build paths from such chains and fail, so `cert
// add` warns; unreadable PEM gives no warning (check_pair/check_certs report it).
std::vector<std::string> chain_warnings(std::string_view pem, std::int64_t now);

struct ExpiryState {
    bool expired = false;
    bool expires_soon = false;  // valid now, but for less than 30 days
    std::int64_t days_left = 0; // negative once expired
};
ExpiryState expiry_state(const CertInfo& info, std::int64_t now);

// ---- [[certs]]: mTLS certificates with their keys ----

struct CertAdd {
    std::string name;
    std::string direction = "outbound"; // outbound | inbound
    std::string credential;             // a proxy credential id (outbound only)
    std::string route;                  // a route id
    std::string proxy;                  // a footprint proxy id
    std::string gr4vy_endpoint;         // a [[gr4vy_endpoints]] id (outbound only)
    std::string description;
    std::string cert_file;
    std::string key_file; // required for outbound, optional for inbound
    Expiry expiry = Expiry::refuse;
};

// Checks the request against the profile ("cert.bad_name", "cert.exists", "cert.bad_direction",
// "cert.bad_tie", "cert.unknown_credential", "cert.unknown_route", "cert.unknown_proxy",
// "cert.unknown_gr4vy_endpoint", "cert.missing_key"), then the files (see check_pair), copies them to
// <data_dir>/certs/<name>.pem and .key (0600) and appends the [[certs]] entry.
Result<profile::CertEntry> add_cert(const profile::Profile& p, const CertAdd& req,
                                    std::int64_t now);

struct CertRow {
    profile::CertEntry entry;
    bool readable = false; // false: `problem` says why the file could not be read
    std::string problem;
    CertInfo info;
    ExpiryState expiry;
    std::vector<std::string> flags; // "EXPIRED", "EXPIRES SOON", "UNREADABLE"
};
std::vector<CertRow> list_certs(const profile::Profile& p, std::int64_t now);

// What in the profile names certificate `name` ("proxy credential \"default\"", …).
std::vector<std::string> cert_users(const profile::Profile& p, const std::string& name);
// Removes the [[certs]] entry and the files add_cert copied for it. "cert.not_found",
// "cert.in_use" (naming the users).
Result<void> remove_cert(const profile::Profile& p, const std::string& name);

// ---- [[pins]]: pinned root CAs and leaf certificates ----

struct PinAdd {
    std::string name;
    std::string description;
    std::string cert_file;
    std::string scope; // "" (every upstream call), a route id or a footprint proxy id
    Expiry expiry = Expiry::refuse;
};

// Like add_cert: "pin.bad_name", "pin.exists", "pin.unknown_scope", then check_certs; copies
// the file to <data_dir>/pins/<name>.pem and appends the [[pins]] entry.
Result<profile::PinEntry> add_pin(const profile::Profile& p, const PinAdd& req, std::int64_t now);

struct PinRow {
    profile::PinEntry entry;
    bool readable = false;
    std::string problem;
    struct Cert {
        CertInfo info;
        ExpiryState expiry;
        std::string kind; // "root CA", "intermediate CA", "leaf"
    };
    std::vector<Cert> certs;
    std::vector<std::string> flags;
};
std::vector<PinRow> list_pins(const profile::Profile& p, std::int64_t now);

std::vector<std::string> pin_users(const profile::Profile& p, const std::string& name);
// "pin.not_found", "pin.in_use".
Result<void> remove_pin(const profile::Profile& p, const std::string& name);

// ---- the local CA ----

// The file of the profile's CA certificate: [ca] cert, or <data_dir>/ca.pem.
std::filesystem::path ca_cert_path(const profile::Profile& p);
// The profile's CA pair ("ca.missing" with what to run when its files are absent).
Result<KeyPair> load_ca(const profile::Profile& p);

enum class CaOverwrite { never, force };
struct CaInitReport {
    std::filesystem::path cert_file;
    bool created = false; // false: it existed and was kept
    CertInfo info;
};
// Creates the CA at the profile's [ca] paths if missing (or always, with force): key 0600.
Result<CaInitReport> init_ca(const profile::Profile& p, CaOverwrite overwrite);

enum class ExportFormat { pem, der, p12 };
enum class WithKey { no, yes };
// The CA in `format`. With the key: PEM appends it; DER cannot hold both ("ca.der_with_key");
// PKCS#12 needs a non-empty password ("ca.p12_password"). Without the key, a PKCS#12 holds only
// the certificate (for trust stores) and may have an empty password.
Result<std::string> export_ca(const KeyPair& ca, ExportFormat format, WithKey with_key,
                              const std::string& password);

// A client certificate (clientAuth) for `common_name`, signed by `ca`, valid `days`.
Result<KeyPair> issue_client_cert(const KeyPair& ca, const std::string& common_name, int days);
// A server certificate signed by `ca` for localhost, 127.0.0.1 and ::1, plus `host` when it is
// another name or address (a wildcard bind address such as 0.0.0.0 adds nothing).
Result<KeyPair> issue_localhost_cert(const KeyPair& ca, const std::string& host);

// A file name stem from a common name: letters, digits, '.', '-', '_' kept, the rest '-'.
std::string file_stem(std::string_view common_name);
enum class Overwrite { never, force };
// Writes the certificate (0644) and its key (0600); "cert.file_exists" when either exists,
// unless force.
Result<void> write_pair(const KeyPair& pair, const std::filesystem::path& cert_file,
                        const std::filesystem::path& key_file, Overwrite overwrite);

} // namespace vaultfwd::tls
