// SPDX-License-Identifier: Apache-2.0
#include <csignal>
#include <iostream>
#include <pthread.h>
#include <thread>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/context.hpp"
#include "cli/profile_check.hpp"
#include "core/inspector/inspector.hpp"
#include "core/server/api_server.hpp"
#include "core/server/forward_proxy.hpp"
#include "core/server/inbound_proxy.hpp"
#include "core/util/fs.hpp"
#include "core/util/random.hpp"

namespace vaultfwd::cli {

namespace {

struct ServeOptions {
    std::string api_listen;
    std::string proxy_listen;
    std::string inbound_listen;
    bool inspector = false;
};

void run_serve(const ServeOptions& opts) {
    // Block the stop signals in every thread; one thread waits for them and stops the servers.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    auto profile = load_or_init_checked_profile();
    auto store = open_vault(profile);
    auto log = unwrap(server::AccessLog::open(profile.access_log_path()));
    upstream::Client client;
    inspector::Settings watch;
    watch.enabled = profile.inspector.enabled || opts.inspector;
    watch.exchanges = profile.inspector.exchanges;
    watch.max_body_bytes = profile.inspector.max_body_bytes;
    inspector::Inspector inspector(watch, profile, util::random_hex(16));

    auto api_addr = unwrap(server::parse_listen(opts.api_listen.empty() ? profile.listen.api : opts.api_listen));
    server::ApiServer api(profile, *store, client, *log);
    api.set_inspector(&inspector);
    int api_port = unwrap(api.bind(api_addr.first, api_addr.second));

    auto proxy_addr = unwrap(server::parse_listen(opts.proxy_listen.empty() ? profile.listen.proxy : opts.proxy_listen));
    server::ForwardProxy proxy(profile, *store, client, *log);
    proxy.set_inspector(&inspector);
    int proxy_port = unwrap(proxy.bind(proxy_addr.first, proxy_addr.second));

    auto inbound_addr =
        unwrap(server::parse_listen(opts.inbound_listen.empty() ? profile.listen.inbound : opts.inbound_listen));
    server::InboundProxy inbound(profile, *store, client, *log);
    inbound.set_inspector(&inspector);
    int inbound_port = unwrap(inbound.bind(inbound_addr.first, inbound_addr.second));

    auto url_host = [](const std::string& h) { return h.find(':') != std::string::npos ? "[" + h + "]" : h; };
    std::cout << "vaultfwd serve: profile " << profile.name << "\n"
              << "api listening on http://" << url_host(api_addr.first) << ":" << api_port << "\n"
              << "proxy listening on " << (profile.listen.proxy_tls ? "https://" : "http://")
              << url_host(proxy_addr.first) << ":" << proxy_port << "\n"
              << "inbound listening on " << (profile.listen.inbound_tls ? "https://" : "http://")
              << url_host(inbound_addr.first) << ":" << inbound_port << "\n"
              << "local CA " << profile.resolve(profile.ca.cert).string() << "\n"
              << "access log " << profile.access_log_path().string() << "\n";
    const std::string api_origin = "http://" + url_host(api_addr.first) + ":" + std::to_string(api_port);
    inspector.set_api_origin(api_origin);
    if (inspector.enabled())
        std::cout << "inspector " << api_origin << inspector::k_prefix << "/?token=" << inspector.token()
                  << " (or the API key; exchanges kept in memory only)\n";
    std::cout << std::flush;

    std::thread api_thread([&] { api.run(); });
    std::thread proxy_thread([&] { proxy.run(); });
    std::thread inbound_thread([&] { inbound.run(); });
    std::thread waiter([&] {
        int sig = 0;
        sigwait(&stop_signals, &sig);
        inspector.stop(); // ends the live pages' streams, which hold workers
        api.stop();
        proxy.stop();
        inbound.stop();
    });
    api_thread.join();
    inspector.stop();
    proxy.stop();
    inbound.stop();
    proxy_thread.join();
    inbound_thread.join();
    // If the listener ended by itself, wake the waiter so it can be joined.
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    std::cout << "vaultfwd serve: stopped\n" << std::flush;
}

} // namespace

void register_serve(CLI::App& app) {
    auto* cmd = app.add_subcommand("serve", "Run the local vault proxy (API port, forward-proxy port, inbound port)");
    static ServeOptions opts;
    cmd->add_option("--api-listen", opts.api_listen, "host:port of the API listener (default from the profile; port 0 picks one)")
        ->check(listen_address());
    cmd->add_option("--proxy-listen", opts.proxy_listen, "host:port of the forward proxy (default from the profile; port 0 picks one)")
        ->check(listen_address());
    cmd->add_option("--inbound-listen", opts.inbound_listen,
                    "host:port of the inbound port, VGS inbound routes (default from the profile; port 0 picks one)")
        ->check(listen_address());
    cmd->add_flag("--inspector", opts.inspector,
                  "serve the inspector, a live page of the exchanges with values masked, at /_inspector/ of the "
                  "API port (also [inspector] enabled = true in the profile)");
    set_examples(cmd, "  vaultfwd serve\n"
                      "  vaultfwd --profile ci serve --api-listen 127.0.0.1:0 --proxy-listen 127.0.0.1:0 \\\n"
                      "      --inbound-listen 127.0.0.1:0\n"
                      "  curl -u $KEY: http://127.0.0.1:7410/vault_proxy/reflect -H 'x-fp-id: fp_id_test_abc' \\\n"
                      "       --data 'Hello {{ id.first_name }}'\n");
    cmd->callback([] { run_serve(opts); });
}

} // namespace vaultfwd::cli
