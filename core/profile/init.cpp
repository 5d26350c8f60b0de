// SPDX-License-Identifier: Apache-2.0
#include "core/profile/init.hpp"

#include "core/profile/profile.hpp"
#include "core/tls/cert.hpp"
#include "core/util/fs.hpp"
#include "core/util/random.hpp"

namespace vaultfwd::profile {

namespace fs = std::filesystem;

namespace {
const char* k_alnum = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

bool folder_has_files(const fs::path& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        return false;
    return fs::directory_iterator(dir, ec) != fs::directory_iterator();
}
} // namespace

std::string default_profile_text(const std::string& name, const std::string& api_key,
                                 const std::string& proxy_user, const std::string& proxy_password,
                                 const std::string& vault_key_hex) {
    return "# vaultfwd profile \"" + name + "\", made by 'vaultfwd init'.\n"
           "# Edit freely: vaultfwd only appends or removes whole [[certs]] / [[pins]] /\n"
           "# [[routes]] entries and never rewrites the rest of this file.\n"
           "# Paths are relative to the home folder. Check with 'vaultfwd config check'.\n"
           "\n"
           "[listen]\n"
           "api = \"127.0.0.1:7410\"     # Footprint, Gr4vy and VTEX APIs\n"
           "proxy = \"127.0.0.1:7411\"   # VGS-style forward proxy (HTTPS_PROXY)\n"
           "inbound = \"127.0.0.1:7412\" # VGS-style inbound routes (a reverse proxy, no credentials)\n"
           "\n"
           "[vault]\n"
           "key = \"" + vault_key_hex + "\"   # AES-256-GCM key of the vault: keep it secret\n"
           "alias_env = \"sandbox\"       # aliases look like tok_sandbox_…\n"
           "\n"
           "[ca]\n"
           "cert = \"" + name + "/ca.pem\"   # trust this with curl --cacert\n"
           "key = \"" + name + "/ca.key\"\n"
           "\n"
           "[upstream]\n"
           "# Hosts vaultfwd may forward to; \"*.example.com\" matches subdomains.\n"
           "allow = [\"localhost\", \"127.0.0.1\", \"::1\"]\n"
           "# Hosts that may be reached over plain http:// (loopback only by default).\n"
           "allow_http = [\"localhost\", \"127.0.0.1\", \"::1\"]\n"
           "connect_timeout_ms = 5000\n"
           "timeout_ms = 15000\n"
           "\n"
           "[limits]\n"
           "max_body_bytes = 5242880\n"
           "\n"
           "[[api_keys]]\n"
           "id = \"default\"\n"
           "key = \"" + api_key + "\"   # curl -u " + "KEY: …\n"
           "reveal = [\"*\"]              # data identifiers this key may reveal, e.g. [\"id.*\", \"card.*\"]\n"
           "\n"
           "[[proxy_credentials]]\n"
           "id = \"default\"\n"
           "username = \"" + proxy_user + "\"\n"
           "password = \"" + proxy_password + "\"\n"
           "# client_cert = \"my-mtls\"    # an outbound [[certs]] entry presented upstream\n";
}

Result<InitReport> init_profile(const fs::path& home, const std::string& name,
                                Overwrite overwrite) {
    if (!valid_name(name))
        return make_error("profile.bad_name", "profile name \"" + name +
                                                  "\" may only hold letters, digits, '-' and '_'");
    InitReport report;
    report.profile_file = profile_path(home, name);
    fs::path data_dir = home / name;
    report.ca_cert = data_dir / "ca.pem";
    fs::path ca_key = data_dir / "ca.key";
    if (auto r = util::ensure_dir(home, 0700); !r)
        return r.error();
    if (auto r = util::ensure_dir(data_dir, 0700); !r)
        return r.error();

    std::error_code ec;
    bool profile_exists = fs::exists(report.profile_file, ec);
    if (!profile_exists || overwrite == Overwrite::force) {
        std::string vault_key = util::random_hex(32);
        if (profile_exists && folder_has_files(data_dir / "vault")) {
            // Keep the old vault key: a new one would orphan every stored value.
            auto old = load(home, name);
            if (!old)
                return make_error("profile.keep_vault_key",
                                  "cannot read the vault key of the existing profile (" +
                                      old.error().message +
                                      "); fix it or move the vault folder away first");
            vault_key = old->vault.key_hex;
            report.notes.push_back("kept the vault key: the vault in " +
                                   (data_dir / "vault").string() + " holds data");
        }
        std::string text = default_profile_text(
            name, "sk_test_" + util::random_string(32, k_alnum),
            "US" + util::random_string(20, k_alnum), util::random_string(32, k_alnum), vault_key);
        if (auto r = util::write_file_atomic(report.profile_file, text, 0600); !r)
            return r.error();
        report.created = true;
        report.notes.push_back((profile_exists ? "regenerated " : "created ") +
                               report.profile_file.string());
    } else {
        report.notes.push_back("kept " + report.profile_file.string() +
                               " (use --force to regenerate its secrets)");
    }

    bool ca_exists = fs::exists(report.ca_cert, ec) && fs::exists(ca_key, ec);
    if (!ca_exists || overwrite == Overwrite::force) {
        auto ca = tls::make_ca("vaultfwd local CA (" + name + ")");
        if (!ca)
            return ca.error();
        if (auto r = util::write_file_atomic(ca_key, tls::key_to_pem(ca->key.get()), 0600); !r)
            return r.error();
        if (auto r = util::write_file_atomic(report.ca_cert, tls::cert_to_pem(ca->cert.get()), 0644);
            !r)
            return r.error();
        report.created = true;
        report.notes.push_back((ca_exists ? "regenerated the local CA " : "created the local CA ") +
                               report.ca_cert.string());
    } else {
        report.notes.push_back("kept the local CA " + report.ca_cert.string());
    }
    return report;
}

} // namespace vaultfwd::profile
