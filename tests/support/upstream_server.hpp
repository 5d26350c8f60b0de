// SPDX-License-Identifier: Apache-2.0
#pragma once
// An in-process upstream for integration tests: plain HTTP or HTTPS on 127.0.0.1 port 0, with
// certificates minted by vaultfwd's own TLS helpers, recording every request it receives.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/http/message.hpp"
#include "core/tls/cert.hpp"

namespace httplib {
class Server;
}

namespace vaultfwd::test {

struct TestPki {
    tls::KeyPair ca;          // root that signs the server and client certificates
    tls::KeyPair server;      // CN=localhost, SAN localhost/127.0.0.1/::1
    tls::KeyPair client;      // a client certificate signed by `ca`
    tls::KeyPair other_ca;    // an unrelated root (for wrong pins)
    std::string ca_pem() const { return tls::cert_to_pem(ca.cert.get()); }
    std::string server_pem() const { return tls::cert_to_pem(server.cert.get()); }
    std::string client_cert_pem() const { return tls::cert_to_pem(client.cert.get()); }
    std::string client_key_pem() const { return tls::key_to_pem(client.key.get()); }
    std::string other_ca_pem() const { return tls::cert_to_pem(other_ca.cert.get()); }
};

// A fresh PKI (a few ms with EC keys).
TestPki make_pki();

struct UpstreamOptions {
    bool tls = true;
    bool require_client_cert = false;
    int delay_ms = 0; // sleep before answering (slow upstream)
    // Load tests: worker threads (one per open keep-alive connection; 0: httplib's defaults,
    // otherwise also no cap on requests per connection and a listen backlog of 1024) and
    // whether every request is kept for requests() (that list grows without bound).
    int threads = 0;
    bool record = true;
};

class UpstreamServer {
  public:
    using Handler = std::function<http::Response(const http::Request&)>;
    // Starts listening at once; `handler` answers (default: 200 JSON echo of the body).
    UpstreamServer(const TestPki& pki, UpstreamOptions options = {}, Handler handler = {});
    ~UpstreamServer();
    int port() const { return m_port; }
    std::string url(const std::string& path = "/") const;
    std::vector<http::Request> requests() const;
    std::size_t request_count() const;

  private:
    std::unique_ptr<httplib::Server> m_server;
    std::thread m_thread;
    int m_port = 0;
    bool m_tls;
    mutable std::mutex m_mutex;
    std::vector<http::Request> m_requests;
};

} // namespace vaultfwd::test
