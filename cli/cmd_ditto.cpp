// SPDX-License-Identifier: Apache-2.0
#include <csignal>
#include <iostream>
#include <pthread.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/context.hpp"
#include "core/ditto/server.hpp"
#include "core/tls/store.hpp"
#include "core/util/fs.hpp"

namespace vaultfwd::cli {

namespace {

struct DittoArgs {
    std::string host = "127.0.0.1";
    int port = 0;
    int tls_port = 0;
    bool no_http = false;
    bool no_https = false;
    std::string cert;
    std::string key;
    std::string client_ca;
    bool require_client_cert = false;
    std::string format = "text";
};

DittoArgs& args() {
    static DittoArgs a;
    return a;
}

void run_ditto() {
    const auto& a = args();
    if (a.no_http && a.no_https)
        fail("ditto needs a listener: --no-http and --no-https cannot both be given", 2);
    if (a.cert.empty() != a.key.empty())
        fail("--cert and --key go together", 2);

    ditto::ServerOptions o;
    o.host = a.host;
    o.http = !a.no_http;
    o.http_port = a.port;
    o.https = !a.no_https;
    o.https_port = a.tls_port;
    o.format = a.format == "json" ? ditto::Format::json : ditto::Format::text;
    o.client_cert = a.require_client_cert ? ditto::ClientCertPolicy::required
                                          : ditto::ClientCertPolicy::optional;
    std::string trust_hint;
    if (o.https) {
        if (!a.cert.empty()) {
            o.tls_cert_pem = unwrap(util::read_file(a.cert));
            o.tls_key_pem = unwrap(util::read_file(a.key));
        } else {
            // The profile's CA signs a fresh certificate, so clients trust it with --cacert.
            auto p = load_or_init_profile();
            auto ca = unwrap(tls::load_ca(p));
            auto leaf = unwrap(tls::issue_localhost_cert(ca, a.host));
            o.tls_cert_pem = tls::cert_to_pem(leaf.cert.get());
            o.tls_key_pem = tls::key_to_pem(leaf.key.get());
            trust_hint = tls::ca_cert_path(p).string();
        }
        if (!a.client_ca.empty())
            o.client_ca_pem = unwrap(util::read_file(a.client_ca));
    } else if (!a.client_ca.empty() || a.require_client_cert || !a.cert.empty()) {
        fail("--cert, --key, --client-ca and --require-client-cert need the HTTPS listener "
             "(drop --no-https)",
             2);
    }

    // Block the stop signals before any thread starts, so every thread inherits the mask and
    // the main thread alone receives them through sigwait.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN); // a client that hangs up mid-answer must not kill ditto

    auto server = unwrap(ditto::Server::start(o));
    for (const auto& url : server->urls())
        std::cout << "ditto listening on " << url << "\n";
    std::cout.flush();
    if (!trust_hint.empty())
        std::cerr << "ditto: the HTTPS certificate is signed by the local CA: trust it with "
                     "--cacert "
                  << trust_hint << "\n";
    if (!a.client_ca.empty())
        std::cerr << "ditto: client certificates must chain to " << a.client_ca << "\n";
    std::cerr << "ditto: press Ctrl-C to stop\n";

    int sig = 0;
    sigwait(&stop_signals, &sig);
    server->stop();
    std::cerr << "ditto: stopped\n";
}

} // namespace

void register_ditto(CLI::App& app) {
    auto* cmd = app.add_subcommand(
        "ditto", "Echo server like Footprint's ditto: answers any request with its headers and "
                 "body, and the client certificate's serial");
    auto& a = args();
    cmd->add_option("--host", a.host, "Address to listen on")
        ->check(listen_host())
        ->capture_default_str();
    cmd->add_option("--port", a.port, "Plain HTTP port (0: pick a free one)")
        ->check(port_number())
        ->capture_default_str();
    cmd->add_option("--tls-port", a.tls_port, "HTTPS port (0: pick a free one)")
        ->check(port_number())
        ->capture_default_str();
    cmd->add_flag("--no-http", a.no_http, "No plain HTTP listener");
    cmd->add_flag("--no-https", a.no_https, "No HTTPS listener");
    cmd->add_option("--cert", a.cert,
                    "HTTPS certificate (PEM, chain allowed); default: one minted by the local CA "
                    "for localhost, 127.0.0.1 and ::1")
        ->type_name("FILE");
    cmd->add_option("--key", a.key, "Private key of --cert (PEM)")->type_name("FILE");
    cmd->add_option("--client-ca", a.client_ca,
                    "Verify client certificates against these PEM roots (default: accept any "
                    "client certificate and just report it)")
        ->type_name("FILE");
    cmd->add_flag("--require-client-cert", a.require_client_cert,
                  "Refuse HTTPS connections that present no client certificate");
    cmd->add_option("--format", a.format, "Answer format: text (headers, empty line, body) or json")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    set_examples(cmd,
                 "  vaultfwd ditto\n"
                 "  vaultfwd ditto --port 8080 --tls-port 8443 --require-client-cert\n"
                 "  vaultfwd ditto --format json --client-ca clients-ca.pem\n"
                 "  curl --cacert ~/.config/vaultfwd/default/ca.pem --cert c.pem --key c.key \\\n"
                 "       https://127.0.0.1:8443/ -H 'Test-Header: FootprintRocks' --data '{}'\n");
    cmd->callback(run_ditto);
}

} // namespace vaultfwd::cli
