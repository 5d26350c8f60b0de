// SPDX-License-Identifier: Apache-2.0
#include "core/server/inbound_proxy.hpp"

#include "core/inspector/inspector.hpp"

#include <openssl/ssl.h>

#include "core/dialect/vgs/inbound.hpp"
#include "core/server/port.hpp"
#include "core/tls/minter.hpp"
#include "core/tls/store.hpp"

namespace vaultfwd::server {

struct InboundProxy::Impl {
    const profile::Profile& profile;
    upstream::Client& client; // makes the calls the phases hand back
    dialect::vgs::InboundPhases phases;
    std::unique_ptr<tls::Minter> minter;
    tls::KeyPair own;           // the listener's certificate for localhost and the bound host
    ossl::SslCtxPtr listener;   // listen.inbound_tls
    ossl::SslCtxPtr intercept;  // TLS inside CONNECT tunnels
    Port port;
    inspector::Inspector* inspector = nullptr;

    Impl(const profile::Profile& p, vault::Store& s, upstream::Client& c, AccessLog& l)
        : profile(p), client(c), phases(p, s, l) {}

    static bool use(SSL* ssl, const tls::KeyPair& pair) {
        return SSL_use_certificate(ssl, pair.cert.get()) == 1 && SSL_use_PrivateKey(ssl, pair.key.get()) == 1;
    }

    // The leaf for a TLS connection: inside a tunnel, for the CONNECT target (or the SNI when it
    // names a route's host); on the TLS listener, for an SNI that names a route's host, else the
    // listener's own certificate.
    static int choose_certificate(SSL* ssl, void* arg) {
        auto* self = static_cast<Impl*>(arg);
        std::string sni;
        if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name))
            sni = tls::normalize_host(name);
        const std::string* target = tunnel_host_of(ssl);
        std::string host = target ? *target : "";
        if (!sni.empty() && self->phases.serves_host(sni))
            host = sni;
        if (host.empty())
            return use(ssl, self->own) ? 1 : 0;
        auto leaf = self->minter->leaf(host);
        if (!leaf)
            return target ? 0 : (use(ssl, self->own) ? 1 : 0);
        return use(ssl, **leaf) ? 1 : 0;
    }

    Result<int> bind(const std::string& host, int want_port) {
        if (auto ready = phases.ready(); !ready)
            return ready.error();
        auto ca = tls::load_ca(profile);
        if (!ca)
            return ca.error();
        auto mine = tls::issue_localhost_cert(*ca, host);
        if (!mine)
            return mine.error();
        own = std::move(*mine);
        minter = std::make_unique<tls::Minter>(std::move(*ca));
        intercept = tls_server_context(&Impl::choose_certificate, this);
        if (!intercept)
            return make_error("tls.intercept", "cannot create the TLS context for tunnels: " + ossl::last_error());
        if (profile.listen.inbound_tls) {
            listener = tls_server_context(&Impl::choose_certificate, this);
            if (!listener)
                return make_error("tls.inbound", "cannot create the inbound port's TLS context: " + ossl::last_error());
        }
        EngineOptions options = proxy_engine_options(profile, client, "--inbound-listen");
        options.listener_tls = listener.get();
        options.tunnel_tls = intercept.get();
        options.inspector = inspector;
        options.listener = "inbound";
        auto bound = port.bind(std::move(options), phases, host, want_port);
        if (!bound)
            return bound.error();
        phases.set_own_port(*bound);
        return *bound;
    }
};

InboundProxy::InboundProxy(const profile::Profile& profile, vault::Store& store, upstream::Client& client,
                           AccessLog& log)
    : m_impl(std::make_unique<Impl>(profile, store, client, log)) {}

InboundProxy::~InboundProxy() = default;

Result<int> InboundProxy::bind(const std::string& host, int port) { return m_impl->bind(host, port); }

void InboundProxy::set_inspector(inspector::Inspector* inspector) { m_impl->inspector = inspector; }

void InboundProxy::run() { m_impl->port.run(); }

void InboundProxy::stop() { m_impl->port.stop(); }

} // namespace vaultfwd::server
