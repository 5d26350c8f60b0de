// SPDX-License-Identifier: Apache-2.0
#include "core/server/port.hpp"

#include <algorithm>

#include "core/inspector/inspector.hpp"

namespace vaultfwd::server {

Port::~Port() {
    stop();
    m_engine.reset();
}

Result<int> Port::bind(EngineOptions options, Phases& phases, const std::string& host, int port) {
    inspector::Inspector* inspector = options.inspector;
    const std::string listener = options.listener;
    m_engine = std::make_unique<Engine>(std::move(options), phases);
    if (inspector) // the inspector re-sends an exchange through the listener it came from
        inspector->attach(listener, *m_engine);
    return m_engine->bind(host, port);
}

bool Port::run() {
    if (!m_engine || m_stopped)
        return false;
    m_engine->run();
    return true;
}

void Port::stop() {
    m_stopped = true;
    if (m_engine)
        m_engine->stop();
}

EngineOptions engine_options(const profile::Profile& profile, upstream::Client& client, std::string listen_option) {
    EngineOptions options;
    options.limits.max_head_bytes = profile.limits.max_header_bytes;
    options.limits.max_body_bytes = profile.limits.max_body_bytes;
    options.threads = static_cast<std::size_t>(std::max(1, profile.limits.threads));
    options.upstream = &client;
    options.listen_option = std::move(listen_option);
    return options;
}

EngineOptions proxy_engine_options(const profile::Profile& profile, upstream::Client& client,
                                   std::string listen_option) {
    EngineOptions options = engine_options(profile, client, std::move(listen_option));
    options.threads = std::max<std::size_t>(2, options.threads);
    options.tunnel_idle_ms =
        std::max(60000, profile.upstream.connect_timeout_ms + profile.upstream.timeout_ms + 5000);
    options.streamed_requests = true;
    return options;
}

ossl::SslCtxPtr tls_server_context(int (*choose)(SSL*, void*), void* arg) {
    ossl::SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx)
        return ctx;
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
    if (choose)
        SSL_CTX_set_cert_cb(ctx.get(), choose, arg);
    return ctx;
}

} // namespace vaultfwd::server
