// SPDX-License-Identifier: Apache-2.0
#include "core/tls/store.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <ctime>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/profile/edit.hpp"
#include "core/util/fs.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::tls {

namespace fs = std::filesystem;

namespace {

bool contains(std::string_view text, std::string_view what) {
    return text.find(what) != std::string_view::npos;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
    auto best = util::nearest(word, candidates);
    return best.empty() ? "" : " (did you mean \"" + best + "\"?)";
}

std::string known_list(const std::vector<std::string>& names) {
    if (names.empty())
        return "none defined";
    return "known: " + util::join(names, ", ");
}

Error expired_error(const std::string& name, const CertInfo& info) {
    return make_error("cert.expired", name + ": the certificate " + info.subject + " expired on " +
                                          info.not_after +
                                          "; pass --allow-expired to add it anyway");
}

// The profile path (relative to the home folder) of a file vaultfwd keeps for an entry.
std::string stored_path(const profile::Profile& p, const std::string& folder,
                        const std::string& file) {
    return (p.data_dir / folder / file).lexically_relative(p.home).generic_string();
}

// True when `path` is a file vaultfwd copied into <data_dir>/<folder>/ (so it may delete it).
bool owned_file(const profile::Profile& p, const std::string& folder, const std::string& path) {
    if (path.empty())
        return false;
    auto resolved = p.resolve(path).lexically_normal();
    return resolved.parent_path() == (p.data_dir / folder).lexically_normal();
}

bool file_used_elsewhere(const profile::Profile& p, const std::string& path,
                         const std::string& except_cert, const std::string& except_pin) {
    auto target = p.resolve(path).lexically_normal();
    auto same = [&](const std::string& other) {
        return !other.empty() && p.resolve(other).lexically_normal() == target;
    };
    for (const auto& c : p.certs)
        if (c.name != except_cert && (same(c.cert) || same(c.key)))
            return true;
    for (const auto& pin : p.pins)
        if (pin.name != except_pin && same(pin.cert))
            return true;
    return same(p.ca.cert) || same(p.ca.key);
}

void remove_owned(const profile::Profile& p, const std::string& folder, const std::string& path,
                  const std::string& except_cert, const std::string& except_pin) {
    if (!owned_file(p, folder, path) || file_used_elsewhere(p, path, except_cert, except_pin))
        return;
    std::error_code ec;
    fs::remove(p.resolve(path), ec);
}

std::vector<std::string> route_ids(const profile::Profile& p) {
    std::vector<std::string> out;
    for (const auto& r : p.routes)
        out.push_back(r.id);
    return out;
}

std::vector<std::string> inbound_route_ids(const profile::Profile& p) {
    std::vector<std::string> out;
    for (const auto& r : p.routes)
        if (r.direction == "inbound")
            out.push_back(r.id);
    return out;
}

std::vector<std::string> proxy_ids(const profile::Profile& p) {
    std::vector<std::string> out;
    for (const auto& fp : p.footprint_proxies)
        out.push_back(fp.id);
    return out;
}

std::vector<std::string> gr4vy_endpoint_ids(const profile::Profile& p) {
    std::vector<std::string> out;
    for (const auto& ep : p.gr4vy_endpoints)
        out.push_back(ep.id);
    return out;
}

std::vector<std::string> credential_ids(const profile::Profile& p) {
    std::vector<std::string> out;
    for (const auto& c : p.proxy_credentials)
        out.push_back(c.id);
    return out;
}

bool has(const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

fs::path ca_key_path(const profile::Profile& p) {
    return p.ca.key.empty() ? p.data_dir / "ca.key" : p.resolve(p.ca.key);
}

bool is_ip_literal(const std::string& host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
           inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

} // namespace

Result<CertInfo> check_pair(std::string_view cert_pem, std::string_view key_pem, std::int64_t now,
                            Expiry expiry, const std::string& cert_name,
                            const std::string& key_name) {
    auto cert = load_cert_pem(cert_pem);
    if (!cert) {
        if (contains(cert_pem, "PRIVATE KEY-----"))
            return make_error("tls.bad_pem", cert_name + ": holds a private key, not a certificate "
                                                         "(were --cert and --key swapped?)");
        return make_error(cert.error().code, cert_name + ": " + cert.error().message);
    }
    auto key = load_key_pem(key_pem);
    if (!key) {
        if (contains(key_pem, "BEGIN CERTIFICATE"))
            return make_error("tls.bad_key", key_name + ": holds a certificate, not a private key");
        return make_error(key.error().code, key_name + ": " + key.error().message);
    }
    auto info = inspect(cert->get());
    if (!key_matches(cert->get(), key->get()))
        return make_error("tls.key_mismatch", "the key in " + key_name +
                                                  " does not belong to the certificate in " +
                                                  cert_name + " (" + info.subject + ")");
    if (expiry == Expiry::refuse && info.not_after_epoch < now)
        return expired_error(cert_name, info);
    return info;
}

Result<std::vector<CertInfo>> check_certs(std::string_view pem, std::int64_t now, Expiry expiry,
                                          const std::string& name) {
    auto certs = load_certs_pem(pem);
    if (!certs) {
        if (contains(pem, "PRIVATE KEY-----"))
            return make_error("tls.bad_pem", name + ": holds a private key, not a certificate");
        return make_error(certs.error().code, name + ": " + certs.error().message);
    }
    std::vector<CertInfo> out;
    for (const auto& c : *certs) {
        out.push_back(inspect(c.get()));
        if (expiry == Expiry::refuse && out.back().not_after_epoch < now)
            return expired_error(name, out.back());
    }
    return out;
}

std::vector<std::string> chain_warnings(std::string_view pem, std::int64_t now) {
    std::vector<std::string> out;
    auto certs = load_certs_pem(pem);
    if (!certs)
        return out;
    auto label = [](std::size_t i, const CertInfo& info) {
        return "certificate " + std::to_string(i + 1) + " of the chain (" + info.subject + ")";
    };
    for (std::size_t i = 1; i < certs->size(); ++i) {
        X509* cert = (*certs)[i].get();
        X509* below = (*certs)[i - 1].get();
        auto info = inspect(cert);
        if (info.not_after_epoch < now)
            out.push_back(label(i, info) + " expired on " + info.not_after);
        else if (std::time_t t = static_cast<std::time_t>(now);
                 X509_cmp_time(X509_get0_notBefore(cert), &t) > 0)
            out.push_back(label(i, info) + " is not valid before " + info.not_before);
        // The issuer's name, key id and usage must fit, and its key must verify the signature.
        bool signed_below = X509_check_issued(cert, below) == X509_V_OK &&
                            X509_verify(below, X509_get0_pubkey(cert)) == 1;
        ERR_clear_error();
        if (!signed_below) {
            auto below_info = inspect(below);
            std::string signer = below_info.issuer == info.subject
                                     ? "a certificate of the same name with another key"
                                     : below_info.issuer;
            out.push_back(label(i, info) + " did not sign certificate " + std::to_string(i) +
                          " (" + below_info.subject + "), whose signer is " + signer +
                          ": put each certificate right after the one it signed");
        }
    }
    return out;
}

ExpiryState expiry_state(const CertInfo& info, std::int64_t now) {
    ExpiryState s;
    std::int64_t left = info.not_after_epoch - now;
    s.expired = left < 0;
    s.expires_soon = !s.expired && left < k_expires_soon_seconds;
    // Whole days, rounded towards minus infinity so an expired certificate is never "0 days".
    s.days_left = left >= 0 ? left / 86400 : -((-left + 86399) / 86400);
    return s;
}

// ---- [[certs]] ----

Result<profile::CertEntry> add_cert(const profile::Profile& p, const CertAdd& req,
                                    std::int64_t now) {
    if (!profile::valid_name(req.name))
        return make_error("cert.bad_name", "certificate name \"" + req.name +
                                               "\" may only hold letters, digits, '-' and '_' "
                                               "(at most 64)");
    if (p.find_cert(req.name))
        return make_error("cert.exists",
                          "certificate \"" + req.name + "\" already exists in " + p.file.string() +
                              "; remove it first with 'vaultfwd cert rm " + req.name + "'");
    if (req.direction != "outbound" && req.direction != "inbound")
        return make_error("cert.bad_direction",
                          "direction \"" + req.direction + "\" must be outbound or inbound");
    int ties = !req.credential.empty() + !req.route.empty() + !req.proxy.empty() +
               !req.gr4vy_endpoint.empty();
    if (ties > 1)
        return make_error("cert.bad_tie",
                          "a certificate is tied to one proxy credential, route, proxy "
                          "configuration or gr4vy endpoint, not several");
    if (!req.gr4vy_endpoint.empty() && req.direction != "outbound")
        return make_error("cert.bad_tie", "a certificate tied to gr4vy endpoint \"" + req.gr4vy_endpoint +
                                              "\" is outbound, not inbound: vaultfwd presents it to that endpoint");
    if (!req.gr4vy_endpoint.empty() && !has(gr4vy_endpoint_ids(p), req.gr4vy_endpoint))
        return make_error("cert.unknown_gr4vy_endpoint",
                          "no gr4vy endpoint \"" + req.gr4vy_endpoint + "\" in the profile" +
                              did_you_mean(req.gr4vy_endpoint, gr4vy_endpoint_ids(p)) + " (" +
                              known_list(gr4vy_endpoint_ids(p)) +
                              "; enable one with a [[gr4vy_endpoints]] entry: id, host, path)");
    if (!req.credential.empty() && req.direction != "outbound")
        return make_error("cert.bad_tie", "a certificate tied to proxy credential \"" +
                                              req.credential + "\" is outbound, not inbound");
    if (!req.credential.empty() && !has(credential_ids(p), req.credential))
        return make_error("cert.unknown_credential",
                          "no proxy credential \"" + req.credential + "\" in the profile" +
                              did_you_mean(req.credential, credential_ids(p)) + " (" +
                              known_list(credential_ids(p)) + ")");
    if (!req.route.empty() && req.direction != "inbound")
        return make_error("cert.bad_tie", "a certificate tied to route \"" + req.route +
                                              "\" is inbound (--direction inbound): vaultfwd presents it to that "
                                              "inbound route's upstream");
    if (req.direction == "inbound" && req.route.empty())
        return make_error("cert.bad_tie", "an inbound certificate belongs to an inbound route: name it with --route ID "
                                          "(vaultfwd presents the certificate to that route's upstream; " +
                                              known_list(inbound_route_ids(p)) + ")");
    if (!req.route.empty() && !has(inbound_route_ids(p), req.route)) {
        if (has(route_ids(p), req.route))
            return make_error("cert.bad_tie", "route \"" + req.route +
                                                  "\" is an outbound route: inbound certificates belong to inbound "
                                                  "routes (" + known_list(inbound_route_ids(p)) +
                                                  "); an outbound certificate belongs to a proxy credential (--credential)");
        return make_error("cert.unknown_route", "no inbound route \"" + req.route + "\" in the profile" +
                                                    did_you_mean(req.route, inbound_route_ids(p)) + " (" +
                                                    known_list(inbound_route_ids(p)) + ")");
    }
    if (!req.proxy.empty() && !has(proxy_ids(p), req.proxy))
        return make_error("cert.unknown_proxy", "no footprint proxy \"" + req.proxy +
                                                    "\" in the profile" +
                                                    did_you_mean(req.proxy, proxy_ids(p)) + " (" +
                                                    known_list(proxy_ids(p)) + ")");
    if (req.key_file.empty())
        return make_error("cert.missing_key",
                          "an " + req.direction + " certificate needs its private key (--key FILE): vaultfwd "
                          "presents it upstream");

    auto cert_pem = util::read_file(req.cert_file);
    if (!cert_pem)
        return cert_pem.error();
    std::string key_pem;
    if (!req.key_file.empty()) {
        auto k = util::read_file(req.key_file);
        if (!k)
            return k.error();
        key_pem = std::move(*k);
        auto checked = check_pair(*cert_pem, key_pem, now, req.expiry, req.cert_file, req.key_file);
        if (!checked)
            return checked.error();
    } else {
        auto checked = check_certs(*cert_pem, now, req.expiry, req.cert_file);
        if (!checked)
            return checked.error();
    }

    profile::CertEntry entry;
    entry.name = req.name;
    entry.direction = req.direction;
    entry.credential = req.credential;
    entry.route = req.route;
    entry.proxy = req.proxy;
    entry.gr4vy_endpoint = req.gr4vy_endpoint;
    entry.description = req.description;
    entry.cert = stored_path(p, "certs", req.name + ".pem");
    if (!key_pem.empty())
        entry.key = stored_path(p, "certs", req.name + ".key");

    if (auto r = util::ensure_dir(p.data_dir / "certs", 0700); !r)
        return r.error();
    if (auto r = util::write_file_atomic(p.resolve(entry.cert), *cert_pem, 0644); !r)
        return r.error();
    if (!key_pem.empty())
        if (auto r = util::write_file_atomic(p.resolve(entry.key), key_pem, 0600); !r)
            return r.error();

    profile::Fields fields{{"name", entry.name}, {"direction", entry.direction}};
    if (!entry.credential.empty())
        fields.emplace_back("credential", entry.credential);
    if (!entry.route.empty())
        fields.emplace_back("route", entry.route);
    if (!entry.proxy.empty())
        fields.emplace_back("proxy", entry.proxy);
    if (!entry.gr4vy_endpoint.empty())
        fields.emplace_back("gr4vy_endpoint", entry.gr4vy_endpoint);
    if (!entry.description.empty())
        fields.emplace_back("description", entry.description);
    fields.emplace_back("cert", entry.cert);
    if (!entry.key.empty())
        fields.emplace_back("key", entry.key);
    if (auto r = profile::append_entry(p.file, "certs", fields); !r) {
        std::error_code ec;
        fs::remove(p.resolve(entry.cert), ec);
        if (!entry.key.empty())
            fs::remove(p.resolve(entry.key), ec);
        return r.error();
    }
    return entry;
}

std::vector<CertRow> list_certs(const profile::Profile& p, std::int64_t now) {
    std::vector<CertRow> rows;
    for (const auto& entry : p.certs) {
        CertRow row;
        row.entry = entry;
        auto text = util::read_file(p.resolve(entry.cert));
        auto cert = text ? load_cert_pem(*text) : Result<ossl::X509Ptr>(text.error());
        if (!cert) {
            row.problem = cert.error().message;
            row.flags.push_back("UNREADABLE");
            rows.push_back(std::move(row));
            continue;
        }
        row.readable = true;
        row.info = inspect(cert->get());
        row.expiry = expiry_state(row.info, now);
        if (row.expiry.expired)
            row.flags.push_back("EXPIRED");
        else if (row.expiry.expires_soon)
            row.flags.push_back("EXPIRES SOON");
        if (!entry.key.empty()) {
            auto key_text = util::read_file(p.resolve(entry.key));
            auto key = key_text ? load_key_pem(*key_text) : Result<ossl::PkeyPtr>(key_text.error());
            if (!key) {
                row.problem = key.error().message;
                row.flags.push_back("KEY UNREADABLE");
            } else if (!key_matches(cert->get(), key->get())) {
                row.problem = "the key in " + entry.key + " does not belong to the certificate";
                row.flags.push_back("KEY MISMATCH");
            }
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

std::vector<std::string> cert_users(const profile::Profile& p, const std::string& name) {
    std::vector<std::string> out;
    for (const auto& c : p.proxy_credentials)
        if (c.client_cert == name)
            out.push_back("proxy credential \"" + c.id + "\"");
    for (const auto& fp : p.footprint_proxies)
        if (fp.client_cert == name)
            out.push_back("footprint proxy \"" + fp.id + "\"");
    for (const auto& ep : p.gr4vy_endpoints)
        if (ep.client_cert == name)
            out.push_back("gr4vy endpoint \"" + ep.id + "\"");
    return out;
}

Result<void> remove_cert(const profile::Profile& p, const std::string& name) {
    const auto* entry = p.find_cert(name);
    if (!entry) {
        std::vector<std::string> names;
        for (const auto& c : p.certs)
            names.push_back(c.name);
        return make_error("cert.not_found", "no certificate \"" + name + "\" in the profile" +
                                                did_you_mean(name, names));
    }
    if (auto users = cert_users(p, name); !users.empty())
        return make_error("cert.in_use",
                          "certificate \"" + name + "\" is used by " + util::join(users, ", ") +
                              "; remove those references from " + p.file.string() + " first");
    auto removed = profile::remove_entry(p.file, "certs", "name", name);
    if (!removed)
        return removed.error();
    if (!*removed)
        return make_error("cert.not_found",
                          "no certificate \"" + name + "\" in " + p.file.string());
    remove_owned(p, "certs", entry->cert, name, "");
    remove_owned(p, "certs", entry->key, name, "");
    return {};
}

// ---- [[pins]] ----

Result<profile::PinEntry> add_pin(const profile::Profile& p, const PinAdd& req, std::int64_t now) {
    if (!profile::valid_name(req.name))
        return make_error("pin.bad_name", "pin name \"" + req.name +
                                              "\" may only hold letters, digits, '-' and '_' "
                                              "(at most 64)");
    if (p.find_pin(req.name))
        return make_error("pin.exists", "pin \"" + req.name + "\" already exists in " +
                                            p.file.string() +
                                            "; remove it first with "
                                            "'vaultfwd cert pin rm " +
                                            req.name + "'");
    if (!req.scope.empty() && !has(route_ids(p), req.scope) && !has(proxy_ids(p), req.scope)) {
        auto scopes = route_ids(p);
        for (const auto& id : proxy_ids(p))
            scopes.push_back(id);
        return make_error("pin.unknown_scope",
                          "scope \"" + req.scope + "\" is neither a route nor a footprint proxy" +
                              did_you_mean(req.scope, scopes) + " (" + known_list(scopes) +
                              "; leave --scope out to pin for every upstream call)");
    }
    auto pem = util::read_file(req.cert_file);
    if (!pem)
        return pem.error();
    auto checked = check_certs(*pem, now, req.expiry, req.cert_file);
    if (!checked)
        return checked.error();

    profile::PinEntry entry;
    entry.name = req.name;
    entry.description = req.description;
    entry.scope = req.scope;
    entry.cert = stored_path(p, "pins", req.name + ".pem");
    if (auto r = util::ensure_dir(p.data_dir / "pins", 0700); !r)
        return r.error();
    if (auto r = util::write_file_atomic(p.resolve(entry.cert), *pem, 0644); !r)
        return r.error();
    profile::Fields fields{{"name", entry.name}};
    if (!entry.description.empty())
        fields.emplace_back("description", entry.description);
    fields.emplace_back("cert", entry.cert);
    if (!entry.scope.empty())
        fields.emplace_back("scope", entry.scope);
    if (auto r = profile::append_entry(p.file, "pins", fields); !r) {
        std::error_code ec;
        fs::remove(p.resolve(entry.cert), ec);
        return r.error();
    }
    return entry;
}

std::vector<PinRow> list_pins(const profile::Profile& p, std::int64_t now) {
    std::vector<PinRow> rows;
    for (const auto& entry : p.pins) {
        PinRow row;
        row.entry = entry;
        auto text = util::read_file(p.resolve(entry.cert));
        auto certs =
            text ? load_certs_pem(*text) : Result<std::vector<ossl::X509Ptr>>(text.error());
        if (!certs) {
            row.problem = certs.error().message;
            row.flags.push_back("UNREADABLE");
            rows.push_back(std::move(row));
            continue;
        }
        row.readable = true;
        bool any_expired = false, any_soon = false;
        for (const auto& c : *certs) {
            PinRow::Cert pc;
            pc.info = inspect(c.get());
            pc.expiry = expiry_state(pc.info, now);
            pc.kind = pc.info.is_ca ? (pc.info.self_signed ? "root CA" : "intermediate CA")
                                    : (pc.info.self_signed ? "self-signed leaf" : "leaf");
            any_expired = any_expired || pc.expiry.expired;
            any_soon = any_soon || pc.expiry.expires_soon;
            row.certs.push_back(std::move(pc));
        }
        if (any_expired)
            row.flags.push_back("EXPIRED");
        else if (any_soon)
            row.flags.push_back("EXPIRES SOON");
        rows.push_back(std::move(row));
    }
    return rows;
}

std::vector<std::string> pin_users(const profile::Profile& p, const std::string& name) {
    std::vector<std::string> out;
    for (const auto& fp : p.footprint_proxies)
        if (has(fp.pins, name))
            out.push_back("footprint proxy \"" + fp.id + "\"");
    return out;
}

Result<void> remove_pin(const profile::Profile& p, const std::string& name) {
    const auto* entry = p.find_pin(name);
    if (!entry) {
        std::vector<std::string> names;
        for (const auto& pin : p.pins)
            names.push_back(pin.name);
        return make_error("pin.not_found",
                          "no pin \"" + name + "\" in the profile" + did_you_mean(name, names));
    }
    if (auto users = pin_users(p, name); !users.empty())
        return make_error("pin.in_use",
                          "pin \"" + name + "\" is used by " + util::join(users, ", ") +
                              "; remove those references from " + p.file.string() + " first");
    auto removed = profile::remove_entry(p.file, "pins", "name", name);
    if (!removed)
        return removed.error();
    if (!*removed)
        return make_error("pin.not_found", "no pin \"" + name + "\" in " + p.file.string());
    remove_owned(p, "pins", entry->cert, "", name);
    return {};
}

// ---- the local CA ----

Result<KeyPair> load_ca(const profile::Profile& p) {
    auto cert = ca_cert_path(p);
    auto key = ca_key_path(p);
    std::error_code ec;
    if (!fs::exists(cert, ec) || !fs::exists(key, ec))
        return make_error("ca.missing", "the local CA (" + cert.string() + ", " + key.string() +
                                            ") does not exist: run 'vaultfwd ca init'");
    return load_pair_files(cert.string(), key.string());
}

Result<CaInitReport> init_ca(const profile::Profile& p, CaOverwrite overwrite) {
    CaInitReport report;
    report.cert_file = ca_cert_path(p);
    auto key_file = ca_key_path(p);
    std::error_code ec;
    bool exists = fs::exists(report.cert_file, ec) && fs::exists(key_file, ec);
    if (exists && overwrite == CaOverwrite::never) {
        auto pair = load_pair_files(report.cert_file.string(), key_file.string());
        if (!pair)
            return make_error(pair.error().code,
                              pair.error().message +
                                  " (regenerate it with 'vaultfwd ca init --force')");
        report.info = inspect(pair->cert.get());
        return report;
    }
    auto ca = make_ca("vaultfwd local CA (" + p.name + ")");
    if (!ca)
        return ca.error();
    if (auto r = util::ensure_dir(key_file.parent_path(), 0700); !r)
        return r.error();
    if (auto r = util::ensure_dir(report.cert_file.parent_path(), 0700); !r)
        return r.error();
    if (auto r = util::write_file_atomic(key_file, key_to_pem(ca->key.get()), 0600); !r)
        return r.error();
    if (auto r = util::write_file_atomic(report.cert_file, cert_to_pem(ca->cert.get()), 0644); !r)
        return r.error();
    report.created = true;
    report.info = inspect(ca->cert.get());
    return report;
}

Result<std::string> export_ca(const KeyPair& ca, ExportFormat format, WithKey with_key,
                              const std::string& password) {
    switch (format) {
    case ExportFormat::pem:
        return cert_to_pem(ca.cert.get()) +
               (with_key == WithKey::yes ? key_to_pem(ca.key.get()) : std::string());
    case ExportFormat::der:
        if (with_key == WithKey::yes)
            return make_error("ca.der_with_key", "a DER file holds the certificate only: export "
                                                 "the key as pem or p12");
        return cert_to_der(ca.cert.get());
    case ExportFormat::p12:
        if (with_key == WithKey::yes && password.empty())
            return make_error("ca.p12_password",
                              "a PKCS#12 bundle with the CA key needs a password (--password)");
        return to_pkcs12(ca.cert.get(), with_key == WithKey::yes ? ca.key.get() : nullptr,
                         password);
    }
    return make_error("ca.format", "unknown export format");
}

Result<KeyPair> issue_client_cert(const KeyPair& ca, const std::string& common_name, int days) {
    if (common_name.empty())
        return make_error("cert.bad_cn", "the common name (--cn) may not be empty");
    if (days <= 0)
        return make_error("cert.bad_days", "--days must be at least 1");
    IssueOptions opts;
    opts.common_name = common_name;
    opts.usage = Usage::client;
    opts.days = days;
    return issue(opts, &ca);
}

Result<KeyPair> issue_localhost_cert(const KeyPair& ca, const std::string& host) {
    IssueOptions opts;
    opts.common_name = "localhost";
    opts.dns_names = {"localhost"};
    opts.ip_addresses = {"127.0.0.1", "::1"};
    opts.usage = Usage::server;
    opts.days = 30;
    if (!host.empty() && host != "0.0.0.0" && host != "::" && host != "localhost" &&
        !has(opts.ip_addresses, host))
        (is_ip_literal(host) ? opts.ip_addresses : opts.dns_names).push_back(host);
    return issue(opts, &ca);
}

std::string file_stem(std::string_view common_name) {
    std::string out;
    for (char c : common_name) {
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
        out.push_back(keep ? c : '-');
    }
    // A name of dots alone would be "." or ".." as a file name.
    if (out.find_first_not_of('.') == std::string::npos)
        out = "client";
    return out;
}

Result<void> write_pair(const KeyPair& pair, const fs::path& cert_file, const fs::path& key_file,
                        Overwrite overwrite) {
    std::error_code ec;
    if (overwrite == Overwrite::never) {
        for (const auto& f : {cert_file, key_file})
            if (fs::exists(f, ec))
                return make_error("cert.file_exists",
                                  f.string() + " already exists; pass --force to overwrite it");
    }
    if (cert_file.has_parent_path())
        if (auto r = util::ensure_dir(cert_file.parent_path(), 0755); !r)
            return r;
    if (key_file.has_parent_path())
        if (auto r = util::ensure_dir(key_file.parent_path(), 0755); !r)
            return r;
    if (auto r = util::write_file_atomic(key_file, key_to_pem(pair.key.get()), 0600); !r)
        return r;
    return util::write_file_atomic(cert_file, cert_to_pem(pair.cert.get()), 0644);
}

fs::path ca_cert_path(const profile::Profile& p) {
    return p.ca.cert.empty() ? p.data_dir / "ca.pem" : p.resolve(p.ca.cert);
}

} // namespace vaultfwd::tls
