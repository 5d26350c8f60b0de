// SPDX-License-Identifier: Apache-2.0
#include "core/ditto/server.hpp"

#include <chrono>
#include <thread>

#include <httplib.h>
#include <openssl/err.h>

#include "core/server/httplib_bridge.hpp"
#include "core/tls/cert.hpp"

namespace vaultfwd::ditto {

namespace {

// Pseudo-headers httplib adds to Request::headers; they were never on the wire.
bool is_httplib_pseudo_header(const std::string& name) {
    return name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" ||
           name == "LOCAL_PORT";
}

EchoRequest to_echo_request(const httplib::Request& req) {
    EchoRequest out;
    out.method = req.method;
    out.target = req.target;
    for (const auto& [name, value] : req.headers)
        if (!is_httplib_pseudo_header(name))
            out.headers.emplace_back(server::unhide_header_name(name), value);
    out.body = req.body;
    if (req.ssl) {
        ossl::X509Ptr peer(SSL_get1_peer_certificate(req.ssl));
        if (peer) {
            auto info = tls::inspect(peer.get());
            out.client_cert =
                ClientCert{info.subject, info.issuer, info.serial_decimal, info.serial_hex};
        }
    }
    return out;
}

std::string url(const std::string& scheme, const std::string& host, int port) {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return scheme + "://" + h + ":" + std::to_string(port);
}

// Without a client CA every presented certificate is taken as it is: ditto only reports it.
int accept_any_certificate(int, X509_STORE_CTX*) {
    return 1;
}

} // namespace

struct Server::Impl {
    ServerOptions options;
    std::unique_ptr<httplib::Server> http;
    std::unique_ptr<httplib::SSLServer> https;
    int http_port = 0;
    int https_port = 0;
    std::vector<std::thread> threads;
    bool stopped = false;

    void configure(httplib::Server& server) {
        auto handler = [format = options.format](const httplib::Request& req,
                                                 httplib::Response& res) {
            auto answer = echo(to_echo_request(req), format);
            res.status = answer.status;
            for (const auto& [name, value] : answer.headers)
                res.set_header(name, value);
            res.set_content(answer.body, answer.content_type);
        };
        const std::string any = ".*";
        server.Get(any, handler); // GET and HEAD
        server.Post(any, handler);
        server.Put(any, handler);
        server.Patch(any, handler);
        server.Delete(any, handler);
        server.Options(any, handler);
        // The body as sent (no multipart parsing, no 8 KiB limit on forms), the echo whole.
        // httplib routes no handler for TRACE and CONNECT; they carry no body to wait for.
        server.set_pre_routing_handler(
            [handler](const httplib::Request& req, httplib::Response& res) {
                server::hide_from_httplib(req);
                if (req.method != "TRACE" && req.method != "CONNECT")
                    return httplib::Server::HandlerResponse::Unhandled;
                handler(req, res);
                return httplib::Server::HandlerResponse::Handled;
            });
        server.set_exception_handler(
            [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
                std::string what = "unexpected error";
                try {
                    if (ep)
                        std::rethrow_exception(ep);
                } catch (const std::exception& e) {
                    what = e.what();
                } catch (...) {
                }
                nlohmann::json body = {{"error", {{"code", "ditto.internal"}, {"message", what}}}};
                res.status = 500;
                res.set_content(body.dump(), "application/json");
            });
        int threads = options.threads > 0 ? options.threads : 16;
        server.new_task_queue = [threads] {
            return new httplib::ThreadPool(static_cast<std::size_t>(threads));
        };
        // httplib's default also sets SO_REUSEPORT, which would let a second ditto share a busy
        // port silently; SO_REUSEADDR alone still allows a quick restart.
        server.set_socket_options([](socket_t sock) {
            int yes = 1;
            setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        });
        server.set_tcp_nodelay(true);
        server.set_payload_max_length(options.max_body_bytes);
        server.set_keep_alive_timeout(5);
        server.set_keep_alive_max_count(
            1000); // httplib's 5 forces a TLS handshake every 5 requests
        server.set_read_timeout(30);
    }

    Result<int> bind(httplib::Server& server, int port, const char* what) {
        int bound = port == 0 ? server.bind_to_any_port(options.host)
                              : (server.bind_to_port(options.host, port) ? port : -1);
        if (bound <= 0)
            return make_error("ditto.bind", std::string("cannot listen for ") + what + " on " +
                                                url(what, options.host, port) +
                                                " (address in use or not available)");
        return bound;
    }

    void run(httplib::Server& server) {
        threads.emplace_back([&server] { server.listen_after_bind(); });
        // stop() is a no-op until the accept loop runs, so do not return before it does.
        for (int i = 0; i < 5000 && !server.is_running(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }

    void stop_all() {
        if (stopped)
            return;
        stopped = true;
        if (http)
            http->stop();
        if (https)
            https->stop();
        for (auto& t : threads)
            if (t.joinable())
                t.join();
    }
};

namespace {

// Fills the TLS context: certificate (and chain), key, client certificate policy.
Result<void> setup_tls(SSL_CTX& ctx, const ServerOptions& options) {
    auto chain = tls::load_certs_pem(options.tls_cert_pem);
    if (!chain)
        return make_error("ditto.tls", "the HTTPS certificate: " + chain.error().message);
    auto key = tls::load_key_pem(options.tls_key_pem);
    if (!key)
        return make_error("ditto.tls", "the HTTPS key: " + key.error().message);
    if (!tls::key_matches(chain->front().get(), key->get()))
        return make_error("ditto.tls", "the HTTPS key does not belong to the HTTPS certificate");
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate(&ctx, chain->front().get()) != 1 ||
        SSL_CTX_use_PrivateKey(&ctx, key->get()) != 1)
        return make_error("ditto.tls", "cannot use the HTTPS certificate: " + ossl::last_error());
    for (std::size_t i = 1; i < chain->size(); ++i)
        SSL_CTX_add1_chain_cert(&ctx, (*chain)[i].get());

    int mode = SSL_VERIFY_PEER;
    if (options.client_cert == ClientCertPolicy::required)
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    if (options.client_ca_pem.empty()) {
        SSL_CTX_set_verify(&ctx, mode, accept_any_certificate);
    } else {
        auto roots = tls::load_certs_pem(options.client_ca_pem);
        if (!roots)
            return make_error("ditto.tls", "the client CA: " + roots.error().message);
        X509_STORE* store = SSL_CTX_get_cert_store(&ctx);
        for (const auto& root : *roots) {
            X509_STORE_add_cert(store, root.get());
            SSL_CTX_add_client_CA(&ctx, root.get());
        }
        ERR_clear_error(); // a root listed twice leaves a harmless "already in store" error
        SSL_CTX_set_verify(&ctx, mode, nullptr);
    }
    // Session resumption with client verification needs a context id, or OpenSSL refuses it.
    static const unsigned char k_session_id[] = "vaultfwd-ditto";
    SSL_CTX_set_session_id_context(&ctx, k_session_id, sizeof k_session_id - 1);
    return {};
}

} // namespace

Server::Server(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}

Server::~Server() {
    stop();
}

Result<std::unique_ptr<Server>> Server::start(const ServerOptions& options) {
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    if (options.http) {
        impl->http = std::make_unique<httplib::Server>();
        impl->configure(*impl->http);
        auto port = impl->bind(*impl->http, options.http_port, "http");
        if (!port)
            return port.error();
        impl->http_port = *port;
    }
    if (options.https) {
        Result<void> tls_setup;
        impl->https = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
            tls_setup = setup_tls(ctx, options);
            return tls_setup.ok();
        });
        if (!tls_setup)
            return tls_setup.error();
        if (!impl->https->is_valid())
            return make_error("ditto.tls",
                              "cannot set up the HTTPS listener: " + ossl::last_error());
        impl->configure(*impl->https);
        auto port = impl->bind(*impl->https, options.https_port, "https");
        if (!port)
            return port.error();
        impl->https_port = *port;
    }
    if (impl->http)
        impl->run(*impl->http);
    if (impl->https)
        impl->run(*impl->https);
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::http_port() const {
    return m_impl->http_port;
}
int Server::https_port() const {
    return m_impl->https_port;
}

std::vector<std::string> Server::urls() const {
    std::vector<std::string> out;
    if (m_impl->http)
        out.push_back(url("http", m_impl->options.host, m_impl->http_port));
    if (m_impl->https)
        out.push_back(url("https", m_impl->options.host, m_impl->https_port));
    return out;
}

void Server::stop() {
    if (m_impl)
        m_impl->stop_all();
}

} // namespace vaultfwd::ditto
