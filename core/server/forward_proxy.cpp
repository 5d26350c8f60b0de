// SPDX-License-Identifier: Apache-2.0
#include "core/server/forward_proxy.hpp"

#include "core/inspector/inspector.hpp"

#include <atomic>

#include <openssl/ssl.h>

#include "core/dialect/vgs/proxy.hpp"
#include "core/server/engine.hpp"
#include "core/tls/minter.hpp"
#include "core/tls/store.hpp"

namespace vaultfwd::server {

struct ForwardProxy::Impl {
    const profile::Profile& profile;
    upstream::Client& client; // makes the calls the phases hand back
    dialect::vgs::ProxyPhases phases;
    std::unique_ptr<tls::Minter> minter;
    ossl::SslCtxPtr proxy_tls; // the proxy port itself speaks TLS (listen.proxy_tls)
    ossl::SslCtxPtr intercept; // TLS inside tunnels, with leaves minted per host
    std::unique_ptr<Engine> engine;
    inspector::Inspector* inspector = nullptr;
    std::atomic<bool> stopped{false};

    Impl(const profile::Profile& p, vault::Store& s, upstream::Client& c, AccessLog& l)
        : profile(p), client(c), phases(p, s, l) {}

    // The leaf for a TLS connection inside a tunnel: for the SNI the client sent when it names a
    // host, else for the CONNECT target.
    static int choose_certificate(SSL* ssl, void* arg) {
        auto* self = static_cast<Impl*>(arg);
        const std::string* target = tunnel_host_of(ssl);
        if (!target)
            return 0;
        std::string host = *target;
        if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name))
            if (!tls::normalize_host(sni).empty())
                host = sni;
        auto leaf = self->minter->leaf(host);
        if (!leaf)
            leaf = self->minter->leaf(*target);
        if (!leaf)
            return 0;
        if (SSL_use_certificate(ssl, (*leaf)->cert.get()) != 1 || SSL_use_PrivateKey(ssl, (*leaf)->key.get()) != 1)
            return 0;
        return 1;
    }

    Result<int> bind(const std::string& host, int want_port) {
        if (auto ready = phases.ready(); !ready)
            return ready.error();
        auto ca = tls::load_ca(profile);
        if (!ca)
            return ca.error();
        phases.set_ca_pem(tls::cert_to_pem(ca->cert.get()));
        if (profile.listen.proxy_tls) {
            auto own = tls::issue_localhost_cert(*ca, host);
            if (!own)
                return own.error();
            proxy_tls.reset(SSL_CTX_new(TLS_server_method()));
            SSL_CTX_set_min_proto_version(proxy_tls.get(), TLS1_2_VERSION);
            SSL_CTX_set_options(proxy_tls.get(), SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
            if (SSL_CTX_use_certificate(proxy_tls.get(), own->cert.get()) != 1 ||
                SSL_CTX_use_PrivateKey(proxy_tls.get(), own->key.get()) != 1)
                return make_error("tls.proxy_cert", "cannot use the proxy port's certificate: " + ossl::last_error());
        }
        minter = std::make_unique<tls::Minter>(std::move(*ca));
        intercept.reset(SSL_CTX_new(TLS_server_method()));
        if (!intercept)
            return make_error("tls.intercept", "cannot create the TLS context for tunnels: " + ossl::last_error());
        SSL_CTX_set_min_proto_version(intercept.get(), TLS1_2_VERSION);
        SSL_CTX_set_options(intercept.get(), SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
        SSL_CTX_set_cert_cb(intercept.get(), &Impl::choose_certificate, this);

        EngineOptions options;
        options.limits.max_head_bytes = profile.limits.max_header_bytes;
        options.limits.max_body_bytes = profile.limits.max_body_bytes;
        options.threads = static_cast<std::size_t>(std::max(2, profile.limits.threads));
        // Nothing moves in a tunnel while the upstream is thinking: its idle limit outlasts a call.
        options.tunnel_idle_ms = std::max(60000, profile.upstream.connect_timeout_ms + profile.upstream.timeout_ms + 5000);
        options.listener_tls = proxy_tls.get();
        options.tunnel_tls = intercept.get();
        options.listen_option = "--proxy-listen";
        options.upstream = &client;
        options.streamed_requests = true; // a body no request route reads streams to the upstream
        options.inspector = inspector;
        options.listener = "proxy";
        engine = std::make_unique<Engine>(options, phases);
        if (inspector)
            inspector->attach("proxy", *engine);
        auto port = engine->bind(host, want_port);
        if (!port)
            return port.error();
        phases.set_own_port(*port);
        return *port;
    }
};

ForwardProxy::ForwardProxy(const profile::Profile& profile, vault::Store& store, upstream::Client& client,
                           AccessLog& log)
    : m_impl(std::make_unique<Impl>(profile, store, client, log)) {}

ForwardProxy::~ForwardProxy() {
    stop();
    m_impl->engine.reset();
}

Result<int> ForwardProxy::bind(const std::string& host, int port) { return m_impl->bind(host, port); }

void ForwardProxy::set_inspector(inspector::Inspector* inspector) { m_impl->inspector = inspector; }

void ForwardProxy::run() {
    if (m_impl->engine && !m_impl->stopped)
        m_impl->engine->run();
}

void ForwardProxy::stop() {
    m_impl->stopped = true;
    if (m_impl->engine)
        m_impl->engine->stop();
}

} // namespace vaultfwd::server
