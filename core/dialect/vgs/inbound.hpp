// SPDX-License-Identifier: Apache-2.0
#pragma once
// VGS inbound routes as engine phases (core/server/engine.hpp): the inbound port is a reverse
// proxy. A request whose Host (or CONNECT target, or absolute-form URL) matches an inbound
// route's host pattern goes to that route's upstream with its path and query; request-phase
// filters redact values into aliases (or reveal), response-phase filters reveal (or redact).
// The route's inbound certificate, when it has one, is presented to its upstream (the call is
// made by the engine: on_request hands back the call and the response phase). No
// credentials: callers are browsers and partners, and only configured routes answer — any other
// Host gets a JSON 404 and nothing is sent anywhere. Never touches a socket.

#include <map>
#include <string>

#include "core/dialect/vgs/routes.hpp"
#include "core/profile/profile.hpp"
#include "core/server/access_log.hpp"
#include "core/server/engine.hpp"
#include "core/vault/store.hpp"

namespace vaultfwd::dialect::vgs {

// The host a request to the inbound port is for: the Host header's host (lower case, no port,
// IPv6 without brackets). Errors: "inbound.no_host" (none), "inbound.bad_host" (several, or not
// a plausible host name or address).
Result<std::string> inbound_host(const http::Headers& headers);

class InboundPhases final : public server::Phases {
  public:
    // Keeps references to all three; they must outlive the phases.
    InboundPhases(const profile::Profile& profile, vault::Store& store, server::AccessLog& log);

    // The inbound routes compiled ("vgs.bad_route" otherwise).
    Result<void> ready() const;
    // The listener's own port (a route whose upstream is the listener itself is refused).
    void set_own_port(int port) { m_own_port = port; }
    // True when some inbound route answers for `host` (the TLS listener mints leaves for them).
    bool serves_host(const std::string& host) const;

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
    // route id -> (certificate name, its PEM certificate and key)
    std::map<std::string, std::pair<std::string, Result<std::pair<std::string, std::string>>>> m_identities;
    int m_own_port = 0;
};

} // namespace vaultfwd::dialect::vgs
