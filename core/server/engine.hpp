// SPDX-License-Identifier: Apache-2.0
#pragma once
// serve's one HTTP/1.1 engine. It owns every socket and TLS stream of a listener: event loops
// (epoll, one per core) accept connections, do TLS handshakes, parse each request once with
// http::Parser, and write answers; a tunnel (CONNECT) or an idle keep-alive connection costs a
// buffer, never a thread. What a listener does with a request lives in a Phases object (the
// dialects), in the spirit of Pingora's ProxyHttp: on_head (auth, limits, routing; on the loop),
// on_request (render/reveal; on a worker) which answers itself or hands back the upstream call
// with its response phase (step.hpp: relay, ingress vaulting, redact), the call made by the
// engine's upstream client, log (once, as the answer goes out). Phases never touch a socket;
// the per-exchange context (Exchange) carries everything between them.
//
// Path of a request: socket -> [TLS] -> Parser (head) -> on_head -> [100 Continue] -> body ->
// on_request (on the loop when the phases say it is quick, else a worker) -> the upstream call,
// on the loop (upstream::Client::start) -> response phase (on the loop when it only relays, else
// a worker) -> log -> answer written on the loop, its body relayed as it arrives. A request
// body streamed to the upstream is read by waiting: that call is made on a worker (send()).
// Requests of a keep-alive connection are read one at a time: the next is parsed only once the
// current one is answered, which makes pipelining correct by construction.

#include <any>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/http/message.hpp"
#include "core/http/parser.hpp"
#include "core/inspector/capture.hpp"
#include "core/server/access_log.hpp"
#include "core/server/step.hpp"
#include "core/util/ossl.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::inspector {
class Inspector;
}

namespace vaultfwd::server {

using Clock = std::chrono::steady_clock;

// The CONNECT a connection's requests travel through (forward proxy).
struct Tunnel {
    std::string host; // normalised (tls::normalize_host), no brackets
    int port = 0;
    bool tls = false;       // TLS inside the tunnel (terminated by the engine)
    std::string principal;  // the proxy credential that opened it
};

// One request and its answer: the context every phase reads and writes.
struct Exchange {
    http::Head head;         // as parsed: method, target, headers in order
    http::Request request;   // method, path (target up to '?'), query, headers, body, remote_addr
    std::optional<Tunnel> tunnel; // set inside an accepted CONNECT tunnel
    bool listener_tls = false;    // the listener itself speaks TLS
    ossl::X509Ptr peer_certificate; // the client's certificate on a TLS listener, if it sent one
    AccessEntry entry;            // the access-log line (the engine sets method, status, duration)
    std::any state;               // the phases' own per-exchange state (route match, …)
    // on_head: nothing needs the request's body whole (no filter reads it), so it may go on
    // while it arrives: on_request then runs at once and reads it from request_body (with
    // bounded memory; request.body stays empty). Honoured on listeners with streamed_requests.
    bool stream_request_body = false;
    // on_head: on_request only reads (vault reads, a template over a whole body, no vault
    // writes, nothing that waits), so it runs on the connection's event loop instead of a
    // worker. The response phase of an answer read whole runs on a worker all the same.
    bool request_on_loop = false;
    std::shared_ptr<http::BodySource> request_body;
    Clock::time_point started = Clock::now();
    http::Response response;      // the answer, once made
    // While the inspector watches: the four messages as they went, masked when recorded.
    std::shared_ptr<inspector::Capture> capture;
};

class Phases {
  public:
    virtual ~Phases() = default;
    // On the loop, once the head is whole (before the body): auth, limits, routing. An answer
    // ends the exchange there; the body is not read (the connection closes if one was sent).
    virtual std::optional<http::Response> on_head(Exchange&) { return std::nullopt; }
    // On a worker, once the body is whole (at once when it streams): render/reveal; an answer,
    // or the upstream call and the response phase that the engine runs with its outcome.
    virtual Step on_request(Exchange&) = 0;
    // On the loop, for CONNECT: nullopt accepts the tunnel (fill ex.tunnel), an answer refuses.
    // The default refuses with 405.
    virtual std::optional<http::Response> on_connect(Exchange&);
    // On the loop: the answer to a request the parser refused (malformed, too large, timeout).
    virtual http::Response on_refusal(const http::ParseError& error, Exchange&);
    // Once per exchange, as its answer goes out (or when it is made for a client already gone).
    virtual void log(const Exchange&) {}
};

struct EngineOptions {
    http::ParseLimits limits;
    std::size_t threads = 16;        // workers for on_request
    int loops = 0;                   // event loops; 0: one per core (at least 1)
    int head_timeout_ms = 10000;     // from a head's first byte (or the accept) to its end
    int idle_timeout_ms = 5000;      // between requests of a keep-alive connection
    int body_timeout_ms = 30000;     // between two reads of a body, and for writing an answer
    int tunnel_idle_ms = 60000;      // a CONNECT tunnel before its first request and between requests
    std::size_t max_connections = 1u << 20; // beyond it new connections wait in the backlog
    SSL_CTX* listener_tls = nullptr; // the listener speaks TLS (not owned)
    SSL_CTX* tunnel_tls = nullptr;   // TLS inside CONNECT tunnels (not owned); its servername
                                     // callback finds the CONNECT host with tunnel_host_of()
    std::string listen_option = "--api-listen"; // named in the bind error
    // The phases may stream request bodies (Exchange::stream_request_body): the parser takes
    // bodies of any size, and limits.max_body_bytes bounds the bodies read whole (413).
    bool streamed_requests = false;
    // Makes the calls the phases hand back (UpstreamStep); not owned. Without one, such a
    // step is answered 500 server.internal.
    upstream::Client* upstream = nullptr;
    // Records every exchange, when set and enabled (not owned); `listener` names this one in
    // its rows: "api", "proxy" or "inbound".
    inspector::Inspector* inspector = nullptr;
    std::string listener = "api";
};

// The CONNECT target host of a TLS connection inside a tunnel, for the tunnel context's
// certificate callback (the SNI may be missing or differ).
const std::string* tunnel_host_of(SSL* ssl);

class Engine {
  public:
    Engine(EngineOptions options, Phases& phases);
    ~Engine(); // stops and joins
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Listens on host:port (0: any free port) and returns the port ("server.bind" otherwise).
    Result<int> bind(const std::string& host, int port);
    // Serves until stop(); returns at once if bind() did not succeed.
    void run();
    // Makes run() return: stops accepting, closes open connections, finishes the workers.
    // Thread-safe and idempotent; may be called before run().
    void stop();
    bool running() const;
    // Open connections right now (for tests and the soak test).
    std::size_t connections() const;
    // One exchange without a socket, as a connection of this listener runs it (on_head,
    // on_request, the upstream call, the response phase, the log and the inspector's record);
    // a streamed answer is read whole, up to limits.max_body_bytes. The inspector's re-send.
    http::Response exchange(std::shared_ptr<Exchange> ex);

    struct Impl; // shared with the loops and connections of engine.cpp

  private:
    std::unique_ptr<Impl> m_impl;
};

// An answer as bytes: status line, the response's headers in order without framing headers
// (Content-Length, Transfer-Encoding, Connection, Keep-Alive), then Content-Length (for a HEAD
// request, the response's own Content-Length is kept: it tells what a GET would get) and
// Connection: close when `close`, then the body (none for HEAD, 1xx, 204, 304).
void write_answer(std::string& out, const http::Response& response, std::string_view request_method, bool close);

} // namespace vaultfwd::server
