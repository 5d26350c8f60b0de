// SPDX-License-Identifier: Apache-2.0
#include "core/upstream/client.hpp"

#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <httplib.h>

#include "core/crypto/hash.hpp"
#include "core/tls/cert.hpp"
#include "core/util/redact.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::upstream {

namespace {

using ClientPtr = std::unique_ptr<httplib::ClientImpl>;

// What the socket and TLS layers saw during the current attempt on this thread: httplib opens
// sockets and OpenSSL runs its message callback on the calling thread, so thread-local flags
// need no locking.
struct Trace {
    bool new_socket = false;     // httplib dialed a new connection (not a reused one)
    bool cert_requested = false; // the server sent a CertificateRequest
    int alert = -1;              // the last fatal alert the server sent
    long verify_error = X509_V_OK; // the first certificate verification error we found
};
thread_local Trace t_trace;

void trace_messages(int write_p, int, int content_type, const void* buf, std::size_t len, SSL*,
                    void*) {
    const auto* bytes = static_cast<const unsigned char*>(buf);
    if (write_p || len < 1)
        return;
    if (content_type == SSL3_RT_HANDSHAKE && bytes[0] == SSL3_MT_CERTIFICATE_REQUEST)
        t_trace.cert_requested = true;
    if (content_type == SSL3_RT_ALERT && len >= 2 && bytes[0] == 2) // fatal alerts only
        t_trace.alert = bytes[1];
}

// Runs during the handshake (on the calling thread) for each certificate of the chain: records
// the first error and lets OpenSSL abort the handshake on it (SSL_VERIFY_PEER).
int verify_peer(int preverify_ok, X509_STORE_CTX* ctx) {
    if (!preverify_ok && t_trace.verify_error == X509_V_OK)
        t_trace.verify_error = X509_STORE_CTX_get_error(ctx);
    return preverify_ok;
}

// We verify the server ourselves instead of httplib 0.11: its SSLClient::load_certs() calls
// SSL_CTX_set_default_verify_paths() on whatever store the context holds, which (1) reloads the
// system bundle into the process-wide shared store on every new connection while other threads
// verify against it (heap corruption under load, seen in CI) and (2) adds the system roots to a
// pinned store, so a pinned upstream would have accepted any publicly trusted certificate.
// OpenSSL checks the chain, the name (X509_check_host/ip, subjectAltName first) and aborts the
// handshake on failure, before a byte of the request is written.
void verify_server(SSL_CTX* ctx, X509_STORE* store, const std::string& host) {
    SSL_CTX_set_cert_store(ctx, store); // the context owns the reference from here on
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
    // An IP literal must match an iPAddress entry; anything else is a DNS name.
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
        ERR_clear_error();
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_peer);
}

void trace_new_socket(socket_t) {
    t_trace.new_socket = true;
}

std::string pool_key(const Call& call) {
    std::string material = call.url.scheme + "|" + call.url.host + "|" +
                           std::to_string(call.url.port) + "|" + call.tls.client_cert_pem + "|" +
                           call.tls.client_key_pem;
    for (const auto& p : call.tls.pin_pems)
        material += "|pin:" + p;
    for (const auto& f : call.tls.extra_ca_files)
        material += "|ca:" + f;
    // Hash so that no key material sits in a map key that a debugger might print.
    return util::to_hex(crypto::sha256(material));
}

Outcome failure(FailureKind kind, std::string code, std::string message) {
    Outcome o;
    o.failure = kind;
    o.error_code = std::move(code);
    o.error_message = std::move(message);
    return o;
}

// A store that trusts only the pinned certificates; a pinned leaf that is not self-signed
// verifies thanks to X509_V_FLAG_PARTIAL_CHAIN.
Result<X509_STORE*> pinned_store(const std::vector<std::string>& pins) {
    ossl::X509StorePtr store(X509_STORE_new());
    for (const auto& pem : pins) {
        auto certs = tls::load_certs_pem(pem);
        if (!certs)
            return make_error("upstream.bad_pin",
                              "a pinned certificate is invalid: " + certs.error().message);
        for (auto& c : *certs)
            X509_STORE_add_cert(store.get(), c.get());
    }
    X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
    return store.release();
}

// The system roots plus `extra_files`, loaded once per process for each list of extra files and
// shared by every client (X509_STORE is reference counted and safe to share between threads):
// loading the system bundle costs ~50 ms, far too much for every new upstream connection.
// Returns a new reference for the caller.
Result<X509_STORE*> system_store(const std::vector<std::string>& extra_files) {
    struct Cache {
        std::mutex mutex;
        std::map<std::vector<std::string>, X509_STORE*> stores;
    };
    static auto* cache = new Cache; // never freed: clients may be destroyed at exit
    std::lock_guard<std::mutex> lock(cache->mutex);
    auto found = cache->stores.find(extra_files);
    if (found == cache->stores.end()) {
        ossl::X509StorePtr store(X509_STORE_new());
        // The system bundle is loaded whole, now: OpenSSL's hashed-directory lookup (part of
        // X509_STORE_set_default_paths) adds certificates to the store lazily, during
        // verification, so a store shared between threads would change under its readers
        // (ThreadSanitizer saw it in the soak test). The directory is the fallback only for
        // systems without a bundle file.
        const char* env_file = std::getenv(X509_get_default_cert_file_env()); // SSL_CERT_FILE
        std::string bundle = env_file && *env_file ? env_file : X509_get_default_cert_file();
        if (X509_STORE_load_file(store.get(), bundle.c_str()) != 1) {
            ERR_clear_error();
            X509_STORE_set_default_paths(store.get());
        }
        for (const auto& f : extra_files) {
            if (X509_STORE_load_file(store.get(), f.c_str()) != 1) {
                ERR_clear_error();
                return make_error("upstream.bad_ca_file", "cannot load trusted roots from " + f);
            }
        }
        STACK_OF(X509)* certs = X509_STORE_get1_all_certs(store.get());
        for (int i = 0; i < sk_X509_num(certs); ++i)
            tls::prepare_for_sharing(sk_X509_value(certs, i));
        sk_X509_pop_free(certs, X509_free);
        found = cache->stores.emplace(extra_files, store.release()).first;
    }
    X509_STORE_up_ref(found->second);
    return found->second;
}

Result<ClientPtr> make_client(const Call& call) {
    const auto& tls_cfg = call.tls;
    ClientPtr cli;
    if (call.url.scheme == "https") {
        std::unique_ptr<httplib::SSLClient> ssl;
        if (!tls_cfg.client_cert_pem.empty() || !tls_cfg.client_key_pem.empty()) {
            auto cert = tls::load_cert_pem(tls_cfg.client_cert_pem);
            if (!cert)
                return make_error("upstream.bad_client_cert",
                                  "the client certificate is invalid: " + cert.error().message);
            auto key = tls::load_key_pem(tls_cfg.client_key_pem);
            if (!key)
                return make_error("upstream.bad_client_key",
                                  "the client key is invalid: " + key.error().message);
            if (!tls::key_matches(cert->get(), key->get()))
                return make_error("upstream.client_key_mismatch",
                                  "the client key does not belong to the client certificate");
            // httplib takes its own references to the certificate and key.
            ssl = std::make_unique<httplib::SSLClient>(call.url.host, call.url.port, cert->get(),
                                                       key->get());
        } else {
            ssl = std::make_unique<httplib::SSLClient>(call.url.host, call.url.port);
        }
        auto store = tls_cfg.pin_pems.empty() ? system_store(tls_cfg.extra_ca_files)
                                              : pinned_store(tls_cfg.pin_pems);
        if (!store)
            return store.error();
        verify_server(ssl->ssl_context(), *store, call.url.host);
        SSL_CTX_set_msg_callback(ssl->ssl_context(), trace_messages);
        ssl->enable_server_certificate_verification(false); // see verify_server()
        cli = std::move(ssl);
    } else {
        cli = std::make_unique<httplib::ClientImpl>(call.url.host, call.url.port);
    }
    cli->set_follow_location(false);
    cli->set_tcp_nodelay(true); // head and body go out at once, no Nagle + delayed-ACK stall
    cli->set_keep_alive(true);
    cli->set_decompress(false);
    cli->set_url_encode(false); // the target goes as given: see wire_target()
    cli->set_socket_options(trace_new_socket);
    return cli;
}

// The request target as it goes on the wire: byte for byte what the caller gave (parse_url has
// refused spaces and control characters), except that bytes outside ASCII are percent-encoded.
// httplib's own encoding is off: it also rewrites '+', ',', ';' and '\'', so a form-encoded
// query "q=a+b" (a space) would reach the upstream as "q=a%2Bb" (a plus).
std::string wire_target(const std::string& target) {
    static constexpr char k_hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(target.size());
    for (unsigned char c : target) {
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += k_hex[c >> 4];
            out += k_hex[c & 0xf];
        }
    }
    return out;
}

bool tls_alert_seen(const char* reason_substring) {
    bool seen = false;
    while (unsigned long e = ERR_get_error()) {
        const char* reason = ERR_reason_error_string(e);
        if (reason && std::string(reason).find(reason_substring) != std::string::npos)
            seen = true;
    }
    return seen;
}

struct Attempt {
    bool sent = false;
    httplib::Error err = httplib::Error::Success;
    bool timed_out = false; // failed no earlier than the read/write timeout allows
    Trace trace;
};

Attempt attempt(httplib::ClientImpl& cli, httplib::Request& req, httplib::Response& res,
                const Call& call) {
    auto ms = [](int v) { return std::chrono::milliseconds(v); };
    cli.set_connection_timeout(ms(call.connect_timeout_ms));
    cli.set_read_timeout(ms(call.timeout_ms));
    cli.set_write_timeout(ms(call.timeout_ms));
    ERR_clear_error();
    t_trace = Trace{};
    auto started = std::chrono::steady_clock::now();
    Attempt a;
    a.sent = cli.send(req, res, a.err);
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - started)
                       .count();
    a.timed_out = elapsed + 50 >= call.timeout_ms;
    a.trace = t_trace;
    return a;
}

Outcome classify(const Attempt& a, const httplib::Response& res, const Call& call,
                 const std::string& where) {
    // The server asked for a client certificate during this handshake and then broke the
    // connection before answering: that is its refusal. With TLS 1.3 the client's handshake ends
    // before the server has judged the certificate, so the refusal arrives as a fatal alert
    // (116 certificate_required, 42 bad_certificate, 48 unknown_ca, 45 certificate_expired, …)
    // or, when the server's reset overtakes its alert, as a failed write or read.
    bool cert_alert = tls_alert_seen("certificate required") || a.trace.alert == 116;
    bool broke_early = res.status == -1 && !a.timed_out &&
                       (a.err == httplib::Error::SSLConnection || a.err == httplib::Error::Read ||
                        a.err == httplib::Error::Write);
    bool cert_refused = cert_alert || (a.trace.cert_requested && broke_early);
    if (a.trace.verify_error != X509_V_OK) { // we aborted the handshake: the server is not trusted
        std::string why = X509_verify_cert_error_string(a.trace.verify_error);
        bool wrong_name = a.trace.verify_error == X509_V_ERR_HOSTNAME_MISMATCH ||
                          a.trace.verify_error == X509_V_ERR_IP_ADDRESS_MISMATCH;
        if (wrong_name)
            return failure(FailureKind::tls_verify, "upstream.tls_verify_failed",
                           "the certificate of " + where + " is issued for another host (" +
                               why + "); call the upstream by a name its certificate lists");
        if (!call.tls.pin_pems.empty())
            return failure(FailureKind::pin_mismatch, "upstream.pin_mismatch",
                           "the certificate of " + where +
                               " does not match any pinned certificate (" + why + ")");
        return failure(FailureKind::tls_verify, "upstream.tls_verify_failed",
                       "the certificate of " + where + " is not trusted (" + why + ")");
    }
    switch (a.err) {
    case httplib::Error::Connection:
        return failure(FailureKind::connect, "upstream.connect_failed",
                       "cannot connect to " + where + " (connection refused or unreachable)");
    case httplib::Error::ConnectionTimeout:
        return failure(FailureKind::timeout, "upstream.timeout",
                       "connecting to " + where + " timed out after " +
                           std::to_string(call.connect_timeout_ms) + " ms");
    case httplib::Error::SSLConnection:
        if (cert_refused)
            return failure(FailureKind::client_cert_rejected, "upstream.client_cert_rejected",
                           where + " refused the TLS handshake: it requires a client "
                                   "certificate that was not presented or not accepted");
        return failure(FailureKind::tls_handshake, "upstream.tls_handshake_failed",
                       "the TLS handshake with " + where + " failed");
    case httplib::Error::Read:
    case httplib::Error::Write:
        if (cert_refused)
            return failure(FailureKind::client_cert_rejected, "upstream.client_cert_rejected",
                           where + " closed the TLS connection: it requires a client "
                                   "certificate that was not presented or not accepted");
        if (a.timed_out)
            return failure(FailureKind::timeout, "upstream.timeout",
                           where + " did not answer within " + std::to_string(call.timeout_ms) +
                               " ms");
        return failure(FailureKind::io, "upstream.connection_broken",
                       "the connection to " + where + " broke before a full answer arrived");
    default:
        return failure(FailureKind::io, "upstream.failed",
                       "the call to " + where + " failed: " + httplib::to_string(a.err));
    }
}

} // namespace

// Idle keep-alive connections by upstream (and TLS settings), at most k_max_idle each, so that
// the workers of a busy serve find one instead of dialling (a handshake costs far more than an
// idle socket); a connection over that number is closed after use.
constexpr std::size_t k_max_idle = 256;

struct Client::Pool {
    std::mutex mutex;
    std::map<std::string, std::vector<ClientPtr>> idle;
};

Client::Client() : m_pool(std::make_unique<Pool>()) {}
Client::~Client() = default;

Outcome Client::send(const Call& call) {
    const std::string where = call.url.host_for_url() + ":" + std::to_string(call.url.port);
    httplib::Request req;
    req.method = call.method;
    req.path = wire_target(call.url.path_and_query);
    for (const auto& h : call.headers) {
        if (http::is_hop_by_hop(h.name))
            continue;
        if (!http::is_token(h.name) || !http::is_safe_value(h.value))
            return failure(FailureKind::bad_request, "upstream.bad_header",
                           "header \"" + util::redact(h.name) +
                               "\" has a CR, LF or NUL in its name or value; nothing was sent");
        req.headers.emplace(h.name, h.value);
    }
    req.body = call.body;
    if (!call.body.empty() || call.method == "POST" || call.method == "PUT" ||
        call.method == "PATCH") {
        if (!req.has_header("Content-Type"))
            req.headers.emplace("Content-Type", "application/octet-stream");
    }

    std::string key = pool_key(call);
    ClientPtr cli;
    {
        std::lock_guard<std::mutex> lock(m_pool->mutex);
        auto& list = m_pool->idle[key];
        if (!list.empty()) {
            cli = std::move(list.back());
            list.pop_back();
        }
    }
    if (!cli) {
        auto made = make_client(call);
        if (!made)
            return failure(FailureKind::bad_request, made.error().code, made.error().message);
        cli = std::move(*made);
    }

    const httplib::Headers headers = req.headers; // httplib adds Host, Content-Length, … to req
    httplib::Response res;
    Attempt a = attempt(*cli, req, res, call);
    // A keep-alive connection the upstream closed while it sat idle (its close_notify still
    // looks like data to httplib's liveness check) fails before any answer byte: retry once on
    // a new connection. Never after an answer began, after a timeout, or when the connection
    // was dialed for this very call: then the upstream may have acted on the request.
    if (!a.sent && !a.trace.new_socket && !a.timed_out && res.status == -1 &&
        (a.err == httplib::Error::Write || a.err == httplib::Error::Read)) {
        auto made = make_client(call);
        if (!made)
            return failure(FailureKind::bad_request, made.error().code, made.error().message);
        cli = std::move(*made);
        req.headers = headers;
        res = httplib::Response{};
        a = attempt(*cli, req, res, call);
    }
    if (!a.sent)
        return classify(a, res, call, where);

    Outcome out;
    out.response.status = res.status;
    for (const auto& [name, value] : res.headers)
        out.response.headers.push_back({name, value});
    out.response.body = std::move(res.body);
    {
        std::lock_guard<std::mutex> lock(m_pool->mutex);
        auto& list = m_pool->idle[key];
        if (list.size() < k_max_idle)
            list.push_back(std::move(cli));
    }
    return out;
}

} // namespace vaultfwd::upstream
