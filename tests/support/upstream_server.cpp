// SPDX-License-Identifier: Apache-2.0
#include "support/upstream_server.hpp"

#include <chrono>
#include <httplib.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "support/httplib_bridge.hpp"

namespace vaultfwd::test {

TestPki make_pki() {
    TestPki pki;
    pki.ca = std::move(*tls::make_ca("vaultfwd test root"));
    tls::IssueOptions server;
    server.common_name = "localhost";
    server.dns_names = {"localhost"};
    server.ip_addresses = {"127.0.0.1", "::1"};
    server.usage = tls::Usage::server;
    pki.server = std::move(*tls::issue(server, &pki.ca));
    tls::IssueOptions client;
    client.common_name = "test client";
    client.usage = tls::Usage::client;
    pki.client = std::move(*tls::issue(client, &pki.ca));
    pki.other_ca = std::move(*tls::make_ca("unrelated root"));
    return pki;
}

UpstreamServer::UpstreamServer(const TestPki& pki, UpstreamOptions options, Handler handler)
    : m_tls(options.tls) {
    if (options.tls) {
        X509* cert = pki.server.cert.get();
        EVP_PKEY* key = pki.server.key.get();
        X509* ca = pki.ca.cert.get();
        bool require = options.require_client_cert;
        m_server = std::make_unique<httplib::SSLServer>([=](SSL_CTX& ctx) {
            SSL_CTX_use_certificate(&ctx, cert);
            SSL_CTX_use_PrivateKey(&ctx, key);
            if (require) {
                X509_STORE* store = X509_STORE_new();
                X509_STORE_add_cert(store, ca);
                SSL_CTX_set_cert_store(&ctx, store);
                SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
            }
            return true;
        });
    } else {
        m_server = std::make_unique<httplib::Server>();
    }
    // An idle keep-alive connection holds an httplib worker until this timeout, and stop() waits
    // for it: serve's pooled connection to this upstream cost every test httplib's default 5 s
    // at its end. Load upstreams (threads set) keep the default.
    if (options.threads == 0)
        m_server->set_keep_alive_timeout(1);
    if (!handler)
        handler = [](const http::Request& r) {
            http::Response res;
            res.headers.push_back({"Content-Type", "application/json"});
            res.body = r.body.empty() ? "{}" : r.body;
            return res;
        };
    int delay = options.delay_ms;
    bool keep = options.record;
    auto record = [this, handler, delay, keep](const httplib::Request& req,
                                               httplib::Response& res) {
        http::Request r = from_httplib(req);
        r.remote_addr += ":" + std::to_string(req.remote_port); // tells connections apart
        if (keep) {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_requests.push_back(r);
        }
        if (delay > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(delay));
        auto out = handler(r);
        res.status = out.status;
        std::string content_type = "text/plain";
        for (const auto& h : out.headers) {
            if (h.name == "Content-Type" || h.name == "content-type")
                content_type = h.value;
            else
                res.headers.emplace(h.name, h.value);
        }
        res.set_content(out.body, content_type);
    };
    m_server->Get(".*", record);
    m_server->Post(".*", record);
    m_server->Put(".*", record);
    m_server->Patch(".*", record);
    m_server->Delete(".*", record);
    // Like a real upstream, it records any body as sent (httplib would parse multipart bodies
    // away and refuse forms over 8 KiB).
    m_server->set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
        hide_from_httplib(req);
        return httplib::Server::HandlerResponse::Unhandled;
    });
    int listen_fd = -1;
    if (options.threads > 0) {
        auto n = static_cast<std::size_t>(options.threads);
        m_server->new_task_queue = [n] { return new httplib::ThreadPool(n); };
        // httplib's default of 5 requests per connection would mean a handshake every 5.
        m_server->set_keep_alive_max_count(100000);
        m_server->set_socket_options([&listen_fd](socket_t sock) {
            httplib::default_socket_options(sock);
            listen_fd = sock;
        });
    }
    m_port = m_server->bind_to_any_port("127.0.0.1");
    // httplib 0.11 listens with a backlog of 5: a burst of new connections (a client's pool
    // growing under load) overflows it and waits for SYN retransmits (1 s, 3 s, ...), which a
    // real upstream (nginx: 511) does not do. Listening again raises it.
    if (listen_fd >= 0 && m_port > 0)
        ::listen(listen_fd, 1024);
    m_server->set_socket_options(httplib::default_socket_options); // drops the &listen_fd capture
    m_thread = std::thread([this] { m_server->listen_after_bind(); });
    while (!m_server->is_running())
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

UpstreamServer::~UpstreamServer() {
    m_server->stop();
    if (m_thread.joinable())
        m_thread.join();
}

std::string UpstreamServer::url(const std::string& path) const {
    return std::string(m_tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(m_port) + path;
}

std::vector<http::Request> UpstreamServer::requests() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_requests;
}

std::size_t UpstreamServer::request_count() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_requests.size();
}

} // namespace vaultfwd::test
