// SPDX-License-Identifier: Apache-2.0
#include "core/server/forward_proxy.hpp"

#include "core/inspector/inspector.hpp"

#include <openssl/ssl.h>

#include "core/dialect/vgs/proxy.hpp"
#include "core/server/port.hpp"
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
    Port port;
    inspector::Inspector* inspector = nullptr;

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
            proxy_tls = tls_server_context();
            if (!proxy_tls || SSL_CTX_use_certificate(proxy_tls.get(), own->cert.get()) != 1 ||
                SSL_CTX_use_PrivateKey(proxy_tls.get(), own->key.get()) != 1)
                return make_error("tls.proxy_cert", "cannot use the proxy port's certificate: " + ossl::last_error());
        }
        minter = std::make_unique<tls::Minter>(std::move(*ca));
        intercept = tls_server_context(&Impl::choose_certificate, this);
        if (!intercept)
            return make_error("tls.intercept", "cannot create the TLS context for tunnels: " + ossl::last_error());
        EngineOptions options = proxy_engine_options(profile, client, "--proxy-listen");
        options.listener_tls = proxy_tls.get();
        options.tunnel_tls = intercept.get();
        options.inspector = inspector;
        options.listener = "proxy";
        auto bound = port.bind(std::move(options), phases, host, want_port);
        if (!bound)
            return bound.error();
        phases.set_own_port(*bound);
        return *bound;
    }
};

ForwardProxy::ForwardProxy(const profile::Profile& profile, vault::Store& store, upstream::Client& client,
                           AccessLog& log)
    : m_impl(std::make_unique<Impl>(profile, store, client, log)) {}

ForwardProxy::~ForwardProxy() = default;

Result<int> ForwardProxy::bind(const std::string& host, int port) { return m_impl->bind(host, port); }

void ForwardProxy::set_inspector(inspector::Inspector* inspector) { m_impl->inspector = inspector; }

void ForwardProxy::run() { m_impl->port.run(); }

void ForwardProxy::stop() { m_impl->port.stop(); }

} // namespace vaultfwd::server
