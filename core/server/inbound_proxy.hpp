// SPDX-License-Identifier: Apache-2.0
#pragma once
// The inbound port of `serve`: VGS inbound routes, a reverse proxy (see
// core/dialect/vgs/inbound.hpp for what a request goes through).
//
// - No credentials: a request is answered only when its Host matches an inbound route's host
//   pattern (a JSON 404 otherwise, nothing sent anywhere).
// - The seed's reverse-proxy alternative works both ways a caller may use it: straight to the
//   port with the route's Host, or through it as a proxy (absolute-form http:// requests, or
//   CONNECT to a route's hostname; TLS inside the tunnel is terminated with a leaf minted for
//   that hostname by the profile's local CA).
// - With listen.inbound_tls the port itself speaks TLS: the leaf is minted for the SNI the
//   client sends when it names an inbound route's host (or is localhost), else the certificate
//   for localhost/127.0.0.1/::1 and the bound host.

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

class InboundProxy {
  public:
    // Keeps references to all four; they must outlive the proxy.
    InboundProxy(const profile::Profile& profile, vault::Store& store, upstream::Client& client, AccessLog& log);
    // Stops and joins everything; destroy only after run() has returned.
    ~InboundProxy();
    InboundProxy(const InboundProxy&) = delete;
    InboundProxy& operator=(const InboundProxy&) = delete;

    // Listens on host:port (port 0: any free port) and returns the port. Fails when the
    // profile's inbound routes do not compile ("vgs.bad_route"), its CA cannot be loaded
    // ("ca.missing"), or the address is taken ("server.bind").
    // Records this listener's exchanges in `inspector` (not owned); call before bind().
    void set_inspector(inspector::Inspector* inspector);
    Result<int> bind(const std::string& host, int port);
    // Serves until stop(); returns at once if bind() did not succeed.
    void run();
    // Makes run() return. Thread-safe and idempotent; may be called before run().
    void stop();

  private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace vaultfwd::server
