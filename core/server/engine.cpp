// SPDX-License-Identifier: Apache-2.0
#include "core/server/engine.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <stdexcept>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <variant>
#include <vector>

#include <openssl/ssl.h>

#include "core/inspector/inspector.hpp"
#include "core/net/loop.hpp"
#include "core/net/stream.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::server {

namespace {

using Ms = std::chrono::milliseconds;
using net::Io;

constexpr std::size_t k_read_chunk = 64 * 1024;
constexpr std::size_t k_max_unparsed = 256 * 1024; // bytes read ahead of the parser, per connection
constexpr int k_linger_ms = 1000;                  // draining a refused client before closing
constexpr int k_accept_pause_ms = 100;             // after EMFILE/ENFILE
constexpr std::size_t k_max_target = 8192;         // longer request targets: 414
constexpr std::size_t k_stream_window = 1 << 20;   // a streamed answer's bytes not yet written
constexpr std::size_t k_max_body_on_loop = 64 * 1024; // larger bodies' request phase: on a worker

// A body read by waiting (an upstream answer that send() reads on a worker, the inspector's
// event stream) as a source the loop reads like its own: the worker that reads it keeps at most
// k_stream_window bytes ahead of the loop, which takes what is there or hears `pending` and is
// woken when more (or the end) arrives. Conn::pump relays it, as it relays the loop's upstream
// calls: one relay, whatever made the body. Dropping it stops the worker at its next piece.
class WorkerFedSource final : public http::BodySource {
    struct Shared {
        std::mutex mutex;
        std::condition_variable room;
        std::string data;
        bool ended = false, failed = false, cancelled = false;
        std::string code, message;
        std::function<void()> wake; // set while the loop waits for more
    };

  public:
    WorkerFedSource(std::optional<std::uint64_t> length, net::Loop& loop)
        : m_shared(std::make_shared<Shared>()), m_length(length), m_loop(loop) {}
    ~WorkerFedSource() override {
        {
            std::lock_guard<std::mutex> lock(m_shared->mutex);
            m_shared->cancelled = true;
            m_shared->wake = nullptr;
        }
        m_shared->room.notify_all();
    }

    // The worker: reads `body` into the buffer until its end, its break, or until the loop
    // drops this source. Returns when done; `fed` is this source's shared half.
    static void feed(std::shared_ptr<Shared> fed, net::Loop& loop, http::BodySource& body) {
        std::string piece;
        for (;;) {
            {
                std::unique_lock<std::mutex> lock(fed->mutex);
                fed->room.wait(lock, [&] { return fed->cancelled || fed->data.size() < k_stream_window; });
                if (fed->cancelled)
                    return;
            }
            piece.clear();
            auto step = body.next(piece);
            std::function<void()> wake;
            {
                std::lock_guard<std::mutex> lock(fed->mutex);
                if (step == http::BodySource::Step::piece) {
                    fed->data.append(piece);
                } else if (step == http::BodySource::Step::end) {
                    fed->ended = true;
                } else if (step == http::BodySource::Step::failed) {
                    fed->failed = true;
                    fed->code = body.error_code();
                    fed->message = body.error_message();
                } else { // `pending` from a source that should wait: a break, never a false end
                    fed->failed = true;
                    fed->code = "server.internal";
                    fed->message = "a body read on a worker said it was pending";
                }
                wake = std::exchange(fed->wake, nullptr);
            }
            if (wake)
                loop.post(std::move(wake));
            if (step != http::BodySource::Step::piece)
                return;
        }
    }
    std::shared_ptr<Shared> shared() const { return m_shared; }

    // The loop.
    Step next(std::string& out) override {
        std::lock_guard<std::mutex> lock(m_shared->mutex);
        if (!m_shared->data.empty()) {
            out.append(m_shared->data);
            m_shared->data.clear();
            m_shared->room.notify_one();
            return Step::piece;
        }
        if (m_shared->failed) {
            m_code = m_shared->code;
            m_message = m_shared->message;
            return Step::failed;
        }
        return m_shared->ended ? Step::end : Step::pending;
    }
    void when_ready(std::function<void()> wake) override {
        {
            std::lock_guard<std::mutex> lock(m_shared->mutex);
            if (m_shared->data.empty() && !m_shared->ended && !m_shared->failed) {
                m_shared->wake = std::move(wake);
                return;
            }
        }
        m_loop.post(std::move(wake)); // arrived meanwhile: on the loop, after this pump returns
    }
    std::optional<std::uint64_t> length() const override { return m_length; }
    const std::string& error_code() const override { return m_code; }
    const std::string& error_message() const override { return m_message; }

  private:
    std::shared_ptr<Shared> m_shared;
    std::optional<std::uint64_t> m_length;
    net::Loop& m_loop;
    std::string m_code, m_message;
};

// The generic JSON error of the engine itself (the phases make every other answer).
http::Response engine_error(int status, const std::string& code, const std::string& message) {
    http::Response r;
    r.status = status;
    r.headers.push_back({"content-type", "application/json"});
    r.headers.push_back({"x-vaultfwd-error", code});
    r.body = "{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + message + "\"}}";
    return r;
}

bool is_framing(std::string_view name) {
    return util::iequals(name, "content-length") || util::iequals(name, "transfer-encoding") ||
           util::iequals(name, "connection") || util::iequals(name, "keep-alive");
}

bool has_no_body(int status) { return (status >= 100 && status < 200) || status == 204 || status == 304; }

// Lets the process hold as many sockets as the system allows it (10 000 idle clients must fit).
void raise_descriptor_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

std::string peer_address(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        return {};
    char host[NI_MAXHOST] = {};
    if (getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0)
        return {};
    std::string h = host;
    if (h.rfind("::ffff:", 0) == 0 && h.find('.') != std::string::npos)
        h = h.substr(7);
    return h;
}

} // namespace

const std::string* tunnel_host_of(SSL* ssl) { return static_cast<const std::string*>(SSL_get_app_data(ssl)); }

std::optional<http::Response> Phases::on_connect(Exchange&) {
    return engine_error(405, "request.method_not_allowed", "CONNECT is not served on this port");
}

http::Response Phases::on_refusal(const http::ParseError& e, Exchange&) { return engine_error(e.status, e.code, e.message); }

namespace {

// An answer's head: the response's headers in order without framing headers, then `framing`
// and Connection: close when `close`.
void write_head(std::string& out, const http::Response& response, std::optional<http::Header> framing, bool close) {
    http::write_status_line(out, 1, response.status, {});
    for (const auto& h : response.headers)
        if (!is_framing(h.name))
            http::write_header(out, h.name, h.value);
    if (framing)
        http::write_header(out, framing->name, framing->value);
    if (close)
        http::write_header(out, "Connection", "close");
    http::end_head(out);
}

} // namespace

void write_answer(std::string& out, const http::Response& response, std::string_view request_method, bool close) {
    const bool head_request = request_method == "HEAD";
    std::optional<http::Header> framing;
    if (!has_no_body(response.status)) {
        framing = http::Header{"Content-Length", std::to_string(response.body.size())};
        if (head_request)
            if (auto declared = http::find(response.headers, "content-length"))
                framing->value = *declared;
    }
    write_head(out, response, std::move(framing), close);
    if (!head_request && !has_no_body(response.status))
        out += response.body;
}

// A request body streamed to the worker that sends it on, fed by the loop: the loop stops
// reading the client once k_stream_window bytes wait, and the worker wakes it (`resume`, any
// thread) when it takes them. The end, or the break (the client gone, a timeout), is told once.
class RequestPipe final : public http::BodySource {
  public:
    RequestPipe(std::optional<std::uint64_t> length, std::function<void()> resume)
        : m_length(length), m_resume(std::move(resume)) {}

    // The loop.
    void push(std::string_view piece) {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_data.append(piece);
        }
        m_ready.notify_one();
    }
    bool full() const {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_data.size() >= k_stream_window;
    }
    void end() {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_ended = true;
        }
        m_ready.notify_one();
    }
    void fail(std::string code, std::string message) {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            if (m_ended || m_failed)
                return;
            m_failed = true;
            m_code = std::move(code);
            m_message = std::move(message);
        }
        m_ready.notify_one();
    }

    // The worker.
    Step next(std::string& out) override {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_ready.wait(lock, [this] { return m_failed || m_ended || !m_data.empty(); });
        if (m_failed)
            return Step::failed;
        if (m_data.empty())
            return Step::end;
        const bool was_full = m_data.size() >= k_stream_window;
        out.append(m_data);
        m_data.clear();
        lock.unlock();
        if (was_full)
            m_resume();
        return Step::piece;
    }
    std::optional<std::uint64_t> length() const override { return m_length; }
    const std::string& error_code() const override { return m_code; }
    const std::string& error_message() const override { return m_message; }

  private:
    mutable std::mutex m_mutex;
    std::condition_variable m_ready;
    std::string m_data;
    bool m_ended = false;
    bool m_failed = false;
    std::string m_code, m_message;
    std::optional<std::uint64_t> m_length;
    std::function<void()> m_resume;
};

http::ParseLimits parser_limits(const EngineOptions& opt) {
    http::ParseLimits limits = opt.limits;
    if (opt.streamed_requests) // the engine bounds the bodies it reads whole
        limits.max_body_bytes = std::numeric_limits<std::uint64_t>::max();
    return limits;
}

// ---- one connection ----

struct LoopCtx;

class Conn final : public net::Loop::Handler, public std::enable_shared_from_this<Conn> {
  public:
    enum class State { handshake, head, body, busy, sniff, tunnel_handshake, linger, closed };

    Conn(LoopCtx& ctx, std::unique_ptr<net::Stream> stream, std::string remote);
    void start();
    void on_events(std::uint32_t events) override;
    void on_deadline() override;
    void close();
    // From a worker, on the loop: the answer to `ex` (dropped when `ex` was answered meanwhile).
    void on_answer(const Exchange* ex, http::Response response, bool drive_after = true);
    // On the loop: what the request phase decided for `ex` (an answer, or the upstream call).
    void take_step(const std::shared_ptr<Exchange>& ex, Step step, bool drive_after);
    // On a worker: `step` carried out by waiting (a streamed request body, send()), then its
    // answer relayed with relay_from_worker.
    static void carry_out_here(std::shared_ptr<Conn> self, std::shared_ptr<Exchange> ex, net::Loop& loop,
                               upstream::Client* client, Step step);
    // A worker's answer to `ex`, whose body (if streamed) is read there by waiting on it and
    // relayed by the loop (WorkerFedSource).
    static void relay_from_worker(std::shared_ptr<Conn> self, std::shared_ptr<Exchange> ex, net::Loop& loop,
                                  http::Response answer);

  private:
    void drive();
    bool flush_out();       // false when the connection closed
    bool read_in();         // false when nothing more could be read now
    bool parse();           // true when an event was handled
    void on_head();
    void on_message_end();
    void dispatch(); // on_request on a worker, or on the loop when the phases allow it
    void start_call(const std::shared_ptr<Exchange>& ex, UpstreamStep step);
    // On the loop: an answer made there; `loop_source`: its streamed body never waits (the
    // upstream client's on the loop), else it is read on a worker.
    void deliver(const std::shared_ptr<Exchange>& ex, http::Response answer, bool loop_source, bool drive_after);
    bool open_stream(const Exchange* ex, http::Response response, std::optional<std::uint64_t> length);
    void stream_piece(std::string_view piece);
    void stream_end(bool failed, std::string code);
    void pump(); // the loop source's pieces into m_out, up to k_stream_window ahead of the client
    void on_source_ready();
    void respond(http::Response response, bool close);
    void refuse(const http::ParseError& error);
    void after_written();
    void begin_tunnel_tls();
    void log_exchange();        // the current exchange's line (deferred while its worker runs)
    void write_log(Exchange& ex);
    // `ex`'s worker is done: the exchange, when its log line waits for that (it was answered by
    // the loop meanwhile, a refused streamed body).
    std::shared_ptr<Exchange> worker_done(const Exchange* ex);
    void arm();
    void set_deadline_ms(int ms);
    bool wants_read() const;

    LoopCtx& m_ctx;
    std::unique_ptr<net::Stream> m_stream;
    net::TlsStream* m_tls = nullptr; // the outermost TLS layer being handshaken
    std::string m_remote;
    State m_state = State::head;
    http::Parser m_parser;
    std::string m_in;
    std::size_t m_in_off = 0;
    std::string m_out;
    std::size_t m_out_off = 0;
    Io m_blocked_read = Io::want_read;  // what the last read waited for
    Io m_blocked_write = Io::want_write;
    bool m_write_blocked = false;
    bool m_read_blocked = false;
    bool m_peer_eof = false;
    bool m_close_after = false;
    bool m_head_clock = false; // the head deadline runs
    bool m_answering = false;  // the exchange's answer is queued in m_out
    std::shared_ptr<Exchange> m_ex;
    std::optional<http::Response> m_early; // on_head's answer, sent once the body is drained
    std::optional<Tunnel> m_tunnel;
    ossl::X509Ptr m_peer; // the client's certificate on a TLS listener
    std::shared_ptr<http::BodySource> m_source; // the answer being streamed, until its end is written
    bool m_stream_open = false;         // its end has not come from the source
    bool m_chunked_out = false;         // it goes out chunked (no declared length, HTTP/1.1)
    std::shared_ptr<RequestPipe> m_req; // the request body being streamed to on_request
    std::shared_ptr<Exchange> m_worker_ex; // the exchange whose on_request runs on a worker
    bool m_log_deferred = false;        // its line waits for the worker (which writes its entry)
    std::uint32_t m_armed = 0;
};

struct Engine::Impl {
    EngineOptions opt;
    Phases& phases;
    int listen_fd = -1;
    std::vector<std::unique_ptr<LoopCtx>> loops;
    std::unique_ptr<net::Workers> workers;
    std::atomic<bool> stopping{false};
    std::atomic<bool> is_running{false};
    std::atomic<std::size_t> open{0};
    std::mutex run_mutex;

    Impl(EngineOptions o, Phases& p) : opt(std::move(o)), phases(p) {}
};

// The access-log line and the inspector's record of an exchange, once its answer is made.
void finish_exchange(Engine::Impl& engine, Exchange& ex);

// The inspector, when it watches this listener and path, starts capturing the exchange.
static void begin_watching(const Engine::Impl& engine, Exchange& ex) {
    inspector::Inspector* watcher = engine.opt.inspector;
    if (watcher && watcher->watching(engine.opt.listener, ex.request.path))
        inspector::begin_capture(ex, watcher->capture_limit());
}

// The request phase's step carried out on a worker: its own answer, or the upstream call
// (captured for the inspector when it watches) and the response phase.
static http::Response carry_out(Step step, upstream::Client* client, Exchange& ex) {
    auto* up = std::get_if<UpstreamStep>(&step);
    if (!up)
        return std::get<http::Response>(std::move(step));
    if (!client)
        throw std::logic_error("a listener without an upstream client was handed a call");
    if (ex.capture)
        inspector::capture_call(ex.capture, up->call);
    upstream::Outcome outcome = client->send(up->call);
    if (ex.capture)
        inspector::capture_outcome(ex.capture, outcome);
    return up->on_response(std::move(outcome));
}

// The request phase, its failures made the engine's 500.
static Step run_request(Phases& phases, Exchange& ex) {
    try {
        return phases.on_request(ex);
    } catch (const std::exception&) {
        return engine_error(500, "server.internal", "something went wrong");
    }
}

static http::Response run_response(const std::function<http::Response(upstream::Outcome)>& respond,
                                   upstream::Outcome outcome) {
    try {
        return respond(std::move(outcome));
    } catch (const std::exception&) {
        return engine_error(500, "server.internal", "something went wrong");
    }
}

struct LoopCtx final : public net::Loop::Handler {
    Engine::Impl& engine;
    net::Loop loop;
    std::unordered_map<Conn*, std::shared_ptr<Conn>> conns;
    bool accepting = false;

    explicit LoopCtx(Engine::Impl& e) : engine(e) {}

    void listen() {
        accepting = true;
        loop.add(engine.listen_fd, EPOLLIN | EPOLLEXCLUSIVE, this);
    }
    void pause_accepting() {
        if (!accepting)
            return;
        accepting = false;
        loop.remove(engine.listen_fd);
        loop.set_deadline(this, Clock::now() + Ms(k_accept_pause_ms));
    }
    void on_deadline() override {
        if (!engine.stopping && !accepting)
            listen();
    }
    void on_events(std::uint32_t) override {
        for (int i = 0; i < 64 && !engine.stopping; ++i) {
            if (engine.open >= engine.opt.max_connections) {
                pause_accepting();
                return;
            }
            int fd = ::accept4(engine.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                    pause_accepting();
                return; // EAGAIN: another loop took it, or nothing left
            }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            std::string remote = peer_address(fd);
            std::unique_ptr<net::Stream> stream = std::make_unique<net::SocketStream>(fd);
            auto conn = std::make_shared<Conn>(*this, std::move(stream), std::move(remote));
            conns.emplace(conn.get(), conn);
            ++engine.open;
            conn->start();
        }
    }
    void close_all() {
        if (accepting) {
            accepting = false;
            loop.remove(engine.listen_fd);
        }
        loop.clear_deadline(this);
        auto all = conns;
        for (auto& [p, c] : all)
            c->close();
    }
    void forget(Conn* c) {
        auto it = conns.find(c);
        if (it != conns.end()) {
            // Destroyed after this round: the connection may still be on the call stack.
            loop.post([keep = std::move(it->second)] {});
            conns.erase(it);
            --engine.open;
            if (!accepting && !engine.stopping && engine.open < engine.opt.max_connections)
                listen();
        }
    }
};

Conn::Conn(LoopCtx& ctx, std::unique_ptr<net::Stream> stream, std::string remote)
    : m_ctx(ctx), m_stream(std::move(stream)), m_remote(std::move(remote)),
      m_parser(http::Parser::Kind::request, parser_limits(ctx.engine.opt)) {}

void Conn::start() {
    if (SSL_CTX* tls = m_ctx.engine.opt.listener_tls) {
        auto t = std::make_unique<net::TlsStream>(std::move(m_stream), tls, net::TlsRole::server);
        m_tls = t.get();
        m_stream = std::move(t);
        m_state = State::handshake;
        set_deadline_ms(m_ctx.engine.opt.head_timeout_ms);
    } else {
        // Until the first byte, a new connection is on the head clock (a silent client is closed).
        set_deadline_ms(m_ctx.engine.opt.head_timeout_ms);
    }
    m_ctx.loop.add(m_stream->fd(), EPOLLIN, this);
    m_armed = EPOLLIN;
    drive();
}

void Conn::set_deadline_ms(int ms) { m_ctx.loop.set_deadline(this, Clock::now() + Ms(ms)); }

void Conn::on_events(std::uint32_t events) {
    auto keep = shared_from_this();
    if ((events & (EPOLLHUP | EPOLLERR)) && m_state == State::busy && m_out_off == m_out.size()) {
        // The client is gone while its answer is being made: nothing can reach it any more
        // (and a hung-up socket would wake the loop until then).
        close();
        return;
    }
    if (events & EPOLLOUT)
        m_write_blocked = false;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        m_read_blocked = false;
    drive();
}

void Conn::on_deadline() {
    auto keep = shared_from_this();
    switch (m_state) {
    case State::head:
        if (m_head_clock || !m_parser.idle() || m_in_off < m_in.size()) {
            http::ParseError e;
            e.status = 408;
            e.code = "request.timeout";
            e.message = "the request head did not arrive whole within " +
                        std::to_string(m_ctx.engine.opt.head_timeout_ms / 1000) + " s";
            refuse(e);
            drive();
            return;
        }
        close(); // idle between requests
        return;
    case State::body: {
        if (m_req && m_req->full()) { // the client is not late: the upstream is slow to take
            set_deadline_ms(m_ctx.engine.opt.body_timeout_ms);
            return;
        }
        http::ParseError e;
        e.status = 408;
        e.code = "request.timeout";
        e.message = "the request body stopped arriving";
        refuse(e);
        drive();
        return;
    }
    default:
        close();
    }
}

void Conn::close() {
    if (m_state == State::closed)
        return;
    auto keep = shared_from_this();
    // An answer still being made on a worker is logged when it arrives (on_answer); one being
    // streamed is cut short here: its worker stops reading the upstream.
    m_state = State::closed;
    if (m_req) {
        m_req->fail("client.gone", "the client closed the connection before its request body was whole");
        m_req.reset();
    }
    if (m_source) {
        m_source.reset(); // ends the upstream call (or stops the worker reading it)
        if (m_stream_open) {
            m_stream_open = false;
            if (m_ex && m_ex->entry.error_code.empty())
                m_ex->entry.error_code = "client.gone";
            log_exchange();
        }
    }
    m_ctx.loop.clear_deadline(this);
    if (m_stream) {
        m_ctx.loop.remove(m_stream->fd());
        m_stream.reset();
    }
    m_ctx.forget(this);
}

bool Conn::wants_read() const {
    switch (m_state) {
    case State::body:
        if (m_req && m_req->full())
            return false; // the worker takes what waits first
        [[fallthrough]];
    case State::head:
    case State::sniff:
    case State::linger:
        return !m_peer_eof && m_in.size() - m_in_off < k_max_unparsed;
    default:
        return false;
    }
}

void Conn::drive() {
    for (int round = 0; round < 256 && m_state != State::closed; ++round) {
        bool progress = false;
        if (m_out_off < m_out.size() && !m_write_blocked) {
            if (!flush_out())
                return;
            if (m_out_off == m_out.size()) {
                after_written();
                progress = true;
            }
        }
        if (m_state == State::closed)
            return;
        if ((m_state == State::handshake || m_state == State::tunnel_handshake) && !m_read_blocked && !m_write_blocked) {
            Io io = m_tls->handshake();
            if (io == Io::ok) {
                const bool in_tunnel = m_state == State::tunnel_handshake;
                if (m_state == State::handshake)
                    m_peer.reset(SSL_get1_peer_certificate(m_tls->ssl()));
                m_tls = nullptr;
                m_state = State::head;
                // A tunnel's client may open it ahead of use: before its first request it
                // idles as long as between requests (the head clock starts with a byte).
                set_deadline_ms(in_tunnel ? m_ctx.engine.opt.tunnel_idle_ms : m_ctx.engine.opt.head_timeout_ms);
                progress = true;
            } else if (io == Io::want_read) {
                m_read_blocked = true;
            } else if (io == Io::want_write) {
                m_write_blocked = true;
            } else {
                close();
                return;
            }
        }
        // In a body the parser may have an event without new bytes (the end of an empty body).
        if ((m_state == State::head && m_in_off < m_in.size()) || m_state == State::body) {
            if (parse())
                progress = true;
        }
        if (m_state == State::closed)
            return;
        // The CONNECT's 200 goes out as it is, before TLS wraps the stream.
        if (m_state == State::sniff && m_in_off < m_in.size() && m_out_off == m_out.size()) {
            begin_tunnel_tls();
            progress = true;
            continue;
        }
        bool needs_input = m_state == State::sniff || m_state == State::linger ||
                           ((m_state == State::head || m_state == State::body) && !progress);
        if (needs_input && wants_read() && (!m_read_blocked || m_stream->readable_now())) {
            if (read_in())
                progress = true;
        }
        if (!progress)
            break;
    }
    if (m_state != State::closed)
        arm();
}

bool Conn::flush_out() {
    while (m_out_off < m_out.size()) {
        std::size_t n = 0;
        Io io = m_stream->write(m_out.data() + m_out_off, m_out.size() - m_out_off, n);
        if (io == Io::ok) {
            m_out_off += n;
            if (m_state != State::busy)
                set_deadline_ms(m_ctx.engine.opt.body_timeout_ms);
            continue;
        }
        if (io == Io::want_write || io == Io::want_read) {
            m_write_blocked = true;
            m_blocked_write = io;
            return true;
        }
        close();
        return false;
    }
    return true;
}

bool Conn::read_in() {
    if (m_in_off == m_in.size()) {
        m_in.clear();
        m_in_off = 0;
    } else if (m_in_off > 0 && m_in_off > m_in.size() / 2) {
        m_in.erase(0, m_in_off);
        m_in_off = 0;
    }
    thread_local std::string scratch(k_read_chunk, '\0');
    std::size_t n = 0;
    Io io = m_stream->read(scratch.data(), scratch.size(), n);
    if (io == Io::ok) {
        if (m_state != State::linger) // a lingering connection's bytes are drained, never parsed
            m_in.append(scratch.data(), n);
        if (m_state == State::head && !m_head_clock) {
            m_head_clock = true;
            set_deadline_ms(m_ctx.engine.opt.head_timeout_ms);
        } else if (m_state == State::body) {
            set_deadline_ms(m_ctx.engine.opt.body_timeout_ms);
        }
        return true;
    }
    if (io == Io::want_read || io == Io::want_write) {
        m_read_blocked = true;
        m_blocked_read = io;
        return false;
    }
    // The end of the client's stream (or an error).
    m_peer_eof = true;
    if (m_state == State::linger || io == Io::error) {
        close();
        return false;
    }
    if (m_state == State::head && m_parser.idle() && m_in_off == m_in.size()) {
        close(); // a clean end between requests
        return false;
    }
    // A message cut short by the end of the stream gets no answer: the client stopped sending
    // it (an answer could only say so); a message the end completes is served.
    if (m_parser.finish() != http::Parser::Event::message_end) {
        close();
        return false;
    }
    on_message_end();
    return true;
}

bool Conn::parse() {
    if (m_parser.idle() && m_in_off < m_in.size() && static_cast<unsigned char>(m_in[m_in_off]) == 0x16) {
        close(); // a TLS handshake on a plain port: an HTTP answer would be noise to it
        return true;
    }
    std::size_t used = 0;
    auto ev = m_parser.next(std::string_view(m_in).substr(m_in_off), used);
    m_in_off += used;
    switch (ev) {
    case http::Parser::Event::need_more:
        return used > 0;
    case http::Parser::Event::head:
        on_head();
        return true;
    case http::Parser::Event::body:
        if (m_ex && !m_early) {
            if (m_req) {
                m_req->push(m_parser.body_piece());
            } else {
                const auto& opt = m_ctx.engine.opt;
                if (opt.streamed_requests && m_ex->request.body.size() + m_parser.body_piece().size() > opt.limits.max_body_bytes) {
                    refuse(http::body_too_large(opt.limits.max_body_bytes, m_ex->head.target.substr(0, 200)));
                    return true;
                }
                m_ex->request.body.append(m_parser.body_piece());
            }
        }
        return true;
    case http::Parser::Event::message_end:
        on_message_end();
        return true;
    case http::Parser::Event::error:
        refuse(m_parser.error());
        return true;
    }
    return false;
}

void Conn::on_head() {
    const auto& opt = m_ctx.engine.opt;
    m_head_clock = false;
    m_early.reset();
    m_ex = std::make_shared<Exchange>();
    Exchange& ex = *m_ex;
    http::Headers headers = m_parser.take_headers();
    ex.head = m_parser.head();
    ex.head.headers = std::move(headers);
    ex.tunnel = m_tunnel;
    ex.listener_tls = opt.listener_tls != nullptr;
    if (m_peer) {
        X509_up_ref(m_peer.get());
        ex.peer_certificate.reset(m_peer.get());
    }
    ex.request.method = ex.head.method;
    const std::string& target = ex.head.target;
    auto q = target.find('?');
    std::string raw_path = target.substr(0, q);
    ex.request.path = util::percent_decode(raw_path).value_or(raw_path);
    if (q != std::string::npos)
        ex.request.query = target.substr(q + 1);
    ex.request.headers = ex.head.headers;
    ex.request.remote_addr = m_remote;
    ex.entry.method = ex.head.method;
    m_state = State::body;
    set_deadline_ms(opt.body_timeout_ms);

    if (ex.head.target.size() > k_max_target) {
        http::ParseError e;
        e.status = 414;
        e.code = "request.uri_too_long";
        e.message = "the request target is longer than " + std::to_string(k_max_target) + " bytes";
        e.target = ex.head.target.substr(0, 200);
        refuse(e);
        return;
    }
    std::optional<http::Response> answer;
    if (ex.head.method == "CONNECT" && !m_tunnel) {
        answer = m_ctx.engine.phases.on_connect(ex);
        if (!answer) {
            if (!ex.tunnel) {
                answer = engine_error(500, "server.internal", "the CONNECT was accepted without a target");
            } else {
                m_tunnel = ex.tunnel;
                ex.response.status = 200;
                m_out += "HTTP/1.1 200 Connection established\r\n\r\n";
                log_exchange();
                m_ex.reset();
                m_parser = http::Parser(http::Parser::Kind::request, parser_limits(opt));
                m_state = State::sniff;
                set_deadline_ms(opt.tunnel_idle_ms);
                return;
            }
        }
        // After a refused CONNECT the client may try again on the same connection (407).
        respond(std::move(*answer), answer->status != 407 || !ex.head.keep_alive);
        return;
    }
    try {
        answer = m_ctx.engine.phases.on_head(ex);
    } catch (const std::exception&) {
        answer = engine_error(500, "server.internal", "something went wrong");
    }
    if (answer) {
        // The body is not wanted: with Expect: 100-continue it was never sent, so answer now and
        // close; otherwise read it through (unkept) and answer at its end.
        if (ex.head.body == http::BodyKind::none) {
            m_early = std::move(answer);
            return; // message_end follows at once
        }
        if (ex.head.expect_continue) {
            respond(std::move(*answer), true);
            return;
        }
        m_early = std::move(answer);
        return;
    }
    if (ex.head.body != http::BodyKind::none && opt.streamed_requests) {
        if (ex.stream_request_body) {
            // on_request starts now and reads the body while it arrives.
            std::optional<std::uint64_t> length;
            if (ex.head.body == http::BodyKind::length)
                length = ex.head.content_length;
            std::weak_ptr<Conn> weak = weak_from_this();
            net::Loop* loop = &m_ctx.loop;
            m_req = std::make_shared<RequestPipe>(length, [weak, loop] {
                loop->post([weak] {
                    if (auto c = weak.lock())
                        c->drive();
                });
            });
            ex.request_body = m_req;
            dispatch();
        } else if (ex.head.body == http::BodyKind::length && ex.head.content_length > opt.limits.max_body_bytes) {
            refuse(http::body_too_large(opt.limits.max_body_bytes, ex.head.target.substr(0, 200)));
            return;
        }
    }
    if (ex.head.expect_continue && ex.head.body != http::BodyKind::none && m_in_off == m_in.size())
        m_out += "HTTP/1.1 100 Continue\r\n\r\n";
}

void Conn::on_message_end() {
    if (!m_ex)
        return;
    if (m_early) {
        auto answer = std::move(*m_early);
        m_early.reset();
        respond(std::move(answer), !m_ex->head.keep_alive);
        return;
    }
    m_state = State::busy;
    m_ctx.loop.clear_deadline(this);
    if (m_req) { // on_request runs already
        m_req->end();
        m_req.reset();
        return;
    }
    dispatch();
}

void Conn::dispatch() {
    auto self = shared_from_this();
    auto ex = m_ex;
    m_worker_ex = m_ex;
    m_log_deferred = false;
    Phases& phases = m_ctx.engine.phases;
    net::Loop& loop = m_ctx.loop;
    upstream::Client* client = m_ctx.engine.opt.upstream;
    begin_watching(m_ctx.engine, *ex);
    if (ex->request_on_loop && !m_req && ex->request.body.size() <= k_max_body_on_loop) {
        // Quick work (vault reads, a template): here, without a thread's round trip.
        take_step(ex, run_request(phases, *ex), false);
        return;
    }
    m_ctx.engine.workers->submit([self, ex, &phases, &loop, client] {
        Step step = run_request(phases, *ex);
        auto* up = std::get_if<UpstreamStep>(&step);
        if (!up || (client && !up->call.body_source)) {
            // The call is made on the loop (a streamed request body is read here, by waiting).
            loop.post([self, ex, step = std::move(step)]() mutable { self->take_step(ex, std::move(step), true); });
            return;
        }
        carry_out_here(self, ex, loop, client, std::move(step));
    });
}

void Conn::carry_out_here(std::shared_ptr<Conn> self, std::shared_ptr<Exchange> ex, net::Loop& loop,
                          upstream::Client* client, Step step) {
    http::Response answer;
    try {
        answer = carry_out(std::move(step), client, *ex);
    } catch (const std::exception&) {
        answer = engine_error(500, "server.internal", "something went wrong");
    }
    relay_from_worker(std::move(self), std::move(ex), loop, std::move(answer));
}

void Conn::take_step(const std::shared_ptr<Exchange>& ex, Step step, bool drive_after) {
    upstream::Client* client = m_ctx.engine.opt.upstream;
    if (auto* up = std::get_if<UpstreamStep>(&step)) {
        if (client && !up->call.body_source) {
            start_call(ex, std::move(*up));
            return;
        }
        // A streamed request body is read by waiting on it: the call goes to a worker.
        auto self = shared_from_this();
        net::Loop& loop = m_ctx.loop;
        m_ctx.engine.workers->submit([self, ex, &loop, client, step = std::move(step)]() mutable {
            carry_out_here(std::move(self), std::move(ex), loop, client, std::move(step));
        });
        return;
    }
    deliver(ex, std::get<http::Response>(std::move(step)), false, drive_after);
}

void Conn::start_call(const std::shared_ptr<Exchange>& ex, UpstreamStep step) {
    if (ex->capture)
        inspector::capture_call(ex->capture, step.call);
    // A response phase that only relays (the answer streams) runs here; one that reads the
    // answer (ingress vaulting, redaction) does vault work: on a worker.
    const bool relay_only = step.call.stream_answer;
    auto self = shared_from_this();
    net::Workers* workers = m_ctx.engine.workers.get();
    net::Loop* loop = &m_ctx.loop;
    auto offload = [workers](std::function<void()> job) { workers->submit(std::move(job)); };
    m_ctx.engine.opt.upstream->start(
        std::move(step.call), m_ctx.loop, offload,
        [self, ex, respond = std::move(step.on_response), relay_only, workers, loop](upstream::Outcome outcome) mutable {
            if (ex->capture)
                inspector::capture_outcome(ex->capture, outcome);
            if (relay_only) {
                http::Response answer = run_response(respond, std::move(outcome));
                self->deliver(ex, std::move(answer), true, true);
                return;
            }
            workers->submit([self, ex, respond = std::move(respond), outcome = std::move(outcome), loop]() mutable {
                http::Response answer = run_response(respond, std::move(outcome));
                loop->post([self, ex, answer = std::move(answer)]() mutable {
                    self->deliver(ex, std::move(answer), true, true);
                });
            });
        });
}

void Conn::deliver(const std::shared_ptr<Exchange>& ex, http::Response answer, bool loop_source, bool drive_after) {
    if (answer.stream && !loop_source) {
        // A body read by waiting (an event stream of the inspector's): relayed from a worker.
        auto self = shared_from_this();
        net::Loop& loop = m_ctx.loop;
        m_ctx.engine.workers->submit([self, ex, &loop, answer = std::move(answer)]() mutable {
            relay_from_worker(self, ex, loop, std::move(answer));
        });
        return;
    }
    std::shared_ptr<http::BodySource> body = std::move(answer.stream);
    answer.stream.reset();
    if (ex->capture && body)
        body = inspector::capture_answer_stream(ex->capture, std::move(body));
    if (!body || ex->head.method == "HEAD" || has_no_body(answer.status)) {
        on_answer(ex.get(), std::move(answer), drive_after);
        return;
    }
    auto length = body->length();
    if (!open_stream(ex.get(), std::move(answer), length))
        return; // dropping the body ends the upstream call
    m_source = std::move(body);
    pump();
    if (drive_after)
        drive();
}

void Conn::pump() {
    thread_local std::string piece;
    while (m_source && m_stream_open && m_state != State::closed && m_out.size() - m_out_off < k_stream_window) {
        piece.clear();
        switch (m_source->next(piece)) {
        case http::BodySource::Step::piece:
            stream_piece(piece);
            continue;
        case http::BodySource::Step::pending: {
            std::weak_ptr<Conn> weak = weak_from_this();
            m_source->when_ready([weak] {
                if (auto c = weak.lock())
                    c->on_source_ready();
            });
            return;
        }
        case http::BodySource::Step::end:
            stream_end(false, {});
            return;
        case http::BodySource::Step::failed:
            stream_end(true, m_source->error_code());
            return;
        }
    }
}

void Conn::on_source_ready() {
    if (m_state == State::closed)
        return;
    pump();
    if (m_out_off == m_out.size())
        after_written();
    drive();
}

void Conn::relay_from_worker(std::shared_ptr<Conn> self, std::shared_ptr<Exchange> ex, net::Loop& loop,
                             http::Response answer) {
    std::shared_ptr<http::BodySource> body = std::move(answer.stream);
    answer.stream.reset();
    if (!body || ex->head.method == "HEAD" || has_no_body(answer.status)) {
        if (body && ex->capture)
            body = inspector::capture_answer_stream(ex->capture, std::move(body));
        loop.post([self, ex, answer = std::move(answer)]() mutable { self->on_answer(ex.get(), std::move(answer)); });
        return;
    }
    // The loop relays the body as this worker reads it, at most k_stream_window bytes ahead.
    auto source = std::make_shared<WorkerFedSource>(body->length(), loop);
    auto fed = source->shared();
    answer.stream = std::move(source);
    loop.post([self, ex, answer = std::move(answer)]() mutable { self->deliver(ex, std::move(answer), true, true); });
    WorkerFedSource::feed(std::move(fed), loop, *body);
}

void Conn::on_answer(const Exchange* ex, http::Response response, bool drive_after) {
    if (auto waiting = worker_done(ex))
        write_log(*waiting); // answered meanwhile (a refused body): its line, now complete
    if (m_ex.get() != ex || m_answering)
        return; // answered meanwhile
    if (m_state == State::closed) {
        m_ex->response = std::move(response);
        log_exchange();
        return;
    }
    // An answer before the whole request body (the upstream did not wait for it): the rest of
    // the body is drained, unread, and the connection closes.
    const bool body_unread = m_state == State::body;
    if (m_req) {
        m_req->fail("request.answered_early", "the answer came before the request body was whole");
        m_req.reset();
    }
    respond(std::move(response), !m_ex->head.keep_alive || body_unread);
    if (drive_after)
        drive();
}

bool Conn::open_stream(const Exchange* ex, http::Response response, std::optional<std::uint64_t> length) {
    if (auto waiting = worker_done(ex))
        write_log(*waiting);
    if (m_ex.get() != ex || m_answering)
        return false;
    if (m_state == State::closed) {
        if (m_ex) {
            m_ex->response = std::move(response);
            m_ex->entry.error_code = "client.gone";
            log_exchange();
        }
        return false;
    }
    m_stream_open = true;
    // Framing: the upstream's length when it gave one; otherwise chunked, or (an HTTP/1.0
    // client) until the close.
    const bool http11 = m_ex->head.version_minor >= 1;
    m_chunked_out = !length && http11;
    const bool body_unread = m_state == State::body;
    if (m_req) {
        m_req->fail("request.answered_early", "the answer came before the request body was whole");
        m_req.reset();
    }
    m_close_after = !m_ex->head.keep_alive || (!length && !http11) || body_unread || m_ctx.engine.stopping;
    m_answering = true;
    std::optional<http::Header> framing;
    if (length)
        framing = http::Header{"Content-Length", std::to_string(*length)};
    else if (m_chunked_out)
        framing = http::Header{"Transfer-Encoding", "chunked"};
    write_head(m_out, response, std::move(framing), m_close_after);
    m_ex->response = std::move(response);
    m_state = State::busy;
    set_deadline_ms(m_ctx.engine.opt.body_timeout_ms);
    return true;
}

void Conn::stream_piece(std::string_view piece) {
    if (m_chunked_out) {
        char size[24];
        std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        m_out += size;
        m_out += piece;
        m_out += "\r\n";
    } else {
        m_out += piece;
    }
    set_deadline_ms(m_ctx.engine.opt.body_timeout_ms);
}

void Conn::stream_end(bool failed, std::string code) {
    m_stream_open = false;
    if (failed) {
        // The head is out: the client learns of the break from a body cut short (no last
        // chunk, or fewer bytes than declared) and the closed connection.
        m_ex->entry.error_code = std::move(code);
        m_close_after = true;
    } else if (m_chunked_out) {
        m_out += "0\r\n\r\n";
    }
    log_exchange();
}

void Conn::respond(http::Response response, bool close) {
    if (!m_ex) {
        m_ex = std::make_shared<Exchange>();
        m_ex->tunnel = m_tunnel;
    }
    m_close_after = close || m_ctx.engine.stopping;
    m_answering = true;
    write_answer(m_out, response, m_ex->head.method, m_close_after);
    m_ex->response = std::move(response);
    // Logged as the answer goes out, so a client that has its answer finds its line in the log.
    log_exchange();
    m_state = State::busy; // nothing is read until the answer is out
    set_deadline_ms(m_ctx.engine.opt.body_timeout_ms);
    if (m_out_off == m_out.size())
        after_written();
}

void Conn::refuse(const http::ParseError& error) {
    if (!m_ex) {
        m_ex = std::make_shared<Exchange>();
        m_ex->tunnel = m_tunnel;
        m_ex->request.remote_addr = m_remote;
        m_ex->entry.path = error.target.substr(0, error.target.find('?'));
    }
    m_early.reset();
    if (m_req) {
        m_req->fail(error.code, error.message);
        m_req.reset();
    }
    http::Response answer;
    try {
        answer = m_ctx.engine.phases.on_refusal(error, *m_ex);
    } catch (const std::exception&) {
        answer = engine_error(error.status, error.code, error.message);
    }
    respond(std::move(answer), true);
}

void Conn::after_written() {
    m_out.clear();
    m_out_off = 0;
    if (m_state == State::sniff || m_state == State::closed)
        return; // the CONNECT's 200 went out
    if (!m_answering)
        return; // an interim 100 Continue went out
    if (m_source) {
        pump();
        if (m_stream_open || m_out_off < m_out.size())
            return; // more of it is coming, or its last bytes go out first
        m_source.reset();
    }
    m_answering = false;
    m_ex.reset();
    if (m_close_after) {
        // Lingering close: the client's unread bytes are drained for a moment, so the answer is
        // not lost to a reset.
        m_stream->shutdown_write();
        m_state = State::linger;
        m_in.clear();
        m_in_off = 0;
        set_deadline_ms(k_linger_ms);
        return;
    }
    if (m_state == State::busy) {
        m_state = State::head;
        m_head_clock = false;
        set_deadline_ms(m_tunnel ? m_ctx.engine.opt.tunnel_idle_ms : m_ctx.engine.opt.idle_timeout_ms);
        if (m_in_off < m_in.size()) { // a pipelined request is already here
            m_head_clock = true;
            set_deadline_ms(m_ctx.engine.opt.head_timeout_ms);
        }
    }
}

void Conn::begin_tunnel_tls() {
    const auto& opt = m_ctx.engine.opt;
    m_state = State::head;
    if (static_cast<unsigned char>(m_in[m_in_off]) != 0x16 || !opt.tunnel_tls) {
        m_tunnel->tls = false; // plain HTTP inside the tunnel: the parser takes the bytes
        set_deadline_ms(opt.head_timeout_ms);
        m_head_clock = true;
        return;
    }
    m_tunnel->tls = true;
    std::string already = m_in.substr(m_in_off);
    m_in.clear();
    m_in_off = 0;
    auto t = std::make_unique<net::TlsStream>(std::move(m_stream), opt.tunnel_tls, net::TlsRole::server, std::move(already));
    SSL_set_app_data(t->ssl(), &m_tunnel->host);
    m_tls = t.get();
    m_stream = std::move(t);
    m_state = State::tunnel_handshake;
    m_read_blocked = false;
    set_deadline_ms(opt.head_timeout_ms);
}

void Conn::log_exchange() {
    if (!m_ex)
        return;
    if (m_ex == m_worker_ex) {
        m_log_deferred = true; // the worker still fills the entry: no line before it is done
        return;
    }
    write_log(*m_ex);
}

std::shared_ptr<Exchange> Conn::worker_done(const Exchange* ex) {
    if (m_worker_ex.get() != ex)
        return nullptr;
    auto done = std::move(m_worker_ex);
    m_worker_ex.reset();
    if (!m_log_deferred)
        return nullptr;
    m_log_deferred = false;
    return done;
}

void Conn::write_log(Exchange& ex) { finish_exchange(m_ctx.engine, ex); }

void finish_exchange(Engine::Impl& engine, Exchange& ex) {
    ex.entry.status = ex.response.status;
    if (ex.entry.method.empty())
        ex.entry.method = ex.head.method;
    if (ex.entry.path.empty())
        ex.entry.path = ex.request.path;
    if (ex.entry.error_code.empty())
        if (auto code = http::find(ex.response.headers, "x-vaultfwd-error"))
            ex.entry.error_code = *code;
    ex.entry.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - ex.started).count();
    try {
        engine.phases.log(ex);
    } catch (const std::exception&) {
    }
    if (inspector::Inspector* watcher = engine.opt.inspector) {
        try {
            watcher->record(engine.opt.listener, ex);
        } catch (const std::exception&) {
        }
    }
}

void Conn::arm() {
    std::uint32_t want = 0;
    if (m_out_off < m_out.size())
        want |= m_blocked_write == Io::want_read ? EPOLLIN : EPOLLOUT;
    if ((m_state == State::handshake || m_state == State::tunnel_handshake)) {
        want |= m_write_blocked && m_blocked_write == Io::want_write ? EPOLLOUT : EPOLLIN;
    } else if (wants_read()) {
        want |= m_blocked_read == Io::want_write ? EPOLLOUT : EPOLLIN;
    }
    if (want != m_armed) {
        m_ctx.loop.modify(m_stream->fd(), want, this);
        m_armed = want;
    }
}

// ---- Engine ----

Engine::Engine(EngineOptions options, Phases& phases) : m_impl(std::make_unique<Impl>(std::move(options), phases)) {}

Engine::~Engine() {
    stop();
    std::lock_guard<std::mutex> lock(m_impl->run_mutex); // run() has returned
    if (m_impl->listen_fd >= 0)
        ::close(m_impl->listen_fd);
}

Result<int> Engine::bind(const std::string& host, int port) {
    std::signal(SIGPIPE, SIG_IGN);
    raise_descriptor_limit();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res)
        return make_error("server.bind", "cannot listen on " + where + ": unknown host (check " +
                                             m_impl->opt.listen_option + ")");
    int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 4096) != 0) {
        std::string why = std::strerror(errno);
        freeaddrinfo(res);
        if (fd >= 0)
            ::close(fd);
        return make_error("server.bind", "cannot listen on " + where + ": " + why + " (choose another with " +
                                             m_impl->opt.listen_option + ")");
    }
    freeaddrinfo(res);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    int bound = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                         : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    m_impl->listen_fd = fd;
    int n = m_impl->opt.loops > 0 ? m_impl->opt.loops : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 0; i < n; ++i)
        m_impl->loops.push_back(std::make_unique<LoopCtx>(*m_impl));
    return bound;
}

void Engine::run() {
    std::lock_guard<std::mutex> lock(m_impl->run_mutex);
    if (m_impl->listen_fd < 0 || m_impl->stopping)
        return;
    m_impl->workers = std::make_unique<net::Workers>(m_impl->opt.threads);
    for (auto& l : m_impl->loops)
        l->listen();
    m_impl->is_running = true;
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < m_impl->loops.size(); ++i)
        threads.emplace_back([this, i] { m_impl->loops[i]->loop.run(); });
    if (m_impl->stopping) // stop() came before the loops could hear it
        for (auto& l : m_impl->loops)
            l->loop.post([ctx = l.get()] {
                ctx->close_all();
                ctx->loop.stop();
            });
    m_impl->loops[0]->loop.run();
    for (auto& t : threads)
        t.join();
    m_impl->workers.reset(); // waits for handlers still running; their answers go nowhere
    for (auto& l : m_impl->loops)
        l->conns.clear();
    m_impl->is_running = false;
}

void Engine::stop() {
    if (m_impl->stopping.exchange(true))
        return;
    for (auto& l : m_impl->loops)
        l->loop.post([ctx = l.get()] {
            ctx->close_all();
            ctx->loop.stop();
        });
}

bool Engine::running() const { return m_impl->is_running; }

std::size_t Engine::connections() const { return m_impl->open; }

namespace {

// A body already whole, handed to phases that asked for it as a stream.
class WholeBody final : public http::BodySource {
  public:
    explicit WholeBody(std::string body) : m_body(std::move(body)) {}
    Step next(std::string& out) override {
        if (m_done || m_body.empty())
            return Step::end;
        m_done = true;
        out += m_body;
        return Step::piece;
    }
    std::optional<std::uint64_t> length() const override { return m_body.size(); }
    const std::string& error_code() const override { return m_none; }
    const std::string& error_message() const override { return m_none; }

  private:
    std::string m_body;
    bool m_done = false;
    std::string m_none;
};

} // namespace

http::Response Engine::exchange(std::shared_ptr<Exchange> ex) {
    Impl& engine = *m_impl;
    http::Response answer;
    try {
        std::optional<http::Response> early = engine.phases.on_head(*ex);
        if (early) {
            answer = std::move(*early);
        } else {
            if (ex->stream_request_body && engine.opt.streamed_requests)
                ex->request_body = std::make_shared<WholeBody>(std::move(ex->request.body));
            begin_watching(engine, *ex);
            answer = carry_out(engine.phases.on_request(*ex), engine.opt.upstream, *ex);
        }
        if (answer.stream) {
            std::shared_ptr<http::BodySource> body = std::move(answer.stream);
            if (ex->capture)
                body = inspector::capture_answer_stream(ex->capture, std::move(body));
            std::string piece;
            for (;;) {
                piece.clear();
                auto step = body->next(piece);
                if (step != http::BodySource::Step::piece) {
                    if (step == http::BodySource::Step::failed)
                        ex->entry.error_code = body->error_code();
                    break;
                }
                if (answer.body.size() + piece.size() > engine.opt.limits.max_body_bytes) {
                    answer = engine_error(502, "upstream.answer_too_large",
                                          "the answer is larger than limits.max_body_bytes");
                    break;
                }
                answer.body += piece;
            }
        }
    } catch (const std::exception&) {
        answer = engine_error(500, "server.internal", "something went wrong");
    }
    ex->response = answer;
    finish_exchange(engine, *ex);
    return answer;
}

} // namespace vaultfwd::server
