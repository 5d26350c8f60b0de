// SPDX-License-Identifier: Apache-2.0
#include <iostream>
#include <unistd.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/context.hpp"
#include "core/tls/store.hpp"
#include "core/util/fs.hpp"

namespace vaultfwd::cli {

namespace {

struct CertArgs {
    tls::CertAdd add;
    bool allow_expired = false;
    std::string rm_name;
    bool yes = false;
    std::string cn;
    std::string out_dir = ".";
    std::string stem;
    int days = 365;
    bool force = false;
    tls::PinAdd pin;
    std::string pin_rm_name;
};

CertArgs& args() {
    static CertArgs a;
    return a;
}

std::string when(const tls::ExpiryState& e) {
    if (e.expired)
        return e.days_left == -1 ? "1 day ago" : std::to_string(-e.days_left) + " days ago";
    return e.days_left == 1 ? "in 1 day" : "in " + std::to_string(e.days_left) + " days";
}

std::string flags_text(const std::vector<std::string>& flags) {
    std::string out;
    for (const auto& f : flags)
        out += "  [" + f + "]";
    return out;
}

// Asks before a removal on a terminal; without one, --yes is the only way through.
bool confirmed(const std::string& what) {
    if (args().yes)
        return true;
    if (!::isatty(STDIN_FILENO))
        fail("refusing to remove " + what +
                 " without confirmation: stdin is not a terminal; pass --yes",
             2);
    std::cerr << "remove " << what << "? [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    return answer == "y" || answer == "Y" || answer == "yes" || answer == "YES";
}

nlohmann::json cert_info_json(const tls::CertInfo& info, const tls::ExpiryState& e) {
    return {{"subject", info.subject},        {"issuer", info.issuer},
            {"serial", info.serial_decimal},  {"serial_hex", info.serial_hex},
            {"not_before", info.not_before},  {"not_after", info.not_after},
            {"days_left", e.days_left},       {"expired", e.expired},
            {"expires_soon", e.expires_soon}, {"sha256", info.sha256_fingerprint}};
}

void print_cert_details(const tls::CertInfo& info, const tls::ExpiryState& e,
                        const std::string& indent) {
    std::cout << indent << "subject      " << info.subject << "\n"
              << indent << "signer       " << info.issuer
              << (info.self_signed ? " (self-signed)" : "") << "\n"
              << indent << "serial       " << info.serial_decimal << " (hex " << info.serial_hex
              << ")\n"
              << indent << (e.expired ? "expired      " : "expires      ") << info.not_after << " ("
              << when(e) << ")\n"
              << indent << "sha256       " << info.sha256_fingerprint << "\n";
}

std::string tie_text(const profile::CertEntry& c) {
    if (!c.credential.empty())
        return "credential " + c.credential;
    if (!c.route.empty())
        return "inbound route " + c.route;
    if (!c.proxy.empty())
        return "proxy " + c.proxy;
    if (!c.gr4vy_endpoint.empty())
        return "gr4vy endpoint " + c.gr4vy_endpoint;
    return "not tied";
}

void run_add() {
    auto p = load_profile();
    auto req = args().add;
    req.expiry = args().allow_expired ? tls::Expiry::allow : tls::Expiry::refuse;
    auto entry = unwrap(tls::add_cert(p, req, tls::now_epoch()));
    // Added as given (a chain problem is the upstream's to judge), but said out loud.
    auto warnings = tls::chain_warnings(unwrap(util::read_file(p.resolve(entry.cert))),
                                        tls::now_epoch());
    for (const auto& w : warnings)
        std::cerr << "vaultfwd: warning: " << req.cert_file << ": " << w << "\n";
    auto reloaded = load_profile();
    auto rows = tls::list_certs(reloaded, tls::now_epoch());
    const tls::CertRow* row = nullptr;
    for (const auto& r : rows)
        if (r.entry.name == entry.name)
            row = &r;
    if (globals().json) {
        nlohmann::json j = {{"name", entry.name},
                            {"direction", entry.direction},
                            {"cert", entry.cert},
                            {"key", entry.key},
                            {"profile", p.file.string()},
                            {"warnings", warnings}};
        if (row && row->readable)
            j["certificate"] = cert_info_json(row->info, row->expiry);
        print_json(j);
        return;
    }
    std::cout << "added certificate \"" << entry.name << "\" (" << entry.direction << ", "
              << tie_text(entry) << ") to " << p.file.string() << "\n";
    if (row && row->readable) {
        print_cert_details(row->info, row->expiry, "  ");
        if (!row->flags.empty())
            std::cout << " " << flags_text(row->flags) << "\n";
    }
}

void run_list() {
    auto p = load_profile();
    auto rows = tls::list_certs(p, tls::now_epoch());
    if (globals().json) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& r : rows) {
            nlohmann::json j = {{"name", r.entry.name},
                                {"description", r.entry.description},
                                {"direction", r.entry.direction},
                                {"credential", r.entry.credential},
                                {"route", r.entry.route},
                                {"proxy", r.entry.proxy},
                                {"gr4vy_endpoint", r.entry.gr4vy_endpoint},
                                {"cert", r.entry.cert},
                                {"key", r.entry.key},
                                {"flags", r.flags},
                                {"problem", r.problem}};
            if (r.readable)
                j.update(cert_info_json(r.info, r.expiry));
            list.push_back(j);
        }
        print_json({{"profile", p.file.string()}, {"certs", list}});
        return;
    }
    if (rows.empty()) {
        std::cout << "no certificates in " << p.file.string()
                  << " (add one with 'vaultfwd cert add NAME --cert FILE --key FILE')\n";
        return;
    }
    bool first = true;
    for (const auto& r : rows) {
        if (!first)
            std::cout << "\n";
        first = false;
        std::cout << r.entry.name << "  " << r.entry.direction << "  " << tie_text(r.entry)
                  << flags_text(r.flags) << "\n";
        if (!r.entry.description.empty())
            std::cout << "  description  " << r.entry.description << "\n";
        if (r.readable)
            print_cert_details(r.info, r.expiry, "  ");
        if (!r.problem.empty())
            std::cout << "  problem      " << r.problem << "\n";
        std::cout << "  files        " << r.entry.cert
                  << (r.entry.key.empty() ? "" : ", " + r.entry.key) << "\n";
    }
}

void run_rm() {
    auto p = load_profile();
    const auto& name = args().rm_name;
    std::string what = "certificate \"" + name + "\"";
    if (const auto* entry = p.find_cert(name)) {
        // Refuse early what remove_cert would refuse, before asking anything.
        if (auto users = tls::cert_users(p, name); !users.empty())
            unwrap(tls::remove_cert(p, name));
        what += " (" + entry->direction + ", " + tie_text(*entry) + ")";
    } else {
        unwrap(tls::remove_cert(p, name)); // reports "no certificate …"
    }
    if (!confirmed(what)) {
        std::cerr << "kept " << what << "\n";
        return;
    }
    unwrap(tls::remove_cert(p, name));
    if (globals().json)
        print_json({{"removed", name}, {"profile", p.file.string()}});
    else
        std::cout << "removed certificate \"" << name << "\" from " << p.file.string() << "\n";
}

void run_issue() {
    const auto& a = args();
    auto p = load_profile();
    auto ca = unwrap(tls::load_ca(p));
    auto pair = unwrap(tls::issue_client_cert(ca, a.cn, a.days));
    std::string stem = a.stem.empty() ? tls::file_stem(a.cn) : a.stem;
    std::filesystem::path dir = a.out_dir;
    auto cert_file = dir / (stem + ".pem");
    auto key_file = dir / (stem + ".key");
    unwrap(tls::write_pair(pair, cert_file, key_file,
                           a.force ? tls::Overwrite::force : tls::Overwrite::never));
    auto info = tls::inspect(pair.cert.get());
    auto e = tls::expiry_state(info, tls::now_epoch());
    if (globals().json) {
        auto j = cert_info_json(info, e);
        j["cert_file"] = cert_file.string();
        j["key_file"] = key_file.string();
        print_json(j);
        return;
    }
    std::cout << "issued a client certificate for \"" << a.cn << "\" signed by the local CA\n"
              << "  certificate  " << cert_file.string() << "\n"
              << "  key          " << key_file.string() << " (0600)\n";
    print_cert_details(info, e, "  ");
}

void run_pin_add() {
    auto p = load_profile();
    auto req = args().pin;
    req.expiry = args().allow_expired ? tls::Expiry::allow : tls::Expiry::refuse;
    auto entry = unwrap(tls::add_pin(p, req, tls::now_epoch()));
    if (globals().json) {
        print_json({{"name", entry.name},
                    {"cert", entry.cert},
                    {"scope", entry.scope},
                    {"profile", p.file.string()}});
        return;
    }
    std::cout << "pinned \"" << entry.name << "\" ("
              << (entry.scope.empty() ? "every upstream call" : "scope " + entry.scope) << ") in "
              << p.file.string() << "\n";
}

void run_pin_list() {
    auto p = load_profile();
    auto rows = tls::list_pins(p, tls::now_epoch());
    if (globals().json) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& r : rows) {
            nlohmann::json certs = nlohmann::json::array();
            for (const auto& c : r.certs) {
                auto j = cert_info_json(c.info, c.expiry);
                j["kind"] = c.kind;
                certs.push_back(j);
            }
            list.push_back({{"name", r.entry.name},
                            {"description", r.entry.description},
                            {"scope", r.entry.scope},
                            {"cert", r.entry.cert},
                            {"flags", r.flags},
                            {"problem", r.problem},
                            {"certificates", certs}});
        }
        print_json({{"profile", p.file.string()}, {"pins", list}});
        return;
    }
    if (rows.empty()) {
        std::cout << "no pinned certificates in " << p.file.string()
                  << " (add one with 'vaultfwd cert pin add NAME --cert FILE')\n";
        return;
    }
    bool first = true;
    for (const auto& r : rows) {
        if (!first)
            std::cout << "\n";
        first = false;
        std::cout << r.entry.name << "  "
                  << (r.entry.scope.empty() ? "every upstream call" : "scope " + r.entry.scope)
                  << flags_text(r.flags) << "\n";
        if (!r.entry.description.empty())
            std::cout << "  description  " << r.entry.description << "\n";
        for (const auto& c : r.certs) {
            std::cout << "  " << c.kind << "\n";
            print_cert_details(c.info, c.expiry, "    ");
        }
        if (!r.problem.empty())
            std::cout << "  problem      " << r.problem << "\n";
        std::cout << "  file         " << r.entry.cert << "\n";
    }
}

void run_pin_rm() {
    auto p = load_profile();
    const auto& name = args().pin_rm_name;
    const auto* entry = p.find_pin(name);
    if (!entry || !tls::pin_users(p, name).empty())
        unwrap(tls::remove_pin(p, name)); // reports "no pin …" or "… is used by …"
    if (!confirmed("pin \"" + name + "\"")) {
        std::cerr << "kept pin \"" << name << "\"\n";
        return;
    }
    unwrap(tls::remove_pin(p, name));
    if (globals().json)
        print_json({{"removed", name}, {"profile", p.file.string()}});
    else
        std::cout << "removed pin \"" << name << "\" from " << p.file.string() << "\n";
}

} // namespace

void register_cert(CLI::App& app) {
    auto& a = args();
    auto* cmd = app.add_subcommand("cert", "mTLS client certificates, pinned certificates, and "
                                           "test certificates from the local CA");
    cmd->require_subcommand(1);
    set_examples(cmd, "  vaultfwd cert add acquirer --cert client.pem --key client.key "
                      "--credential default\n"
                      "  vaultfwd cert list\n"
                      "  vaultfwd cert issue --cn test-client --out-dir ./certs\n"
                      "  vaultfwd cert pin add acquirer-root --cert root.pem\n");

    auto* add = cmd->add_subcommand("add", "Add a certificate and its key to the profile (checks "
                                           "that they match)");
    add->add_option("name", a.add.name, "Name of the entry")->required();
    add->add_option("--cert", a.add.cert_file, "Certificate (PEM, chain allowed)")
        ->required()
        ->type_name("FILE");
    add->add_option("--key", a.add.key_file, "Its private key (PEM, unencrypted)")
        ->type_name("FILE");
    add->add_option("--direction", a.add.direction,
                    "outbound: presented to upstreams for a proxy credential, gr4vy endpoint or footprint "
                    "proxy; inbound: presented to an inbound route's upstream (--route)")
        ->check(CLI::IsMember({"outbound", "inbound"}))
        ->capture_default_str();
    auto* credential = add->add_option("--credential", a.add.credential,
                                       "Proxy credential the certificate is presented for");
    auto* route = add->add_option("--route", a.add.route,
                                  "Inbound route (direction = \"inbound\") whose upstream it is presented to");
    auto* proxy = add->add_option("--proxy", a.add.proxy, "Footprint proxy configuration id");
    auto* endpoint = add->add_option("--gr4vy-endpoint", a.add.gr4vy_endpoint,
                                     "Gr4vy endpoint ([[gr4vy_endpoints]] id) it is presented to");
    credential->excludes(route)->excludes(proxy)->excludes(endpoint);
    route->excludes(proxy)->excludes(endpoint);
    proxy->excludes(endpoint);
    add->add_option("--description", a.add.description, "Free text shown by 'cert list'");
    add->add_flag("--allow-expired", a.allow_expired, "Accept an expired certificate");
    set_examples(add, "  vaultfwd cert add acquirer --cert client.pem --key client.key "
                      "--credential default\n"
                      "  vaultfwd cert add callbacks --direction inbound --route inbound-visa "
                      "--cert visa.pem --key visa.key\n"
                      "  vaultfwd cert add acquirer-gr4vy --cert client.pem --key client.key "
                      "--gr4vy-endpoint acquirer\n");
    add->callback(run_add);

    auto* list = cmd->add_subcommand("list", "List the certificates with subject, signer, serial, "
                                             "expiry and fingerprint");
    set_examples(list, "  vaultfwd cert list\n  vaultfwd --json cert list | jq '.certs[].name'\n");
    list->callback(run_list);

    auto* rm = cmd->add_subcommand("rm", "Remove a certificate from the profile");
    rm->add_option("name", a.rm_name, "Name of the entry")->required();
    rm->add_flag("-y,--yes", a.yes, "Do not ask for confirmation");
    set_examples(rm, "  vaultfwd cert rm acquirer\n  vaultfwd cert rm acquirer --yes\n");
    rm->callback(run_rm);

    auto* issue = cmd->add_subcommand("issue", "Make a client certificate signed by the local CA, "
                                               "for tests");
    issue->add_option("--cn", a.cn, "Common name of the certificate")->required();
    issue->add_option("--out-dir", a.out_dir, "Folder for NAME.pem and NAME.key")
        ->type_name("DIR")
        ->capture_default_str();
    issue->add_option("--name", a.stem, "File name stem (default: from the common name)");
    issue->add_option("--days", a.days, "Validity in days")->capture_default_str();
    issue->add_flag("--force", a.force, "Overwrite existing files");
    set_examples(issue, "  vaultfwd cert issue --cn test-client\n"
                        "  vaultfwd cert issue --cn acme --out-dir ./certs --days 30\n");
    issue->callback(run_issue);

    auto* pin = cmd->add_subcommand("pin", "Pinned root CAs and leaf certificates for upstream "
                                           "calls");
    pin->require_subcommand(1);
    set_examples(pin, "  vaultfwd cert pin add acquirer-root --cert root.pem\n"
                      "  vaultfwd cert pin list\n  vaultfwd cert pin rm acquirer-root --yes\n");
    auto* pin_add = pin->add_subcommand("add", "Pin a certificate (a root CA or a leaf)");
    pin_add->add_option("name", a.pin.name, "Name of the pin")->required();
    pin_add->add_option("--cert", a.pin.cert_file, "Certificate(s) to pin (PEM)")
        ->required()
        ->type_name("FILE");
    pin_add->add_option("--scope", a.pin.scope,
                        "Route or footprint proxy id it applies to (default: every upstream call)");
    pin_add->add_option("--description", a.pin.description, "Free text shown by 'cert pin list'");
    pin_add->add_flag("--allow-expired", a.allow_expired, "Accept an expired certificate");
    set_examples(pin_add, "  vaultfwd cert pin add acquirer-root --cert root.pem\n"
                          "  vaultfwd cert pin add gw-leaf --cert leaf.pem --scope payments\n");
    pin_add->callback(run_pin_add);
    auto* pin_list = pin->add_subcommand("list", "List pinned certificates");
    set_examples(pin_list, "  vaultfwd cert pin list\n  vaultfwd --json cert pin list\n");
    pin_list->callback(run_pin_list);
    auto* pin_rm = pin->add_subcommand("rm", "Remove a pinned certificate");
    pin_rm->add_option("name", a.pin_rm_name, "Name of the pin")->required();
    pin_rm->add_flag("-y,--yes", a.yes, "Do not ask for confirmation");
    set_examples(pin_rm, "  vaultfwd cert pin rm acquirer-root --yes\n");
    pin_rm->callback(run_pin_rm);
}

} // namespace vaultfwd::cli
