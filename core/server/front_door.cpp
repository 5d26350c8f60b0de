// SPDX-License-Identifier: Apache-2.0
#include "core/server/front_door.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <fcntl.h>
#include <mutex>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <set>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <openssl/err.h>

namespace vaultfwd::server {

namespace {

using Ms = std::chrono::milliseconds;

constexpr int k_tick_ms = 200;                   // how often a blocked worker looks at the stop flag
constexpr std::size_t k_buffer = 256 * 1024;     // per direction, per connection
constexpr int k_linger_ms = 1000;                // draining a refused client before closing
constexpr std::size_t k_max_connections = 4096;  // beyond this, new connections are closed at once

} // namespace

void set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

void set_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(std::min<long long>(left, INT_MAX));
}

bool wait_fd(int fd, short events, Clock::time_point deadline, const std::atomic<bool>& stopping) {
    while (!stopping) {
        int left = remaining_ms(deadline);
        if (left == 0)
            return false;
        pollfd p{fd, events, 0};
        int rc = ::poll(&p, 1, std::min(left, k_tick_ms));
        if (rc > 0)
            return true;
        if (rc < 0 && errno != EINTR)
            return false;
    }
    return false;
}

std::string raw_response(const http::Response& r, bool close) {
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " +
                      std::string(http::status_text(r.status)) + "\r\n";
    for (const auto& h : r.headers)
        out += h.name + ": " + h.value + "\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    if (close)
        out += "Connection: close\r\n";
    out += "\r\n" + r.body;
    return out;
}

// ---- ClientStream ----

ClientStream::~ClientStream() {
    if (m_ssl && !m_broken) {
        ERR_clear_error();
        SSL_shutdown(m_ssl.get());
    }
    ERR_clear_error();
    ::close(m_fd);
}

bool ClientStream::start_tls(SSL_CTX* ctx) {
    m_ssl.reset(SSL_new(ctx));
    if (!m_ssl)
        return false;
    SSL_set_fd(m_ssl.get(), m_fd);
    SSL_set_accept_state(m_ssl.get());
    SSL_set_mode(m_ssl.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return true;
}

Io ClientStream::handshake() {
    ERR_clear_error();
    int rc = SSL_do_handshake(m_ssl.get());
    if (rc == 1)
        return Io::ok;
    Io io = ssl_status(rc);
    return io == Io::eof ? Io::error : io;
}

bool ClientStream::accept_tls(SSL_CTX* ctx, Clock::time_point deadline, const std::atomic<bool>& stopping) {
    if (!start_tls(ctx))
        return false;
    for (;;) {
        Io io = handshake();
        if (io == Io::ok)
            return true;
        if (io == Io::error || !wait_fd(m_fd, io == Io::want_read ? POLLIN : POLLOUT, deadline, stopping)) {
            m_broken = true;
            return false;
        }
    }
}

Io ClientStream::read(char* buf, std::size_t cap, std::size_t& n) {
    n = 0;
    if (m_ssl) {
        ERR_clear_error();
        int rc = SSL_read(m_ssl.get(), buf, static_cast<int>(std::min<std::size_t>(cap, INT_MAX)));
        if (rc > 0) {
            n = static_cast<std::size_t>(rc);
            return Io::ok;
        }
        return ssl_status(rc);
    }
    ssize_t rc = ::recv(m_fd, buf, cap, 0);
    if (rc > 0) {
        n = static_cast<std::size_t>(rc);
        return Io::ok;
    }
    if (rc == 0)
        return Io::eof;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? Io::want_read : Io::error;
}

Io ClientStream::write(const char* buf, std::size_t len, std::size_t& n) {
    n = 0;
    if (m_ssl) {
        ERR_clear_error();
        int rc = SSL_write(m_ssl.get(), buf, static_cast<int>(std::min<std::size_t>(len, INT_MAX)));
        if (rc > 0) {
            n = static_cast<std::size_t>(rc);
            return Io::ok;
        }
        return ssl_status(rc);
    }
    ssize_t rc = ::send(m_fd, buf, len, MSG_NOSIGNAL);
    if (rc >= 0) {
        n = static_cast<std::size_t>(rc);
        return Io::ok;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? Io::want_write : Io::error;
}

bool ClientStream::send_all(std::string_view data, Clock::time_point deadline, const std::atomic<bool>& stopping) {
    while (!data.empty()) {
        std::size_t n = 0;
        Io io = write(data.data(), data.size(), n);
        if (io == Io::ok) {
            data.remove_prefix(n);
        } else if (io == Io::want_read || io == Io::want_write) {
            if (!wait_fd(m_fd, io == Io::want_read ? POLLIN : POLLOUT, deadline, stopping))
                return false;
        } else {
            return false;
        }
    }
    return true;
}

bool ClientStream::read_more(std::string& buf, Clock::time_point deadline, const std::atomic<bool>& stopping) {
    char tmp[16384];
    for (;;) {
        std::size_t n = 0;
        Io io = read(tmp, sizeof tmp, n);
        if (io == Io::ok) {
            buf.append(tmp, n);
            return true;
        }
        if (io != Io::want_read && io != Io::want_write)
            return false;
        if (!wait_fd(m_fd, io == Io::want_read ? POLLIN : POLLOUT, deadline, stopping))
            return false;
    }
}

Io ClientStream::ssl_status(int rc) {
    int err = SSL_get_error(m_ssl.get(), rc);
    ERR_clear_error();
    switch (err) {
    case SSL_ERROR_WANT_READ:
        return Io::want_read;
    case SSL_ERROR_WANT_WRITE:
        return Io::want_write;
    case SSL_ERROR_ZERO_RETURN:
        return Io::eof;
    default:
        m_broken = true; // after SSL_ERROR_SYSCALL/SSL no shutdown may be sent
        return Io::error;
    }
}

// ---- FrontDoor ----

// The local ports of the loop's connections to the internal server, so that the internal server
// can refuse anyone else: a local process connecting to it directly would skip the guard.
class RelayPorts {
  public:
    void add(int port) {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_ports.insert(port);
    }
    void remove(int port) {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_ports.erase(port);
    }
    bool contains(int port) const {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_ports.count(port) != 0;
    }

  private:
    mutable std::mutex m_mutex;
    std::unordered_set<int> m_ports;
};

struct FrontDoor::Impl {
    enum class Mode { none, relay, hand_off };
    enum class Phase { handshake, head, relay, refusing, lingering };

    struct Conn {
        std::unique_ptr<ClientStream> client;
        RequestGuard guard;
        ResponseCounter counter;  // answers owed by the internal server
        std::size_t unanswerable = 0; // a refused request httplib got part of, and never answers
        Phase phase = Phase::head;
        int loop = -1;
        bool loop_connecting = false, client_eof = false, loop_eof = false, loop_shut = false;
        bool client_shut = false, answered = false, head_timing = false;
        std::string up, down, answer;
        std::size_t up_off = 0, down_off = 0;
        Io client_read = Io::ok, client_write = Io::ok;
        Clock::time_point accepted, head_started, last_progress, linger_until;
        std::uint32_t client_mask = 0, loop_mask = 0;
        bool loop_registered = false;

        int loop_port = 0;            // the loop's local port, registered in `ports`
        RelayPorts* ports = nullptr;

        Conn(int fd, GuardLimits limits) : client(std::make_unique<ClientStream>(fd)), guard(limits) {}
        ~Conn() { close_loop(); }
        void close_loop() {
            if (loop < 0)
                return;
            ::close(loop);
            if (ports)
                ports->remove(loop_port);
            loop = -1;
            loop_port = 0;
        }
        bool up_pending() const { return up_off < up.size(); }
        bool down_pending() const { return down_off < down.size(); }
    };

    struct Job {
        std::unique_ptr<ClientStream> client;
        std::string prefix;
    };

    FrontDoorOptions options;
    Render render;
    Mode mode = Mode::none;
    int internal_port = 0;
    RelayPorts relay_ports;
    Handler handler;

    int listen_fd = -1, epoll_fd = -1, wake[2] = {-1, -1};
    bool bound = false;
    std::atomic<bool> stopping{false};
    std::atomic<bool> is_running{false};

    std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> conns;
    std::uint64_t next_id = 1;

    std::mutex queue_mutex;
    std::condition_variable queue_cv;
    std::deque<Job> queue;
    std::set<int> active; // handed-off client fds being served, shut down on stop()
    std::vector<std::thread> workers;

    Impl(FrontDoorOptions o, Render r) : options(std::move(o)), render(std::move(r)) {}

    ~Impl() {
        stop();
        for (int fd : {listen_fd, epoll_fd, wake[0], wake[1]})
            if (fd >= 0)
                ::close(fd);
    }

    Result<int> bind(const std::string& host, int want_port) {
        std::signal(SIGPIPE, SIG_IGN);
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        addrinfo* found = nullptr;
        std::string where = host + ":" + std::to_string(want_port);
        if (getaddrinfo(host.c_str(), std::to_string(want_port).c_str(), &hints, &found) != 0 || !found)
            return make_error("server.bind", "cannot resolve the listen address " + where);
        int fd = -1;
        for (addrinfo* ai = found; ai && fd < 0; ai = ai->ai_next) {
            fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
            if (fd < 0)
                continue;
            // SO_REUSEADDR only: SO_REUSEPORT would let a second serve share the port silently.
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
                ::close(fd);
                fd = -1;
            }
        }
        freeaddrinfo(found);
        if (fd < 0)
            return make_error("server.bind", "cannot listen on " + where + " (in use? pick another port with " +
                                                 options.listen_option + ")");
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        int port = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                              : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
        listen_fd = fd;
        epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
        if (epoll_fd < 0 || ::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0)
            return make_error("server.bind", "cannot create the listener's event loop");
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = 0; // the listener
        epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev);
        ev.data.u64 = 1; // the wake pipe
        epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake[0], &ev);
        bound = true;
        return port;
    }

    void stop() {
        stopping = true;
        if (wake[1] >= 0) {
            char c = 1;
            [[maybe_unused]] auto n = ::write(wake[1], &c, 1);
        }
        queue_cv.notify_all();
        std::lock_guard<std::mutex> lock(queue_mutex);
        for (int fd : active)
            ::shutdown(fd, SHUT_RDWR);
    }

    // ---- the loop ----

    void run() {
        if (!bound || mode == Mode::none)
            return;
        is_running = true;
        if (mode == Mode::hand_off)
            for (std::size_t i = 0; i < std::max<std::size_t>(1, options.threads); ++i)
                workers.emplace_back([this] { work(); });
        std::vector<epoll_event> events(256);
        while (!stopping) {
            int timeout = next_timeout_ms();
            int n = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), timeout);
            if (n < 0 && errno != EINTR)
                break;
            if (stopping)
                break;
            for (int i = 0; i < n; ++i) {
                std::uint64_t key = events[i].data.u64;
                if (key == 0) {
                    accept_all();
                } else if (key != 1) {
                    auto it = conns.find(key >> 1);
                    if (it == conns.end())
                        continue;
                    // The client's side hung up or broke: nothing can reach it any more.
                    if (!(key & 1) && (events[i].events & (EPOLLERR | EPOLLHUP)))
                        close(it->first);
                    else
                        advance(it->first, *it->second);
                }
            }
            expire();
        }
        stopping = true;
        conns.clear();
        queue_cv.notify_all();
        for (auto& w : workers)
            w.join();
        workers.clear();
        queue.clear();
        is_running = false;
    }

    void accept_all() {
        for (;;) {
            int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0)
                return; // EAGAIN, or EMFILE/ECONNABORTED/…: keep serving the others
            if (conns.size() >= k_max_connections) {
                ::close(fd); // overloaded: refusing one connection beats growing without bound
                continue;
            }
            set_nodelay(fd);
            auto conn = std::make_unique<Conn>(fd, options.limits);
            conn->accepted = conn->last_progress = Clock::now();
            conn->phase = mode == Mode::relay ? Phase::relay : Phase::head;
            if (mode == Mode::hand_off && options.tls) {
                if (!conn->client->start_tls(options.tls)) {
                    continue;
                }
                conn->phase = Phase::handshake;
            }
            std::uint64_t id = next_id++;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = id << 1;
            conn->client_mask = EPOLLIN;
            if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0)
                continue;
            auto& c = *conn;
            conns.emplace(id, std::move(conn));
            advance(id, c);
        }
    }

    Clock::time_point deadline_of(const Conn& c) const {
        switch (c.phase) {
        case Phase::handshake:
            return c.accepted + Ms(options.head_timeout_ms);
        case Phase::head:
            return c.accepted + Ms(options.head_timeout_ms);
        case Phase::relay:
            if (c.guard.in_head())
                return c.head_started + Ms(options.head_timeout_ms);
            if (c.loop < 0)
                return c.accepted + Ms(options.head_timeout_ms);
            return c.last_progress + Ms(options.relay_idle_ms);
        case Phase::refusing:
            return c.last_progress + Ms(options.relay_idle_ms);
        case Phase::lingering:
            return c.linger_until;
        }
        return c.last_progress;
    }

    int next_timeout_ms() const {
        if (conns.empty())
            return -1;
        auto soonest = Clock::time_point::max();
        for (const auto& [id, c] : conns)
            soonest = std::min(soonest, deadline_of(*c));
        // +1: wake just after the deadline, not a millisecond before it.
        return remaining_ms(soonest) + 1;
    }

    void expire() {
        if (conns.empty())
            return;
        auto now = Clock::now();
        std::vector<std::uint64_t> due;
        for (const auto& [id, c] : conns)
            if (deadline_of(*c) <= now)
                due.push_back(id);
        for (auto id : due) {
            auto it = conns.find(id);
            if (it == conns.end())
                continue;
            Conn& c = *it->second;
            bool head_started = (c.phase == Phase::relay && c.guard.in_head()) ||
                                (c.phase == Phase::head && !c.up.empty());
            if (!head_started) {
                close(id); // said nothing in time, or the server has gone quiet
                continue;
            }
            refuse(c, c.guard.head_timeout());
            advance(id, c);
        }
    }

    void close(std::uint64_t id) { conns.erase(id); }

    // Answers `r` once the responses to the earlier requests have gone out, then closes.
    void refuse(Conn& c, const Refusal& r) {
        if (c.phase == Phase::head) {
            c.up.clear(); // hand-off: the unfinished head goes nowhere
            c.up_off = 0;
        }
        c.phase = Phase::refusing;
        c.last_progress = Clock::now();
        c.unanswerable = r.mid_body ? 1 : 0;
        c.answer = raw_response(render(r), true);
    }

    bool connect_loop(Conn& c) {
        int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s < 0)
            return false;
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(static_cast<uint16_t>(internal_port));
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        // Closing with a reset leaves no TIME_WAIT behind on this side of loopback.
        linger lg{1, 0};
        setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        set_nodelay(s);
        // Bound first so that the local port is known, and registered, before the internal
        // server can see the connection.
        sockaddr_in from{};
        from.sin_family = AF_INET;
        from.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t from_len = sizeof from;
        if (::bind(s, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
            ::getsockname(s, reinterpret_cast<sockaddr*>(&from), &from_len) != 0) {
            ::close(s);
            return false;
        }
        c.loop = s;
        c.loop_port = ntohs(from.sin_port);
        c.ports = &relay_ports;
        relay_ports.add(c.loop_port);
        if (::connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
            if (errno != EINPROGRESS) {
                c.close_loop();
                return false;
            }
            c.loop_connecting = true;
        }
        return true;
    }

    // Reads what the client sent, through the guard (relay) or into the prefix (head).
    // Returns false when the connection is to be dropped.
    bool read_client(Conn& c, bool& progress) {
        char tmp[65536];
        while (!c.client_eof && c.up.size() - c.up_off < k_buffer && c.guard.held() < k_buffer &&
               (c.phase == Phase::head || c.phase == Phase::relay)) {
            std::size_t n = 0;
            c.client_read = c.client->read(tmp, sizeof tmp, n);
            if (c.client_read == Io::eof) {
                c.client_eof = progress = true;
                break;
            }
            if (c.client_read == Io::error)
                return false;
            if (c.client_read != Io::ok)
                break;
            progress = true;
            if (c.phase == Phase::head) {
                c.up.append(tmp, n);
                continue;
            }
            if (c.up_off == c.up.size()) {
                c.up.clear();
                c.up_off = 0;
            }
            if (!guarded(c, c.guard.feed(std::string_view(tmp, n), c.up)))
                break;
        }
        return true;
    }

    // After the guard passed bytes on (or refused): the requests passed are owed an answer, a
    // head that began starts its clock, a refusal takes over the connection. False on refusal.
    bool guarded(Conn& c, std::optional<Refusal> refused) {
        for (bool head : c.guard.take_passed())
            c.counter.request_sent(head);
        bool in_head = c.guard.in_head();
        if (in_head && !c.head_timing)
            c.head_started = Clock::now();
        c.head_timing = in_head;
        if (refused) {
            refuse(c, *refused);
            return false;
        }
        return true;
    }

    // Makes every step that can be made without blocking, then closes the connection or
    // updates what epoll waits for.
    void advance(std::uint64_t id, Conn& c) {
        if (!step(c)) {
            close(id);
            return;
        }
        watch(id, c);
    }

    bool step(Conn& c) {
        char tmp[65536];
        for (;;) {
            bool progress = false;
            if (c.phase == Phase::handshake) {
                Io io = c.client->handshake();
                if (io == Io::ok) {
                    c.phase = Phase::head;
                    progress = true;
                } else if (io == Io::error) {
                    return false;
                } else {
                    c.client_read = io;
                    return true;
                }
            }
            if (!read_client(c, progress))
                return false;
            if (c.phase == Phase::head) {
                // Hand-off: the first head is here, or too big to be one, or it is no HTTP.
                bool whole = c.up.find("\r\n\r\n") != std::string::npos ||
                             c.up.size() > options.limits.max_header_bytes ||
                             (!c.client->tls() && !c.up.empty() && static_cast<unsigned char>(c.up[0]) == 0x16);
                if (whole)
                    return hand_over(c);
                if (c.client_eof)
                    return false;
                return true;
            }
            // Relay: to the internal server.
            if (c.loop < 0 && c.up_pending()) {
                if (!connect_loop(c))
                    return false;
                progress = true;
            }
            if (c.loop >= 0 && c.loop_connecting) {
                pollfd p{c.loop, POLLOUT, 0};
                if (::poll(&p, 1, 0) > 0) {
                    int err = 0;
                    socklen_t len = sizeof err;
                    getsockopt(c.loop, SOL_SOCKET, SO_ERROR, &err, &len);
                    if (err != 0)
                        return false;
                    c.loop_connecting = false;
                }
            }
            if (c.loop >= 0 && !c.loop_connecting && c.up_pending()) {
                ssize_t w = ::send(c.loop, c.up.data() + c.up_off, c.up.size() - c.up_off, MSG_NOSIGNAL);
                if (w > 0) {
                    c.up_off += static_cast<std::size_t>(w);
                    progress = true;
                    if (c.up_off == c.up.size()) {
                        c.up.clear();
                        c.up_off = 0;
                    }
                } else if (!(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) {
                    c.loop_eof = c.loop_shut = true; // the server is gone: nothing more goes up
                    c.up.clear();
                    c.up_off = 0;
                }
            }
            // httplib answers nothing once it sees the stream end, so the end is passed on only
            // when nothing more is owed (but a request cut short is never answered).
            bool partial = !c.guard.between_requests() && !c.guard.in_head();
            if (c.client_eof && c.phase == Phase::relay && !c.up_pending() && c.loop >= 0 && !c.loop_connecting &&
                !c.loop_shut && c.counter.owed() <= (partial ? 1u : 0u)) {
                ::shutdown(c.loop, SHUT_WR);
                c.loop_shut = true;
            }
            if (c.loop >= 0 && !c.loop_connecting && !c.loop_eof && c.down.size() - c.down_off < k_buffer) {
                ssize_t r = ::recv(c.loop, tmp, sizeof tmp, 0);
                if (r > 0) {
                    if (c.down_off == c.down.size()) {
                        c.down.clear();
                        c.down_off = 0;
                    }
                    c.down.append(tmp, static_cast<std::size_t>(r));
                    c.counter.feed(std::string_view(tmp, static_cast<std::size_t>(r)));
                    // Every answer owed is here: a pipelined request the guard held goes on.
                    if (c.counter.owed() == 0 && c.phase == Phase::relay) {
                        if (c.up_off == c.up.size()) {
                            c.up.clear();
                            c.up_off = 0;
                        }
                        guarded(c, c.guard.answered(c.up));
                    }
                    progress = true;
                } else if (r == 0 || !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                    c.loop_eof = progress = true;
                }
            }
            // A refusal's answer goes out after the answers owed before it.
            if (c.phase == Phase::refusing && !c.answered && !c.up_pending() &&
                (c.loop < 0 || c.loop_eof || (!c.loop_connecting && c.counter.owed() <= c.unanswerable))) {
                c.down.append(c.answer);
                c.answered = progress = true;
            }
            if (c.down_pending() && !c.client_shut) {
                std::size_t n = 0;
                c.client_write = c.client->write(c.down.data() + c.down_off, c.down.size() - c.down_off, n);
                if (c.client_write == Io::ok && n > 0) {
                    c.down_off += n;
                    progress = true;
                    if (c.down_off == c.down.size()) {
                        c.down.clear();
                        c.down_off = 0;
                    }
                } else if (c.client_write == Io::error || c.client_write == Io::eof) {
                    return false;
                }
            }
            if (c.phase == Phase::lingering) {
                // Drains what the client still sends until it closes or the time is up.
                for (;;) {
                    ssize_t r = ::recv(c.client->fd(), tmp, sizeof tmp, 0);
                    if (r > 0)
                        continue;
                    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
                }
            }
            if (c.phase == Phase::relay && c.loop >= 0 && c.loop_eof && !c.down_pending() && !c.up_pending() &&
                c.guard.in_head() && !c.client_eof) {
                // The internal server ended an idle keep-alive connection while the client was
                // still sending its next head: that head goes to a new internal connection.
                c.close_loop();
                c.loop_eof = c.loop_shut = c.loop_connecting = c.loop_registered = false;
                c.loop_mask = 0;
            }
            if (!c.down_pending()) {
                bool done = c.phase == Phase::refusing ? c.answered : c.loop >= 0 ? c.loop_eof : c.client_eof;
                if (done) {
                    if (c.client_eof)
                        return false;
                    // Lingering close: nothing more to send; the client's unread bytes are
                    // drained for a moment so that a reset does not destroy the answer.
                    c.phase = Phase::lingering;
                    c.linger_until = Clock::now() + Ms(k_linger_ms);
                    c.close_loop();
                    ::shutdown(c.client->fd(), SHUT_WR);
                    c.client_shut = true;
                    continue;
                }
            }
            if (progress)
                c.last_progress = Clock::now();
            else
                return true;
        }
    }

    bool hand_over(Conn& c) {
        epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.client->fd(), nullptr);
        std::lock_guard<std::mutex> lock(queue_mutex);
        if (queue.size() >= std::max<std::size_t>(1, options.threads) * 8)
            return false; // overloaded
        queue.push_back(Job{std::move(c.client), std::move(c.up)});
        queue_cv.notify_one();
        c.client = std::make_unique<ClientStream>(-1); // the connection now belongs to a worker
        return false;
    }

    void watch(std::uint64_t id, Conn& c) {
        std::uint32_t cm = 0, lm = 0;
        bool reading = (c.phase == Phase::head || c.phase == Phase::relay) && !c.client_eof &&
                       c.up.size() - c.up_off < k_buffer && c.guard.held() < k_buffer;
        if (c.phase == Phase::handshake)
            cm |= c.client_read == Io::want_write ? EPOLLOUT : EPOLLIN;
        if (reading || c.phase == Phase::lingering)
            cm |= c.client_read == Io::want_write ? EPOLLOUT : EPOLLIN;
        if (c.down_pending() && !c.client_shut)
            cm |= c.client_write == Io::want_read ? EPOLLIN : EPOLLOUT;
        if (c.loop >= 0) {
            if (c.loop_connecting || c.up_pending())
                lm |= EPOLLOUT;
            if (!c.loop_connecting && !c.loop_eof && c.down.size() - c.down_off < k_buffer)
                lm |= EPOLLIN;
        }
        if (cm != c.client_mask) {
            epoll_event ev{};
            ev.events = cm;
            ev.data.u64 = id << 1;
            epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.client->fd(), &ev);
            c.client_mask = cm;
        }
        if (c.loop >= 0 && c.loop_eof) {
            // Nothing more comes from the server; a closed socket would report EPOLLHUP forever.
            if (c.loop_registered)
                epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.loop, nullptr);
            c.loop_registered = false;
        } else if (c.loop >= 0) {
            epoll_event ev{};
            ev.events = lm;
            ev.data.u64 = (id << 1) | 1;
            if (!c.loop_registered) {
                epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c.loop, &ev);
                c.loop_registered = true;
                c.loop_mask = lm;
            } else if (lm != c.loop_mask) {
                epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.loop, &ev);
                c.loop_mask = lm;
            }
        }
    }

    // ---- hand-off workers ----

    void work() {
        for (;;) {
            Job job;
            {
                std::unique_lock<std::mutex> lock(queue_mutex);
                queue_cv.wait(lock, [this] { return stopping || !queue.empty(); });
                if (stopping)
                    return;
                job = std::move(queue.front());
                queue.pop_front();
                active.insert(job.client->fd());
            }
            int fd = job.client->fd();
            try {
                handler(*job.client, std::move(job.prefix));
            } catch (const std::exception&) {
                // One broken connection must not take a worker down with it.
            }
            {
                std::lock_guard<std::mutex> lock(queue_mutex);
                active.erase(fd);
            }
            job.client.reset(); // closes the socket, after it left `active`
        }
    }
};

FrontDoor::FrontDoor(FrontDoorOptions options, Render render)
    : m_impl(std::make_unique<Impl>(std::move(options), std::move(render))) {}

FrontDoor::~FrontDoor() = default;

Result<int> FrontDoor::bind(const std::string& host, int port) { return m_impl->bind(host, port); }

void FrontDoor::relay_to(int internal_port) {
    m_impl->mode = Impl::Mode::relay;
    m_impl->internal_port = internal_port;
}

bool FrontDoor::relayed_from(const std::string& remote_addr, int remote_port) const {
    return remote_addr == "127.0.0.1" && m_impl->relay_ports.contains(remote_port);
}

void FrontDoor::hand_off(Handler handler) {
    m_impl->mode = Impl::Mode::hand_off;
    m_impl->handler = std::move(handler);
}

void FrontDoor::run() { m_impl->run(); }

void FrontDoor::stop() { m_impl->stop(); }

const std::atomic<bool>& FrontDoor::stopping() const { return m_impl->stopping; }

bool FrontDoor::running() const { return m_impl->is_running; }

} // namespace vaultfwd::server
