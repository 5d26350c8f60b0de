// SPDX-License-Identifier: Apache-2.0
#include "core/server/forward_proxy.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <map>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/dialect/services.hpp"
#include "core/dialect/vgs/filters.hpp"
#include "core/dialect/vgs/routes.hpp"
#include "core/server/auth.hpp"
#include "core/server/connect_head.hpp"
#include "core/server/front_door.hpp"
#include "core/server/httplib_bridge.hpp"
#include "core/server/request_guard.hpp"
#include "core/tls/minter.hpp"
#include "core/tls/store.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::server {

namespace {

using Ms = std::chrono::milliseconds;
namespace vgs = dialect::vgs;

constexpr int k_head_timeout_ms = 10000; // a head after a 407, and writes of refusals
constexpr int k_tick_ms = 200; // how often a waiting worker looks at the stop flag
constexpr std::size_t k_pump_buffer = 256 * 1024;
constexpr int k_max_heads = 8;  // CONNECT retries after a 407 on one connection
constexpr int k_internal_keep_alive_s = 5;
constexpr const char* k_dispatched = "vaultfwd:dispatched"; // see on_error()

// The client's stream as the pump sees it: nothing is ever held back for later.
bool pending_out(const ClientStream&) { return false; }
Io flush(ClientStream&) { return Io::ok; }

// TLS inside a tunnel, terminated by the worker over the client's stream (itself plain, or TLS
// when the proxy port speaks it) through a BIO pair, so that the decrypted bytes can pass the
// RequestGuard. The leaf is chosen by Impl::choose_certificate from SNI or the CONNECT target.
class InnerTls {
  public:
    InnerTls(ClientStream& outer, SSL_CTX* ctx, const std::string& host, std::string already_read)
        : m_outer(outer), m_host(host), m_ssl(SSL_new(ctx)) {
        BIO* inside = nullptr;
        if (!m_ssl || BIO_new_bio_pair(&inside, 0, &m_net, 0) != 1) {
            m_ssl.reset();
            return;
        }
        SSL_set_bio(m_ssl.get(), inside, inside);
        SSL_set_app_data(m_ssl.get(), const_cast<std::string*>(&m_host));
        SSL_set_accept_state(m_ssl.get());
        SSL_set_mode(m_ssl.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        m_in = std::move(already_read);
    }
    ~InnerTls() {
        if (m_ssl && m_done && !m_broken) {
            ERR_clear_error();
            SSL_shutdown(m_ssl.get());
            flush();
        }
        ERR_clear_error();
        m_ssl.reset();
        if (m_net)
            BIO_free(m_net);
    }
    InnerTls(const InnerTls&) = delete;
    InnerTls& operator=(const InnerTls&) = delete;

    int fd() const { return m_outer.fd(); }

    bool handshake(Clock::time_point deadline, const std::atomic<bool>& stopping) {
        if (!m_ssl)
            return false;
        for (;;) {
            ERR_clear_error();
            int rc = SSL_do_handshake(m_ssl.get());
            int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(m_ssl.get(), rc);
            ERR_clear_error();
            // Whatever OpenSSL wrote (a ServerHello, an alert) goes out first.
            while (pending()) {
                Io io = flush();
                if (io == Io::error)
                    return false;
                if (io != Io::ok && !wait_fd(fd(), io == Io::want_read ? POLLIN : POLLOUT, deadline, stopping))
                    return false;
            }
            if (rc == 1) {
                m_done = true;
                return true;
            }
            if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
                m_broken = true;
                return false;
            }
            if (err == SSL_ERROR_WANT_READ) {
                Io io = fill();
                if (io == Io::want_read || io == Io::want_write) {
                    if (!wait_fd(fd(), io == Io::want_read ? POLLIN : POLLOUT, deadline, stopping))
                        return false;
                } else if (io != Io::ok) {
                    return false;
                }
            }
        }
    }

    Io read(char* buf, std::size_t cap, std::size_t& n) {
        n = 0;
        for (;;) {
            ERR_clear_error();
            int rc = SSL_read(m_ssl.get(), buf, static_cast<int>(std::min<std::size_t>(cap, INT_MAX)));
            if (rc > 0) {
                n = static_cast<std::size_t>(rc);
                return Io::ok;
            }
            int err = SSL_get_error(m_ssl.get(), rc);
            ERR_clear_error();
            if (err == SSL_ERROR_ZERO_RETURN)
                return Io::eof;
            if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
                m_broken = true;
                return Io::error;
            }
            if (flush() == Io::error)
                return Io::error;
            if (err == SSL_ERROR_WANT_WRITE)
                return Io::want_write;
            Io io = fill();
            if (io != Io::ok)
                return io;
        }
    }

    Io write(const char* buf, std::size_t len, std::size_t& n) {
        n = 0;
        ERR_clear_error();
        int rc = SSL_write(m_ssl.get(), buf, static_cast<int>(std::min<std::size_t>(len, INT_MAX)));
        if (rc > 0) {
            n = static_cast<std::size_t>(rc);
            return flush() == Io::error ? Io::error : Io::ok;
        }
        int err = SSL_get_error(m_ssl.get(), rc);
        ERR_clear_error();
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
            m_broken = true;
            return Io::error;
        }
        Io io = flush();
        if (io == Io::error)
            return Io::error;
        // The pair is full until the client takes what is waiting: wait for the socket.
        return io == Io::ok ? Io::want_write : io;
    }

    // Ciphertext waiting for the client.
    bool pending() const { return !m_out.empty() || BIO_ctrl_pending(m_net) > 0; }

    // Sends waiting ciphertext to the client without blocking.
    Io flush() {
        char tmp[16384];
        for (;;) {
            if (m_out.empty()) {
                int got = BIO_read(m_net, tmp, sizeof tmp);
                if (got <= 0)
                    return Io::ok;
                m_out.assign(tmp, static_cast<std::size_t>(got));
            }
            std::size_t n = 0;
            Io io = m_outer.write(m_out.data(), m_out.size(), n);
            if (io != Io::ok)
                return io == Io::eof ? Io::error : io;
            if (n == 0)
                return Io::want_write;
            m_out.erase(0, n);
        }
    }

  private:
    // Moves ciphertext from the client into OpenSSL: Io::ok when some moved.
    Io fill() {
        std::size_t room = BIO_ctrl_get_write_guarantee(m_net);
        if (room == 0)
            return Io::error; // OpenSSL asks for more while holding a full buffer: give up
        if (!m_in.empty()) {
            std::size_t n = std::min(room, m_in.size());
            BIO_write(m_net, m_in.data(), static_cast<int>(n));
            m_in.erase(0, n);
            return Io::ok;
        }
        char tmp[16384];
        std::size_t n = 0;
        Io io = m_outer.read(tmp, std::min(room, sizeof tmp), n);
        if (io != Io::ok)
            return io;
        BIO_write(m_net, tmp, static_cast<int>(n));
        return Io::ok;
    }

    ClientStream& m_outer;
    std::string m_host; // the CONNECT target, read by choose_certificate
    ossl::SslPtr m_ssl;
    BIO* m_net = nullptr; // the pair's far end, ours to free (OpenSSL owns the near end)
    std::string m_in;     // ciphertext read before the handshake began
    std::string m_out;    // ciphertext taken from the pair, not yet sent
    bool m_done = false, m_broken = false;
};

bool pending_out(const InnerTls& s) { return s.pending(); }
Io flush(InnerTls& s) { return s.flush(); }

http::Response proxy_auth_required(bool had_credentials) {
    auto res = dialect::json_error(
        407, "auth.bad_proxy_credentials",
        had_credentials ? "the proxy credentials are wrong: use a username and password from "
                          "the profile's [[proxy_credentials]] (see 'vaultfwd config show')"
                        : "the proxy needs credentials: use http://USERNAME:PASSWORD@host:port as "
                          "the proxy (see 'vaultfwd config show')");
    res.headers.push_back({"Proxy-Authenticate", "Basic realm=\"vaultfwd\""});
    return res;
}

bool relayed_method(const std::string& m) {
    for (const char* known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
        if (m == known)
            return true;
    return false;
}

bool is_loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// The request to forward: the credentials and the proxy's own connection handling are meant for
// this hop only; httplib has already decoded a gzip/deflate/br body (so filters see the text), so
// what goes upstream is the plain body, without the encoding that no longer applies.
http::Request to_forward(const httplib::Request& req) {
    http::Request r = from_httplib(req);
    for (const char* hop : {"proxy-authorization", "proxy-connection", "content-encoding"})
        http::remove(r.headers, hop);
    return r;
}

} // namespace

struct ForwardProxy::Impl {
    // Who is on the far side of an internal connection, keyed by the worker's local port.
    struct Conn {
        bool tunnel = false;
        std::string credential; // tunnel: the credential that authenticated the CONNECT
        std::string host;       // tunnel: the CONNECT target
        int port = 0;
        bool tls = false;       // tunnel: the client speaks TLS inside it
    };

    const profile::Profile& profile;
    vault::Store& store;
    upstream::Client& client;
    AccessLog& log;
    Result<vgs::RouteTable> routes;
    std::map<std::string, Result<std::pair<std::string, std::string>>> identities;

    std::unique_ptr<tls::Minter> minter;
    std::string ca_pem;
    ossl::SslCtxPtr proxy_tls;

    std::unique_ptr<FrontDoor> door;
    int port = 0;
    bool bound = false;
    std::atomic<bool> stopping{false};

    std::unique_ptr<httplib::Server> plain;
    int plain_port = 0;
    std::thread plain_thread;
    ossl::SslCtxPtr intercept; // TLS inside tunnels, with leaves minted per host

    std::mutex conn_mutex;
    std::unordered_map<int, Conn> conns;

    Impl(const profile::Profile& p, vault::Store& s, upstream::Client& c, AccessLog& l)
        : profile(p), store(s), client(c), log(l), routes(vgs::RouteTable::compile(p.routes)) {
        for (const auto& cred : p.proxy_credentials) {
            std::string name = cred.client_cert;
            if (name.empty())
                for (const auto& cert : p.certs)
                    if (cert.direction == "outbound" && cert.credential == cred.id) {
                        name = cert.name;
                        break;
                    }
            if (!name.empty())
                identities.emplace(cred.id, dialect::client_identity(p, name));
        }
    }

    ~Impl() {
        stop();
        door.reset();
        stop_internal();
    }

    std::size_t threads() const { return static_cast<std::size_t>(std::max(2, profile.limits.threads)); }

    int pump_idle_ms() const {
        // Nothing moves while the upstream is thinking, so the idle limit must outlast a call.
        return std::max(60000, profile.upstream.connect_timeout_ms + profile.upstream.timeout_ms + 5000);
    }

    // ---- lifecycle ----

    Result<int> bind(const std::string& host, int want_port) {
        if (!routes)
            return routes.error();
        auto ca = tls::load_ca(profile);
        if (!ca)
            return ca.error();
        ca_pem = tls::cert_to_pem(ca->cert.get());
        if (profile.listen.proxy_tls) {
            auto own = tls::issue_localhost_cert(*ca, host);
            if (!own)
                return own.error();
            proxy_tls.reset(SSL_CTX_new(TLS_server_method()));
            SSL_CTX_set_min_proto_version(proxy_tls.get(), TLS1_2_VERSION);
            SSL_CTX_set_options(proxy_tls.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
            if (SSL_CTX_use_certificate(proxy_tls.get(), own->cert.get()) != 1 ||
                SSL_CTX_use_PrivateKey(proxy_tls.get(), own->key.get()) != 1)
                return make_error("tls.proxy_cert", "cannot use the proxy port's certificate: " +
                                                        ossl::last_error());
        }
        minter = std::make_unique<tls::Minter>(std::move(*ca));
        FrontDoorOptions options;
        options.limits = guard_limits();
        options.threads = threads();
        options.head_timeout_ms = k_head_timeout_ms;
        options.tls = proxy_tls.get();
        options.listen_option = "--proxy-listen";
        door = std::make_unique<FrontDoor>(options, [this](const Refusal& r) {
            auto res = dialect::json_error(r.status, r.code, r.message);
            AccessEntry entry;
            entry.dialect = "vgs";
            entry.status = res.status;
            entry.error_code = r.code;
            log.write(entry);
            return res;
        });
        auto bound_port = door->bind(host, want_port);
        if (!bound_port)
            return bound_port.error();
        port = *bound_port;
        door->hand_off([this](ClientStream& c, std::string prefix) { serve_connection(c, std::move(prefix)); });
        if (auto r = start_internal(); !r)
            return r.error();
        bound = true;
        return port;
    }

    Result<void> start_internal() {
        intercept.reset(SSL_CTX_new(TLS_server_method()));
        if (!intercept)
            return make_error("tls.intercept", "cannot create the TLS context for tunnels: " + ossl::last_error());
        SSL_CTX_set_min_proto_version(intercept.get(), TLS1_2_VERSION);
        SSL_CTX_set_options(intercept.get(), SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
        SSL_CTX_set_cert_cb(intercept.get(), &Impl::choose_certificate, this);
        plain = std::make_unique<httplib::Server>();
        configure(*plain);
        auto listen_socket = std::make_shared<int>(-1);
        plain->set_socket_options([listen_socket](socket_t sock) {
            int yes = 1;
            ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
            *listen_socket = sock;
        });
        plain_port = plain->bind_to_any_port("127.0.0.1");
        if (plain_port <= 0)
            return make_error("server.bind", "cannot listen on 127.0.0.1 for the proxy's internal server");
        // httplib listens with a backlog of 5: a burst of tunnels would overflow it and wait for
        // SYN retransmits, a second or more each.
        if (*listen_socket >= 0)
            ::listen(*listen_socket, 1024);
        plain_thread = std::thread([this] { plain->listen_after_bind(); });
        while (!plain->is_running())
            std::this_thread::sleep_for(Ms(1));
        return {};
    }

    void stop_internal() {
        if (plain)
            plain->stop();
        if (plain_thread.joinable())
            plain_thread.join();
    }

    void stop() {
        stopping = true;
        if (door)
            door->stop();
    }

    void run() {
        if (!bound)
            return;
        door->run();
        stopping = true;
        stop_internal();
    }

    GuardLimits guard_limits() const { return {profile.limits.max_header_bytes, profile.limits.max_body_bytes}; }

    // ---- one client connection ----

    // A connection the front door handed over: `buf` holds its first head (TLS, when the
    // proxy port speaks it, is already established).
    void serve_connection(ClientStream& client, std::string buf) {
        for (int heads = 0; heads < k_max_heads; ++heads) {
            auto deadline = Clock::now() + Ms(k_head_timeout_ms);
            std::size_t end;
            while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
                if (!client.tls() && !buf.empty() && static_cast<unsigned char>(buf[0]) == 0x16)
                    return; // a TLS handshake on the plain proxy port: nothing useful to say
                if (buf.size() > profile.limits.max_header_bytes)
                    break;
                if (!client.read_more(buf, deadline, stopping)) {
                    if (!buf.empty() && !stopping && remaining_ms(deadline) == 0) { // half a head, then silence
                        Refusal late = RequestGuard::head_timeout();
                        refuse(client, "", "", dialect::json_error(late.status, late.code, late.message), true);
                    }
                    return;
                }
            }
            if (end == std::string::npos || end + 4 > profile.limits.max_header_bytes) {
                refuse(client, "", "", dialect::json_error(431, "request.header_too_large",
                                                           "the request head is larger than limits.max_header_bytes (" +
                                                               std::to_string(profile.limits.max_header_bytes) + " bytes)"),
                       true);
                return;
            }
            std::size_t head_len = end + 4;
            auto head = parse_head(std::string_view(buf).substr(0, head_len));
            if (!head) {
                refuse(client, "", "", dialect::json_error(400, "proxy.bad_request", "the request head is malformed"), true);
                return;
            }
            if (head->method != "CONNECT") {
                // Everything but CONNECT is HTTP that httplib parses; it gets the bytes as read.
                splice(client, std::move(buf), Conn{});
                return;
            }
            buf.erase(0, head_len);
            if (!connect_tunnel(client, *head, buf))
                return;
        }
    }

    // Answers a CONNECT. Returns true when the client may send another head on this connection
    // (after a 407), false when the connection is done (tunnel finished or refused).
    bool connect_tunnel(ClientStream& client, const Head& head, std::string& buf) {
        auto started = Clock::now();
        AccessEntry entry;
        entry.dialect = "vgs";
        entry.method = "CONNECT";
        entry.upstream_host = head.target.substr(0, 300);
        auto finish = [&](const http::Response& res, bool close) {
            entry.status = res.status;
            if (auto code = http::find(res.headers, dialect::k_error_header))
                entry.error_code = *code;
            entry.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
            log.write(entry);
            client.send_all(raw_response(res, close), Clock::now() + Ms(k_head_timeout_ms), stopping);
        };
        auto authority = parse_authority(head.target);
        if (!authority) {
            finish(dialect::json_error(400, "proxy.bad_connect_target",
                                       "CONNECT needs host:port (got \"" + head.target.substr(0, 200) + "\")"),
                   true);
            return false;
        }
        const auto& [host, target_port] = *authority;
        std::string auth;
        bool wants_close = false;
        for (const auto& h : head.headers) {
            if (util::iequals(h.name, "proxy-authorization"))
                auth = h.value;
            if ((util::iequals(h.name, "proxy-connection") || util::iequals(h.name, "connection")) &&
                util::iequals(h.value, "close"))
                wants_close = true;
        }
        const profile::ProxyCredential* cred = authenticate_proxy(profile.proxy_credentials, auth);
        if (!cred) {
            finish(proxy_auth_required(!auth.empty()), wants_close);
            return !wants_close;
        }
        entry.principal = cred->id;
        upstream::Url url;
        url.scheme = "https";
        url.host = host;
        url.port = target_port;
        url.ipv6 = host.find(':') != std::string::npos;
        auto allowed = upstream::check_allowed(url, dialect::allowlist(profile));
        if (!allowed) {
            url.scheme = "http"; // a tunnel may also carry plain HTTP to an allow_http host
            if (upstream::check_allowed(url, dialect::allowlist(profile)).ok())
                allowed = {};
        }
        if (!allowed) {
            finish(dialect::json_error(403, allowed.error().code, allowed.error().message), true);
            return false;
        }
        if (is_loopback(host) && (target_port == port || target_port == plain_port)) {
            finish(dialect::json_error(403, "proxy.loop", "CONNECT to the proxy itself is refused"), true);
            return false;
        }
        if (!client.send_all("HTTP/1.1 200 Connection established\r\n\r\n",
                             Clock::now() + Ms(k_head_timeout_ms), stopping))
            return false;
        // The first byte tells TLS (a handshake record, 0x16) from plain HTTP inside the tunnel.
        if (buf.empty() && !client.read_more(buf, Clock::now() + Ms(pump_idle_ms()), stopping))
            return false;
        bool tls_inside = static_cast<unsigned char>(buf[0]) == 0x16;
        Conn conn{true, cred->id, host, target_port, tls_inside};
        if (!tls_inside) {
            splice(client, std::move(buf), conn);
            return false;
        }
        // TLS inside: terminated here with a leaf minted for the host, so that the decrypted
        // stream passes the guard like any other.
        InnerTls inner(client, intercept.get(), host, std::move(buf));
        if (!inner.handshake(Clock::now() + Ms(k_head_timeout_ms), stopping))
            return false;
        splice(inner, "", conn);
        return false;
    }

    void refuse(ClientStream& client, const std::string& method, const std::string& target,
                const http::Response& res, bool close) {
        AccessEntry entry;
        entry.dialect = "vgs";
        entry.method = method;
        entry.upstream_host = target;
        entry.status = res.status;
        if (auto code = http::find(res.headers, dialect::k_error_header))
            entry.error_code = *code;
        log.write(entry);
        client.send_all(raw_response(res, close), Clock::now() + Ms(k_head_timeout_ms), stopping);
    }

    // Connects to the internal server, registers who is behind the connection, and copies bytes
    // both ways until either side is done; the client's bytes pass a RequestGuard first.
    template <class Stream> void splice(Stream& client, std::string prefix, Conn conn) {
        int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
            return;
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(static_cast<uint16_t>(plain_port));
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
            ::close(s);
            return;
        }
        // Closing with a reset leaves no TIME_WAIT behind on the proxy's side of loopback.
        linger lg{1, 0};
        setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        set_nodelay(s);
        set_nonblocking(s);
        sockaddr_in local{};
        socklen_t len = sizeof local;
        getsockname(s, reinterpret_cast<sockaddr*>(&local), &len);
        int key = ntohs(local.sin_port);
        // Registered before any byte is sent, so the handler always finds it.
        {
            std::lock_guard<std::mutex> lock(conn_mutex);
            conns[key] = conn;
        }
        pump(client, s, std::move(prefix), conn);
        {
            std::lock_guard<std::mutex> lock(conn_mutex);
            conns.erase(key);
        }
        ::close(s);
    }

    template <class Stream> void pump(Stream& client, int loop_fd, std::string prefix, const Conn& conn) {
        RequestGuard guard(guard_limits());
        ResponseCounter counter; // answers the internal server owes
        std::size_t unanswerable = 0; // a refused request httplib got part of, and never answers
        std::string up, down, answer;
        std::size_t up_off = 0, down_off = 0;
        bool client_eof = false, loop_eof = false, loop_shut = false, refused = false, head_timing = false;
        Io client_read = Io::ok, client_write = Io::ok;
        const int idle_ms = pump_idle_ms();
        auto idle_deadline = Clock::now() + Ms(idle_ms);
        auto head_deadline = Clock::time_point::max();
        // Stops the client's stream at a refusal: what went before is answered first (the
        // internal server sees the stream end), then the refusal's answer, then the close.
        auto guarded = [&](std::optional<Refusal> r) {
            for (bool head : guard.take_passed())
                counter.request_sent(head);
            bool in_head = guard.in_head();
            if (in_head && !head_timing)
                head_deadline = Clock::now() + Ms(k_head_timeout_ms);
            head_timing = in_head;
            if (!in_head)
                head_deadline = Clock::time_point::max();
            if (r) {
                refuse_in_stream(*r, conn, answer, refused);
                unanswerable = r->mid_body ? 1 : 0;
            }
        };
        auto guard_feed = [&](std::string_view bytes) { guarded(guard.feed(bytes, up)); };
        guard_feed(prefix);
        char tmp[16384];
        while (!stopping) {
            bool progress = false;
            if (!client_eof && !refused && up.size() - up_off < k_pump_buffer && guard.held() < k_pump_buffer) {
                std::size_t n = 0;
                client_read = client.read(tmp, sizeof tmp, n);
                if (client_read == Io::ok) {
                    guard_feed(std::string_view(tmp, n));
                    progress = true;
                } else if (client_read == Io::eof) {
                    client_eof = progress = true;
                } else if (client_read == Io::error) {
                    return;
                }
            }
            if (!refused && Clock::now() >= head_deadline) {
                refuse_in_stream(guard.head_timeout(), conn, answer, refused);
                progress = true;
            }
            if (up_off < up.size()) {
                ssize_t w = ::send(loop_fd, up.data() + up_off, up.size() - up_off, MSG_NOSIGNAL);
                if (w > 0) {
                    up_off += static_cast<std::size_t>(w);
                    progress = true;
                    if (up_off == up.size()) {
                        up.clear();
                        up_off = 0;
                    }
                } else if (!(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) {
                    return;
                }
            }
            // httplib answers nothing once it sees the stream end, so the end is passed on only
            // when nothing more is owed (but a request cut short is never answered).
            bool partial = !guard.between_requests() && !guard.in_head();
            if (client_eof && !refused && up.empty() && !loop_shut && counter.owed() <= (partial ? 1u : 0u)) {
                ::shutdown(loop_fd, SHUT_WR);
                loop_shut = true;
            }
            // A refusal's answer goes after the answers owed before it; then the connection ends.
            if (refused && up.empty() && !answer.empty() && counter.owed() <= unanswerable) {
                down.append(answer);
                answer.clear();
                loop_eof = true; // nothing more is read from the internal server
                progress = true;
            }
            if (!loop_eof && down.size() - down_off < k_pump_buffer) {
                ssize_t r = ::recv(loop_fd, tmp, sizeof tmp, 0);
                if (r > 0) {
                    down.append(tmp, static_cast<std::size_t>(r));
                    counter.feed(std::string_view(tmp, static_cast<std::size_t>(r)));
                    // Every answer owed is here: a pipelined request the guard held goes on.
                    if (counter.owed() == 0 && !refused)
                        guarded(guard.answered(up));
                    progress = true;
                } else if (r == 0 || !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                    loop_eof = progress = true;
                    down.append(answer); // a refusal's answer goes after the server's
                    answer.clear();
                }
            }
            if (down_off < down.size()) {
                std::size_t n = 0;
                client_write = client.write(down.data() + down_off, down.size() - down_off, n);
                if (client_write == Io::ok) {
                    down_off += n;
                    progress = n > 0 || progress;
                    if (down_off == down.size()) {
                        down.clear();
                        down_off = 0;
                    }
                } else if (client_write == Io::error || client_write == Io::eof) {
                    return;
                }
            }
            if (pending_out(client) && flush(client) == Io::error)
                return;
            if (loop_eof && down.empty()) {
                flush_all(client);
                if (refused)
                    drain(client);
                return;
            }
            if (progress) {
                idle_deadline = Clock::now() + Ms(idle_ms);
                continue;
            }
            int left = remaining_ms(std::min(idle_deadline, head_deadline));
            if (left == 0) {
                if (Clock::now() >= idle_deadline)
                    return;
                continue; // the head deadline: refused above
            }
            short cev = 0, lev = 0;
            if (!client_eof && !refused && up.size() - up_off < k_pump_buffer && guard.held() < k_pump_buffer)
                cev |= client_read == Io::want_write ? POLLOUT : POLLIN;
            if (!down.empty() || pending_out(client))
                cev |= client_write == Io::want_read ? POLLIN : POLLOUT;
            if (!loop_eof && down.size() - down_off < k_pump_buffer)
                lev |= POLLIN;
            if (!up.empty())
                lev |= POLLOUT;
            pollfd p[2] = {{client.fd(), cev, 0}, {loop_fd, lev, 0}};
            ::poll(p, 2, std::min(left, k_tick_ms));
        }
    }

    void refuse_in_stream(const Refusal& r, const Conn& conn, std::string& answer, bool& refused) {
        refused = true;
        auto res = dialect::json_error(r.status, r.code, r.message);
        AccessEntry entry;
        entry.dialect = "vgs";
        entry.upstream_host = conn.tunnel ? conn.host + ":" + std::to_string(conn.port) : "";
        entry.principal = conn.credential;
        entry.status = res.status;
        entry.error_code = r.code;
        log.write(entry);
        answer = raw_response(res, true);
    }

    // After a refusal: reads what the client still sends, for a moment, so that closing with
    // its bytes unread does not reset the connection and destroy the answer.
    template <class Stream> void drain(Stream& client) {
        auto deadline = Clock::now() + Ms(1000);
        char tmp[16384];
        for (;;) {
            std::size_t n = 0;
            Io io = client.read(tmp, sizeof tmp, n);
            if (io == Io::ok)
                continue;
            if ((io != Io::want_read && io != Io::want_write) ||
                !wait_fd(client.fd(), io == Io::want_read ? POLLIN : POLLOUT, deadline, stopping))
                return;
        }
    }

    // Sends what the stream still holds, for a moment at most.
    template <class Stream> void flush_all(Stream& client) {
        auto deadline = Clock::now() + Ms(k_head_timeout_ms);
        while (pending_out(client)) {
            Io io = flush(client);
            if (io == Io::error || (io != Io::ok && !wait_fd(client.fd(), io == Io::want_read ? POLLIN : POLLOUT, deadline, stopping)))
                return;
        }
    }

    std::optional<Conn> find_conn(int remote_port) {
        std::lock_guard<std::mutex> lock(conn_mutex);
        auto it = conns.find(remote_port);
        if (it == conns.end())
            return std::nullopt;
        return it->second;
    }

    // Called by OpenSSL on the intercepting server while it reads a ClientHello: picks the
    // minted leaf for the name the client asked for (SNI), else for the CONNECT target.
    static int choose_certificate(SSL* ssl, void* arg) {
        auto* self = static_cast<Impl*>(arg);
        const auto* target = static_cast<const std::string*>(SSL_get_app_data(ssl));
        if (!target)
            return 0;
        std::string host = *target;
        if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name))
            if (!tls::normalize_host(sni).empty())
                host = sni;
        auto leaf = self->minter->leaf(host);
        if (!leaf)
            leaf = self->minter->leaf(*target);
        if (!leaf)
            return 0;
        if (SSL_use_certificate(ssl, (*leaf)->cert.get()) != 1 ||
            SSL_use_PrivateKey(ssl, (*leaf)->key.get()) != 1)
            return 0;
        return 1;
    }

    // ---- HTTP, inside httplib ----

    void configure(httplib::Server& s) {
        std::size_t n = threads();
        s.new_task_queue = [n] { return new httplib::ThreadPool(n); };
        // httplib writes a response head and body separately: without this, Nagle's
        // algorithm and the reader's delayed ACK add 40 ms to every answer.
        s.set_tcp_nodelay(true);
        s.set_keep_alive_max_count(100000);
        s.set_keep_alive_timeout(k_internal_keep_alive_s);
        s.set_read_timeout(30, 0);
        s.set_write_timeout(30, 0);
        s.set_payload_max_length(profile.limits.max_body_bytes);
        auto dispatch = [this](const httplib::Request& req, httplib::Response& res) { on_request(req, res); };
        s.Get(".*", dispatch);
        s.Post(".*", dispatch);
        s.Put(".*", dispatch);
        s.Patch(".*", dispatch);
        s.Delete(".*", dispatch);
        s.Options(".*", dispatch);
        s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
            to_httplib(dialect::json_error(500, "server.internal", "something went wrong"), res);
            res.location = k_dispatched;
        });
        s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) { on_error(req, res); });
    }

    void on_request(const httplib::Request& req, httplib::Response& res) {
        auto started = Clock::now();
        AccessEntry entry;
        entry.dialect = "vgs";
        entry.method = req.method;
        entry.path = req.path;
        http::Response out;
        try {
            out = handle(req, entry);
        } catch (const std::exception&) {
            out = dialect::json_error(500, "server.internal", "something went wrong");
        }
        // httplib neither cuts nor compresses the answer: the guard hid Range and Accept-Encoding
        // from it (hidden_from_httplib), the upstream has had them.
        to_httplib(out, res);
        // The answer to HEAD has no body but tells the length a GET would get: httplib would
        // write "Content-Length: 0" for the empty body.
        if (req.method == "HEAD")
            if (auto length = http::find(out.headers, "content-length"))
                res.set_header("Content-Length", *length);
        // Marks the response as one this proxy made or relayed, so that on_error leaves an
        // upstream's empty 4xx/5xx alone. `location` is never written by httplib's server.
        res.location = k_dispatched;
        entry.status = out.status;
        if (entry.error_code.empty())
            if (auto code = http::find(out.headers, dialect::k_error_header))
                entry.error_code = *code;
        entry.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
        log.write(entry);
    }

    // httplib's own refusals (malformed request, body over the limit, unknown method).
    void on_error(const httplib::Request& req, httplib::Response& res) {
        if (res.location == k_dispatched || !res.body.empty())
            return;
        http::Response out;
        if (res.status == 413)
            out = dialect::json_error(413, "request.too_large",
                                      "the request body is larger than limits.max_body_bytes (" +
                                          std::to_string(profile.limits.max_body_bytes) + " bytes)");
        else if (res.status == 414)
            out = dialect::json_error(414, "request.uri_too_long", "the request target is too long");
        else if (res.status == 404 || res.status == 405 ||
                 (res.status == 400 && http::is_token(req.method) && !relayed_method(req.method)))
            out = dialect::json_error(405, "request.method_not_allowed",
                                      "the forward proxy does not relay " + req.method.substr(0, 20) +
                                          " requests (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)");
        else
            out = dialect::json_error(res.status, "request.malformed", "the HTTP request is malformed");
        res.headers.clear();
        to_httplib(out, res);
        AccessEntry entry;
        entry.dialect = "vgs";
        entry.method = req.method;
        entry.status = out.status;
        entry.error_code = *http::find(out.headers, dialect::k_error_header);
        log.write(entry);
    }

    http::Response handle(const httplib::Request& req, AccessEntry& entry) {
        auto conn = req.remote_addr == "127.0.0.1" ? find_conn(req.remote_port) : std::nullopt;
        if (!conn)
            return dialect::json_error(403, "proxy.unknown_connection",
                                       "this port serves only connections the forward proxy hands over");
        const bool origin_form = !req.target.empty() && req.target.front() == '/';
        const profile::ProxyCredential* cred = nullptr;
        upstream::Url url;
        if (conn->tunnel) {
            for (const auto& c : profile.proxy_credentials)
                if (c.id == conn->credential)
                    cred = &c;
            url.scheme = conn->tls ? "https" : "http";
            url.host = conn->host;
            url.port = conn->port;
            url.ipv6 = conn->host.find(':') != std::string::npos;
            if (origin_form) {
                url.path_and_query = req.target;
            } else {
                // Absolute-form inside a tunnel: the host dialed stays the CONNECT target.
                auto parsed = upstream::parse_url(req.target);
                if (!parsed)
                    return dialect::json_error(400, "proxy.bad_url", parsed.error().message);
                url.path_and_query = parsed->path_and_query;
            }
        } else {
            if (origin_form) {
                if (req.path == "/ca.pem") {
                    entry.dialect = "ca";
                    if (req.method != "GET" && req.method != "HEAD")
                        return dialect::json_error(405, "request.method_not_allowed", "use GET /ca.pem");
                    http::Response res;
                    res.headers.push_back({"Content-Type", "application/x-pem-file"});
                    res.body = ca_pem;
                    return res;
                }
                return dialect::json_error(
                    404, "proxy.not_found",
                    "this is the forward proxy: send absolute-form requests (http://host/path) "
                    "or CONNECT through it, e.g. curl -x http://USER:PASS@host:port; GET /ca.pem "
                    "serves the CA to trust with --cacert");
            }
            cred = authenticate_proxy(profile.proxy_credentials, req.get_header_value("Proxy-Authorization"));
            if (!cred)
                return proxy_auth_required(req.has_header("Proxy-Authorization"));
            auto parsed = upstream::parse_url(req.target);
            if (!parsed)
                return dialect::json_error(400, "proxy.bad_url", parsed.error().message);
            url = *parsed;
        }
        if (!cred)
            return dialect::json_error(407, "auth.bad_proxy_credentials", "the proxy credential is gone");
        entry.principal = cred->id;
        return forward(req, url, *cred, entry);
    }

    http::Response forward(const httplib::Request& req, const upstream::Url& url,
                           const profile::ProxyCredential& cred, AccessEntry& entry) {
        entry.upstream_host = dialect::host_port(url);
        if (auto allowed = upstream::check_allowed(url, dialect::allowlist(profile)); !allowed)
            return dialect::json_error(403, allowed.error().code, allowed.error().message);
        http::Request r = to_forward(req);
        auto q = url.path_and_query.find('?');
        r.path = url.path_and_query.substr(0, q);
        entry.path = r.path;
        vgs::RequestInfo info{url.host, r.method, r.path, http::find(r.headers, "content-type").value_or("")};

        auto request_match = routes->match(info, vgs::Phase::request);
        if (request_match.route) {
            auto applied = vgs::apply_filters(request_match.filters, vgs::Phase::request, r.headers, r.body, store);
            if (!applied) {
                const auto& e = applied.error();
                bool vault = e.code.rfind("vault.", 0) == 0;
                return dialect::json_error(vault ? 500 : 400, e.code,
                                           e.message + (vault ? "" : "; nothing was sent upstream"));
            }
            entry.tokens += applied->tokens();
        }

        auto response_match = routes->match(info, vgs::Phase::response);
        // Response filters read the body as text: ask the upstream for an unencoded one.
        if (response_match.route)
            http::remove(r.headers, "accept-encoding");

        upstream::Call call = dialect::base_call(profile);
        call.method = r.method;
        call.url = url;
        call.headers = std::move(r.headers);
        call.body = std::move(r.body);
        if (auto it = identities.find(cred.id); it != identities.end()) {
            if (!it->second)
                return dialect::json_error(500, "proxy.client_cert_unreadable",
                                           "the mTLS certificate of proxy credential \"" + cred.id +
                                               "\" cannot be read: " + it->second.error().message);
            call.tls.client_cert_pem = it->second->first;
            call.tls.client_key_pem = it->second->second;
        }
        auto outcome = client.send(call);
        if (!outcome.ok()) {
            int status = outcome.failure == upstream::FailureKind::timeout ? 504 : 502;
            return dialect::json_error(status, outcome.error_code, outcome.error_message);
        }
        http::Response res = std::move(outcome.response);
        auto head_length = call.method == "HEAD" ? http::find(res.headers, "content-length") : std::nullopt;
        res.headers.erase(std::remove_if(res.headers.begin(), res.headers.end(),
                                         [](const http::Header& h) { return http::is_hop_by_hop(h.name); }),
                          res.headers.end());
        if (head_length) // no body to frame: the length is what a GET would get (see on_request)
            res.headers.push_back({"Content-Length", *head_length});
        if (response_match.route) {
            auto applied = vgs::apply_filters(response_match.filters, vgs::Phase::response, res.headers, res.body, store);
            if (!applied) {
                const auto& e = applied.error();
                bool vault = e.code.rfind("vault.", 0) == 0;
                return dialect::json_error(vault ? 500 : 502, e.code,
                                           "the upstream's answer could not be filtered: " + e.message);
            }
            entry.tokens += applied->tokens();
        }
        return res;
    }
};

ForwardProxy::ForwardProxy(const profile::Profile& profile, vault::Store& store,
                           upstream::Client& client, AccessLog& log)
    : m_impl(std::make_unique<Impl>(profile, store, client, log)) {}

ForwardProxy::~ForwardProxy() = default;

Result<int> ForwardProxy::bind(const std::string& host, int port) { return m_impl->bind(host, port); }

void ForwardProxy::run() { m_impl->run(); }

void ForwardProxy::stop() { m_impl->stop(); }

} // namespace vaultfwd::server
