// SPDX-License-Identifier: Apache-2.0
#pragma once
// The ditto echo server: a plain HTTP listener and an HTTPS listener (optionally asking for, or
// requiring, a client certificate) that answer every request with ditto::echo().

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/ditto/echo.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::ditto {

enum class ClientCertPolicy { optional, required };

struct ServerOptions {
    std::string host = "127.0.0.1";
    bool http = true;
    int http_port = 0; // 0: the system picks a free port
    bool https = true;
    int https_port = 0;
    std::string tls_cert_pem; // the HTTPS certificate, optionally followed by its chain
    std::string tls_key_pem;  // its private key
    // PEM roots that client certificates must chain to. Empty: any client certificate is
    // accepted without verification (like ditto.footprint.dev), and its serial still echoed.
    std::string client_ca_pem;
    ClientCertPolicy client_cert = ClientCertPolicy::optional;
    Format format = Format::text;
    std::size_t max_body_bytes = 64u << 20;
    int threads = 16;
};

// A running ditto. Handlers run on worker threads; the object stops them when destroyed.
class Server {
  public:
    // Checks the TLS material, binds the listeners and starts serving. Errors: "ditto.tls"
    // (bad certificate, key or client CA), "ditto.bind" (address in use or not available).
    static Result<std::unique_ptr<Server>> start(const ServerOptions& options);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    int http_port() const;  // 0 when there is no plain listener
    int https_port() const; // 0 when there is no TLS listener
    // "http://127.0.0.1:PORT" then "https://127.0.0.1:PORT" (IPv6 hosts in brackets).
    std::vector<std::string> urls() const;
    // Stops accepting, finishes the requests in flight and joins the threads. Idempotent.
    void stop();

    struct Impl;

  private:
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

} // namespace vaultfwd::ditto
