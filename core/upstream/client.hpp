// SPDX-License-Identifier: Apache-2.0
#pragma once
// The one HTTP(S) client every dialect uses to reach third parties: system roots or pinned
// certificates only, optional mTLS identity, connect/read timeouts, keep-alive reuse, never a
// redirect, hop-by-hop headers stripped, and failures classified so callers can name the cause.

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/http/message.hpp"
#include "core/upstream/url.hpp"

namespace vaultfwd::net {
class Loop;
}

namespace vaultfwd::upstream {

struct TlsConfig {
    std::vector<std::string> pin_pems;       // when set: trust only these (roots or leaves)
    std::string client_cert_pem;             // mTLS identity (both or neither)
    std::string client_key_pem;
    std::vector<std::string> extra_ca_files; // trusted besides the system roots
};

struct Call {
    std::string method = "POST";
    Url url;
    http::Headers headers; // sent as given, minus hop-by-hop ones
    std::string body;
    // When set, the body is sent from here while it arrives (`body` is not used): with its
    // declared length as Content-Length, else chunked. A call whose body was begun is never
    // sent again (the retry-once rule).
    std::shared_ptr<http::BodySource> body_source;
    int connect_timeout_ms = 5000;
    int timeout_ms = 15000; // connect+handshake; then each write and read of the exchange
    TlsConfig tls;
    // The answer's body is handed over as Outcome::response.stream, read while it arrives,
    // instead of whole (answers without a body are always read whole).
    bool stream_answer = false;
    // An answer read whole that is larger fails with upstream.answer_too_large.
    std::uint64_t max_answer_bytes = std::numeric_limits<std::uint64_t>::max();
};

enum class FailureKind {
    none,
    bad_request,     // a header value with CR/LF/NUL, bad TLS material: nothing was sent
    connect,         // refused, unreachable, DNS
    timeout,         // connect or read took longer than allowed
    tls_handshake,   // handshake failed (protocol, client certificate refused by the server)
    tls_verify,      // the server's certificate did not verify against the system roots
    pin_mismatch,    // the server's certificate did not verify against the pinned ones
    client_cert_rejected, // the server asked for a client certificate and refused ours / none
    io,              // the connection broke mid-exchange
};

struct Outcome {
    FailureKind failure = FailureKind::none;
    std::string error_code;    // "upstream.timeout", "upstream.pin_mismatch", …
    std::string error_message; // names the host and the cause; never a body or a value
    http::Response response;   // valid when failure == none
    bool ok() const { return failure == FailureKind::none; }
};

class Client {
  public:
    Client();
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Sends `call` and waits for the answer (its head only with stream_answer); thread-safe. Connections are pooled per
    // (scheme, host, port, TLS config) and reused with keep-alive; a call that fails on a reused
    // connection before any answer byte (the upstream closed it while idle) is sent once more
    // on a new connection, never after a timeout or once an answer began.
    Outcome send(const Call& call);

    // The same call made on an event loop, never waiting on it: call from `loop`'s thread.
    // `done` runs once on that thread (never inside start()) with the outcome: the whole answer,
    // or, with stream_answer and a body, its head and a body source that says `pending` while
    // bytes are on their way (BodySource::when_ready); dropping that source ends the call.
    // Deadlines, pooling, verification and the retry-once rule are send()'s. A name that is not
    // an IP literal is resolved by a job given to `offload` (another thread: getaddrinfo
    // waits). Calls with a body_source are made with send() (its body is read by waiting).
    using Offload = std::function<void(std::function<void()>)>;
    void start(Call call, net::Loop& loop, Offload offload, std::function<void(Outcome)> done);

  private:
    struct Pool;
    std::shared_ptr<Pool> m_pool; // streamed answers give their connection back after the client's calls
};

} // namespace vaultfwd::upstream
