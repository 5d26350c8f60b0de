// SPDX-License-Identifier: Apache-2.0
#pragma once
// Byte-exact HTTP peers for fidelity tests: an upstream on a raw socket that answers with the
// exact bytes a test gives (httplib's server would sort and rewrite headers), and a raw client
// exchange that returns an answer as it came off the wire.

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/util/ossl.hpp"

namespace vaultfwd::test {

struct TestPki;

// HTTP on 127.0.0.1 port 0 (HTTPS with the PKI's server certificate when one is given), one
// connection at a time. The n-th request read (head and
// Content-Length body) gets the n-th answer (the last one once the list is used up), sent as
// given; the connection is closed after an answer that says so.
class RawUpstream {
  public:
    struct Answer {
        std::string bytes;
        bool close = false; // close the connection after sending (an until-close body, a drop)
        bool hang = false;  // send nothing, read until the client gives up (a timeout), close
    };
    explicit RawUpstream(std::vector<Answer> answers, const TestPki* tls = nullptr);
    ~RawUpstream();
    RawUpstream(const RawUpstream&) = delete;
    RawUpstream& operator=(const RawUpstream&) = delete;

    int port() const { return m_port; }
    std::string url(const std::string& path = "/") const;
    // Every request as it arrived: head and body, byte for byte.
    std::vector<std::string> requests() const;
    int connections() const { return m_connections; }

  private:
    void serve();
    std::vector<Answer> m_answers;
    ossl::SslCtxPtr m_tls;
    int m_listen = -1;
    int m_port = 0;
    std::thread m_thread;
    std::atomic<bool> m_stop{false};
    std::atomic<int> m_connections{0};
    mutable std::mutex m_mutex;
    std::vector<std::string> m_requests;
};

// Sends `request` to 127.0.0.1:port and returns everything read until the peer closes (send
// "Connection: close") or `timeout_ms` passes; empty when the connection fails.
std::string raw_exchange(int port, const std::string& request, int timeout_ms = 5000);

// The header lines of a raw answer (between the status line and the blank line), in order.
std::vector<std::string> header_lines(const std::string& answer);

// An upstream answer whose header values httplib's client used to percent-decode
// (`x-next: /a%2Fb?c=%20d`, `X-Request-ID: Mixed%2fCase`) and whose headers it sorted by name,
// with two Set-Cookie and a hop-by-hop header that its Connection header names (X-Hop).
extern const std::string k_fidelity_answer;
// Checks that the raw `answer` carries k_fidelity_answer's headers under `prefix` ("" for as
// they came, names as sent; else lower-case names after the prefix): values byte for byte, in
// the upstream's order, both Set-Cookie, X-Hop gone.
void check_fidelity(const std::string& answer, const std::string& prefix);

} // namespace vaultfwd::test
