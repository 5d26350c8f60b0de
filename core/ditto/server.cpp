// SPDX-License-Identifier: Apache-2.0
#include "core/ditto/server.hpp"

#include <thread>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/server/engine.hpp"
#include "core/tls/cert.hpp"

namespace vaultfwd::ditto {

namespace {

EchoRequest to_echo_request(const server::Exchange& ex) {
    EchoRequest out;
    out.method = ex.head.method;
    out.target = ex.head.target; // raw: the path is not percent-decoded, the query kept
    for (const auto& h : ex.head.headers)
        out.headers.emplace_back(h.name, h.value);
    out.body = ex.request.body;
    if (ex.peer_certificate) {
        auto info = tls::inspect(ex.peer_certificate.get());
        out.client_cert = ClientCert{info.subject, info.issuer, info.serial_decimal, info.serial_hex};
    }
    return out;
}

http::Response to_response(const EchoResponse& answer) {
    http::Response res;
    res.status = answer.status;
    for (const auto& [name, value] : answer.headers)
        res.headers.push_back({name, value});
    res.headers.push_back({"content-type", answer.content_type});
    res.body = answer.body;
    return res;
}

// Every request, whatever its method (CONNECT included), gets its echo.
class EchoPhases final : public server::Phases {
  public:
    explicit EchoPhases(Format format) : m_format(format) {}

    server::Step on_request(server::Exchange& ex) override { return answer(ex); }
    // A CONNECT to ditto opens no tunnel: it is echoed like any request (it has no body).
    std::optional<http::Response> on_connect(server::Exchange& ex) override { return answer(ex); }

  private:
    http::Response answer(server::Exchange& ex) {
        try {
            return to_response(echo(to_echo_request(ex), m_format));
        } catch (const std::exception& e) {
            // The JSON format cannot hold a header value that is not UTF-8, for one.
            nlohmann::json body = {{"error", {{"code", "ditto.internal"}, {"message", e.what()}}}};
            http::Response res;
            res.status = 500;
            res.headers.push_back({"content-type", "application/json"});
            res.body = body.dump();
            return res;
        }
    }

    Format m_format;
};

std::string url(const std::string& scheme, const std::string& host, int port) {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return scheme + "://" + h + ":" + std::to_string(port);
}

// Without a client CA every presented certificate is taken as it is: ditto only reports it.
int accept_any_certificate(int, X509_STORE_CTX*) {
    return 1;
}

// The HTTPS listener's context: certificate (and chain), key, client certificate policy.
Result<ossl::SslCtxPtr> make_tls(const ServerOptions& options) {
    auto chain = tls::load_certs_pem(options.tls_cert_pem);
    if (!chain)
        return make_error("ditto.tls", "the HTTPS certificate: " + chain.error().message);
    auto key = tls::load_key_pem(options.tls_key_pem);
    if (!key)
        return make_error("ditto.tls", "the HTTPS key: " + key.error().message);
    if (!tls::key_matches(chain->front().get(), key->get()))
        return make_error("ditto.tls", "the HTTPS key does not belong to the HTTPS certificate");
    ossl::SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx)
        return make_error("ditto.tls", "cannot set up the HTTPS listener: " + ossl::last_error());
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
    if (SSL_CTX_use_certificate(ctx.get(), chain->front().get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx.get(), key->get()) != 1)
        return make_error("ditto.tls", "cannot use the HTTPS certificate: " + ossl::last_error());
    for (std::size_t i = 1; i < chain->size(); ++i)
        SSL_CTX_add1_chain_cert(ctx.get(), (*chain)[i].get());

    int mode = SSL_VERIFY_PEER;
    if (options.client_cert == ClientCertPolicy::required)
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    if (options.client_ca_pem.empty()) {
        SSL_CTX_set_verify(ctx.get(), mode, accept_any_certificate);
    } else {
        auto roots = tls::load_certs_pem(options.client_ca_pem);
        if (!roots)
            return make_error("ditto.tls", "the client CA: " + roots.error().message);
        X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
        for (const auto& root : *roots) {
            X509_STORE_add_cert(store, root.get());
            SSL_CTX_add_client_CA(ctx.get(), root.get());
        }
        ERR_clear_error(); // a root listed twice leaves a harmless "already in store" error
        SSL_CTX_set_verify(ctx.get(), mode, nullptr);
    }
    // Session resumption with client verification needs a context id, or OpenSSL refuses it.
    static const unsigned char k_session_id[] = "vaultfwd-ditto";
    SSL_CTX_set_session_id_context(ctx.get(), k_session_id, sizeof k_session_id - 1);
    return ctx;
}

} // namespace

struct Server::Impl {
    ServerOptions options;
    EchoPhases phases;
    ossl::SslCtxPtr tls; // outlives the engines (declared before them)
    std::unique_ptr<server::Engine> http;
    std::unique_ptr<server::Engine> https;
    int http_port = 0;
    int https_port = 0;
    std::vector<std::thread> threads;
    bool stopped = false;

    explicit Impl(const ServerOptions& o) : options(o), phases(o.format) {}

    server::EngineOptions engine_options(const char* port_option) const {
        server::EngineOptions e;
        e.limits.max_body_bytes = options.max_body_bytes;
        // A POST without Content-Length has an empty body (RFC 9112 §6.3) rather than a 411:
        // ditto answers whatever a client under test sends.
        e.limits.require_length_for_body_methods = false;
        e.threads = static_cast<std::size_t>(options.threads > 0 ? options.threads : 16);
        e.listen_option = port_option;
        return e;
    }

    Result<int> bind(std::unique_ptr<server::Engine>& engine, server::EngineOptions e, int port) {
        engine = std::make_unique<server::Engine>(std::move(e), phases);
        auto bound = engine->bind(options.host, port);
        if (!bound) // the engine's message names the address, the reason and the option
            return make_error("ditto.bind", bound.error().message);
        return bound;
    }

    void stop_all() {
        if (stopped)
            return;
        stopped = true;
        for (auto* engine : {http.get(), https.get()})
            if (engine)
                engine->stop();
        for (auto& t : threads)
            if (t.joinable())
                t.join();
    }

    ~Impl() { stop_all(); }
};

Server::Server(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}

Server::~Server() {
    stop();
}

Result<std::unique_ptr<Server>> Server::start(const ServerOptions& options) {
    auto impl = std::make_unique<Impl>(options);
    if (options.http) {
        auto port = impl->bind(impl->http, impl->engine_options("--port"), options.http_port);
        if (!port)
            return port.error();
        impl->http_port = *port;
    }
    if (options.https) {
        auto ctx = make_tls(options);
        if (!ctx)
            return ctx.error();
        impl->tls = std::move(*ctx);
        auto e = impl->engine_options("--tls-port");
        e.listener_tls = impl->tls.get();
        auto port = impl->bind(impl->https, std::move(e), options.https_port);
        if (!port)
            return port.error();
        impl->https_port = *port;
    }
    // The listeners are bound: connections wait in the backlog until the loops run.
    for (auto* engine : {impl->http.get(), impl->https.get()})
        if (engine)
            impl->threads.emplace_back([engine] { engine->run(); });
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
