// SPDX-License-Identifier: Apache-2.0
#pragma once
// The VGS forward proxy as engine phases (core/server/engine.hpp): CONNECT policy (credentials,
// allowlist, no loops back into the proxy), absolute-form requests, GET /ca.pem, and the
// forwarding itself: routes' request filters reveal aliases (request phase), the upstream call
// (with the credential's mTLS identity; made by the engine), routes' response filters redact
// values (response phase). Never touches a socket.

#include <map>
#include <string>

#include "core/dialect/vgs/routes.hpp"
#include "core/profile/profile.hpp"
#include "core/server/access_log.hpp"
#include "core/server/engine.hpp"
#include "core/upstream/client.hpp"
#include "core/vault/store.hpp"

namespace vaultfwd::dialect::vgs {

class ProxyPhases final : public server::Phases {
  public:
    // Keeps references to all three; they must outlive the phases.
    ProxyPhases(const profile::Profile& profile, vault::Store& store, server::AccessLog& log);

    // The routes compiled ("vgs.bad_route" otherwise).
    Result<void> ready() const;
    // The proxy's own port and its CA (served at GET /ca.pem); set before serving.
    void set_own_port(int port) { m_own_port = port; }
    void set_ca_pem(std::string pem) { m_ca_pem = std::move(pem); }

    std::optional<http::Response> on_connect(server::Exchange& ex) override;
    std::optional<http::Response> on_head(server::Exchange& ex) override;
    server::Step on_request(server::Exchange& ex) override;
    http::Response on_refusal(const http::ParseError& error, server::Exchange& ex) override;
    void log(const server::Exchange& ex) override;

  private:
    server::Step forward(server::Exchange& ex);

    const profile::Profile& m_profile;
    vault::Store& m_store;
    server::AccessLog& m_log;
    Result<RouteTable> m_routes;
    std::map<std::string, Result<std::pair<std::string, std::string>>> m_identities;
    std::string m_ca_pem;
    int m_own_port = 0;
};

} // namespace vaultfwd::dialect::vgs
