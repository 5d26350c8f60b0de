// SPDX-License-Identifier: Apache-2.0
#pragma once
// The API listener of `serve`: Footprint (/vault_proxy/*), Gr4vy (/vault-forward) and VTEX
// (/payment-provider/…) on one HTTP port, with API-key auth, body limits and an access log.
// The port is an Engine (engine.hpp): requests are parsed once by http::Parser, the dialects run
// as its phases (auth and routing on the head, the dialect's work on a worker). Refusals answer
// JSON with x-vaultfwd-error (Footprint paths in Footprint's envelope).

#include <memory>
#include <string>

#include "core/dialect/services.hpp"
#include "core/server/access_log.hpp"
#include "core/server/port.hpp"

namespace vaultfwd::inspector {
class Inspector;
}

namespace vaultfwd::server {

class ApiPhases;

class ApiServer {
  public:
    ApiServer(const profile::Profile& profile, vault::Store& store, upstream::Client& client,
              AccessLog& log);
    ~ApiServer();
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    // Serves the inspector at /_inspector and records exchanges in it (not owned); before bind().
    void set_inspector(inspector::Inspector* inspector) { m_inspector = inspector; }
    // Binds to host:port (port 0 picks a free one) and returns the port.
    Result<int> bind(const std::string& host, int port);
    // Serves until stop(); returns false if the listener failed (or bind() did not succeed).
    bool run();
    void stop();

    // The request phase of one request, as the listener runs it (server::complete runs the rest
    // without a socket).
    Step handle(const http::Request& request, AccessEntry& entry);

  private:
    friend class ApiPhases;
    const profile::Profile& m_profile;
    dialect::Services m_services;
    AccessLog& m_log;
    std::unique_ptr<ApiPhases> m_phases;
    inspector::Inspector* m_inspector = nullptr;
    Port m_port; // after m_phases: the engine stops before the phases go
};

// "host:port" → (host, port); IPv6 as "[::1]:7410". Error "server.bad_listen".
Result<std::pair<std::string, int>> parse_listen(const std::string& text);

} // namespace vaultfwd::server
