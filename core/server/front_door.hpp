// SPDX-License-Identifier: Apache-2.0
#pragma once
// The front stage of both listeners of `serve`: it owns the public socket, so that no client
// talks to an httplib server directly.
//
// Design:
// - One event-loop thread (epoll) accepts connections and reads each head without tying up a
//   thread: a client that sends its head one byte at a time (slowloris) costs a buffer, not a
//   worker. Every head must be whole within head_timeout_ms of its first byte (408
//   request.timeout otherwise); a connection that sends nothing is closed after that long.
// - Relay mode (the API port): the loop itself copies bytes between the client and an internal
//   httplib server on 127.0.0.1, through a RequestGuard (request_guard.hpp) that sees every
//   head of a keep-alive connection. The internal connection is opened when the first head has
//   passed the guard, so a slow or refused client never reaches an httplib worker. No sleeps
//   and no polling ticks on this path: epoll wakes the loop for bytes and for the nearest
//   deadline only.
// - Hand-off mode (the proxy port): once the first head has arrived (or the TLS handshake of a
//   TLS listener and then the head), the connection goes to a bounded pool of workers that run
//   the handler given (CONNECT, tunnels; their streams go through a RequestGuard too).
// - A refusal is answered after the responses to the requests before it on the connection,
//   then the connection is closed (lingering: the client's unread bytes are drained for a
//   moment, so that the answer is not lost to a reset).

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/http/message.hpp"
#include "core/server/request_guard.hpp"
#include "core/util/ossl.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::server {

using Clock = std::chrono::steady_clock;

enum class Io { ok, want_read, want_write, eof, error };

void set_nonblocking(int fd);
void set_nodelay(int fd);
// Milliseconds until `deadline`, 0 when past.
int remaining_ms(Clock::time_point deadline);
// Waits for `events` on `fd` until `deadline`, noticing `stopping` within 200 ms.
bool wait_fd(int fd, short events, Clock::time_point deadline, const std::atomic<bool>& stopping);
// A raw HTTP/1.1 response (Content-Length set; Connection: close when `close`).
std::string raw_response(const http::Response& r, bool close);

// The client's side of a connection: a non-blocking socket, or TLS over it.
class ClientStream {
  public:
    explicit ClientStream(int fd) : m_fd(fd) {}
    ~ClientStream(); // sends a TLS close_notify when it can, closes the socket
    ClientStream(const ClientStream&) = delete;
    ClientStream& operator=(const ClientStream&) = delete;

    int fd() const { return m_fd; }
    bool tls() const { return m_ssl != nullptr; }

    // Starts server-side TLS with `ctx`; then handshake() until it returns Io::ok.
    bool start_tls(SSL_CTX* ctx);
    Io handshake();
    // Completes the handshake, waiting up to `deadline`.
    bool accept_tls(SSL_CTX* ctx, Clock::time_point deadline, const std::atomic<bool>& stopping);

    Io read(char* buf, std::size_t cap, std::size_t& n);
    Io write(const char* buf, std::size_t len, std::size_t& n);
    // Writes all of `data` before `deadline`.
    bool send_all(std::string_view data, Clock::time_point deadline, const std::atomic<bool>& stopping);
    // Reads at least one more byte into `buf` before `deadline`; false on EOF, error or timeout.
    bool read_more(std::string& buf, Clock::time_point deadline, const std::atomic<bool>& stopping);

  private:
    Io ssl_status(int rc);

    int m_fd;
    ossl::SslPtr m_ssl;
    bool m_broken = false;
};

struct FrontDoorOptions {
    GuardLimits limits;
    std::size_t threads = 16;       // hand-off workers
    int head_timeout_ms = 10000;    // from a head's first byte (or the accept) to its end
    int idle_timeout_ms = 5000;     // relay: between requests of a keep-alive connection
    int relay_idle_ms = 60000;      // relay: nothing moves either way (must outlast a call)
    SSL_CTX* tls = nullptr;         // hand-off: the listener speaks TLS (not owned)
    std::string listen_option = "--api-listen"; // named in the bind error
};

class FrontDoor {
  public:
    // Makes the answer to a refusal (and may log it); called on the loop thread.
    using Render = std::function<http::Response(const Refusal&)>;
    // Serves one handed-off connection on a worker; `prefix` holds the bytes read so far (the
    // first head, possibly more, or fewer when the client stopped early).
    using Handler = std::function<void(ClientStream&, std::string prefix)>;

    FrontDoor(FrontDoorOptions options, Render render);
    ~FrontDoor(); // stops and joins
    FrontDoor(const FrontDoor&) = delete;
    FrontDoor& operator=(const FrontDoor&) = delete;

    // Listens on host:port (0: any free port) and returns the port ("server.bind" otherwise).
    Result<int> bind(const std::string& host, int port);
    // Exactly one of these, before run().
    void relay_to(int internal_port);
    void hand_off(Handler handler);
    // Relay mode: whether a connection from remote_addr:remote_port, as the internal server sees
    // it, is one the loop opened (anything else connected to the internal server directly).
    bool relayed_from(const std::string& remote_addr, int remote_port) const;
    // Serves until stop(); returns at once if bind() did not succeed.
    void run();
    // Makes run() return: stops accepting, ends open connections, joins the workers.
    // Thread-safe and idempotent; may be called before run().
    void stop();
    const std::atomic<bool>& stopping() const;
    bool running() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace vaultfwd::server
