// SPDX-License-Identifier: Apache-2.0
#include "core/upstream/client.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <stdexcept>
#include <mutex>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/crypto/hash.hpp"
#include "core/http/parser.hpp"
#include "core/net/loop.hpp"
#include "core/net/stream.hpp"
#include "core/tls/cert.hpp"
#include "core/util/redact.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::upstream {

namespace {

using net::Clock;

// What the TLS layer saw during one attempt, kept with the connection's SSL object (ex data):
// the callbacks below run inside OpenSSL on whatever thread drives the connection, and on an
// event loop many connections are driven by one thread, so the record cannot be thread-local.
struct Trace {
    bool cert_requested = false;   // the server sent a CertificateRequest
    int alert = -1;                // the last fatal alert the server sent
    long verify_error = X509_V_OK; // the first certificate verification error we found
};

int trace_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

Trace* trace_of(SSL* ssl) { return ssl ? static_cast<Trace*>(SSL_get_ex_data(ssl, trace_index())) : nullptr; }

// Points the connection's TLS callbacks at `trace` (nullptr: nowhere, while it sits idle).
void watch(net::Stream& s, Trace* trace) {
    if (auto* tls = dynamic_cast<net::TlsStream*>(&s))
        SSL_set_ex_data(tls->ssl(), trace_index(), trace);
}

void trace_messages(int write_p, int, int content_type, const void* buf, std::size_t len, SSL* ssl,
                    void*) {
    const auto* bytes = static_cast<const unsigned char*>(buf);
    Trace* t = trace_of(ssl);
    if (write_p || len < 1 || !t)
        return;
    if (content_type == SSL3_RT_HANDSHAKE && bytes[0] == SSL3_MT_CERTIFICATE_REQUEST)
        t->cert_requested = true;
    if (content_type == SSL3_RT_ALERT && len >= 2 && bytes[0] == 2) // fatal alerts only
        t->alert = bytes[1];
}

// Runs during the handshake for each certificate of the chain: records the first error and lets
// OpenSSL abort the handshake on it (SSL_VERIFY_PEER).
int verify_peer(int preverify_ok, X509_STORE_CTX* ctx) {
    auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
    Trace* t = trace_of(ssl);
    if (!preverify_ok && t && t->verify_error == X509_V_OK)
        t->verify_error = X509_STORE_CTX_get_error(ctx);
    return preverify_ok;
}

std::string pool_key(const Call& call) {
    // The last call's settings and their key, per thread: calls to one upstream repeat them, and
    // building and hashing the material was about 6 % of serve's own work per request.
    struct Last {
        Url url;
        TlsConfig tls;
        std::string key;
    };
    thread_local Last last;
    const TlsConfig& t = call.tls;
    if (!last.key.empty() && last.url.port == call.url.port && last.url.scheme == call.url.scheme &&
        last.url.host == call.url.host && last.tls.client_cert_pem == t.client_cert_pem &&
        last.tls.client_key_pem == t.client_key_pem && last.tls.pin_pems == t.pin_pems &&
        last.tls.extra_ca_files == t.extra_ca_files)
        return last.key;
    std::string material = call.url.scheme + "|" + call.url.host + "|" + std::to_string(call.url.port) + "|" +
                           t.client_cert_pem + "|" + t.client_key_pem;
    for (const auto& p : t.pin_pems)
        material += "|pin:" + p;
    for (const auto& f : t.extra_ca_files)
        material += "|ca:" + f;
    // Hash so that no key material sits in a map key that a debugger might print.
    last.url.scheme = call.url.scheme;
    last.url.host = call.url.host;
    last.url.port = call.url.port;
    last.tls.client_cert_pem = t.client_cert_pem;
    last.tls.client_key_pem = t.client_key_pem;
    last.tls.pin_pems = t.pin_pems;
    last.tls.extra_ca_files = t.extra_ca_files;
    last.key = util::to_hex(crypto::sha256(material));
    return last.key;
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
        for (auto& c : *certs) {
            tls::prepare_for_sharing(c.get()); // the store is shared by concurrent handshakes
            X509_STORE_add_cert(store.get(), c.get());
        }
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

bool is_ip_literal(const std::string& host) {
    unsigned char buf[sizeof(in6_addr)];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
           ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The last session ticket an upstream gave us, offered on the next handshake with it so that a
// new connection (pool growth, a redial) resumes instead of paying a full handshake. One per
// TLS context, that is per pool key: a session is only offered to the host and TLS settings it
// was verified for.
struct SessionSlot {
    std::mutex mutex;
    SSL_SESSION* session = nullptr;
    ~SessionSlot() {
        if (session)
            SSL_SESSION_free(session);
    }
    void put(SSL_SESSION* s) { // takes the reference
        std::lock_guard<std::mutex> lock(mutex);
        if (session)
            SSL_SESSION_free(session);
        session = s;
    }
    // The slot's session is never one a connection uses: it stores a copy of the session a
    // connection made and gives each connection its own copy, under the mutex. OpenSSL updates
    // a connection's session as tickets arrive, and a session shared between connections was
    // read by one thread's SSL_read while another dropped the last reference (ThreadSanitizer,
    // sk_dup against sk_free, the soak test's 1 000 tunnels; libssl's reference counts are not
    // instrumented, so a shared session cannot be shown safe either).
    void keep_copy(SSL_SESSION* s) {
        if (SSL_SESSION* copy = SSL_SESSION_dup(s))
            put(copy);
    }
    void offer(SSL* ssl) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!session)
            return;
        if (SSL_SESSION* copy = SSL_SESSION_dup(session)) {
            SSL_set_session(ssl, copy);
            SSL_SESSION_free(copy); // SSL_set_session took its own reference
        }
    }
};

int session_slot_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

// OpenSSL calls this when a session becomes resumable: after the handshake with TLS 1.2, when a
// NewSessionTicket arrives with TLS 1.3 (during a later read).
int keep_session(SSL* ssl, SSL_SESSION* session) {
    auto* slot = static_cast<SessionSlot*>(
        SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), session_slot_index()));
    if (!slot)
        return 0;
    slot->keep_copy(session);
    return 0; // the connection keeps its own session; the slot holds a copy
}

// The TLS context of one pool key: verification against the system roots (+ extra files) or
// the pins only, the name dialed checked (X509_check_host / ip, subjectAltName first), the
// client identity, session resumption. OpenSSL aborts the handshake on a verification failure,
// before a byte of the request is written.
Result<ossl::SslCtxPtr> make_tls_context(const Call& call, SessionSlot& slot) {
    const auto& cfg = call.tls;
    ossl::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx)
        return make_error("upstream.tls_setup", "cannot create a TLS context: " + ossl::last_error());
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    if (!cfg.client_cert_pem.empty() || !cfg.client_key_pem.empty()) {
        auto cert = tls::load_cert_pem(cfg.client_cert_pem);
        if (!cert)
            return make_error("upstream.bad_client_cert",
                              "the client certificate is invalid: " + cert.error().message);
        auto key = tls::load_key_pem(cfg.client_key_pem);
        if (!key)
            return make_error("upstream.bad_client_key",
                              "the client key is invalid: " + key.error().message);
        if (!tls::key_matches(cert->get(), key->get()))
            return make_error("upstream.client_key_mismatch",
                              "the client key does not belong to the client certificate");
        if (SSL_CTX_use_certificate(ctx.get(), cert->get()) != 1 ||
            SSL_CTX_use_PrivateKey(ctx.get(), key->get()) != 1)
            return make_error("upstream.bad_client_cert",
                              "the client certificate cannot be used: " + ossl::last_error());
        // Intermediates that follow the leaf in the PEM go with it.
        if (auto chain = tls::load_certs_pem(cfg.client_cert_pem); chain && chain->size() > 1)
            for (std::size_t i = 1; i < chain->size(); ++i)
                SSL_CTX_add1_chain_cert(ctx.get(), (*chain)[i].get());
    }
    auto store = cfg.pin_pems.empty() ? system_store(cfg.extra_ca_files) : pinned_store(cfg.pin_pems);
    if (!store)
        return store.error();
    SSL_CTX_set_cert_store(ctx.get(), *store); // the context owns the reference from here on
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx.get());
    const std::string& host = call.url.host;
    // An IP literal must match an iPAddress entry; anything else is a DNS name.
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
        ERR_clear_error();
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, verify_peer);
    SSL_CTX_set_msg_callback(ctx.get(), trace_messages);
    SSL_CTX_set_session_cache_mode(ctx.get(),
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx.get(), keep_session);
    SSL_CTX_set_ex_data(ctx.get(), session_slot_index(), &slot);
    return ctx;
}

// The request target as it goes on the wire: byte for byte what the caller gave (parse_url has
// refused spaces and control characters), except that bytes outside ASCII are percent-encoded
// (a request line is ASCII). Nothing else is re-encoded: a form-encoded query "q=a+b" keeps its
// plus.
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

// The Host header: the port only when it is not the scheme's default.
std::string host_header(const Url& url) {
    bool default_port = (url.scheme == "https" && url.port == 443) ||
                        (url.scheme == "http" && url.port == 80);
    return default_port ? url.host_for_url() : url.host_for_url() + ":" + std::to_string(url.port);
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

// Where an attempt stopped, what it saw: the input of classify() and of the retry rule.
struct Attempt {
    enum class Stage { dial, handshake, write, read, done };
    Stage stage = Stage::dial;
    bool refused = false;        // dial: refused or unreachable
    bool unresolved = false;     // dial: the name does not resolve
    bool timed_out = false;      // the stage ran into its deadline
    bool answer_began = false;   // at least one byte of the answer arrived
    bool body_taken = false;     // a streamed request body was begun: it cannot be sent again
    std::string body_failed;     // the streamed request body broke off: its source's message
    std::string body_failed_code;
    std::optional<http::ParseError> malformed; // read: the answer broke HTTP (or its size limit)
    Trace trace;
};

// Dials host:port (every address in turn) within the connect deadline.
std::unique_ptr<net::Stream> dial(const Url& url, Clock::time_point deadline, Attempt& a) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    addrinfo* found = nullptr;
    std::string port = std::to_string(url.port);
    if (::getaddrinfo(url.host.c_str(), port.c_str(), &hints, &found) != 0 || !found) {
        a.unresolved = true;
        return nullptr;
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, ::freeaddrinfo);
    for (const addrinfo* ai = found; ai; ai = ai->ai_next) {
        int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          ai->ai_protocol);
        if (fd < 0)
            continue;
        int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            while (true) {
                auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                                deadline - Clock::now())
                                .count();
                if (left <= 0) {
                    ::close(fd);
                    a.timed_out = true;
                    return nullptr;
                }
                pollfd p{fd, POLLOUT, 0};
                int n = ::poll(&p, 1, static_cast<int>(left));
                if (n < 0 && errno == EINTR)
                    continue;
                if (n > 0) {
                    int err = 0;
                    socklen_t len = sizeof err;
                    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                    rc = err == 0 ? 0 : -1;
                }
                break;
            }
        }
        if (rc == 0) {
            int one = 1; // head and body go out at once, no Nagle + delayed-ACK stall
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return std::make_unique<net::SocketStream>(fd);
        }
        ::close(fd);
    }
    a.refused = true;
    return nullptr;
}

// An idle pooled connection is worth a try only when nothing arrived on it while it sat idle:
// readable means the upstream closed it (FIN, close_notify) or sent bytes nobody asked for.
bool looks_alive(net::Stream& s) {
    if (s.readable_now())
        return false;
    pollfd p{s.fd(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
}

} // namespace

// Idle keep-alive connections by upstream (and TLS settings), at most k_max_idle each, so that
// the workers of a busy serve find one instead of dialling (a handshake costs far more than an
// idle socket); a connection over that number is closed after use.
constexpr std::size_t k_max_idle = 256;

namespace {

// One pool key: its TLS context (https only), shared by every connection to that upstream,
// the session offered for resumption, and the idle connections: those made by send() in `idle`
// (registered nowhere), those made on an event loop in that loop's own list (LoopConn::Idle),
// which registers here as a lender. A loop or a worker that has none borrows one from a lender
// before it dials: an upstream that serves one keep-alive connection at a time (a developer's
// single-threaded server) sees one connection whichever loop takes the next request.
struct Endpoint {
    SessionSlot session; // before ctx: the context points at it until it is freed
    ossl::SslCtxPtr ctx;
    // Names this endpoint's idle list in each event loop (Loop::local): never reused, unlike
    // an address.
    std::uint64_t id = next_id();
    static std::uint64_t next_id() {
        static std::atomic<std::uint64_t> ids{1};
        return ids.fetch_add(1, std::memory_order_relaxed);
    }

    struct Lender {
        net::Loop* loop;
        const std::atomic<std::size_t>* idle; // how many it holds now (a hint: it may lend none)
    };

    std::unique_ptr<net::Stream> take_idle() {
        while (true) {
            std::unique_ptr<net::Stream> s;
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                if (m_idle.empty())
                    return nullptr;
                s = std::move(m_idle.back());
                m_idle.pop_back();
            }
            if (looks_alive(*s))
                return s;
        }
    }
    void give_back(std::unique_ptr<net::Stream> s) {
        watch(*s, nullptr);
        std::lock_guard<std::mutex> lock(m_mutex);
        if (m_idle.size() < k_max_idle)
            m_idle.push_back(std::move(s));
    }

    void add_lender(Lender l) {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_lenders.push_back(l);
    }
    void remove_lender(const net::Loop* loop) {
        std::lock_guard<std::mutex> lock(m_mutex);
        for (auto it = m_lenders.begin(); it != m_lenders.end(); ++it)
            if (it->loop == loop) {
                m_lenders.erase(it);
                return;
            }
    }
    // Asks a loop other than `asking` that holds idle connections now to lend one: on that
    // loop, `deliver` gets it (deregistered from the lender) or nullptr when it had none left.
    // False when no loop holds one. (Defined after LoopConn::Idle.)
    using Deliver = std::function<void(std::unique_ptr<net::Stream>)>;
    bool ask_lender(const net::Loop* asking, Deliver deliver);
    // Posts `fn` to `loop` when it is still a lender here (it may be gone by now).
    bool post_to(const net::Loop* loop, std::function<void()> fn) {
        std::lock_guard<std::mutex> lock(m_mutex);
        for (const Lender& l : m_lenders)
            if (l.loop == loop) {
                l.loop->post(std::move(fn));
                return true;
            }
        return false;
    }

  private:
    std::mutex m_mutex;
    std::vector<std::unique_ptr<net::Stream>> m_idle; // made by send()
    std::vector<Lender> m_lenders;
};

} // namespace

struct Client::Pool {
    std::mutex mutex;
    std::map<std::string, std::unique_ptr<Endpoint>> endpoints;

    // The endpoint of `call`'s pool key, made on first use; endpoints live as long as the client
    // (their contexts are shared by every connection to that upstream).
    Result<Endpoint*> endpoint(const Call& call) {
        std::string key = pool_key(call);
        {
            std::lock_guard<std::mutex> lock(mutex);
            if (auto it = endpoints.find(key); it != endpoints.end())
                return it->second.get();
        }
        auto made = std::make_unique<Endpoint>();
        if (call.url.scheme == "https") {
            auto ctx = make_tls_context(call, made->session);
            if (!ctx)
                return ctx.error();
            made->ctx = std::move(*ctx);
        }
        std::lock_guard<std::mutex> lock(mutex);
        auto& slot = endpoints[key];
        if (!slot) // another thread may have made it meanwhile: keep the first
            slot = std::move(made);
        return slot.get();
    }
};

namespace {

// TLS over a new connection to `call`'s upstream, ready for its handshake: SNI, the last
// session offered for resumption, the attempt's trace.
std::unique_ptr<net::TlsStream> client_tls(std::unique_ptr<net::Stream> socket, const Call& call, Endpoint& e, Attempt& a) {
    a.stage = Attempt::Stage::handshake;
    auto tls = std::make_unique<net::TlsStream>(std::move(socket), e.ctx.get(), net::TlsRole::client);
    if (!is_ip_literal(call.url.host)) // SNI is for names only (RFC 6066 §3)
        SSL_set_tlsext_host_name(tls->ssl(), call.url.host.c_str());
    e.session.offer(tls->ssl());
    watch(*tls, &a.trace);
    return tls;
}

// Dials and, for https, runs the handshake, all within the connect deadline.
std::unique_ptr<net::Stream> connect(const Call& call, Endpoint& e, Attempt& a) {
    auto deadline = Clock::now() + std::chrono::milliseconds(call.connect_timeout_ms);
    a.stage = Attempt::Stage::dial;
    auto socket = dial(call.url, deadline, a);
    if (!socket || !e.ctx)
        return socket;
    auto tls = client_tls(std::move(socket), call, e, a);
    if (!net::handshake(*tls, deadline, a.timed_out)) {
        e.session.put(nullptr); // a session that led to a failure is not offered again
        return nullptr;
    }
    return tls;
}

bool write_request(net::Stream& s, const Call& call, const std::string& request, Attempt& a) {
    a.stage = Attempt::Stage::write;
    const auto per_op = std::chrono::milliseconds(call.timeout_ms);
    auto write = [&](std::string_view bytes) {
        auto write_deadline = Clock::now() + per_op;
        if (net::write_all(s, bytes, write_deadline))
            return true;
        // write_all cannot tell a timeout from a broken connection: the clock can.
        a.timed_out = Clock::now() >= write_deadline;
        return false;
    };
    if (!write(request))
        return false;
    if (http::BodySource* source = call.body_source.get()) {
        const bool chunked = !source->length();
        std::string piece;
        while (true) {
            piece.clear();
            a.body_taken = true;
            auto step = source->next(piece);
            if (step == http::BodySource::Step::failed) {
                a.body_failed = source->error_message();
                a.body_failed_code = source->error_code();
                return false;
            }
            if (step == http::BodySource::Step::end) {
                if (chunked && !write("0\r\n\r\n"))
                    return false;
                break;
            }
            if (piece.empty())
                continue;
            if (chunked) {
                char size[24];
                std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
                piece.insert(0, size);
                piece += "\r\n";
            }
            if (!write(piece))
                return false;
        }
    }
    a.stage = Attempt::Stage::read;
    return true;
}

// Reads one answer from a connection with the parser: the 1xx answers passed over, the final
// head, then the body piece by piece. What went wrong is recorded in the Attempt.
class AnswerReader {
  public:
    enum class Got { piece, end, failed };

    // `waits`: reads wait for bytes (a worker thread); otherwise a read that would wait stops
    // the reader, which says so with waiting() (an event loop, which calls it again later).
    AnswerReader(net::Stream& s, const Call& call, Attempt& a, bool waits = true)
        : m_s(&s), m_a(&a), m_per_op(call.timeout_ms), m_parser(http::Parser::Kind::response, limits(call)),
          m_waits(waits) {
        m_parser.expect_response_to(call.method);
    }
    // The same reader's state on another connection owner (a streamed answer takes it over).
    AnswerReader(AnswerReader&& from, net::Stream& s, Attempt& a)
        : m_s(&s), m_a(&a), m_per_op(from.m_per_op), m_parser(std::move(from.m_parser)),
          m_buf(std::move(from.m_buf)), m_pos(from.m_pos), m_eof(from.m_eof), m_waits(from.m_waits) {}

    // Up to the final head (hop-by-hop headers dropped, Content-Length kept).
    bool read_head(http::Response& out) {
        while (true) {
            auto ev = step();
            if (ev == http::Parser::Event::head && m_parser.head().status >= 200) {
                out.status = m_parser.head().status;
                out.headers = m_parser.take_headers();
                http::remove_hop_by_hop(out.headers, true);
                return true;
            }
            if (ev == http::Parser::Event::head || ev == http::Parser::Event::message_end)
                continue; // a 1xx answer: the final one follows
            if (ev == http::Parser::Event::error)
                m_a->malformed = m_parser.error();
            return false;
        }
    }

    // Appends the body's next piece to `out`.
    Got next_piece(std::string& out) {
        auto ev = step();
        switch (ev) {
        case http::Parser::Event::body:
            out.append(m_parser.body_piece());
            return Got::piece;
        case http::Parser::Event::message_end:
            m_a->stage = Attempt::Stage::done;
            // The connection carries another exchange only when the answer ended by its own
            // framing, the upstream keeps it open, and nothing beyond the answer arrived.
            m_reusable = !m_eof && m_parser.head().keep_alive &&
                         m_parser.head().body != http::BodyKind::until_close && m_pos == m_buf.size();
            return Got::end;
        case http::Parser::Event::error:
            m_a->malformed = m_parser.error();
            return Got::failed;
        case http::Parser::Event::head:
        case http::Parser::Event::need_more:
            break;
        }
        return Got::failed;
    }

    bool has_body() const { return m_parser.head().body != http::BodyKind::none; }
    std::optional<std::uint64_t> length() const {
        if (m_parser.head().body == http::BodyKind::length)
            return m_parser.head().content_length;
        return std::nullopt;
    }
    bool reusable() const { return m_reusable; }
    // The last read_head / next_piece stopped because a read would wait (not a failure): what
    // to wait for (Io::want_read or want_write); Io::ok otherwise.
    net::Io waiting() const { return m_waiting; }

  private:
    static http::ParseLimits limits(const Call& call) {
        http::ParseLimits l;
        l.max_head_bytes = 256 * 1024;
        l.max_header_line = l.max_head_bytes; // long Set-Cookie or CSP lines are answers too
        // A streamed answer is never held whole: only one read whole is bounded.
        l.max_body_bytes = call.stream_answer ? std::numeric_limits<std::uint64_t>::max() : call.max_answer_bytes;
        return l;
    }

    // The parser's next event, reading from the connection when it needs bytes. It is asked
    // first, even with no new bytes: after a head or the last body byte it has an event due (the
    // body's framing, message_end) without further input. need_more: the connection broke, timed
    // out, or closed before the answer was whole.
    http::Parser::Event step() {
        m_waiting = net::Io::ok;
        while (true) {
            std::size_t used = 0;
            auto ev = m_parser.next(std::string_view(m_buf).substr(m_pos), used);
            m_pos += used;
            if (ev != http::Parser::Event::need_more)
                return ev;
            if (m_eof) {
                ev = m_parser.finish();
                return ev == http::Parser::Event::message_end ? ev : http::Parser::Event::need_more;
            }
            m_buf.erase(0, m_pos); // need_more: every byte given was consumed
            m_pos = 0;
            if (!m_waits) {
                thread_local std::string scratch(64 * 1024, '\0'); // not zeroed again per read
                std::size_t n = 0;
                auto io = m_s->read(scratch.data(), scratch.size(), n);
                if (io == net::Io::ok) {
                    m_buf.append(scratch.data(), n);
                    m_a->answer_began = true;
                } else if (io == net::Io::eof) {
                    m_eof = true;
                } else if (io == net::Io::want_read || io == net::Io::want_write) {
                    m_waiting = io;
                    return http::Parser::Event::need_more;
                } else {
                    return http::Parser::Event::need_more;
                }
                continue;
            }
            auto io = net::read_some(*m_s, m_buf, Clock::now() + m_per_op, m_a->timed_out);
            if (io == net::Io::eof)
                m_eof = true;
            else if (io != net::Io::ok)
                return http::Parser::Event::need_more;
            else
                m_a->answer_began = true;
        }
    }

    net::Stream* m_s;
    Attempt* m_a;
    std::chrono::milliseconds m_per_op;
    http::Parser m_parser;
    std::string m_buf;
    std::size_t m_pos = 0;
    bool m_eof = false;
    bool m_reusable = false;
    bool m_waits = true;
    net::Io m_waiting = net::Io::ok;
};

// Reads the rest of an answer whose head `reader` has read into `out`.
bool read_whole_body(AnswerReader& reader, http::Response& out) {
    while (true) {
        switch (reader.next_piece(out.body)) {
        case AnswerReader::Got::piece:
            continue;
        case AnswerReader::Got::end:
            return true;
        case AnswerReader::Got::failed:
            return false;
        }
    }
}

// Once an answer began: a timeout, an answer that breaks HTTP (or the size allowed), or a
// connection that broke.
Outcome answer_failure(const Attempt& a, int timeout_ms, const std::string& where) {
    if (a.timed_out)
        return failure(FailureKind::timeout, "upstream.timeout",
                       where + " did not answer within " + std::to_string(timeout_ms) + " ms");
    if (a.malformed && a.malformed->code == "response.too_large")
        return failure(FailureKind::io, "upstream.answer_too_large",
                       "the answer of " + where + " is too large to be read whole: " + a.malformed->message +
                           " (raise limits.max_body_bytes in the profile)");
    if (a.malformed)
        return failure(FailureKind::io, "upstream.bad_response",
                       "the answer of " + where + " is not valid HTTP/1.1: " + a.malformed->message);
    return failure(FailureKind::io, "upstream.connection_broken",
                   "the connection to " + where + " broke before a full answer arrived");
}

Outcome classify(const Attempt& a, const Call& call, const std::string& where) {
    if (!a.body_failed.empty())
        return failure(FailureKind::io, a.body_failed_code,
                       "the request body for " + where + " broke off: " + a.body_failed);
    // The server asked for a client certificate during this handshake and then broke the
    // connection before answering: that is its refusal. With TLS 1.3 the client's handshake ends
    // before the server has judged the certificate, so the refusal arrives as a fatal alert
    // (116 certificate_required, 42 bad_certificate, 48 unknown_ca, 45 certificate_expired, …)
    // or, when the server's reset overtakes its alert, as a failed write or read.
    bool cert_alert = tls_alert_seen("certificate required") || a.trace.alert == 116;
    bool broke_early = !a.timed_out && !a.answer_began && a.stage != Attempt::Stage::dial;
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
    switch (a.stage) {
    case Attempt::Stage::dial:
        if (a.timed_out)
            return failure(FailureKind::timeout, "upstream.timeout",
                           "connecting to " + where + " timed out after " +
                               std::to_string(call.connect_timeout_ms) + " ms");
        if (a.unresolved)
            return failure(FailureKind::connect, "upstream.connect_failed",
                           "cannot connect to " + where + " (the name does not resolve)");
        return failure(FailureKind::connect, "upstream.connect_failed",
                       "cannot connect to " + where + " (connection refused or unreachable)");
    case Attempt::Stage::handshake:
        if (cert_refused)
            return failure(FailureKind::client_cert_rejected, "upstream.client_cert_rejected",
                           where + " refused the TLS handshake: it requires a client "
                                   "certificate that was not presented or not accepted");
        if (a.timed_out)
            return failure(FailureKind::timeout, "upstream.timeout",
                           "the TLS handshake with " + where + " timed out after " +
                               std::to_string(call.connect_timeout_ms) + " ms");
        return failure(FailureKind::tls_handshake, "upstream.tls_handshake_failed",
                       "the TLS handshake with " + where + " failed");
    case Attempt::Stage::write:
    case Attempt::Stage::read:
    case Attempt::Stage::done:
        break;
    }
    if (cert_refused)
        return failure(FailureKind::client_cert_rejected, "upstream.client_cert_rejected",
                       where + " closed the TLS connection: it requires a client "
                               "certificate that was not presented or not accepted");
    return answer_failure(a, call.timeout_ms, where);
}

// An answer whose body is relayed while it arrives: it owns the connection until the body's
// end, then gives it back to the pool when it may carry another exchange.
class StreamedAnswer final : public http::BodySource {
  public:
    using GiveBack = std::function<void(std::unique_ptr<net::Stream>)>;
    StreamedAnswer(std::unique_ptr<net::Stream> s, AnswerReader&& reader, const Attempt& a, int timeout_ms,
                   std::string where, GiveBack give_back)
        : m_stream(std::move(s)), m_attempt(a), m_reader(std::move(reader), *m_stream, m_attempt),
          m_timeout_ms(timeout_ms), m_where(std::move(where)), m_give_back(std::move(give_back)),
          m_length(m_reader.length()) {
        watch(*m_stream, &m_attempt.trace);
    }

    Step next(std::string& out) override {
        if (!m_stream)
            return m_failed ? Step::failed : Step::end;
        switch (m_reader.next_piece(out)) {
        case AnswerReader::Got::piece:
            return Step::piece;
        case AnswerReader::Got::end:
            if (m_reader.reusable())
                m_give_back(std::move(m_stream));
            m_stream.reset();
            return Step::end;
        case AnswerReader::Got::failed:
            break;
        }
        auto why = answer_failure(m_attempt, m_timeout_ms, m_where);
        m_code = why.error_code;
        m_message = why.error_message;
        m_failed = true;
        m_stream.reset();
        return Step::failed;
    }
    std::optional<std::uint64_t> length() const override { return m_length; }
    const std::string& error_code() const override { return m_code; }
    const std::string& error_message() const override { return m_message; }

  private:
    std::unique_ptr<net::Stream> m_stream;
    Attempt m_attempt;
    AnswerReader m_reader;
    int m_timeout_ms;
    std::string m_where;
    GiveBack m_give_back;
    std::optional<std::uint64_t> m_length;
    bool m_failed = false;
    std::string m_code;
    std::string m_message;
};

// The request's head and whole body as they go on the wire: the caller's headers in their
// order, minus the hop-by-hop ones and those the caller's Connection header names; Host first,
// the framing last, set by us. A header with CR, LF or NUL fails: nothing is sent.
Result<std::string> request_bytes(const Call& call) {
    http::Head head;
    head.method = call.method;
    head.target = wire_target(call.url.path_and_query);
    head.headers.reserve(call.headers.size() + 3);
    head.headers.push_back({"Host", host_header(call.url)});
    for (const auto& h : call.headers)
        if (!http::is_token(h.name) || !http::is_safe_value(h.value))
            return make_error("upstream.bad_header", "header \"" + util::redact(h.name) +
                                                         "\" has a CR, LF or NUL in its name or value; nothing was sent");
    http::Headers given = call.headers;
    http::remove_hop_by_hop(given);
    for (auto& h : given)
        head.headers.push_back(std::move(h));
    // A POST, PUT or PATCH always tells its length, an empty one too (RFC 9110 §8.6); the
    // caller's Content-Type goes as it is, and none is added when it sent none.
    const http::BodySource* source = call.body_source.get();
    bool has_body = source || !call.body.empty() || call.method == "POST" || call.method == "PUT" ||
                    call.method == "PATCH";
    if (source && !source->length())
        head.headers.push_back({"Transfer-Encoding", "chunked"});
    else if (has_body)
        head.headers.push_back({"Content-Length", std::to_string(source ? *source->length() : call.body.size())});
    std::string request;
    request.reserve(512 + call.body.size());
    http::write_request_head(request, head);
    request += call.body;
    return request;
}

std::string where_of(const Call& call) { return call.url.host_for_url() + ":" + std::to_string(call.url.port); }

// ---- the same call on an event loop ----

// A connection made on an event loop, registered with it once for as long as it is open
// (edge-triggered: readable, writable, peer closed), whether a call drives it or it sits in the
// loop's idle list: no epoll_ctl per call, and no poll() to test an idle connection before use.
// Events go to the call that drives it; an idle one that turns readable was closed by the
// upstream (or got bytes nobody asked for) and is closed. Edge-triggered is right because a
// driver waits only after a read or write said it would block (TLS reads too: the BIO's
// read-ahead says want_read only when the socket had nothing). An event of this round may still
// name a connection after it was let go, so it is destroyed after the round (retire()).
class LoopConn final : public net::Loop::Handler {
  public:
    struct Idle; // the loop's idle connections to one endpoint

    LoopConn(net::Loop& loop, int fd) : m_loop(loop), m_fd(fd) {
        m_loop.add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, this);
    }
    // A connection lent by another loop (Idle::lend), registered with this one from now on.
    LoopConn(net::Loop& loop, std::unique_ptr<net::Stream> s) : LoopConn(loop, s->fd()) { stream = std::move(s); }
    ~LoopConn() override {
        if (m_fd < 0)
            return; // lent to another loop
        m_loop.remove(m_fd);
        if (!stream)
            ::close(m_fd); // a dial that never connected; otherwise the stream closes it
    }
    LoopConn(const LoopConn&) = delete;
    LoopConn& operator=(const LoopConn&) = delete;

    int fd() const { return m_fd; }
    // The socket, then TLS over it, once connected.
    std::unique_ptr<net::Stream> stream;
    // Who gets the events; nullptr while idle (or let go).
    net::Loop::Handler* driver = nullptr;
    Idle* idle_in = nullptr; // the idle list it sits in

    void on_events(std::uint32_t events) override {
        if (m_retired)
            return;
        if (driver) {
            driver->on_events(events);
            return;
        }
        if (idle_in)
            on_idle_event();
    }

    // Lets go of `conn`: no more events reach anyone, and it is destroyed after this round.
    static void retire(std::shared_ptr<LoopConn> conn) {
        if (!conn)
            return;
        conn->driver = nullptr;
        conn->m_retired = true;
        net::Loop& loop = conn->m_loop;
        loop.post([gone = std::move(conn)] {});
    }

    // Lets go of `conn` and hands its stream out, no longer registered with this loop.
    static std::unique_ptr<net::Stream> release(std::shared_ptr<LoopConn> conn) {
        conn->m_loop.remove(conn->m_fd);
        conn->m_fd = -1;
        auto s = std::move(conn->stream);
        retire(std::move(conn));
        return s;
    }

  private:
    void on_idle_event();
    net::Loop& m_loop;
    int m_fd;
    bool m_retired = false;
};

// Made on a loop's first call to the endpoint (Loop::local) and destroyed with the loop, when it
// stops being the endpoint's lender.
struct LoopConn::Idle {
    std::vector<std::shared_ptr<LoopConn>> conns; // the most recently used last
    std::atomic<std::size_t> count{0};            // conns.size(), for other loops to read
    std::shared_ptr<void> pool; // owns the endpoint whose TLS context the connections use
    Endpoint* endpoint = nullptr;
    net::Loop* loop = nullptr;

    Idle() = default;
    Idle(const Idle&) = delete;
    Idle& operator=(const Idle&) = delete;
    ~Idle() {
        if (endpoint)
            endpoint->remove_lender(loop);
    }
    void attach(net::Loop& l, Endpoint& e, const std::shared_ptr<void>& owner) {
        if (endpoint)
            return;
        pool = owner;
        endpoint = &e;
        loop = &l;
        e.add_lender({&l, &count});
    }

    std::shared_ptr<LoopConn> take() {
        while (!conns.empty()) {
            auto c = std::move(conns.back());
            conns.pop_back();
            count.store(conns.size(), std::memory_order_relaxed);
            c->idle_in = nullptr;
            if (!c->stream->readable_now())
                return c;
            retire(std::move(c));
        }
        return nullptr;
    }
    // On this loop, for another loop or a worker that has no idle connection of its own.
    std::unique_ptr<net::Stream> lend() {
        auto c = take();
        return c ? release(std::move(c)) : nullptr;
    }
    void give_back(std::shared_ptr<LoopConn> c) {
        c->driver = nullptr;
        if (conns.size() >= k_max_idle) {
            retire(std::move(c));
            return;
        }
        c->idle_in = this;
        conns.push_back(std::move(c));
        count.store(conns.size(), std::memory_order_relaxed);
    }
    void forget(const LoopConn* c) {
        for (auto it = conns.begin(); it != conns.end(); ++it)
            if (it->get() == c) {
                auto gone = std::move(*it);
                conns.erase(it);
                count.store(conns.size(), std::memory_order_relaxed);
                gone->idle_in = nullptr;
                retire(std::move(gone));
                return;
            }
    }
};

void LoopConn::on_idle_event() {
    // An edge of the last exchange (its answer was read before the loop looked) says nothing:
    // only bytes or an end that are there now do.
    if (!stream->readable_now()) {
        pollfd p{m_fd, POLLIN, 0};
        if (::poll(&p, 1, 0) == 0)
            return;
    }
    idle_in->forget(this);
}

// Under the lock, so the lender cannot be destroyed meanwhile (its list leaves the lenders
// first, and a job posted to a loop being destroyed is dropped, not run).
bool Endpoint::ask_lender(const net::Loop* asking, Deliver deliver) {
    std::lock_guard<std::mutex> lock(m_mutex);
    for (const Lender& l : m_lenders)
        if (l.loop != asking && l.idle->load(std::memory_order_relaxed) > 0) {
            net::Loop* lender = l.loop;
            const std::uint64_t key = id;
            lender->post([lender, key, deliver = std::move(deliver)] { deliver(lender->local<LoopConn::Idle>(key).lend()); });
            return true;
        }
    return false;
}

// For a call made by waiting (send(), on a worker) that found no idle connection of send()'s: one
// an event loop holds, waiting for it no longer than `timeout_ms`; nullptr when no loop lends one.
std::unique_ptr<net::Stream> borrow_from_loop(Endpoint& e, int timeout_ms) {
    using Box = std::promise<std::unique_ptr<net::Stream>>;
    auto box = std::make_shared<Box>();
    auto answer = box->get_future();
    if (!e.ask_lender(nullptr, [box](std::unique_ptr<net::Stream> s) { box->set_value(std::move(s)); }))
        return nullptr;
    if (answer.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready)
        return nullptr; // the lender is busy: dial (what it lends later is closed with the box)
    std::unique_ptr<net::Stream> s;
    try {
        s = answer.get();
    } catch (const std::future_error&) { // the lender's loop ended before it looked
        return nullptr;
    }
    if (s && !looks_alive(*s))
        return nullptr;
    return s;
}

// One call driven by the loop's events: resolve (off the loop, for names), dial, handshake,
// write, read the head, then the body whole or handed over as a LoopAnswer. Every wait is a
// deadline on the loop and an edge of the connection's registration (LoopConn); nothing blocks.
// The loop keeps the call alive (Loop::keep) until `done` ran; a streamed body's source keeps
// it after that.
class LoopCall final : public net::Loop::Handler, public std::enable_shared_from_this<LoopCall> {
  public:
    // `pool` owns `e` (kept alive while the call or an idle connection of it needs it).
    LoopCall(Call call, std::string request, std::shared_ptr<void> pool, Endpoint& e, net::Loop& loop,
             Client::Offload offload, std::function<void(Outcome)> done)
        : m_call(std::move(call)), m_request(std::move(request)), m_pool(std::move(pool)), m_e(e), m_loop(loop),
          m_idle(loop.local<LoopConn::Idle>(e.id)), m_offload(std::move(offload)), m_done(std::move(done)) {
        m_idle.attach(loop, e, m_pool);
    }

    ~LoopCall() override {
        m_loop.clear_deadline(this);
        LoopConn::retire(std::move(m_conn));
    }

    // A connection of this loop's, else one send() left, else one borrowed from another loop,
    // else a new one.
    void begin() {
        m_loop.keep(shared_from_this());
        m_in_begin = true;
        m_conn = m_idle.take();
        if (!m_conn)
            if (auto s = m_e.take_idle())
                m_conn = std::make_shared<LoopConn>(m_loop, std::move(s));
        if (m_conn)
            reuse();
        else if (!borrow())
            fresh();
        m_in_begin = false;
    }

    void on_events(std::uint32_t) override {
        if (!m_waiting)
            return; // an edge while the call was busy or between reads of a streamed body
        auto keep = shared_from_this();
        m_waiting = false;
        m_loop.clear_deadline(this);
        if (m_stage == Stage::stream) {
            if (auto wake = std::move(m_wake)) {
                m_wake = nullptr;
                wake();
            }
            return;
        }
        advance();
    }

    void on_deadline() override {
        auto keep = shared_from_this();
        m_waiting = false;
        if (m_stage == Stage::borrow) { // the lender did not answer in time: a new connection
            fresh();
            return;
        }
        m_a.timed_out = true;
        if (m_stage == Stage::stream) {
            if (auto wake = std::move(m_wake)) {
                m_wake = nullptr;
                wake();
            }
            return;
        }
        if (m_stage == Stage::resolve)
            m_stage = Stage::dial; // classified as the dial that never began
        attempt_failed();
    }

    // The streamed body (LoopAnswer).
    http::BodySource::Step next_piece(std::string& out) {
        using Step = http::BodySource::Step;
        if (m_stage == Stage::finished)
            return m_stream_failed ? Step::failed : Step::end;
        if (m_a.timed_out)
            return stream_failed();
        switch (m_reader->next_piece(out)) {
        case AnswerReader::Got::piece:
            return Step::piece;
        case AnswerReader::Got::end:
            m_stage = Stage::finished;
            done_with_connection();
            return Step::end;
        case AnswerReader::Got::failed:
            break;
        }
        if (m_reader->waiting() != net::Io::ok)
            return Step::pending;
        return stream_failed();
    }
    void when_ready(std::function<void()> wake) {
        if (m_stage != Stage::stream)
            return;
        m_wake = std::move(wake);
        wait(m_call.timeout_ms);
    }
    std::optional<std::uint64_t> length() const { return m_reader->length(); }
    const std::string& error_code() const { return m_stream_code; }
    const std::string& error_message() const { return m_stream_message; }

  private:
    enum class Stage { borrow, resolve, dial, handshake, write, head, body, stream, finished };

    net::Stream& stream() { return *m_conn->stream; }

    void reuse() {
        m_reused = true;
        m_conn->driver = this;
        watch(stream(), &m_a.trace);
        begin_write();
    }

    // Asks a loop that holds an idle connection to this endpoint for one; its answer (a
    // connection or none) comes back through this loop. Waits no longer than the connect
    // timeout, then dials.
    bool borrow() {
        std::weak_ptr<LoopCall> weak = weak_from_this();
        const net::Loop* here = &m_loop;
        Endpoint* e = &m_e;
        auto pool = m_pool;
        bool asked = m_e.ask_lender(here, [weak, here, e, pool](std::unique_ptr<net::Stream> s) {
            // Boxed: a posted job is copyable. Dropped (closed) when the call gave up.
            auto box = std::make_shared<std::unique_ptr<net::Stream>>(std::move(s));
            e->post_to(here, [weak, box] {
                auto self = weak.lock();
                if (self && self->m_stage == Stage::borrow)
                    self->lent(std::move(*box));
            });
        });
        if (!asked)
            return false;
        m_stage = Stage::borrow;
        m_loop.set_deadline(this, Clock::now() + std::chrono::milliseconds(m_call.connect_timeout_ms));
        return true;
    }

    // The other loop's answer: a connection (tested as any idle one is) or none.
    void lent(std::unique_ptr<net::Stream> s) {
        m_loop.clear_deadline(this);
        if (s && looks_alive(*s)) {
            m_conn = std::make_shared<LoopConn>(m_loop, std::move(s));
            reuse();
            return;
        }
        fresh();
    }

    // A new connection: resolve (IP literals on the loop, names on another thread), then dial.
    void fresh() {
        m_stage = Stage::resolve;
        m_a.stage = Attempt::Stage::dial;
        m_connect_deadline = Clock::now() + std::chrono::milliseconds(m_call.connect_timeout_ms);
        m_loop.set_deadline(this, m_connect_deadline);
        if (is_ip_literal(m_call.url.host)) {
            resolved(resolve(m_call.url, true));
            return;
        }
        // The job holds the call; its answer comes back through the loop. A call that failed
        // meanwhile (the connect deadline) ignores it.
        std::weak_ptr<LoopCall> weak = weak_from_this();
        net::Loop* loop = &m_loop;
        Url url = m_call.url;
        m_offload([weak, loop, url] {
            auto found = resolve(url, false);
            loop->post([weak, found]() mutable {
                if (auto self = weak.lock(); self && self->m_stage == Stage::resolve)
                    self->resolved(std::move(found));
            });
        });
    }

    using Addresses = std::shared_ptr<addrinfo>;
    static Addresses resolve(const Url& url, bool numeric) {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : AI_ADDRCONFIG);
        addrinfo* found = nullptr;
        if (::getaddrinfo(url.host.c_str(), std::to_string(url.port).c_str(), &hints, &found) != 0 || !found)
            return nullptr;
        return Addresses(found, ::freeaddrinfo);
    }

    void resolved(Addresses found) {
        m_stage = Stage::dial;
        if (!found) {
            m_a.unresolved = true;
            attempt_failed();
            return;
        }
        m_addresses = std::move(found);
        m_next = m_addresses.get();
        dial_next();
    }

    // Connects to the next address in turn; refused or unreachable when none is left.
    void dial_next() {
        while (m_next) {
            const addrinfo* ai = m_next;
            m_next = ai->ai_next;
            int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
            if (fd < 0)
                continue;
            int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
            if (rc != 0 && errno != EINPROGRESS) {
                ::close(fd);
                continue;
            }
            m_conn = std::make_shared<LoopConn>(m_loop, fd);
            m_conn->driver = this;
            if (rc == 0) {
                connected();
                return;
            }
            m_waiting = true; // the connect deadline is set
            return;
        }
        m_a.refused = true;
        attempt_failed();
    }

    void connected() {
        int fd = m_conn->fd();
        int one = 1; // head and body go out at once, no Nagle + delayed-ACK stall
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::unique_ptr<net::Stream> socket = std::make_unique<net::SocketStream>(fd);
        if (!m_e.ctx) {
            m_conn->stream = std::move(socket);
            begin_write();
            return;
        }
        auto tls = client_tls(std::move(socket), m_call, m_e, m_a);
        m_tls = tls.get();
        m_conn->stream = std::move(tls);
        m_stage = Stage::handshake;
        advance();
    }

    void begin_write() {
        m_stage = Stage::write;
        m_a.stage = Attempt::Stage::write;
        m_written = 0;
        advance();
    }

    // Drives the current stage as far as it goes without waiting.
    void advance() {
        switch (m_stage) {
        case Stage::dial: {
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(m_conn->fd(), SOL_SOCKET, SO_ERROR, &err, &len);
            if (err == EINPROGRESS || err == EALREADY) { // not an answer yet
                m_waiting = true;
                return;
            }
            if (err != 0) {
                LoopConn::retire(std::move(m_conn));
                dial_next();
                return;
            }
            connected();
            return;
        }
        case Stage::handshake: {
            ERR_clear_error();
            net::Io io = m_tls->handshake();
            if (io == net::Io::ok) {
                m_tls = nullptr;
                begin_write();
                return;
            }
            if (io == net::Io::want_read || io == net::Io::want_write) {
                m_waiting = true; // until the connect deadline
                return;
            }
            m_e.session.put(nullptr); // a session that led to a failure is not offered again
            attempt_failed();
            return;
        }
        case Stage::write:
            while (m_written < m_request.size()) {
                std::size_t n = 0;
                net::Io io = stream().write(m_request.data() + m_written, m_request.size() - m_written, n);
                if (io == net::Io::ok) {
                    m_written += n;
                    continue;
                }
                if (io == net::Io::want_read || io == net::Io::want_write) {
                    wait(m_call.timeout_ms);
                    return;
                }
                attempt_failed();
                return;
            }
            m_stage = Stage::head;
            m_a.stage = Attempt::Stage::read;
            m_reader = std::make_unique<AnswerReader>(stream(), m_call, m_a, false);
            [[fallthrough]];
        case Stage::head:
            if (!m_reader->read_head(m_out.response)) {
                if (wait_for_reader())
                    return;
                attempt_failed();
                return;
            }
            if (m_call.stream_answer && m_reader->has_body()) {
                m_stage = Stage::stream;
                m_loop.clear_deadline(this);
                m_out.response.stream = std::make_shared<LoopAnswer>(shared_from_this());
                finish(std::move(m_out));
                return;
            }
            m_stage = Stage::body;
            [[fallthrough]];
        case Stage::body:
            for (;;) {
                switch (m_reader->next_piece(m_out.response.body)) {
                case AnswerReader::Got::piece:
                    continue;
                case AnswerReader::Got::end:
                    done_with_connection();
                    finish(std::move(m_out));
                    return;
                case AnswerReader::Got::failed:
                    break;
                }
                if (wait_for_reader())
                    return;
                finish(answer_failure(m_a, m_call.timeout_ms, where()));
                return;
            }
        case Stage::borrow:
        case Stage::resolve:
        case Stage::stream:
        case Stage::finished:
            return;
        }
    }

    bool wait_for_reader() {
        if (m_reader->waiting() == net::Io::ok)
            return false;
        wait(m_call.timeout_ms);
        return true;
    }

    // The answer was read to its end: the connection goes back to the loop's idle list when it
    // can carry another exchange, else it is closed.
    void done_with_connection() {
        m_loop.clear_deadline(this);
        m_waiting = false;
        if (m_reader->reusable() && m_conn) {
            watch(stream(), nullptr);
            m_idle.give_back(std::move(m_conn));
        }
        LoopConn::retire(std::move(m_conn));
    }

    // The attempt failed before its answer's head was whole: once more on a new connection
    // when it was a pooled one that failed before any answer byte and without a timeout (the
    // upstream had closed it while idle); otherwise the failure, classified.
    void attempt_failed() {
        m_loop.clear_deadline(this);
        m_waiting = false;
        LoopConn::retire(std::move(m_conn));
        m_tls = nullptr;
        m_reader.reset();
        if (m_reused && !m_a.timed_out && !m_a.answer_began && !m_a.body_taken) {
            m_reused = false;
            m_a = Attempt{};
            m_out = Outcome{};
            fresh();
            return;
        }
        finish(classify(m_a, m_call, where()));
    }

    void finish(Outcome outcome) {
        if (m_stage != Stage::stream)
            m_stage = Stage::finished;
        auto done = std::move(m_done);
        m_done = nullptr;
        auto keep = shared_from_this();
        m_loop.release(this);
        if (!done)
            return;
        if (m_in_begin) { // failed at once (a refused loopback port): never inside start()
            m_loop.post([done = std::move(done), outcome = std::move(outcome)]() mutable { done(std::move(outcome)); });
            return;
        }
        done(std::move(outcome));
    }

    http::BodySource::Step stream_failed() {
        auto why = answer_failure(m_a, m_call.timeout_ms, where());
        m_stream_code = why.error_code;
        m_stream_message = why.error_message;
        m_stream_failed = true;
        m_stage = Stage::finished;
        m_loop.clear_deadline(this);
        m_waiting = false;
        m_reader.reset();
        LoopConn::retire(std::move(m_conn));
        return http::BodySource::Step::failed;
    }

    // Waits for the connection's next event, `timeout_ms` at most.
    void wait(int timeout_ms) {
        m_waiting = true;
        m_loop.set_deadline(this, Clock::now() + std::chrono::milliseconds(timeout_ms));
    }

    std::string where() const { return where_of(m_call); } // for messages only

    class LoopAnswer final : public http::BodySource {
      public:
        explicit LoopAnswer(std::shared_ptr<LoopCall> call) : m_call(std::move(call)) {}
        Step next(std::string& out) override { return m_call->next_piece(out); }
        void when_ready(std::function<void()> wake) override { m_call->when_ready(std::move(wake)); }
        std::optional<std::uint64_t> length() const override { return m_call->length(); }
        const std::string& error_code() const override { return m_call->error_code(); }
        const std::string& error_message() const override { return m_call->error_message(); }

      private:
        std::shared_ptr<LoopCall> m_call;
    };

    Call m_call;
    std::string m_request;
    std::shared_ptr<void> m_pool;
    Endpoint& m_e;
    net::Loop& m_loop;
    LoopConn::Idle& m_idle;
    Client::Offload m_offload;
    std::function<void(Outcome)> m_done;
    Stage m_stage = Stage::resolve;
    Attempt m_a;
    bool m_reused = false;
    bool m_waiting = false; // for the connection's next event (and a deadline)
    Clock::time_point m_connect_deadline;
    Addresses m_addresses;
    const addrinfo* m_next = nullptr;
    bool m_in_begin = false;
    std::shared_ptr<LoopConn> m_conn;
    net::TlsStream* m_tls = nullptr;
    std::size_t m_written = 0;
    std::unique_ptr<AnswerReader> m_reader;
    Outcome m_out;
    std::function<void()> m_wake;
    bool m_stream_failed = false;
    std::string m_stream_code, m_stream_message;
};

} // namespace

Client::Client() : m_pool(std::make_shared<Pool>()) {}
Client::~Client() = default;


Outcome Client::send(const Call& call) {
    const std::string where = where_of(call);
    auto built = request_bytes(call);
    if (!built)
        return failure(FailureKind::bad_request, built.error().code, built.error().message);
    const std::string& request = *built;

    auto endpoint = m_pool->endpoint(call);
    if (!endpoint)
        return failure(FailureKind::bad_request, endpoint.error().code, endpoint.error().message);
    Endpoint& e = **endpoint;

    std::unique_ptr<AnswerReader> reader;
    auto run = [&](std::unique_ptr<net::Stream>& s, bool fresh, Attempt& a, Outcome& out) {
        ERR_clear_error();
        if (fresh)
            s = connect(call, e, a);
        else
            watch(*s, &a.trace);
        bool done = false;
        if (s && write_request(*s, call, request, a)) {
            reader = std::make_unique<AnswerReader>(*s, call, a);
            done = reader->read_head(out.response);
        }
        return done;
    };

    Outcome out;
    Attempt a;
    auto s = e.take_idle();
    if (!s)
        s = borrow_from_loop(e, call.connect_timeout_ms);
    bool reused = s != nullptr;
    bool done = run(s, !reused, a, out);
    // A keep-alive connection the upstream closed while it sat idle fails before any answer
    // byte: retry once on a new connection. Never after an answer began, after a timeout, or
    // when the connection was dialed for this very call: then the upstream may have acted on
    // the request.
    if (!done && reused && !a.timed_out && !a.answer_began && !a.body_taken) {
        out = Outcome{};
        a = Attempt{};
        s.reset();
        done = run(s, true, a, out);
    }
    if (!done)
        return classify(a, call, where);
    if (call.stream_answer && reader->has_body()) {
        auto pool = m_pool;
        Endpoint* ep = &e;
        out.response.stream = std::make_shared<StreamedAnswer>(
            std::move(s), std::move(*reader), a, call.timeout_ms, where,
            [pool, ep](std::unique_ptr<net::Stream> done_stream) { ep->give_back(std::move(done_stream)); });
        return out;
    }
    if (!read_whole_body(*reader, out.response))
        return answer_failure(a, call.timeout_ms, where);
    if (reader->reusable())
        e.give_back(std::move(s));
    return out;
}


void Client::start(Call call, net::Loop& loop, Offload offload, std::function<void(Outcome)> done) {
    if (call.body_source)
        throw std::logic_error("a call with a streamed request body is made with send()");
    auto fail_soon = [&loop, &done](Outcome why) {
        loop.post([done = std::move(done), why = std::move(why)]() mutable { done(std::move(why)); });
    };
    auto built = request_bytes(call);
    if (!built)
        return fail_soon(failure(FailureKind::bad_request, built.error().code, built.error().message));
    auto endpoint = m_pool->endpoint(call);
    if (!endpoint)
        return fail_soon(failure(FailureKind::bad_request, endpoint.error().code, endpoint.error().message));
    Endpoint* e = *endpoint;
    auto lc = std::make_shared<LoopCall>(std::move(call), std::move(*built), m_pool, *e, loop, std::move(offload),
                                         std::move(done));
    lc->begin();
}

} // namespace vaultfwd::upstream
