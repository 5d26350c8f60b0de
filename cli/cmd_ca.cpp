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

struct CaArgs {
    bool force = false;
    std::string format = "pem";
    std::string out;
    std::string password;
    bool with_key = false;
};

CaArgs& args() {
    static CaArgs a;
    return a;
}

void run_init() {
    auto p = load_profile();
    auto report =
        unwrap(tls::init_ca(p, args().force ? tls::CaOverwrite::force : tls::CaOverwrite::never));
    if (globals().json) {
        print_json({{"cert", report.cert_file.string()},
                    {"created", report.created},
                    {"subject", report.info.subject},
                    {"not_after", report.info.not_after},
                    {"sha256", report.info.sha256_fingerprint}});
        return;
    }
    if (!report.created) {
        std::cout << "kept the local CA " << report.cert_file.string()
                  << " (use --force to regenerate it)\n";
    } else {
        std::cout << (args().force ? "regenerated" : "created") << " the local CA "
                  << report.cert_file.string() << "\n";
        if (args().force)
            std::cout << "clients that trusted the old CA, and certificates it issued, must be "
                         "updated (restart a running 'vaultfwd serve' too)\n";
    }
    std::cout << "  subject  " << report.info.subject << "\n"
              << "  expires  " << report.info.not_after << "\n"
              << "  sha256   " << report.info.sha256_fingerprint << "\n";
}

void run_export() {
    const auto& a = args();
    auto format = a.format == "der"   ? tls::ExportFormat::der
                  : a.format == "p12" ? tls::ExportFormat::p12
                                      : tls::ExportFormat::pem;
    if (format != tls::ExportFormat::p12 && !a.password.empty())
        fail("--password only applies to --format p12", 2);
    if (format != tls::ExportFormat::pem && a.out.empty() && ::isatty(STDOUT_FILENO))
        fail("refusing to write binary " + a.format +
                 " to a terminal: pass --out FILE or redirect the output",
             2);
    auto p = load_profile();
    auto ca = unwrap(tls::load_ca(p));
    auto data = unwrap(
        tls::export_ca(ca, format, a.with_key ? tls::WithKey::yes : tls::WithKey::no, a.password));
    if (a.out.empty()) {
        std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
        std::cout.flush();
        return;
    }
    unwrap(util::write_file_atomic(a.out, data, a.with_key ? 0600 : 0644));
    std::cerr << "wrote the local CA" << (a.with_key ? " and its key" : "") << " (" << a.format
              << ") to " << a.out << "\n";
}

} // namespace

void register_ca(CLI::App& app) {
    auto& a = args();
    auto* cmd = app.add_subcommand("ca", "The local CA that signs intercepted TLS connections and "
                                         "test certificates");
    cmd->require_subcommand(1);
    set_examples(cmd, "  vaultfwd ca init\n"
                      "  vaultfwd ca export > vaultfwd-ca.pem\n"
                      "  vaultfwd ca export --format der --out vaultfwd-ca.der\n");

    auto* init = cmd->add_subcommand("init", "Create the local CA if it is missing");
    init->add_flag("--force", a.force, "Regenerate it even if it exists");
    set_examples(init, "  vaultfwd ca init\n  vaultfwd ca init --force\n");
    init->callback(run_init);

    auto* exp = cmd->add_subcommand("export", "Print or write the local CA certificate");
    exp->add_option("--format", a.format, "pem, der or p12 (PKCS#12)")
        ->check(CLI::IsMember({"pem", "der", "p12"}))
        ->capture_default_str();
    exp->add_option("--out", a.out, "Write to this file instead of stdout")->type_name("FILE");
    exp->add_option("--password", a.password, "PKCS#12 password (required with --with-key)");
    exp->add_flag("--with-key", a.with_key,
                  "Include the CA's private key (pem or p12 only; keep the result secret)");
    set_examples(
        exp, "  vaultfwd ca export > vaultfwd-ca.pem\n"
             "  vaultfwd ca export --format der --out vaultfwd-ca.der\n"
             "  vaultfwd ca export --format p12 --out ca.p12 --password changeit\n"
             "  vaultfwd ca export --format p12 --with-key --password s3cret --out ca-full.p12\n");
    exp->callback(run_export);
}

} // namespace vaultfwd::cli
