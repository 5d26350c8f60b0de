// SPDX-License-Identifier: Apache-2.0
#include "core/replay/runner.hpp"

#include <atomic>
#include <chrono>
#include <thread>

#include "core/dialect/services.hpp"
#include "core/ditto/server.hpp"
#include "core/server/access_log.hpp"
#include "core/server/api_server.hpp"
#include "core/tls/store.hpp"
#include "core/upstream/client.hpp"
#include "core/upstream/url.hpp"
#include "core/vault/store.hpp"

namespace vaultfwd::replay {

namespace {

void allow(std::vector<std::string>& list, const std::string& host) {
    for (const auto& pattern : list)
        if (upstream::host_matches(host, pattern))
            return;
    list.push_back(host);
}

// "https://127.0.0.1:41234" and "127.0.0.1:41234" → `placeholder` in results: the port changes
// from one run to the next.
void add_origin(NormalizeOptions& norm, const std::string& origin, const std::string& placeholder) {
    auto url = upstream::parse_url(origin);
    if (!url)
        return;
    std::string base = origin;
    while (!base.empty() && base.back() == '/')
        base.pop_back();
    norm.replacements.emplace_back(base, placeholder);
    norm.replacements.emplace_back(url->host_for_url() + ":" + std::to_string(url->port),
                                   placeholder);
}

} // namespace

struct Runner::Impl {
    profile::Profile profile; // the in-memory copy the in-process server uses
    RunnerOptions options;
    std::string server_url;
    std::string echo_url;
    std::string api_key;
    Target target;
    NormalizeOptions norm;

    std::unique_ptr<ditto::Server> ditto;
    std::unique_ptr<vault::Store> store;
    std::unique_ptr<server::AccessLog> log;
    std::unique_ptr<upstream::Client> client;
    std::unique_ptr<server::ApiServer> api;
    std::thread api_thread;
    std::atomic<bool> api_done{false};
    upstream::Url server;                      // server_url, parsed
    std::unique_ptr<upstream::Client> caller;  // the API server's client (keep-alive)

    // Each client goes before the server it talks to: a server's stop() waits for its idle
    // keep-alive connections to time out, unless the client has closed them.
    ~Impl() {
        caller.reset();
        // stop() does nothing until the accept loop runs, so repeat it until run() returns.
        while (api && !api_done) {
            api->stop();
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        if (api_thread.joinable())
            api_thread.join();
        api.reset();
        client.reset();
        if (ditto)
            ditto->stop();
    }

    // `plain_too`: also a plain-http listener, for the Gr4vy and VTEX requests a running serve
    // sends (it pins nothing and need not trust the local CA; loopback http is allowed by default).
    Result<void> start_ditto(bool plain_too) {
        auto ca = tls::load_ca(profile);
        if (!ca)
            return ca.error();
        auto leaf = tls::issue_localhost_cert(*ca, "127.0.0.1");
        if (!leaf)
            return leaf.error();
        ditto::ServerOptions o;
        o.host = "127.0.0.1";
        o.http = plain_too;
        o.https = true;
        o.tls_cert_pem = tls::cert_to_pem(leaf->cert.get());
        o.tls_key_pem = tls::key_to_pem(leaf->key.get());
        // JSON answers carry the method and the path, which a text echo leaves out.
        o.format = ditto::Format::json;
        o.threads = 4;
        auto started = ditto::Server::start(o);
        if (!started)
            return started.error();
        ditto = std::move(*started);
        echo_url = "https://127.0.0.1:" + std::to_string(ditto->https_port());
        if (plain_too)
            target.unpinned_origin = "http://127.0.0.1:" + std::to_string(ditto->http_port());
        target.pin_pem = tls::cert_to_pem(ca->cert.get());
        allow(profile.upstream.allow, "127.0.0.1");
        // Gr4vy and VTEX cannot pin: the in-process server trusts the CA instead. The same file
        // tls::load_ca read.
        profile.upstream.ca_files.push_back(tls::ca_cert_path(profile).string());
        return {};
    }

    Result<void> use_echo_url(const std::string& text) {
        auto url = upstream::parse_url(text);
        if (!url)
            return make_error("replay.bad_via", "--via " + text + ": " + url.error().message);
        if (url->path_and_query.find('?') != std::string::npos)
            return make_error("replay.bad_via", "--via " + text +
                                                    ": give an origin (a base path "
                                                    "at most), without a query");
        echo_url = text;
        while (!echo_url.empty() && echo_url.back() == '/')
            echo_url.pop_back();
        allow(url->scheme == "http" ? profile.upstream.allow_http : profile.upstream.allow,
              url->host);
        return {};
    }

    Result<void> start_api() {
        vault::Options vault_options;
        vault_options.alias_env = profile.vault.alias_env;
        auto opened = vault::Store::open(profile.vault_dir(), profile.vault_key(), vault_options);
        if (!opened)
            return opened.error();
        store = std::move(*opened);
        auto opened_log = server::AccessLog::open(profile.access_log_path());
        if (!opened_log)
            return opened_log.error();
        log = std::move(*opened_log);
        client = std::make_unique<upstream::Client>();
        api = std::make_unique<server::ApiServer>(profile, *store, *client, *log);
        auto port = api->bind("127.0.0.1", 0);
        if (!port)
            return port.error();
        api_thread = std::thread([this] {
            api->run();
            api_done = true;
        });
        server_url = "http://127.0.0.1:" + std::to_string(*port);
        return {};
    }

    Result<void> connect() {
        auto url = upstream::parse_url(server_url);
        if (!url || url->path_and_query != "/")
            return make_error("replay.bad_server", "--server " + server_url +
                                                       ": give the API origin, such as "
                                                       "http://127.0.0.1:7410");
        server = *url;
        caller = std::make_unique<upstream::Client>();
        // Waiting for /healthz also waits for an in-process listener's accept loop to run.
        auto res = caller->send(call("GET", "/healthz"));
        if (!res.ok())
            return make_error("replay.unreachable", "no answer from " + server_url + "/healthz (" +
                                                        res.error_message +
                                                        "): is 'vaultfwd serve' running there?");
        return {};
    }

    // A call to the API server; the target goes as recorded, escapes and all.
    upstream::Call call(const std::string& method, const std::string& target) const {
        upstream::Call c;
        c.method = method;
        c.url = server;
        c.url.path_and_query = target;
        c.connect_timeout_ms = options.timeout_ms;
        c.timeout_ms = options.timeout_ms;
        return c;
    }
};

bool is_failure(const http::Response& response) {
    return response.status >= 400 || http::find(response.headers, dialect::k_error_header) ||
           http::find(response.headers, "x-vault-forward-error");
}

Runner::Runner(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Runner::~Runner() = default;

Result<std::unique_ptr<Runner>> Runner::start(const profile::Profile& profile,
                                              const RunnerOptions& options) {
    auto impl = std::make_unique<Impl>();
    impl->profile = profile;
    impl->options = options;
    impl->norm.ignore_headers = options.ignore_headers;
    impl->api_key = options.api_key;
    if (impl->api_key.empty()) {
        if (profile.api_keys.empty())
            return make_error("replay.no_api_key",
                              "profile " + profile.name +
                                  " has no API key: add one, or pass --api-key");
        impl->api_key = profile.api_keys.front().key;
    }
    if (options.via == ViaKind::ditto) {
        if (auto r = impl->start_ditto(!options.server_url.empty()); !r)
            return r.error();
    } else if (options.via == ViaKind::url) {
        if (auto r = impl->use_echo_url(options.via_url); !r)
            return r.error();
    }
    impl->target.via = options.via == ViaKind::reflect ? Via::reflect : Via::echo;
    impl->target.echo_origin = impl->echo_url;

    if (options.server_url.empty()) {
        if (auto r = impl->start_api(); !r)
            return r.error();
    } else {
        impl->server_url = options.server_url;
        while (!impl->server_url.empty() && impl->server_url.back() == '/')
            impl->server_url.pop_back();
    }
    if (auto r = impl->connect(); !r)
        return r.error();
    if (!impl->echo_url.empty())
        add_origin(impl->norm, impl->echo_url, "<echo>");
    if (!impl->target.unpinned_origin.empty())
        add_origin(impl->norm, impl->target.unpinned_origin, "<echo>");
    add_origin(impl->norm, impl->server_url, "<server>");
    return std::unique_ptr<Runner>(new Runner(std::move(impl)));
}

Result<Runner::Answer> Runner::send(const Recording& rec) {
    auto& s = *m_impl;
    auto planned = plan(rec, s.target, s.profile);
    if (!planned)
        return planned.error();
    auto call = s.call(planned->method,
                       planned->path + (planned->query.empty() ? "" : "?" + planned->query));
    call.headers = planned->headers;
    call.headers.push_back({"Authorization", "Bearer " + s.api_key});
    call.body = planned->body;
    auto res = s.caller->send(call);
    if (!res.ok())
        return make_error("replay.transport",
                          "no answer from " + s.server_url + " (" + res.error_message + ")");
    Answer answer;
    answer.response = std::move(res.response);
    answer.text = normalize(answer.response, s.norm);
    return answer;
}

const std::string& Runner::server_url() const {
    return m_impl->server_url;
}
const std::string& Runner::echo_url() const {
    return m_impl->echo_url;
}

} // namespace vaultfwd::replay
