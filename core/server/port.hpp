// SPDX-License-Identifier: Apache-2.0
#pragma once
// What serve's three listeners (api_server, forward_proxy, inbound_proxy) hold alike: an engine
// made at bind, run on one thread and stopped from another at any moment; the engine options
// they take from the profile; the TLS server context of a port that picks its certificate per
// connection.

#include <atomic>
#include <memory>
#include <string>

#include <openssl/ssl.h>

#include "core/profile/profile.hpp"
#include "core/server/engine.hpp"
#include "core/util/ossl.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::server {

class Port {
  public:
    Port() = default;
    ~Port(); // stops and frees the engine: destroy only after run() has returned
    Port(const Port&) = delete;
    Port& operator=(const Port&) = delete;

    // Makes the engine (attached to options.inspector, when set, as options.listener) and
    // listens on host:port (0: any free port); the port, or "server.bind".
    Result<int> bind(EngineOptions options, Phases& phases, const std::string& host, int port);
    // Serves until stop(); false at once when bind() did not succeed or stop() came first.
    bool run();
    // Makes run() return. Thread-safe and idempotent; may be called before run().
    void stop();

  private:
    std::unique_ptr<Engine> m_engine;
    std::atomic<bool> m_stopped{false};
};

// The profile's limits (head and body sizes, worker threads) and the client that makes the
// phases' upstream calls; `listen_option` is the flag a bind error names.
EngineOptions engine_options(const profile::Profile& profile, upstream::Client& client, std::string listen_option);

// The same for a proxy port (forward or inbound): bodies no filter reads stream both ways, and
// a tunnel's idle limit outlasts an upstream call (nothing moves while the upstream thinks).
EngineOptions proxy_engine_options(const profile::Profile& profile, upstream::Client& client,
                                   std::string listen_option);

// A TLS server context: TLS 1.2 or later, no compression, a peer's missing close_notify
// tolerated, its certificate chosen per connection by `choose` (SSL_CTX_set_cert_cb) when given.
// Null when OpenSSL cannot make one.
ossl::SslCtxPtr tls_server_context(int (*choose)(SSL*, void*) = nullptr, void* arg = nullptr);

} // namespace vaultfwd::server
