// SPDX-License-Identifier: Apache-2.0
#pragma once
// Profiles: one TOML file per profile in the home folder (<home>/<name>.toml, 0600), with the
// profile's data (CA, vault, added certificates, access log) in <home>/<name>/.
// Paths inside a profile are relative to the home folder unless absolute.

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/util/result.hpp"

namespace vaultfwd::profile {

struct Listen {
    std::string api = "127.0.0.1:7410";   // Footprint, Gr4vy, VTEX
    std::string proxy = "127.0.0.1:7411"; // VGS-style forward proxy
    bool proxy_tls = false;               // serve the proxy port itself over TLS
    std::string inbound = "127.0.0.1:7412"; // VGS-style inbound routes (a reverse proxy)
    bool inbound_tls = false;               // serve the inbound port over TLS (leaves per SNI)
};

struct VaultSettings {
    std::string key_hex;                // 64 hex chars: AES-256 key for values at rest
    std::string alias_env = "sandbox"; // tok_<env>_… aliases
};

struct CaSettings {
    std::string cert = ""; // PEM of the local interception CA
    std::string key = "";  // its private key (0600)
};

struct ApiKey {
    std::string id;
    std::string key;
    std::vector<std::string> reveal = {"*"}; // data identifier patterns it may reveal ("id.*")
};

struct ProxyCredential {
    std::string id;
    std::string username;
    std::string password;
    std::string client_cert; // name of an outbound [[certs]] entry presented upstream
};

struct Upstream {
    std::vector<std::string> allow;      // host patterns ("api.example.com", "*.example.com")
    std::vector<std::string> allow_http; // hosts that may be reached over plain http
    std::vector<std::string> ca_files;   // extra roots trusted besides the system's
    int connect_timeout_ms = 5000;
    int timeout_ms = 15000;
};

struct Limits {
    std::size_t max_body_bytes = 5242880;
    std::size_t max_header_bytes = 65536;
    int threads = 16;
};

// The inspector (serve's page of live exchanges, values masked): off unless asked for.
struct InspectorSettings {
    bool enabled = false;
    std::size_t exchanges = 200;        // the last N kept, in memory only
    std::size_t max_body_bytes = 65536; // bodies shown are cut past it
};

struct LogSettings {
    std::string access_log; // JSON lines; empty: <home>/<profile>/access.log
};

struct CertEntry {
    std::string name;
    // Both directions are presented by vaultfwd to an upstream, as vgs-mutual-tls.md draws it:
    // outbound ones when the proxy credential (or gr4vy endpoint, footprint proxy) they are tied
    // to calls out, inbound ones on every call of the inbound route they are tied to.
    std::string direction = "outbound";
    std::string credential;             // outbound: the proxy credential id it belongs to
    std::string route;                  // inbound: the inbound route id it belongs to
    std::string proxy;                  // a footprint proxy id
    std::string gr4vy_endpoint;         // outbound: a [[gr4vy_endpoints]] id
    std::string description;
    std::string cert; // PEM file
    std::string key;  // PEM file
    int line = 0;     // where the entry starts in the profile
};

struct PinEntry {
    std::string name;
    std::string description;
    std::string cert; // PEM file: a root CA or a leaf
    std::string scope; // "" (all upstream calls), a route id or a footprint proxy id
    int line = 0;
};

struct FootprintProxy {
    std::string id;
    std::string url;
    std::string method = "POST";
    bool enabled = true;
    std::string access_reason;
    std::map<std::string, std::string> headers; // static forwarded headers
    std::string client_cert;                    // name of a [[certs]] entry
    std::vector<std::string> pins;              // names of [[pins]] entries
    std::string ingress_content_type;           // "json" or ""
    std::vector<std::string> ingress_rules;     // "<token> = <jsonpath> | filters"
};

// A Vault Forward endpoint enabled for Gr4vy's advanced authentication (mTLS): requests whose
// x-vault-forward-url has this host (and path, when given) present the client certificate.
struct Gr4vyEndpoint {
    std::string id;
    std::string host;        // "api.acquirer.example", or "host:port" for one port only
    std::string path;        // optional: a path prefix ("/v1/payments"), whole segments
    std::string client_cert; // an outbound [[certs]] entry (or one names this id itself)
    int line = 0;
};

struct RouteFilter {
    std::string id;                 // optional: names the filter in messages (VGS entry id)
    std::string phase = "request";  // request | response
    std::string operation = "reveal"; // reveal | redact
    std::string transformer = "json_path"; // json_path | form_field | regex | header
    std::vector<std::string> targets;      // JSONPaths, form fields or header names
    std::string pattern;                   // regex (or within header values): Java-style groups
    // Regex replacement, as VGS has it: "%s" is the revealed value or alias of the token (the
    // (?<token>…) group, or the whole match) with the (?<prefix>…)/(?<suffix>…) groups around
    // it; ${name} and $1 are groups as matched.
    std::string replacement = "%s";
    std::string format = "UUID";           // alias format for redact
    std::string on_unknown_alias = "fail"; // fail | pass
    // Conditions on the request, like a VGS filter's (empty: any).
    std::string path;                      // regex over the path
    std::vector<std::string> methods;
    std::string content_type;              // regex over the media type, without parameters
    std::string status;                    // response phase: regex over the upstream's status code
};

struct Route {
    std::string id;
    std::string description;
    // outbound: a forward-proxy route, `host` matches the upstream host dialed. inbound: a
    // reverse-proxy route of the inbound port, `host` matches the request's Host (VGS's
    // host_endpoint) and requests go to `upstream` (VGS's destination_override_endpoint).
    std::string direction = "outbound";
    std::string upstream; // inbound: scheme://host[:port] (path and query are the request's)
    std::string host = ".*"; // regex over the host
    std::string path = ".*"; // regex over the path
    std::vector<std::string> methods;
    std::vector<RouteFilter> filters;
};

struct Profile {
    std::string name;
    std::filesystem::path file;     // <home>/<name>.toml
    std::filesystem::path home;     // the home folder
    std::filesystem::path data_dir; // <home>/<name>
    Listen listen;
    VaultSettings vault;
    CaSettings ca;
    Upstream upstream;
    Limits limits;
    LogSettings log;
    InspectorSettings inspector;
    std::vector<ApiKey> api_keys;
    std::vector<ProxyCredential> proxy_credentials;
    std::vector<CertEntry> certs;
    std::vector<PinEntry> pins;
    std::vector<FootprintProxy> footprint_proxies;
    std::vector<Gr4vyEndpoint> gr4vy_endpoints;
    std::vector<Route> routes;

    // A path from the profile resolved against the home folder.
    std::filesystem::path resolve(const std::string& p) const;
    std::filesystem::path access_log_path() const;
    std::filesystem::path vault_dir() const { return data_dir / "vault"; }
    // The raw 32-byte vault key (the profile was validated, so key_hex is well-formed).
    std::string vault_key() const;
    const CertEntry* find_cert(const std::string& name) const;
    const PinEntry* find_pin(const std::string& name) const;
};

std::filesystem::path profile_path(const std::filesystem::path& home, const std::string& name);

// Parses and validates a profile text. Errors carry line/column and name the key; unknown keys
// suggest the nearest valid one. `file` is used for messages and to fill Profile::file.
Result<Profile> parse(std::string_view text, const std::filesystem::path& file,
                      const std::filesystem::path& home, const std::string& name);
// Every problem in a profile text, earliest line first (empty when it is valid).
std::vector<Error> validate(std::string_view text, const std::filesystem::path& file);
// Reads <home>/<name>.toml and parses it (error "profile.missing" when absent).
Result<Profile> load(const std::filesystem::path& home, const std::string& name);

// A valid profile name: letters, digits, '-', '_', 1 to 64 characters.
bool valid_name(std::string_view name);

} // namespace vaultfwd::profile
