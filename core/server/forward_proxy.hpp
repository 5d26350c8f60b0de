// SPDX-License-Identifier: Apache-2.0
#pragma once
// The proxy port of `serve`: a VGS-style HTTP forward proxy (HTTPS_PROXY=http://user:pass@…).
//
// - Absolute-form requests (GET http://host/path) and CONNECT host:port tunnels. A tunnel that
//   carries TLS is intercepted with a leaf certificate for the requested host minted by the
//   profile's local CA (clients trust it with --cacert; GET /ca.pem on the proxy port serves
//   it, without credentials); keep-alive works inside the tunnel.
// - Proxy-Authorization (Basic) with a profile proxy credential is required: 407 with
//   Proxy-Authenticate: Basic realm="vaultfwd" otherwise. It is never forwarded upstream. The
//   credential's outbound mTLS certificate is presented upstream on every request it makes.
// - With listen.proxy_tls the proxy port itself speaks TLS (https://user:pass@host:port),
//   with a certificate for localhost/127.0.0.1/::1 and the bound host, signed by the local CA.
// - Routes (core/dialect/vgs) reveal aliases in requests and redact values in responses; a
//   request no route matches passes through untouched. Upstream calls go through the shared
//   upstream::Client: allowlist checked against the host dialed (the CONNECT target), the
//   profile's extra roots, no redirects.
// - vaultfwd's own errors are JSON {"error": {"code", "message"}} with x-vaultfwd-error: <code>
//   (400 bad request or unknown alias, 403 host not allowed, 407, 413, 431, 502 TLS/connect
//   failures naming the cause, 504 timeouts). One access-log entry per request.
//
// How: the port is an Engine (engine.hpp) whose phases are dialect::vgs::ProxyPhases
// (core/dialect/vgs/proxy.hpp): the engine's event loops read every head and tunnel without a
// thread per connection; TLS inside a tunnel is terminated by the engine with a leaf minted for
// the host by the profile's local CA, and the requests inside go through the same phases.

#include <memory>
#include <string>

#include "core/profile/profile.hpp"
#include "core/server/access_log.hpp"
#include "core/upstream/client.hpp"
#include "core/util/result.hpp"
#include "core/vault/store.hpp"

namespace vaultfwd::inspector {
class Inspector;
}

namespace vaultfwd::server {

class ForwardProxy {
  public:
    // Keeps references to all four; they must outlive the proxy.
    ForwardProxy(const profile::Profile& profile, vault::Store& store, upstream::Client& client,
                 AccessLog& log);
    // Stops and joins everything; destroy only after run() has returned.
    ~ForwardProxy();
    ForwardProxy(const ForwardProxy&) = delete;
    ForwardProxy& operator=(const ForwardProxy&) = delete;

    // Listens on host:port (port 0: any free port) and returns the port. Fails when the
    // profile's routes do not compile ("vgs.bad_route"), its CA cannot be loaded ("ca.missing"),
    // or the address is taken ("server.bind"). Sets SIGPIPE to be ignored, process-wide, as
    // every server must (a client that hangs up must not kill it).
    // Records this listener's exchanges in `inspector` (not owned); call before bind().
    void set_inspector(inspector::Inspector* inspector);
    Result<int> bind(const std::string& host, int port);
    // Serves until stop(); returns at once if bind() did not succeed.
    void run();
    // Makes run() return: stops accepting, ends open connections, joins the workers.
    // Thread-safe and idempotent; may be called before run().
    void stop();

  private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace vaultfwd::server
