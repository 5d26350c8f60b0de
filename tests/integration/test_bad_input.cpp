// SPDX-License-Identifier: Apache-2.0
// A catalogue of malformed and hostile requests against the API listener, the proxy port and the
// inbound port over real sockets:
// each row names the request, the status and error code it must get, how many requests may
// reach the in-process upstream (none when refused), and the server must answer /healthz after
// it. Rows that the code answers wrongly are kept with the right expectation.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <httplib.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "core/dialect/vtex.hpp"
#include "core/profile/init.hpp"
#include "core/profile/profile.hpp"
#include "core/server/api_server.hpp"
#include "core/server/forward_proxy.hpp"
#include "core/server/inbound_proxy.hpp"
#include "core/tls/store.hpp"
#include "core/util/ossl.hpp"
#include "core/util/strings.hpp"
#include "support/api_harness.hpp"
#include "support/support.hpp"
#include "support/upstream_server.hpp"

using namespace vaultfwd;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::string_literals;

namespace {

using test::k_fp;
using test::k_kyc_key;

// The API listener in-process, with plain http allowed to no host.
struct Harness : test::ApiHarness {
    Harness() : test::ApiHarness({{}, {}, false}) {}
};

// --- raw sockets -------------------------------------------------------------------------------

int connect_to(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// Sends `bytes`, `chunk` bytes at a time with `delay_ms` between chunks; stops on any error
// (the server may close first) or when `stop` is set.
void send_bytes(int fd, const std::string& bytes, std::size_t chunk, int delay_ms,
                const std::atomic<bool>& stop) {
    std::size_t at = 0;
    while (at < bytes.size() && !stop) {
        std::size_t n = std::min(chunk, bytes.size() - at);
        ssize_t sent = ::send(fd, bytes.data() + at, n, MSG_NOSIGNAL);
        if (sent <= 0)
            return;
        at += static_cast<std::size_t>(sent);
        if (delay_ms > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    }
}

// True once `raw` holds a whole response: its head and Content-Length bytes of body (a
// response without Content-Length ends when the connection does).
bool complete_response(const std::string& raw) {
    auto head_end = raw.find("\r\n\r\n");
    if (head_end == std::string::npos)
        return false;
    std::string head = util::to_lower(raw.substr(0, head_end));
    auto at = head.find("\r\ncontent-length:");
    if (at == std::string::npos)
        return false;
    std::size_t length = std::strtoull(head.c_str() + at + 17, nullptr, 10);
    return raw.size() >= head_end + 4 + length;
}

// Reads one response: until it is complete, the peer closes or `timeout_ms` passes.
std::string read_until_close(int fd, int timeout_ms, bool* timed_out = nullptr) {
    std::string out;
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[16384];
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            if (timed_out)
                *timed_out = true;
            break;
        }
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(std::min<long long>(left, 200))) <= 0)
            continue;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        out.append(buf, static_cast<std::size_t>(n));
        if (complete_response(out))
            break;
    }
    return out;
}

struct Reply {
    int status = 0; // 0: the connection closed without an answer
    std::map<std::string, std::string> headers; // lower-case names, first value
    std::string body;
};

Reply parse_reply(const std::string& raw) {
    Reply r;
    auto head_end = raw.find("\r\n\r\n");
    if (raw.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos)
        return r;
    auto lines = util::split(raw.substr(0, head_end), '\n');
    auto sp = lines[0].find(' ');
    r.status = std::atoi(lines[0].c_str() + sp + 1);
    for (std::size_t i = 1; i < lines.size(); ++i) {
        auto colon = lines[i].find(':');
        if (colon == std::string::npos)
            continue;
        std::string name = util::to_lower(lines[i].substr(0, colon));
        std::string value(util::trim(std::string_view(lines[i]).substr(colon + 1)));
        r.headers.emplace(name, value);
    }
    r.body = raw.substr(head_end + 4);
    return r;
}

// Reads until the peer closes (or `timeout_ms`), and splits what came into responses.
std::vector<Reply> read_replies(int fd, int timeout_ms) {
    std::string raw;
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[16384];
    while (Clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        raw.append(buf, static_cast<std::size_t>(n));
    }
    std::vector<Reply> out;
    const std::string established = "HTTP/1.1 200 Connection established\r\n\r\n";
    while (raw.rfind(established, 0) == 0 || complete_response(raw)) {
        if (raw.rfind(established, 0) == 0) {
            out.push_back(parse_reply(established));
            raw.erase(0, established.size());
            continue;
        }
        auto head_end = raw.find("\r\n\r\n");
        std::string head = util::to_lower(raw.substr(0, head_end));
        auto at = head.find("\r\ncontent-length:");
        std::size_t total = head_end + 4 + std::strtoull(head.c_str() + at + 17, nullptr, 10);
        out.push_back(parse_reply(raw.substr(0, total)));
        raw.erase(0, total);
    }
    return out;
}

bool healthz(int port, int timeout_s = 5) {
    httplib::Client cli("127.0.0.1", port);
    cli.set_connection_timeout(timeout_s, 0);
    cli.set_read_timeout(timeout_s, 0);
    auto res = cli.Get("/healthz");
    return res && res->status == 200 && res->body == "{\"status\":\"ok\"}";
}

// An upstream that records header values exactly as they arrived on the wire: httplib 0.11.4's
// server percent-decodes them, so test::UpstreamServer cannot tell "a%2Fb" from "a/b". Plain
// HTTP or HTTPS (the test PKI's server certificate), a thread per connection, keep-alive,
// Content-Length bodies only; answers 200 {}.
class RawUpstream {
  public:
    RawUpstream(const test::TestPki& pki, bool tls) {
        if (tls) {
            m_ctx.reset(SSL_CTX_new(TLS_server_method()));
            REQUIRE(SSL_CTX_use_certificate(m_ctx.get(), pki.server.cert.get()) == 1);
            REQUIRE(SSL_CTX_use_PrivateKey(m_ctx.get(), pki.server.key.get()) == 1);
        }
        m_listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(m_listen, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(m_listen, 64) == 0);
        socklen_t len = sizeof addr;
        ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&addr), &len);
        m_port = ntohs(addr.sin_port);
        m_accept = std::thread([this] {
            while (!m_stop) {
                pollfd p{m_listen, POLLIN, 0};
                if (::poll(&p, 1, 100) <= 0)
                    continue;
                int fd = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
                if (fd < 0)
                    continue;
                std::lock_guard<std::mutex> lock(m_mutex);
                m_threads.emplace_back([this, fd] { serve(fd); });
            }
        });
    }
    ~RawUpstream() {
        m_stop = true;
        m_accept.join();
        std::vector<std::thread> threads;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            threads.swap(m_threads);
        }
        for (auto& t : threads)
            t.join();
        ::close(m_listen);
    }
    int port() const { return m_port; }
    std::string url(const std::string& path) const {
        return std::string(m_ctx ? "https" : "http") + "://127.0.0.1:" + std::to_string(m_port) + path;
    }
    std::vector<http::Request> requests() const {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_requests;
    }
    std::size_t request_count() const {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_requests.size();
    }

  private:
    void serve(int fd) {
        timeval tv{0, 200000};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ossl::SslPtr ssl;
        if (m_ctx) {
            ssl.reset(SSL_new(m_ctx.get()));
            SSL_set_fd(ssl.get(), fd);
            auto deadline = Clock::now() + std::chrono::seconds(3);
            while (SSL_accept(ssl.get()) != 1)
                if (SSL_get_error(ssl.get(), -1) != SSL_ERROR_WANT_READ || Clock::now() > deadline || m_stop) {
                    ::close(fd);
                    return;
                }
        }
        auto recv_some = [&](std::string& buf) {
            char tmp[16384];
            auto idle_until = Clock::now() + std::chrono::seconds(6);
            while (!m_stop && Clock::now() < idle_until) {
                int n = ssl ? SSL_read(ssl.get(), tmp, sizeof tmp) : static_cast<int>(::recv(fd, tmp, sizeof tmp, 0));
                if (n > 0) {
                    buf.append(tmp, static_cast<std::size_t>(n));
                    return true;
                }
                bool again = ssl ? SSL_get_error(ssl.get(), n) == SSL_ERROR_WANT_READ : (n < 0 && errno == EAGAIN);
                if (!again)
                    return false;
            }
            return false;
        };
        std::string buf;
        for (;;) {
            std::size_t end;
            while ((end = buf.find("\r\n\r\n")) == std::string::npos)
                if (!recv_some(buf))
                    goto done;
            {
                auto lines = util::split(buf.substr(0, end), '\n');
                http::Request r;
                auto parts = util::split(util::trim(lines[0]), ' ');
                r.method = parts[0];
                r.path = parts.size() > 1 ? parts[1].substr(0, parts[1].find('?')) : "";
                std::size_t length = 0;
                for (std::size_t i = 1; i < lines.size(); ++i) {
                    std::string line = lines[i];
                    if (!line.empty() && line.back() == '\r')
                        line.pop_back();
                    auto colon = line.find(':');
                    if (colon == std::string::npos)
                        continue;
                    r.headers.push_back({line.substr(0, colon), std::string(util::trim(std::string_view(line).substr(colon + 1)))});
                    if (util::iequals(r.headers.back().name, "content-length"))
                        length = std::strtoull(r.headers.back().value.c_str(), nullptr, 10);
                }
                buf.erase(0, end + 4);
                while (buf.size() < length)
                    if (!recv_some(buf))
                        goto done;
                r.body = buf.substr(0, length);
                buf.erase(0, length);
                {
                    std::lock_guard<std::mutex> lock(m_mutex);
                    m_requests.push_back(r);
                }
                std::string answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
                if (ssl)
                    SSL_write(ssl.get(), answer.data(), static_cast<int>(answer.size()));
                else
                    ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
            }
        }
    done:
        ssl.reset();
        ::close(fd);
    }

    ossl::SslCtxPtr m_ctx;
    int m_listen = -1;
    int m_port = 0;
    std::atomic<bool> m_stop{false};
    std::thread m_accept;
    mutable std::mutex m_mutex;
    std::vector<std::thread> m_threads;
    std::vector<http::Request> m_requests;
};

// --- the catalogue -----------------------------------------------------------------------------

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Context {
    Context(Harness& harness, test::UpstreamServer& plain, test::UpstreamServer& client_auth, RawUpstream& raw_tls)
        : h(harness), up(plain), mtls(client_auth), raw(raw_tls) {}
    Harness& h;
    test::UpstreamServer& up;   // HTTPS echo, server certificate from the test PKI
    test::UpstreamServer& mtls; // HTTPS echo that requires a client certificate
    RawUpstream& raw;           // HTTPS, records header values as they were sent
    std::string up_url;         // "https://127.0.0.1:<port>"
    std::string mtls_url;
    std::string vtex_proxy, vtex_tokens, vtex_hash;       // a payment's URLs and short hash
    std::string vtex_proxy_crlf, vtex_hash_crlf;          // a payment whose holder holds CR/LF
    std::string client_cert_pct, client_key_pct, expired_cert_pct, expired_key_pct,
        foreign_cert_pct, foreign_key_pct, other_ca_pct, server_pct;
    std::size_t upstream_count() const { return up.request_count() + mtls.request_count() + raw.request_count(); }
};

struct Row {
    std::string name;
    // The request: a raw byte sequence, or method/path/headers/body made into HTTP/1.1 with
    // Host, Connection: close, Authorization (unless auth is false) and Content-Length.
    std::string raw;
    std::string method = "POST";
    std::string path;
    Headers headers;
    std::string body;
    bool auth = true;
    bool content_length = true;
    // How it is sent: chunk size and delay between chunks; close the socket after sending
    // (abrupt disconnect, no answer read) or shut down the write side and then read.
    std::size_t chunk = 1 << 20;
    int delay_ms = 0;
    bool close_after_send = false;
    bool half_close = false;
    bool health_while_sending = false; // /healthz must answer while this request trickles in
    int read_timeout_ms = 15000;
    // What must happen.
    int status = 0;       // 0: no answer (the connection is closed or the row is custom)
    std::string code;     // x-vaultfwd-error and the body's code; empty: none
    std::size_t upstream = 0;                              // requests the upstream receives
    std::function<std::string(const http::Request&)> upstream_check; // on the last one
    std::function<std::string(const Reply&)> reply_check;
    std::function<std::string(Context&)> custom;           // replaces sending: "" is success
};

struct RowBuilder {
    Row row;
    explicit RowBuilder(std::string name) { row.name = std::move(name); }
    RowBuilder& post(std::string path) { row.method = "POST"; row.path = std::move(path); return *this; }
    RowBuilder& method(std::string m, std::string path) { row.method = std::move(m); row.path = std::move(path); return *this; }
    RowBuilder& raw(std::string bytes) { row.raw = std::move(bytes); return *this; }
    RowBuilder& h(std::string name, std::string value) { row.headers.emplace_back(std::move(name), std::move(value)); return *this; }
    RowBuilder& body(std::string b) { row.body = std::move(b); return *this; }
    RowBuilder& no_auth() { row.auth = false; return *this; }
    RowBuilder& no_length() { row.content_length = false; return *this; }
    RowBuilder& trickle(std::size_t chunk, int delay_ms) { row.chunk = chunk; row.delay_ms = delay_ms; return *this; }
    RowBuilder& abrupt_close() { row.close_after_send = true; return *this; }
    RowBuilder& half_close() { row.half_close = true; return *this; }
    RowBuilder& health_while_sending() { row.health_while_sending = true; return *this; }
    RowBuilder& read_timeout(int ms) { row.read_timeout_ms = ms; return *this; }
    RowBuilder& expect(int status, std::string code, std::size_t upstream = 0) {
        row.status = status; row.code = std::move(code); row.upstream = upstream; return *this;
    }
    RowBuilder& check_upstream(std::function<std::string(const http::Request&)> f) { row.upstream_check = std::move(f); return *this; }
    RowBuilder& check_reply(std::function<std::string(const Reply&)> f) { row.reply_check = std::move(f); return *this; }
    RowBuilder& custom(std::function<std::string(Context&)> f) { row.custom = std::move(f); return *this; }
    operator Row() const { return row; }
};

std::string build_request(const Row& r, const Context& c) {
    if (!r.raw.empty())
        return r.raw;
    std::string m = r.method + " " + r.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    if (r.auth)
        m += "Authorization: Basic " + util::base64_encode(c.h.key + ":") + "\r\n";
    for (const auto& [name, value] : r.headers)
        m += name + ": " + value + "\r\n";
    if (r.content_length)
        m += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    return m + "\r\n" + r.body;
}

// The code the body carries: Gr4vy's vaultfwd_code, or {"error":{"code"}}, or a top-level code.
std::optional<std::string> body_code(const std::string& body) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return std::nullopt;
    if (j.contains("vaultfwd_code") && j["vaultfwd_code"].is_string())
        return j["vaultfwd_code"].get<std::string>();
    if (j.contains("error") && j["error"].is_object() && j["error"].contains("code") && j["error"]["code"].is_string())
        return j["error"]["code"].get<std::string>();
    if (j.contains("code") && j["code"].is_string() && !j.contains("type"))
        return j["code"].get<std::string>();
    return std::nullopt;
}

std::string describe(const Reply& r) {
    std::string code = r.headers.count("x-vaultfwd-error") ? r.headers.at("x-vaultfwd-error") : "-";
    return "got " + std::to_string(r.status) + " " + code + " " + r.body.substr(0, 160);
}

// Runs one row; returns "" when it passed, else what went wrong.
std::string run_row(const Row& r, Context& c) {
    std::size_t before = c.upstream_count();
    std::size_t mtls_before = c.mtls.request_count(), raw_before = c.raw.request_count();
    std::string failure;
    if (r.custom) {
        failure = r.custom(c);
    } else {
        int fd = connect_to(c.h.port);
        if (fd < 0)
            return "cannot connect";
        timeval tv{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        std::string bytes = build_request(r, c);
        std::atomic<bool> stop{false};
        std::thread sender([&] { send_bytes(fd, bytes, r.chunk, r.delay_ms, stop); });
        if (r.health_while_sending) {
            std::this_thread::sleep_for(std::chrono::milliseconds(600));
            if (!healthz(c.h.port, 2))
                failure = "/healthz did not answer while the slow request was being sent";
        }
        Reply reply;
        if (r.close_after_send) {
            sender.join();
            ::close(fd);
            fd = -1;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        } else {
            if (r.half_close) {
                sender.join();
                ::shutdown(fd, SHUT_WR);
            }
            bool timed_out = false;
            reply = parse_reply(read_until_close(fd, r.read_timeout_ms, &timed_out));
            stop = true;
            if (sender.joinable())
                sender.join();
            if (timed_out && failure.empty())
                failure = "no answer within " + std::to_string(r.read_timeout_ms) + " ms";
        }
        if (fd >= 0)
            ::close(fd);
        if (failure.empty() && reply.status != r.status)
            failure = "expected status " + std::to_string(r.status) + ", " + describe(reply);
        if (failure.empty() && r.status != 0) {
            auto header = reply.headers.find("x-vaultfwd-error");
            if (r.code.empty() && header != reply.headers.end())
                failure = "expected no x-vaultfwd-error, " + describe(reply);
            else if (!r.code.empty() && (header == reply.headers.end() || header->second != r.code))
                failure = "expected code " + r.code + ", " + describe(reply);
            else if (!r.code.empty())
                if (auto in_body = body_code(reply.body); in_body && *in_body != r.code)
                    failure = "body code " + *in_body + " differs from " + r.code;
        }
        if (failure.empty() && r.reply_check)
            failure = r.reply_check(reply);
    }
    std::size_t reached = c.upstream_count() - before;
    if (failure.empty() && reached != r.upstream)
        failure = std::to_string(reached) + " request(s) reached the upstream, expected " + std::to_string(r.upstream);
    if (failure.empty() && r.upstream_check && reached > 0)
        failure = r.upstream_check(c.raw.request_count() > raw_before   ? c.raw.requests().back()
                                   : c.mtls.request_count() > mtls_before ? c.mtls.requests().back()
                                                                          : c.up.requests().back());
    if (!healthz(c.h.port))
        failure += std::string(failure.empty() ? "" : "; ") + "the server no longer answers /healthz";
    return failure;
}

std::string pct(const std::string& s) { return util::percent_encode(s); }

std::string repeat(const std::string& s, std::size_t n) {
    std::string out;
    out.reserve(s.size() * n);
    for (std::size_t i = 0; i < n; ++i)
        out += s;
    return out;
}

std::vector<Row> catalogue(Context& c) {
    const std::string jit = "/vault_proxy/jit", reflect = "/vault_proxy/reflect", gr = "/vault-forward";
    const std::string up = c.up_url;
    const std::string raw_up = c.raw.url("/raw");
    const std::string upport = up.substr(up.rfind(':') + 1);
    const std::string tok = "#vtex#token#" + c.vtex_hash + "#";
    auto gr4vy = [&](std::string name) {
        return RowBuilder(std::move(name)).post(gr).h("x-vault-forward-url", up + "/g")
            .h("x-vault-forward-http-method", "POST").h("x-vault-forward-payment-methods", "pm_1");
    };
    auto vtex = [&](std::string name) {
        return RowBuilder(std::move(name)).post(c.vtex_proxy).no_auth().h("Content-Type", "application/json");
    };
    // 100 headers of 1000 bytes: each line is under httplib's 8 KB line limit, the head is not.
    auto many_headers = [](RowBuilder& b) -> RowBuilder& {
        for (int i = 0; i < 100; ++i)
            b.h("x-padding-" + std::to_string(i), std::string(1000, 'a'));
        return b;
    };
    auto not_header = [](std::string name, std::string bad) {
        return [name, bad](const http::Request& r) -> std::string {
            auto v = http::find(r.headers, name);
            return v && v->find(bad) != std::string::npos ? "the upstream saw " + name + ": " + *v : "";
        };
    };
    std::vector<Row> rows = {
        // --- authentication and routing ---
        RowBuilder("jit without credentials").post(jit).no_auth().h("x-fp-proxy-target-url", up).body("hi").expect(401, "auth.bad_api_key"),
        RowBuilder("jit with an unknown Basic key").post(jit).no_auth().h("Authorization", "Basic " + util::base64_encode("sk_test_nope:")).h("x-fp-proxy-target-url", up).body("hi").expect(401, "auth.bad_api_key"),
        RowBuilder("jit with an unknown Bearer key").post(jit).no_auth().h("Authorization", "Bearer sk_test_nope").h("x-fp-proxy-target-url", up).body("hi").expect(401, "auth.bad_api_key"),
        RowBuilder("jit with Basic that is not base64").post(jit).no_auth().h("Authorization", "Basic %%%%").h("x-fp-proxy-target-url", up).body("hi").expect(401, "auth.bad_api_key"),
        RowBuilder("jit with an empty Bearer").post(jit).no_auth().h("Authorization", "Bearer ").h("x-fp-proxy-target-url", up).body("hi").expect(401, "auth.bad_api_key"),
        RowBuilder("jit with the key's prefix only").post(jit).no_auth().h("Authorization", "Bearer " + c.h.key.substr(0, c.h.key.size() - 1)).h("x-fp-proxy-target-url", up).body("hi").expect(401, "auth.bad_api_key"),
        RowBuilder("gr4vy without credentials").post(gr).no_auth().h("x-vault-forward-url", up).body("x").expect(401, "auth.bad_api_key"),
        RowBuilder("unknown path").post("/vault_proxy/jit/extra").body("x").expect(404, "request.not_found"),
        RowBuilder("dot-dot path").post("/vault_proxy/../vault-forward").body("x").expect(404, "request.not_found"),
        RowBuilder("percent-encoded dot-dot proxy id").post("/vault_proxy/%2e%2e").body("x").expect(404, "footprint.proxy_not_found"),
        RowBuilder("GET on jit").method("GET", jit).h("x-fp-proxy-target-url", up).expect(405, "request.method_not_allowed"),
        RowBuilder("DELETE on reflect").method("DELETE", reflect).expect(405, "request.method_not_allowed"),
        RowBuilder("PUT on vault-forward").method("PUT", gr).body("x").expect(405, "request.method_not_allowed"),
        RowBuilder("unknown method FOO").method("FOO", jit).h("x-fp-proxy-target-url", up).body("x").expect(400, "request.malformed"),

        // --- Footprint control headers ---
        RowBuilder("jit without a target").post(jit).body("hi").expect(400, "footprint.missing_target_url"),
        RowBuilder("jit with an empty target").post(jit).h("x-fp-proxy-target-url", "").body("hi").expect(400, "footprint.missing_target_url"),
        RowBuilder("duplicated target: allowed first wins").post(jit).h("x-fp-proxy-target-url", up + "/first").h("x-fp-proxy-target-url", "https://evil.example/").body("hi").expect(200, "", 1)
            .check_upstream([](const http::Request& r) { return r.path == "/first" ? "" : "the upstream saw " + r.path; }),
        RowBuilder("duplicated target: forbidden first wins").post(jit).h("x-fp-proxy-target-url", "https://evil.example/").h("x-fp-proxy-target-url", up).body("hi").expect(400, "upstream.host_not_allowed"),
        RowBuilder("plain http target").post(jit).h("x-fp-proxy-target-url", "http://127.0.0.1:" + upport + "/").body("hi").expect(400, "upstream.http_not_allowed"),
        RowBuilder("ftp target").post(jit).h("x-fp-proxy-target-url", "ftp://127.0.0.1/").body("hi").expect(400, "upstream.bad_url"),
        RowBuilder("javascript target").post(jit).h("x-fp-proxy-target-url", "javascript:alert(1)").body("hi").expect(400, "upstream.bad_url"),
        RowBuilder("scheme-relative target").post(jit).h("x-fp-proxy-target-url", "//127.0.0.1:" + upport + "/").body("hi").expect(400, "upstream.bad_url"),
        RowBuilder("userinfo: allowed host before @").post(jit).h("x-fp-proxy-target-url", "https://127.0.0.1@evil.example/").body("hi").expect(400, "upstream.bad_url"),
        RowBuilder("userinfo with port before @").post(jit).h("x-fp-proxy-target-url", "https://127.0.0.1:" + upport + "@evil.example/").body("hi").expect(400, "upstream.bad_url"),
        RowBuilder("fragment hides the real host").post(jit).h("x-fp-proxy-target-url", "https://evil.example#@127.0.0.1/").body("hi").expect(400, "upstream.host_not_allowed"),
        RowBuilder("query hides the real host").post(jit).h("x-fp-proxy-target-url", "https://evil.example?@127.0.0.1/").body("hi").expect(400, "upstream.host_not_allowed"),
        RowBuilder("backslash before @").post(jit).h("x-fp-proxy-target-url", "https://evil.example\\@127.0.0.1/").body("hi").expect(400, "upstream.bad_url"),
        RowBuilder("decimal IPv4").post(jit).h("x-fp-proxy-target-url", "https://2130706433:" + upport + "/").body("hi").expect(400, "upstream.host_not_allowed"),
        RowBuilder("hex IPv4").post(jit).h("x-fp-proxy-target-url", "https://0x7f000001:" + upport + "/").body("hi").expect(400, "upstream.host_not_allowed"),
        RowBuilder("octal IPv4").post(jit).h("x-fp-proxy-target-url", "https://0177.0.0.1:" + upport + "/").body("hi").expect(400, "upstream.host_not_allowed"),
        RowBuilder("short IPv4").post(jit).h("x-fp-proxy-target-url", "https://127.1:" + upport + "/").body("hi").expect(400, "upstream.host_not_allowed"),
        RowBuilder("IPv4-mapped IPv6").post(jit).h("x-fp-proxy-target-url", "https://[::ffff:127.0.0.1]:" + upport + "/").body("hi").expect(400, "upstream.host_not_allowed"),
        RowBuilder("unterminated IPv6").post(jit).h("x-fp-proxy-target-url", "https://[::1:" + upport + "/").body("hi").expect(400, "upstream.bad_url"),
        RowBuilder("IPv6 zone id").post(jit).h("x-fp-proxy-target-url", "https://[fe80::1%25lo]:" + upport + "/").body("hi").expect(400, "upstream.bad_url"),
        RowBuilder("trailing dot on an allowed IP reaches it").post(jit).h("x-fp-proxy-target-url", "https://127.0.0.1.:" + upport + "/dot").body("hi").expect(200, "", 1),
        RowBuilder("trailing dot on a forbidden host").post(jit).h("x-fp-proxy-target-url", "https://evil.example.:443/").body("hi").expect(400, "upstream.host_not_allowed"),
        RowBuilder("a lone dot as host").post(jit).h("x-fp-proxy-target-url", "https://.:" + upport + "/").body("hi").expect(400, "upstream.bad_url"),
        RowBuilder("allowed name as a subdomain of evil").post(jit).h("x-fp-proxy-target-url", "https://localhost.evil.example/").body("hi").expect(400, "upstream.host_not_allowed"),
        RowBuilder("upper-case scheme and host reach the upstream").post(jit).h("x-fp-proxy-target-url", "HTTPS://LOCALHOST:" + upport + "/upper").body("hi").expect(200, "", 1),
        RowBuilder("Footprint's own host in upper case").post(jit).h("x-fp-proxy-target-url", "https://API.ONEFOOTPRINT.COM/").body("hi").expect(400, "footprint.footprint_url"),
        RowBuilder("port 0").post(jit).h("x-fp-proxy-target-url", "https://127.0.0.1:0/").body("hi").expect(400, "upstream.bad_url"),
        RowBuilder("port out of range").post(jit).h("x-fp-proxy-target-url", "https://127.0.0.1:65536/").body("hi").expect(400, "upstream.bad_url"),
        RowBuilder("space in the target").post(jit).h("x-fp-proxy-target-url", up + "/a b").body("hi").expect(400, "upstream.bad_url"),
        RowBuilder("tab in the target").post(jit).h("x-fp-proxy-target-url", up + "/a\tb").body("hi").expect(400, "upstream.bad_url"),
        RowBuilder("a header line over 8 KiB (an access reason of 40 000 characters)").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-access-reason", "Bearer " + std::string(40000, 'a')).body("hi").expect(431, "request.header_too_large"),
        RowBuilder("raw UTF-8 in the target path reaches the upstream").post(jit).h("x-fp-proxy-target-url", up + "/caf\xc3\xa9").body("hi").expect(200, "", 1),
        RowBuilder("raw UTF-8 in the target host").post(jit).h("x-fp-proxy-target-url", "https://127.0.0.1\xc3\xa9:" + upport + "/").body("hi").expect(400, "upstream.bad_url"),
        RowBuilder("invalid UTF-8 in the target host").post(jit).h("x-fp-proxy-target-url", "https://127.0.0.1\xff/").body("hi").expect(400, "upstream.bad_url"),
        RowBuilder("encoded CR/LF in the target path stays encoded").post(jit).h("x-fp-proxy-target-url", raw_up + "/a%0d%0aX-Injected:%201").body("hi").expect(200, "", 1)
            .check_upstream(not_header("x-injected", "1")),
        RowBuilder("method with a space").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-method", "G ET").body("hi").expect(400, "footprint.bad_method"),
        RowBuilder("empty method header counts as absent").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-method", "").body("hi").expect(200, "", 1)
            .check_upstream([](const http::Request& r) { return r.method == "POST" ? "" : "the upstream saw " + r.method; }),
        RowBuilder("forward header with a control byte").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-fwd-x-evil", "a\x01" "b").body("hi").expect(400, "request.malformed"),
        RowBuilder("forward header with a bare CR").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-fwd-x-evil", "a\rX-Injected: 1").body("hi").expect(400, "request.malformed"),
        RowBuilder("forward header with a NUL").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-fwd-x-evil", "a\0b"s).body("hi").expect(400, "request.malformed"),
        RowBuilder("forward header with UTF-8").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-fwd-x-name", "Do\xc3\xa8").body("hi").expect(400, "footprint.invalid_forward_header"),
        RowBuilder("forward header with invalid UTF-8").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-fwd-x-name", "\xff\xfe").body("hi").expect(400, "footprint.invalid_forward_header"),
        RowBuilder("forward header with an empty name").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-fwd-", "v").body("hi").expect(400, "footprint.invalid_forward_header"),
        RowBuilder("forwarded Host is not used to dial").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-fwd-host", "evil.example").body("hi").expect(200, "", 1)
            .check_upstream(not_header("host", "evil")),
        RowBuilder("forwarded Content-Length cannot truncate the body").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-fwd-content-length", "1").body("hello").expect(200, "", 1)
            .check_upstream([](const http::Request& r) { return r.body == "hello" ? "" : "the upstream saw body " + r.body; }),
        RowBuilder("forwarded Transfer-Encoding is dropped").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-fwd-transfer-encoding", "chunked").body("hello").expect(200, "", 1)
            .check_upstream([](const http::Request& r) { return r.body == "hello" ? "" : "the upstream saw body " + r.body; }),
        RowBuilder("percent escapes in a forwarded header reach the upstream unchanged").post(jit).h("x-fp-proxy-target-url", raw_up).h("x-fp-proxy-fwd-x-sig", "a%2Fb%25c%0d").body("hi").expect(200, "", 1)
            .check_upstream([](const http::Request& r) { return http::find(r.headers, "x-sig") == "a%2Fb%25c%0d" ? "" : "the upstream saw x-sig: " + http::find(r.headers, "x-sig").value_or("(none)"); }),
        RowBuilder("a truncated UTF-8 sequence in an ingress rule").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-ingress-content-type", "json").h("x-fp-proxy-ingress-rule", "\xc9").body("hi").expect(400, "footprint.bad_ingress_rule"),
        // Obsolete line folding is refused (RFC 9112 §5.2 allows either; failing closed leaves no
        // room for two parsers to read one head differently).
        RowBuilder("obs-fold continuation line").raw("POST /vault_proxy/jit HTTP/1.1\r\nHost: a\r\nConnection: close\r\nAuthorization: Basic " +
                                                     util::base64_encode(c.h.key + ":") + "\r\nx-fp-proxy-target-url: " + up +
                                                     "\r\nx-fp-proxy-fwd-x-a: one\r\n two\r\nContent-Length: 2\r\n\r\nhi").expect(400, "request.malformed"),
        RowBuilder("duplicated x-fp-id: the first wins").post(reflect).h("x-fp-id", k_fp).h("x-fp-id", "fp_id_test_other").body("{{ id.first_name }}").expect(200, "")
            .check_reply([](const Reply& r) { return r.body == "Jane" ? "" : "reflect gave " + r.body; }),
        RowBuilder("x-fp-id that is not an fp_id").post(reflect).h("x-fp-id", "../../etc").body("{{ id.first_name }}").expect(400, "template.unknown_record"),
        RowBuilder("ingress rules without a content type").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-ingress-rule", "fp_id_test_jane.custom.x = $.a").body("hi").expect(400, "footprint.ingress_content_type_missing"),
        RowBuilder("ingress content type xml").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-ingress-content-type", "xml").h("x-fp-proxy-ingress-rule", "fp_id_test_jane.custom.x = $.a").body("hi").expect(400, "footprint.ingress_content_type_unsupported"),
        RowBuilder("ingress rule with two '='").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-ingress-content-type", "json").h("x-fp-proxy-ingress-rule", "fp_id_test_jane.custom.x = $.a = $.b").body("hi").expect(400, "footprint.bad_ingress_rule"),
        RowBuilder("ingress rule with a bad JSONPath").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-ingress-content-type", "json").h("x-fp-proxy-ingress-rule", "fp_id_test_jane.custom.x = $[").body("hi").expect(400, "footprint.bad_ingress_path"),
        RowBuilder("ingress rule with a non-ASCII byte").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-ingress-content-type", "json").h("x-fp-proxy-ingress-rule", "fp_id_test_jane.custom.x = $.\xc3\xa9").body("hi").expect(400, "footprint.bad_ingress_rule"),
        RowBuilder("ingress rule with the filter on the token").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-ingress-content-type", "json").h("x-fp-proxy-ingress-rule", "fp_id_test_jane.custom.x | to_uppercase = $.a").body("hi").expect(400, "footprint.bad_ingress_rule"),

        // --- client certificates and pins ---
        RowBuilder("client cert that is not percent-encoded").post(jit).h("x-fp-proxy-target-url", c.mtls_url).h("x-fp-proxy-client-cert", "%zz").h("x-fp-proxy-client-key", c.client_key_pct).body("hi").expect(400, "footprint.pem_not_url_encoded"),
        RowBuilder("client key with a truncated escape").post(jit).h("x-fp-proxy-target-url", c.mtls_url).h("x-fp-proxy-client-cert", c.client_cert_pct).h("x-fp-proxy-client-key", c.client_key_pct.substr(0, 40) + "%2").body("hi").expect(400, "footprint.pem_not_url_encoded"),
        RowBuilder("client cert without its key").post(jit).h("x-fp-proxy-target-url", c.mtls_url).h("x-fp-proxy-client-cert", c.client_cert_pct).body("hi").expect(400, "footprint.client_identity_incomplete"),
        RowBuilder("client key without its cert").post(jit).h("x-fp-proxy-target-url", c.mtls_url).h("x-fp-proxy-client-key", c.client_key_pct).body("hi").expect(400, "footprint.client_identity_incomplete"),
        RowBuilder("client cert that is not PEM").post(jit).h("x-fp-proxy-target-url", c.mtls_url).h("x-fp-proxy-client-cert", pct("hello")).h("x-fp-proxy-client-key", c.client_key_pct).body("hi").expect(400, "footprint.client_identity_invalid"),
        RowBuilder("client cert PEM with a corrupt body").post(jit).h("x-fp-proxy-target-url", c.mtls_url).h("x-fp-proxy-client-cert", pct("-----BEGIN CERTIFICATE-----\nMIIB!!!!\n-----END CERTIFICATE-----\n")).h("x-fp-proxy-client-key", c.client_key_pct).body("hi").expect(400, "footprint.client_identity_invalid"),
        RowBuilder("client cert with another cert's key").post(jit).h("x-fp-proxy-target-url", c.mtls_url).h("x-fp-proxy-client-cert", c.client_cert_pct).h("x-fp-proxy-client-key", c.foreign_key_pct).body("hi").expect(400, "footprint.client_identity_mismatch"),
        RowBuilder("expired client certificate").post(jit).h("x-fp-proxy-target-url", c.mtls_url).h("x-fp-proxy-client-cert", c.expired_cert_pct).h("x-fp-proxy-client-key", c.expired_key_pct).body("hi").expect(400, "upstream.client_cert_rejected"),
        RowBuilder("client certificate from an unknown CA").post(jit).h("x-fp-proxy-target-url", c.mtls_url).h("x-fp-proxy-client-cert", c.foreign_cert_pct).h("x-fp-proxy-client-key", c.foreign_key_pct).body("hi").expect(400, "upstream.client_cert_rejected"),
        RowBuilder("upstream demanding a client certificate, none given").post(jit).h("x-fp-proxy-target-url", c.mtls_url).body("hi").expect(400, "upstream.client_cert_rejected"),
        RowBuilder("wrong pin").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-pin-cert", c.other_ca_pct).body("hi").expect(400, "upstream.pin_mismatch"),
        RowBuilder("two wrong pins in two headers").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-pin-cert", c.other_ca_pct).h("x-fp-proxy-pin-cert", c.client_cert_pct).body("hi").expect(400, "upstream.pin_mismatch"),
        RowBuilder("pin that is not PEM").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-pin-cert", "garbage").body("hi").expect(400, "footprint.bad_pin"),
        RowBuilder("pin with a bad escape").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-pin-cert", c.other_ca_pct + ",%G0").body("hi").expect(400, "footprint.pem_not_url_encoded"),
        RowBuilder("pin that is a private key").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-pin-cert", c.client_key_pct).body("hi").expect(400, "footprint.bad_pin"),
        RowBuilder("right pin after a wrong one in one header").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-proxy-pin-cert", c.other_ca_pct + "," + c.server_pct).body("hi").expect(200, "", 1),

        // --- templates ---
        RowBuilder("unterminated token is kept as text").post(reflect).h("x-fp-id", k_fp).body("a {{ id.first_name").expect(200, "")
            .check_reply([](const Reply& r) { return r.body == "a {{ id.first_name" ? "" : "reflect gave " + r.body; }),
        RowBuilder("nested token").post(reflect).h("x-fp-id", k_fp).body("{{ {{ id.first_name }} }}").expect(200, "")
            .check_reply([](const Reply& r) { return r.body == "{{ Jane }}" ? "" : "reflect gave " + r.body; }),
        RowBuilder("deeply nested opening braces").post(reflect).h("x-fp-id", k_fp).body(repeat("{{", 20000) + " id.first_name }}").expect(200, ""),
        RowBuilder("empty token").post(jit).h("x-fp-proxy-target-url", up).body("{{}}").expect(400, "template.syntax"),
        RowBuilder("token with only a pipe").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.id.first_name | }}").expect(400, "template.syntax"),
        RowBuilder("unknown filter").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.id.first_name | shout }}").expect(400, "template.syntax"),
        RowBuilder("prefix with a word").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.id.first_name | prefix(x) }}").expect(400, "template.syntax"),
        RowBuilder("prefix with a negative count").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.id.first_name | prefix(-1) }}").expect(400, "template.syntax"),
        RowBuilder("prefix with a 30-digit count").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.id.first_name | prefix(999999999999999999999999999999) }}").expect(400, "template.syntax"),
        RowBuilder("replace with one argument").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.id.first_name | replace(\"a\") }}").expect(400, "template.syntax"),
        RowBuilder("replace with unquoted arguments").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.id.first_name | replace(a, b) }}").expect(400, "template.syntax"),
        RowBuilder("filter with unbalanced parens").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.id.first_name | prefix(2 }}").expect(400, "template.syntax"),
        RowBuilder("date_format on a value that is no date").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.id.first_name | date_format(\"%Y-%m-%d\", \"%Y\") }}").expect(400, "template.filter"),
        RowBuilder("hmac_sha256 with a key that is not hex").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.id.first_name | hmac_sha256(\"zz\") }}").expect(400, "template.syntax"),
        RowBuilder("encrypt with an unknown algorithm").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.id.first_name | encrypt(\"des\", \"00\") }}").expect(400, "template.syntax"),
        RowBuilder("encrypt with a key that is no DER").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.id.first_name | encrypt(\"rsa_pkcs1v15\", \"0011\") }}").expect(400, "template.filter"),
        RowBuilder("data identifier with a bad prefix").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.secret.x }}").expect(400, "template.syntax"),
        RowBuilder("field the record lacks").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.id.middle_name }}").expect(400, "template.unknown"),
        RowBuilder("record that does not exist").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_nobody.id.first_name }}").expect(400, "template.unknown_record"),
        RowBuilder("one bad token among good ones").post(jit).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.id.first_name }} {{ fp_id_test_jane.id.middle_name }} {{ fp_id_test_jane.id.last_name }}").expect(400, "template.unknown"),
        RowBuilder("key that may not reveal the field").post(jit).no_auth().h("Authorization", std::string("Bearer ") + k_kyc_key).h("x-fp-proxy-target-url", up).body("{{ fp_id_test_jane.custom.credit_card }}").expect(403, "template.forbidden"),
        RowBuilder("global and qualified fp_ids mixed").post(jit).h("x-fp-proxy-target-url", up).h("x-fp-id", k_fp).body("{{ fp_id_test_other.id.first_name }}").expect(400, "template.syntax"),
        RowBuilder("bare data identifier without x-fp-id").post(reflect).body("{{ id.first_name }}").expect(400, "template.syntax"),
        RowBuilder("invalid UTF-8 body").post(jit).h("x-fp-proxy-target-url", up).body("{\"a\":\"\xff\"}").expect(400, "request.not_utf8"),
        RowBuilder("overlong UTF-8 slash").post(jit).h("x-fp-proxy-target-url", up).body("\xc0\xaf").expect(400, "request.not_utf8"),
        RowBuilder("UTF-8 encoded surrogate").post(jit).h("x-fp-proxy-target-url", up).body("\xed\xa0\x80").expect(400, "request.not_utf8"),
        RowBuilder("truncated UTF-8 sequence in a token").post(reflect).h("x-fp-id", k_fp).body("{{ id.first_name \xe2\x82 }}").expect(400, "request.not_utf8"),
        RowBuilder("NUL bytes around a token pass through").post(reflect).h("x-fp-id", k_fp).body("\0{{ id.first_name }}\0"s).expect(200, "")
            .check_reply([](const Reply& r) { return r.body == "\0Jane\0"s ? "" : "reflect gave " + r.body; }),
        RowBuilder("a long filter chain").post(reflect).h("x-fp-id", k_fp).body("{{ id.first_name" + repeat(" | to_uppercase", 5000) + " }}").expect(200, ""),

        // --- bodies and message framing ---
        RowBuilder("declared Content-Length over the limit (Footprint)").post(reflect).no_length().h("Content-Length", "6000000").expect(400, "request.too_large"),
        RowBuilder("declared Content-Length over the limit (Gr4vy)").post(gr).no_length().h("Content-Length", "6000000").expect(413, "request.too_large").read_timeout(5000),
        RowBuilder("declared Content-Length over the limit (VTEX)").post(c.vtex_proxy).no_auth().no_length().h("Content-Type", "application/json").h("Content-Length", "6000000").expect(413, "request.too_large").read_timeout(5000),
        RowBuilder("body one byte over the limit").post(jit).h("x-fp-proxy-target-url", up).body(std::string(5242881, 'a')).expect(400, "request.too_large"),
        RowBuilder("chunked body over the limit (Footprint)").post(jit).no_length().h("x-fp-proxy-target-url", up).h("Transfer-Encoding", "chunked")
            .body(repeat("100000\r\n" + std::string(0x100000, 'a') + "\r\n", 6) + "0\r\n\r\n").expect(400, "request.too_large"),
        RowBuilder("chunked body over the limit (Gr4vy)").post(gr).no_length().h("Transfer-Encoding", "chunked")
            .body(repeat("100000\r\n" + std::string(0x100000, 'a') + "\r\n", 6) + "0\r\n\r\n").expect(413, "request.too_large"),
        RowBuilder("Content-Length that is not a number").post(reflect).no_length().h("Content-Length", "12abc").body("x").expect(400, "footprint.bad_content_length"),
        RowBuilder("negative Content-Length").post(gr).no_length().h("Content-Length", "-1").body("x").expect(400, "request.malformed").read_timeout(5000),
        RowBuilder("two different Content-Lengths").post(jit).no_length().h("x-fp-proxy-target-url", up).h("Content-Length", "2").h("Content-Length", "5").body("hello").expect(400, "request.malformed"),
        RowBuilder("bad chunk size").post(gr).no_length().h("Transfer-Encoding", "chunked").body("zz\r\nabc\r\n0\r\n\r\n").expect(400, "request.malformed"),
        RowBuilder("one header over max_header_bytes").post(jit).h("x-fp-proxy-target-url", up).h("x-padding", std::string(70000, 'a')).body("hi").expect(431, "request.header_too_large"),
        many_headers(RowBuilder("many headers over max_header_bytes").post(jit).h("x-fp-proxy-target-url", up).body("hi")).expect(431, "request.header_too_large"),
        RowBuilder("request target over 8 KB").method("GET", "/healthz?" + std::string(9000, 'a')).expect(414, "request.uri_too_long"),
        RowBuilder("garbage request line").raw("HELLO\r\n\r\n").expect(400, "request.malformed"),
        RowBuilder("HTTP/2 preface on the HTTP/1 port").raw("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").expect(400, "request.malformed"),
        RowBuilder("header line without a colon").raw("POST /vault_proxy/reflect HTTP/1.1\r\nHost: a\r\nConnection: close\r\nAuthorization: Bearer " + c.h.key +
                                                         "\r\nno colon here\r\nContent-Length: 0\r\n\r\n").expect(400, "request.malformed"),
        RowBuilder("NUL in the request target").raw("GET /healthz\0x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"s).expect(400, "request.malformed"),
        RowBuilder("TLS handshake on the plain port").raw("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00\r\n\r\n"s).expect(0, ""),

        // --- Gr4vy control headers ---
        RowBuilder("gr4vy without a URL").post(gr).h("x-vault-forward-http-method", "POST").h("x-vault-forward-payment-methods", "pm_1").body("{{ CARD_NUMBER_1 }}").expect(400, "gr4vy.missing_url"),
        RowBuilder("gr4vy URL not allowed").post(gr).h("x-vault-forward-url", "https://evil.example/").h("x-vault-forward-http-method", "POST").h("x-vault-forward-payment-methods", "pm_1").body("{{ CARD_NUMBER_1 }}").expect(400, "upstream.host_not_allowed"),
        RowBuilder("gr4vy URL with userinfo").post(gr).h("x-vault-forward-url", "https://127.0.0.1@evil.example/").h("x-vault-forward-http-method", "POST").h("x-vault-forward-payment-methods", "pm_1").body("{{ CARD_NUMBER_1 }}").expect(400, "upstream.bad_url"),
        RowBuilder("gr4vy plain http URL").post(gr).h("x-vault-forward-url", "http://127.0.0.1:" + upport + "/").h("x-vault-forward-http-method", "POST").h("x-vault-forward-payment-methods", "pm_1").body("{{ CARD_NUMBER_1 }}").expect(400, "upstream.http_not_allowed"),
        RowBuilder("gr4vy duplicated URL: forbidden first wins").post(gr).h("x-vault-forward-url", "https://evil.example/").h("x-vault-forward-url", up).h("x-vault-forward-http-method", "POST").h("x-vault-forward-payment-methods", "pm_1").body("{{ CARD_NUMBER_1 }}").expect(400, "upstream.host_not_allowed"),
        RowBuilder("gr4vy without a method").post(gr).h("x-vault-forward-url", up).h("x-vault-forward-payment-methods", "pm_1").body("{{ CARD_NUMBER_1 }}").expect(400, "gr4vy.missing_method"),
        RowBuilder("gr4vy method GET").post(gr).h("x-vault-forward-url", up).h("x-vault-forward-http-method", "GET").h("x-vault-forward-payment-methods", "pm_1").body("{{ CARD_NUMBER_1 }}").expect(400, "gr4vy.bad_method"),
        RowBuilder("gr4vy method with CR").post(gr).h("x-vault-forward-url", up).h("x-vault-forward-http-method", "POST\rX").h("x-vault-forward-payment-methods", "pm_1").body("{{ CARD_NUMBER_1 }}").expect(400, "request.malformed"),
        RowBuilder("gr4vy without payment methods").post(gr).h("x-vault-forward-url", up).h("x-vault-forward-http-method", "POST").body("{{ CARD_NUMBER_1 }}").expect(400, "gr4vy.missing_payment_methods"),
        gr4vy("gr4vy payment methods header given twice: the first wins").h("x-vault-forward-payment-methods", "pm_404").body("{{ CARD_NUMBER_1 }}").expect(200, "", 1)
            .check_upstream([](const http::Request& r) { return r.body == "4111111111111111" ? "" : "the upstream saw " + r.body; }),
        RowBuilder("gr4vy the same id twice").post(gr).h("x-vault-forward-url", up).h("x-vault-forward-http-method", "POST").h("x-vault-forward-payment-methods", "pm_1, pm_1").body("{{ CARD_NUMBER_1 }}").expect(400, "gr4vy.duplicate_payment_method"),
        RowBuilder("gr4vy empty id in the list").post(gr).h("x-vault-forward-url", up).h("x-vault-forward-http-method", "POST").h("x-vault-forward-payment-methods", "pm_1,,pm_2").body("{{ CARD_NUMBER_1 }}").expect(400, "gr4vy.bad_payment_methods"),
        RowBuilder("gr4vy unknown payment method").post(gr).h("x-vault-forward-url", up).h("x-vault-forward-http-method", "POST").h("x-vault-forward-payment-methods", "pm_404").body("{{ CARD_NUMBER_1 }}").expect(400, "gr4vy.unknown_payment_method"),
        RowBuilder("gr4vy Footprint record as payment method").post(gr).h("x-vault-forward-url", up).h("x-vault-forward-http-method", "POST").h("x-vault-forward-payment-methods", k_fp).body("{{ CARD_NUMBER_1 }}").expect(400, "gr4vy.unknown_payment_method"),
        gr4vy("gr4vy timeout zero").h("x-vault-forward-timeout", "0").body("{{ CARD_NUMBER_1 }}").expect(400, "gr4vy.bad_timeout"),
        gr4vy("gr4vy negative timeout").h("x-vault-forward-timeout", "-1").body("{{ CARD_NUMBER_1 }}").expect(400, "gr4vy.bad_timeout"),
        gr4vy("gr4vy timeout in exponent form").h("x-vault-forward-timeout", "1e3").body("{{ CARD_NUMBER_1 }}").expect(400, "gr4vy.bad_timeout"),
        gr4vy("gr4vy timeout too large").h("x-vault-forward-timeout", "99999").body("{{ CARD_NUMBER_1 }}").expect(400, "gr4vy.bad_timeout"),
        gr4vy("gr4vy forward header with a control byte").h("x-vault-forward-header-x-evil", "a\x01" "b").body("{{ CARD_NUMBER_1 }}").expect(400, "request.malformed"),
        gr4vy("gr4vy forward header with a bare CR").h("x-vault-forward-header-x-evil", "a\rX-Injected: 1").body("{{ CARD_NUMBER_1 }}").expect(400, "request.malformed"),
        gr4vy("gr4vy forwarded Host is not used to dial").h("x-vault-forward-header-host", "evil.example").body("{{ CARD_NUMBER_1 }}").expect(200, "", 1)
            .check_upstream(not_header("host", "evil")),
        RowBuilder("gr4vy percent escapes in a forwarded header reach the upstream unchanged").post(gr).h("x-vault-forward-url", raw_up).h("x-vault-forward-http-method", "POST").h("x-vault-forward-payment-methods", "pm_1").h("x-vault-forward-header-x-sig", "a%2Fb%25").body("{{ CARD_NUMBER_1 }}").expect(200, "", 1)
            .check_upstream([](const http::Request& r) { return http::find(r.headers, "x-sig") == "a%2Fb%25" ? "" : "the upstream saw x-sig: " + http::find(r.headers, "x-sig").value_or("(none)"); }),
        RowBuilder("gr4vy encoded LF in a forwarded header is not decoded into one").post(gr).h("x-vault-forward-url", raw_up).h("x-vault-forward-http-method", "POST").h("x-vault-forward-payment-methods", "pm_1").h("x-vault-forward-header-x-sig", "a%0aX-Injected: 1").body("{{ CARD_NUMBER_1 }}").expect(200, "", 1)
            .check_upstream([](const http::Request& r) { return http::find(r.headers, "x-sig") == "a%0aX-Injected: 1" ? "" : "the upstream saw x-sig: " + http::find(r.headers, "x-sig").value_or("(none)"); }),
        gr4vy("gr4vy unknown placeholder").body("{{ CARD_CVV_1 }}").expect(400, "template.unknown"),
        gr4vy("gr4vy index past the list").body("{{ CARD_NUMBER_2 }}").expect(400, "template.unknown"),
        gr4vy("gr4vy index zero").body("{{ CARD_NUMBER_0 }}").expect(400, "template.unknown"),
        gr4vy("gr4vy huge index").body("{{ CARD_NUMBER_99999999999999999999 }}").expect(400, "template.unknown"),
        gr4vy("gr4vy invalid UTF-8").body("{\"n\":\"{{ CARD_NUMBER_1 }}\xff\"}").expect(400, "template.utf8"),
        gr4vy("gr4vy unterminated placeholder is text").body("{{ CARD_NUMBER_1").expect(200, "", 1)
            .check_upstream([](const http::Request& r) { return r.body == "{{ CARD_NUMBER_1" ? "" : "the upstream saw " + r.body; }),

        // --- VTEX ---
        vtex("vtex without X-PROVIDER-Forward-To").body("{}").expect(400, "vtex.missing_forward_to"),
        vtex("vtex empty X-PROVIDER-Forward-To").h("X-PROVIDER-Forward-To", " ").body("{}").expect(400, "vtex.missing_forward_to"),
        vtex("vtex destination not allowed").h("X-PROVIDER-Forward-To", "https://acquirer.invalid/").body("{}").expect(403, "upstream.host_not_allowed"),
        vtex("vtex userinfo trick").h("X-PROVIDER-Forward-To", "https://127.0.0.1@acquirer.invalid/").body("{}").expect(400, "upstream.bad_url"),
        vtex("vtex fragment trick").h("X-PROVIDER-Forward-To", "https://acquirer.invalid#@127.0.0.1/").body("{}").expect(403, "upstream.host_not_allowed"),
        vtex("vtex decimal IP").h("X-PROVIDER-Forward-To", "https://2130706433:" + upport + "/").body("{}").expect(403, "upstream.host_not_allowed"),
        vtex("vtex plain http").h("X-PROVIDER-Forward-To", "http://127.0.0.1:" + upport + "/").body("{}").expect(403, "upstream.http_not_allowed"),
        vtex("vtex duplicated Forward-To: forbidden first wins").h("X-PROVIDER-Forward-To", "https://acquirer.invalid/").h("X-PROVIDER-Forward-To", up).body("{}").expect(403, "upstream.host_not_allowed"),
        RowBuilder("vtex wrong hash").post(c.vtex_proxy.substr(0, c.vtex_proxy.find("hash=") + 5) + std::string(64, '0')).no_auth().h("Content-Type", "application/json").h("X-PROVIDER-Forward-To", up).body("{}").expect(401, "vtex.bad_hash"),
        RowBuilder("vtex without hash").post(c.vtex_proxy.substr(0, c.vtex_proxy.find('?'))).no_auth().h("Content-Type", "application/json").h("X-PROVIDER-Forward-To", up).body("{}").expect(401, "vtex.bad_hash"),
        RowBuilder("vtex hash given twice, wrong one first").post(c.vtex_proxy.substr(0, c.vtex_proxy.find('?')) + "?hash=00&" + c.vtex_proxy.substr(c.vtex_proxy.find('?') + 1)).no_auth().h("Content-Type", "application/json").h("X-PROVIDER-Forward-To", up).body("{}").expect(401, "vtex.bad_hash"),
        vtex("vtex GET on the proxy URL").method("GET", c.vtex_proxy).h("X-PROVIDER-Forward-To", up).expect(405, "request.method_not_allowed"),
        RowBuilder("vtex XML body").post(c.vtex_proxy).no_auth().h("Content-Type", "application/xml").h("X-PROVIDER-Forward-To", up).body("<a/>").expect(415, "vtex.unsupported_content_type"),
        RowBuilder("vtex without a content type").post(c.vtex_proxy).no_auth().h("X-PROVIDER-Forward-To", up).body("{}").expect(415, "vtex.unsupported_content_type"),
        vtex("vtex token of another payment").h("X-PROVIDER-Forward-To", up).body("{\"n\":\"#vtex#token#0000000#number#\"}").expect(400, "vtex.unknown_token"),
        vtex("vtex unknown custom token").h("X-PROVIDER-Forward-To", up).body("{\"n\":\"#vtex#nope#" + c.vtex_hash + "#\"}").expect(400, "vtex.unknown_token"),
        vtex("vtex malformed token").h("X-PROVIDER-Forward-To", up).body("{\"n\":\"#vtex#token#\"}").expect(400, "vtex.unknown_token"),
        vtex("vtex holder with CR/LF into a header").h("X-PROVIDER-Forward-To", up).h("X-PROVIDER-Forward-Holder", "#vtex#token#" + c.vtex_hash_crlf + "#holder#").post(c.vtex_proxy_crlf).body("{}").expect(400, "vtex.unknown_token"),
        vtex("vtex holder with CR/LF into the body is fine").h("X-PROVIDER-Forward-To", up).post(c.vtex_proxy_crlf).body("{\"h\":\"#vtex#token#" + c.vtex_hash_crlf + "#holder#\"}").expect(200, "", 1)
            .check_upstream([](const http::Request& r) { return r.body.find("JOHN\r\nX-Injected: 1") != std::string::npos ? "" : "the upstream saw " + r.body; }),
        vtex("vtex custom token with CR/LF into a header").h("X-PROVIDER-Forward-To", up).h("X-PROVIDER-Forward-Signature", "#vtex#crlf#" + c.vtex_hash + "#").body("{}").expect(400, "vtex.unknown_token"),
        vtex("vtex custom token with a lone LF into a header").h("X-PROVIDER-Forward-To", up).h("X-PROVIDER-Forward-Signature", "x #vtex#lf#" + c.vtex_hash + "# y").body("{}").expect(400, "vtex.unknown_token"),
        vtex("vtex custom token with NUL into a header").h("X-PROVIDER-Forward-To", up).h("X-PROVIDER-Forward-Signature", "#vtex#nul#" + c.vtex_hash + "#").body("{}").expect(400, "vtex.unknown_token"),
        vtex("vtex custom token with CR/LF into Accept").h("X-PROVIDER-Forward-To", up).h("Accept", "#vtex#crlf#" + c.vtex_hash + "#").body("{}").expect(400, "upstream.bad_header"),
        vtex("vtex card number into a header is fine").h("X-PROVIDER-Forward-To", up).h("X-PROVIDER-Forward-Card", tok + "number#").body("{}").expect(200, "", 1)
            .check_upstream([](const http::Request& r) { return http::find(r.headers, "Card") == "5555444433331111" ? "" : "the upstream lacks Card"; }),
        vtex("vtex percent escapes in a forwarded header reach the upstream unchanged").h("X-PROVIDER-Forward-To", raw_up).h("X-PROVIDER-Forward-Sig", "a%2Fb%25").body("{}").expect(200, "", 1)
            .check_upstream([](const http::Request& r) { return http::find(r.headers, "Sig") == "a%2Fb%25" ? "" : "the upstream saw Sig: " + http::find(r.headers, "Sig").value_or("(none)"); }),
        vtex("vtex forward header with a bare CR").h("X-PROVIDER-Forward-To", up).h("X-PROVIDER-Forward-X", "a\rX-Injected: 1").body("{}").expect(400, "request.malformed"),
        vtex("vtex self-referencing custom token").h("X-PROVIDER-Forward-To", up).body("{\"n\":\"#vtex#loop#" + c.vtex_hash + "#\"}").expect(400, "vtex.unknown_token"),
        vtex("vtex custom token doubling without end").h("X-PROVIDER-Forward-To", up).body("{\"n\":\"#vtex#costly#" + c.vtex_hash + "#\"}").expect(400, "vtex.unknown_token"),
        vtex("vtex custom token nested too deep").h("X-PROVIDER-Forward-To", up).body("{\"n\":\"#vtex#deep#" + c.vtex_hash + "#\"}").expect(400, "vtex.unknown_token"),
        RowBuilder("vtex tokens: body that is not JSON").post(c.vtex_tokens).no_auth().h("Content-Type", "application/json").body("{").expect(400, "vtex.bad_tokens_body"),
        RowBuilder("vtex tokens: name with a slash").post(c.vtex_tokens).no_auth().h("Content-Type", "application/json").body(R"({"tokens":[{"name":"../x","value":1}]})").expect(400, "vtex.bad_token_name"),
        RowBuilder("vtex tokens: shadowing a card token").post(c.vtex_tokens).no_auth().h("Content-Type", "application/json").body(R"({"tokens":[{"name":"number","value":"4111"}]})").expect(400, "vtex.bad_token_name"),
        RowBuilder("vtex tokens with a wrong hash").method("GET", c.vtex_tokens.substr(0, c.vtex_tokens.find("hash=") + 5) + "x").no_auth().expect(401, "vtex.bad_hash"),

        // --- slow and broken connections ---
        RowBuilder("POST without Content-Length or Transfer-Encoding is answered at once").raw("POST /vault-forward HTTP/1.1\r\nHost: a\r\n\r\n")
            .expect(411, "request.length_required").read_timeout(3000),
        RowBuilder("PUT without Content-Length or Transfer-Encoding is answered at once").raw("PUT /vault_proxy/jit HTTP/1.1\r\nHost: a\r\n\r\n")
            .expect(411, "request.length_required").read_timeout(3000),
        RowBuilder("Content-Length with Transfer-Encoding").post(gr).no_length().h("Content-Length", "5").h("Transfer-Encoding", "chunked").body("5\r\nhello\r\n0\r\n\r\n").expect(400, "request.malformed"),
        RowBuilder("Transfer-Encoding other than chunked").post(gr).no_length().h("Transfer-Encoding", "gzip").body("x").expect(400, "request.malformed"),
        RowBuilder("Transfer-Encoding given twice").post(gr).no_length().h("Transfer-Encoding", "chunked").h("Transfer-Encoding", "chunked").body("0\r\n\r\n").expect(400, "request.malformed"),
        RowBuilder("two equal Content-Lengths").post(gr).no_length().h("Content-Length", "1").h("Content-Length", "1").body("x").expect(400, "request.malformed"),
        RowBuilder("space before the colon").raw("GET /healthz HTTP/1.1\r\nHost : a\r\nConnection: close\r\n\r\n").expect(400, "request.malformed"),
        RowBuilder("a smuggled second request behind a valid one is refused, the first is answered").custom([](Context& ctx) -> std::string {
            int fd = connect_to(ctx.h.port);
            std::string bytes = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                                "POST /vault-forward HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc";
            ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            auto replies = read_replies(fd, 5000);
            ::close(fd);
            if (replies.size() != 2)
                return std::to_string(replies.size()) + " answer(s), expected 2";
            if (replies[0].status != 200)
                return "the first request got " + describe(replies[0]);
            Reply r = replies[1];
            return r.status == 400 && r.headers["x-vaultfwd-error"] == "request.malformed" ? "" : "the second got " + describe(r);
        }),
        RowBuilder("pipelined: requests sent together are all answered, in order").custom([](Context& ctx) -> std::string {
            // httplib answers only the first of requests that arrive together: the guard holds
            // each one back until the answers before it are out.
            int fd = connect_to(ctx.h.port);
            auto reflect_request = [&](const std::string& body, const std::string& extra) {
                return "POST /vault_proxy/reflect HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + ctx.h.key +
                       "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
            };
            std::string bytes = reflect_request("one", "") + reflect_request("two", "") + reflect_request("three", "Connection: close\r\n");
            ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            auto replies = read_replies(fd, 5000);
            ::close(fd);
            if (replies.size() != 3)
                return std::to_string(replies.size()) + " answer(s), expected 3";
            const char* want[] = {"one", "two", "three"};
            for (std::size_t i = 0; i < 3; ++i)
                if (replies[i].status != 200 || replies[i].body != want[i])
                    return "answer " + std::to_string(i + 1) + " is " + describe(replies[i]);
            return "";
        }),
        RowBuilder("keep-alive: a head that arrives too slowly after a first request is timed out").custom([](Context& ctx) -> std::string {
            int fd = connect_to(ctx.h.port);
            std::string first = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
            ::send(fd, first.data(), first.size(), MSG_NOSIGNAL);
            if (parse_reply(read_until_close(fd, 5000)).status != 200) {
                ::close(fd);
                return "no answer to the first request";
            }
            auto started = Clock::now();
            std::atomic<bool> stop{false};
            std::thread sender([&] { send_bytes(fd, "GET /healthz HTTP/1.1\r\nHost: a\r\nx-slow: " + std::string(100, 'a'), 1, 300, stop); });
            Reply r = parse_reply(read_until_close(fd, 15000));
            stop = true;
            sender.join();
            ::close(fd);
            auto s = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count();
            if (r.status != 408 || r.headers["x-vaultfwd-error"] != "request.timeout")
                return describe(r);
            return s >= 9 && s <= 12 ? "" : "timed out after " + std::to_string(s) + " s";
        }),
        RowBuilder("slowloris: a head sent one byte every 200 ms").raw("GET /vault-forward HTTP/1.0\r\n\r\n").trickle(1, 200).health_while_sending().expect(401, "auth.bad_api_key"),
        RowBuilder("slow body: one byte every 200 ms").post(reflect).h("x-fp-id", k_fp).body("{{ id.first_name }}").trickle(16, 200).expect(200, "")
            .check_reply([](const Reply& r) { return r.body == "Jane" ? "" : "reflect gave " + r.body; }),
        RowBuilder("disconnect after half the body (Footprint)").post(jit).h("x-fp-proxy-target-url", up).h("Content-Length", "200").no_length().body(std::string(100, 'a')).abrupt_close(),
        RowBuilder("disconnect after half the body (Gr4vy)").post(gr).h("x-vault-forward-url", up).h("x-vault-forward-http-method", "POST").h("x-vault-forward-payment-methods", "pm_1").h("Content-Length", "200").no_length().body(std::string(100, 'a')).abrupt_close(),
        RowBuilder("disconnect after half the body (VTEX)").post(c.vtex_proxy).no_auth().h("Content-Type", "application/json").h("X-PROVIDER-Forward-To", up).h("Content-Length", "200").no_length().body(std::string(100, 'a')).abrupt_close(),
        RowBuilder("write side shut after half the body").post(jit).h("x-fp-proxy-target-url", up).h("Content-Length", "200").no_length().body(std::string(100, 'a')).half_close().expect(0, ""),
        RowBuilder("disconnect after half a chunked body").post(jit).h("x-fp-proxy-target-url", up).h("Transfer-Encoding", "chunked").no_length().body("64\r\n" + std::string(50, 'a')).abrupt_close(),
        RowBuilder("disconnect in the middle of the head").raw("POST /vault_proxy/jit HTTP/1.1\r\nHost: a\r\nx-fp-proxy-target-url: ").abrupt_close(),
        RowBuilder("an upstream connection closed while idle in the pool is not reused").custom([up](Context& ctx) -> std::string {
            // The test upstream closes idle keep-alive connections after 5 s.
            auto call = [&] {
                Row r = RowBuilder("").post("/vault_proxy/jit").h("x-fp-proxy-target-url", up + "/idle").body("hi").expect(200, "", 1);
                return run_row(r, ctx);
            };
            if (auto first = call(); !first.empty())
                return "first call: " + first;
            std::this_thread::sleep_for(std::chrono::milliseconds(5600));
            auto second = call();
            return second.empty() ? "" : "after 5.6 s idle: " + second;
        }).expect(0, "", 2),
        RowBuilder("slow clients must not starve the server").custom([](Context& ctx) -> std::string {
            // As many connections as worker threads, each sending a head one byte at a time.
            std::vector<int> fds;
            for (int i = 0; i < ctx.h.profile.limits.threads; ++i)
                if (int fd = connect_to(ctx.h.port); fd >= 0) {
                    ::send(fd, "P", 1, MSG_NOSIGNAL);
                    fds.push_back(fd);
                }
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            bool answered = healthz(ctx.h.port, 3);
            for (int fd : fds)
                ::close(fd);
            return answered ? "" : "/healthz got no answer while " + std::to_string(fds.size()) +
                                       " clients sent their heads slowly";
        }),
        // Last: before the fix it crashes the whole process (stack overflow in json::dump).
        RowBuilder("vtex tokens: value nested 100000 deep").post(c.vtex_tokens).no_auth().h("Content-Type", "application/json")
            .body("{\"tokens\":[{\"name\":\"deep2\",\"value\":" + repeat("[", 100000) + repeat("]", 100000) + "}]}").expect(400, "vtex.bad_tokens_body"),
    };
    return rows;
}


// --- the proxy port --------------------------------------------------------------------------

const char* k_proxy_user = "USER";
const char* k_proxy_pass = "PASS";

// The forward proxy with one route, on `localhost` only (its request bodies are read whole,
// within limits.max_body_bytes); everything to 127.0.0.1 passes through (bodies stream). Two
// upstreams (plain HTTP and HTTPS, both on 127.0.0.1) and small limits.
struct ProxyHarness {
    test::TempDir home;
    test::TestPki& pki;
    std::unique_ptr<profile::Profile> profile;
    std::unique_ptr<vault::Store> store;
    std::unique_ptr<server::AccessLog> log;
    upstream::Client client;
    std::unique_ptr<server::ForwardProxy> proxy;
    std::thread thread;
    int port = 0;
    std::string ca_file;

    explicit ProxyHarness(test::TestPki& p) : pki(p) {
        test::write_text(home / "upstream-ca.pem", pki.ca_pem());
        std::string text = "[listen]\nproxy = \"127.0.0.1:0\"\n\n[vault]\nkey = \"" + std::string(64, 'c') +
                           "\"\n\n[ca]\ncert = \"default/ca.pem\"\nkey = \"default/ca.key\"\n\n"
                           "[upstream]\nallow = [\"127.0.0.1\", \"localhost\"]\nallow_http = [\"127.0.0.1\", \"localhost\"]\n"
                           "ca_files = [\"" + (home / "upstream-ca.pem").string() + "\"]\n"
                           "connect_timeout_ms = 2000\ntimeout_ms = 3000\n\n"
                           "[limits]\nmax_body_bytes = 65536\nmax_header_bytes = 8192\nthreads = 4\n\n"
                           "[[proxy_credentials]]\nid = \"default\"\nusername = \"" + std::string(k_proxy_user) +
                           "\"\npassword = \"" + std::string(k_proxy_pass) + "\"\n" +
                           test::reveal_redact_route("localhost-only", "^localhost$", "$.card", "$.card");
        test::write_text(profile::profile_path(home.path(), "default"), text);
        auto loaded = profile::load(home.path(), "default");
        REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
        profile = std::make_unique<profile::Profile>(std::move(*loaded));
        REQUIRE(tls::init_ca(*profile, tls::CaOverwrite::never).ok());
        ca_file = profile->resolve(profile->ca.cert).string();
        store = std::move(*vault::Store::open(profile->vault_dir(), profile->vault_key()));
        log = std::move(*server::AccessLog::open(profile->access_log_path()));
        proxy = std::make_unique<server::ForwardProxy>(*profile, *store, client, *log);
        auto bound = proxy->bind("127.0.0.1", 0);
        REQUIRE_MESSAGE(bound.ok(), (bound.ok() ? "" : bound.error().message));
        port = *bound;
        thread = std::thread([this] { proxy->run(); });
    }
    ~ProxyHarness() {
        proxy->stop();
        thread.join();
    }
};

struct ProxyContext {
    ProxyHarness& p;
    test::UpstreamServer& plain; // HTTP echo
    test::UpstreamServer& tls;   // HTTPS echo
    RawUpstream& raw_plain;      // HTTP, header values as sent
    RawUpstream& raw_tls;        // HTTPS, header values as sent
    std::size_t upstream_count() const {
        return plain.request_count() + tls.request_count() + raw_plain.request_count() + raw_tls.request_count();
    }
};

std::string proxy_auth() { return "Proxy-Authorization: Basic " + util::base64_encode(std::string(k_proxy_user) + ":" + k_proxy_pass) + "\r\n"; }

// The proxy answers GET /ca.pem without credentials: its health check.
bool proxy_alive(int port) {
    httplib::Client cli("127.0.0.1", port);
    cli.set_connection_timeout(5, 0);
    cli.set_read_timeout(5, 0);
    auto res = cli.Get("/ca.pem");
    return res && res->status == 200 && res->body.find("BEGIN CERTIFICATE") != std::string::npos;
}

// Sends `bytes` on a fresh connection and reads the answers until the proxy closes. A CONNECT's
// "200 Connection established" (no Content-Length) counts as an answer.
std::vector<Reply> proxy_exchange(int port, const std::string& bytes, int timeout_ms = 5000) {
    int fd = connect_to(port);
    if (fd < 0)
        return {};
    ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    auto replies = read_replies(fd, timeout_ms);
    ::close(fd);
    return replies;
}

// A CONNECT to 127.0.0.1:`target`, then TLS to the proxy's minted leaf (verified against the
// local CA), then `bytes` inside; the answers come back decrypted until the tunnel closes.
std::vector<Reply> tls_tunnel_exchange(int port, int target, const std::string& ca_file, const std::string& bytes,
                                       std::string& failure) {
    int fd = connect_to(port);
    std::string connect = "CONNECT 127.0.0.1:" + std::to_string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + proxy_auth() + "\r\n";
    ::send(fd, connect.data(), connect.size(), MSG_NOSIGNAL);
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos && ::recv(fd, &c, 1, 0) == 1)
        head.push_back(c);
    if (head.rfind("HTTP/1.1 200", 0) != 0) {
        failure = "CONNECT got " + head.substr(0, 60);
        ::close(fd);
        return {};
    }
    ossl::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    ossl::SslPtr ssl(SSL_new(ctx.get()));
    SSL_set_fd(ssl.get(), fd);
    SSL_set_tlsext_host_name(ssl.get(), "127.0.0.1");
    SSL_set1_host(ssl.get(), "127.0.0.1");
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (SSL_connect(ssl.get()) != 1) {
        failure = "the TLS handshake inside the tunnel failed: " + ossl::last_error();
        ::close(fd);
        return {};
    }
    SSL_write(ssl.get(), bytes.data(), static_cast<int>(bytes.size()));
    std::string raw;
    char buf[16384];
    int n;
    while ((n = SSL_read(ssl.get(), buf, sizeof buf)) > 0)
        raw.append(buf, static_cast<std::size_t>(n));
    ssl.reset();
    ::close(fd);
    std::vector<Reply> out;
    while (complete_response(raw)) {
        auto head_end = raw.find("\r\n\r\n");
        std::string lower = util::to_lower(raw.substr(0, head_end));
        auto at = lower.find("\r\ncontent-length:");
        std::size_t total = head_end + 4 + std::strtoull(lower.c_str() + at + 17, nullptr, 10);
        out.push_back(parse_reply(raw.substr(0, total)));
        raw.erase(0, total);
    }
    return out;
}

// "" when `replies` are exactly these statuses, the last one with `code` (empty: no marker).
std::string expect_replies(const std::vector<Reply>& replies, std::vector<int> statuses, const std::string& code) {
    if (replies.size() != statuses.size()) {
        std::string got;
        for (const auto& r : replies)
            got += " " + describe(r);
        return std::to_string(replies.size()) + " answer(s), expected " + std::to_string(statuses.size()) + ":" + got;
    }
    for (std::size_t i = 0; i < replies.size(); ++i)
        if (replies[i].status != statuses[i])
            return "answer " + std::to_string(i + 1) + ": expected " + std::to_string(statuses[i]) + ", " + describe(replies[i]);
    if (replies.empty())
        return "";
    const Reply& last = replies.back();
    auto marker = last.headers.find("x-vaultfwd-error");
    std::string got = marker == last.headers.end() ? "" : marker->second;
    if (got != code)
        return "expected code " + (code.empty() ? "(none)" : code) + ", " + describe(last);
    if (!code.empty())
        if (auto in_body = body_code(last.body); !in_body || *in_body != code)
            return "the body does not carry " + code + ": " + last.body.substr(0, 120);
    return "";
}

struct ProxyRow {
    std::string name;
    std::size_t upstream = 0;
    std::function<std::string(ProxyContext&)> run;
};

std::vector<ProxyRow> proxy_catalogue(ProxyContext& c) {
    const int port = c.p.port;
    const std::string plain_host = "127.0.0.1:" + std::to_string(c.plain.port());
    const std::string tls_port = std::to_string(c.tls.port());
    const std::string abs = "http://" + plain_host;
    const std::string raw_abs = "http://127.0.0.1:" + std::to_string(c.raw_plain.port());
    const std::string raw_tls_port = std::to_string(c.raw_tls.port());
    auto simple = [port](std::string bytes, std::vector<int> statuses, std::string code) {
        return [port, bytes, statuses, code](ProxyContext&) { return expect_replies(proxy_exchange(port, bytes), statuses, code); };
    };
    auto connect_head = [](const std::string& target, const std::string& extra = proxy_auth()) {
        return "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n" + extra + "\r\n";
    };
    // A plain-HTTP tunnel to the plain upstream with `inside` sent through it.
    auto plain_tunnel = [&](const std::string& inside) { return connect_head(plain_host) + inside; };
    auto upstream_header = [&c](const std::string& name, const std::string& want, bool plain) {
        return [&c, name, want, plain]() -> std::string {
            auto reqs = plain ? c.raw_plain.requests() : c.raw_tls.requests();
            if (reqs.empty())
                return "nothing reached the upstream";
            auto v = http::find(reqs.back().headers, name);
            return v == want ? "" : "the upstream saw " + name + ": " + v.value_or("(none)");
        };
    };
    std::vector<ProxyRow> rows = {
        // --- credentials ---
        {"absolute-form without Proxy-Authorization", 0, [port, abs](ProxyContext&) {
             auto r = proxy_exchange(port, "GET " + abs + "/x HTTP/1.1\r\nHost: " + abs.substr(7) + "\r\nConnection: close\r\n\r\n");
             auto f = expect_replies(r, {407}, "auth.bad_proxy_credentials");
             if (f.empty() && r[0].headers["proxy-authenticate"].find("Basic") == std::string::npos)
                 f = "no Proxy-Authenticate: Basic";
             return f;
         }},
        {"absolute-form with a wrong password", 0, simple("GET " + abs + "/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nProxy-Authorization: Basic " + util::base64_encode("USER:nope") + "\r\n\r\n", {407}, "auth.bad_proxy_credentials")},
        {"absolute-form with Bearer instead of Basic", 0, simple("GET " + abs + "/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nProxy-Authorization: Bearer PASS\r\n\r\n", {407}, "auth.bad_proxy_credentials")},
        {"absolute-form with Basic that is not base64", 0, simple("GET " + abs + "/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nProxy-Authorization: Basic %%%%\r\n\r\n", {407}, "auth.bad_proxy_credentials")},
        {"CONNECT without Proxy-Authorization", 0, simple(connect_head(plain_host, "Connection: close\r\n"), {407}, "auth.bad_proxy_credentials")},
        {"CONNECT with a wrong username", 0, simple(connect_head(plain_host, "Connection: close\r\nProxy-Authorization: Basic " + util::base64_encode("ROOT:PASS") + "\r\n"), {407}, "auth.bad_proxy_credentials")},
        {"CONNECT retried with credentials after a 407 on one connection", 1, [port, plain_host, connect_head](ProxyContext&) {
             auto r = proxy_exchange(port, connect_head(plain_host, "") + connect_head(plain_host) +
                                               "GET /retry HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
             return expect_replies(r, {407, 200, 200}, "");
         }},

        // --- malformed CONNECT ---
        {"CONNECT to a non-numeric port", 0, simple(connect_head("127.0.0.1:https"), {400}, "proxy.bad_connect_target")},
        {"CONNECT to port 0", 0, simple(connect_head("127.0.0.1:0"), {400}, "proxy.bad_connect_target")},
        {"CONNECT to port 65536", 0, simple(connect_head("127.0.0.1:65536"), {400}, "proxy.bad_connect_target")},
        {"CONNECT to a port with six digits", 0, simple(connect_head("127.0.0.1:000443"), {400}, "proxy.bad_connect_target")},
        {"CONNECT to a negative port", 0, simple(connect_head("127.0.0.1:-1"), {400}, "proxy.bad_connect_target")},
        {"CONNECT without a port", 0, simple(connect_head("127.0.0.1"), {400}, "proxy.bad_connect_target")},
        {"CONNECT to an unterminated IPv6 literal", 0, simple(connect_head("[::1:443"), {400}, "proxy.bad_connect_target")},
        {"CONNECT to a wildcard host", 0, simple(connect_head("*.example.com:443"), {400}, "proxy.bad_connect_target")},
        {"CONNECT with a userinfo in the target", 0, simple(connect_head("user@127.0.0.1:" + tls_port), {400}, "proxy.bad_connect_target")},
        {"CONNECT to a host not allowed", 0, simple(connect_head("evil.example:443"), {403}, "upstream.host_not_allowed")},
        {"CONNECT to the proxy itself", 0, simple(connect_head("127.0.0.1:" + std::to_string(port)), {403}, "proxy.loop")},
        {"CONNECT with a header line without a colon", 0, simple("CONNECT " + plain_host + " HTTP/1.1\r\nno colon here\r\n" + proxy_auth() + "\r\n", {400}, "request.malformed")},
        {"CONNECT with an obs-fold line", 0, simple("CONNECT " + plain_host + " HTTP/1.1\r\nHost: a\r\n folded\r\n" + proxy_auth() + "\r\n", {400}, "request.malformed")},
        {"CONNECT with HTTP/2.0", 0, simple("CONNECT " + plain_host + " HTTP/2.0\r\n" + proxy_auth() + "\r\n", {400}, "request.malformed")},
        {"CONNECT without a version", 0, simple("CONNECT " + plain_host + "\r\n" + proxy_auth() + "\r\n", {400}, "request.malformed")},
        {"garbage request line", 0, simple("HELLO\r\n\r\n", {400}, "request.malformed")},

        // --- heads ---
        {"first head over max_header_bytes", 0, simple("GET " + abs + "/x HTTP/1.1\r\nx-big: " + std::string(9000, 'a') + "\r\n" + proxy_auth() + "\r\n", {431}, "request.header_too_large")},
        {"head over max_header_bytes inside a tunnel", 0, simple(plain_tunnel("GET /x HTTP/1.1\r\nHost: a\r\nx-big: " + std::string(9000, 'a') + "\r\n\r\n"), {200, 431}, "request.header_too_large")},
        {"unknown method through the proxy", 0, simple("BREW " + abs + "/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + proxy_auth() + "\r\n", {400}, "request.malformed")},

        // --- message framing on plain absolute-form requests ---
        {"plain request with two Content-Lengths", 0, simple("POST " + abs + "/x HTTP/1.1\r\nHost: a\r\n" + proxy_auth() + "Content-Length: 3\r\nContent-Length: 30\r\n\r\nabc", {400}, "request.malformed")},
        {"plain request with Content-Length and Transfer-Encoding", 0, simple("POST " + abs + "/x HTTP/1.1\r\nHost: a\r\n" + proxy_auth() + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", {400}, "request.malformed")},
        {"plain request with Transfer-Encoding: identity", 0, simple("POST " + abs + "/x HTTP/1.1\r\nHost: a\r\n" + proxy_auth() + "Transfer-Encoding: identity\r\n\r\nabc", {400}, "request.malformed")},
        {"plain POST without a length", 0, simple("POST " + abs + "/x HTTP/1.1\r\nHost: a\r\n" + proxy_auth() + "\r\n", {411}, "request.length_required")},
        {"plain request a route reads, declaring a body over the limit", 0, simple("POST http://localhost:" + std::to_string(c.plain.port()) + "/x HTTP/1.1\r\nHost: a\r\n" + proxy_auth() + "Content-Length: 70000\r\n\r\n", {413}, "request.too_large")},
        {"plain request a route reads, chunked past the limit", 0, simple("POST http://localhost:" + std::to_string(c.plain.port()) + "/x HTTP/1.1\r\nHost: a\r\n" + proxy_auth() + "Transfer-Encoding: chunked\r\n\r\n" + "10000\r\n" + std::string(0x10000, 'a') + "\r\n" + "10\r\n" + std::string(16, 'a') + "\r\n0\r\n\r\n", {413}, "request.too_large")},
        {"plain request no route reads, with a body over the limit: streamed whole to the upstream", 1, [port, abs](ProxyContext& ctx) {
             const std::string body(70000, 'b');
             auto f = expect_replies(proxy_exchange(port, "POST " + abs + "/streamed HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + proxy_auth() + "Content-Length: 70000\r\n\r\n" + body), {200}, "");
             if (f.empty() && (ctx.plain.requests().empty() || ctx.plain.requests().back().body != body))
                 f = "the upstream did not get the 70 000 bytes";
             return f;
         }},
        {"plain request: a smuggled second request on the same connection", 1, simple("GET " + abs + "/first HTTP/1.1\r\nHost: a\r\n" + proxy_auth() + "\r\n" +
                                                                                        "POST " + abs + "/second HTTP/1.1\r\nHost: a\r\n" + proxy_auth() + "Content-Length: 1\r\nContent-Length: 20\r\n\r\nx", {200, 400}, "request.malformed")},
        {"plain requests pipelined: both answered, in order", 2, simple("GET " + abs + "/first HTTP/1.1\r\nHost: a\r\n" + proxy_auth() + "\r\n" +
                                                                    "GET " + abs + "/second HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + proxy_auth() + "\r\n", {200, 200}, "")},
        {"plain request: percent escapes in a header reach the upstream unchanged", 1, [port, raw_abs, upstream_header](ProxyContext&) {
             auto f = expect_replies(proxy_exchange(port, "GET " + raw_abs + "/pct HTTP/1.1\r\nHost: a\r\nConnection: close\r\nx-sig: a%2Fb%25c%0d\r\n" + proxy_auth() + "\r\n"), {200}, "");
             return f.empty() ? upstream_header("x-sig", "a%2Fb%25c%0d", true)() : f;
         }},

        // --- inside tunnels ---
        {"plain tunnel with two Content-Lengths", 0, simple(plain_tunnel("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc"), {200, 400}, "request.malformed")},
        {"plain tunnel: POST without a length", 0, simple(plain_tunnel("POST /x HTTP/1.1\r\nHost: a\r\n\r\n"), {200, 411}, "request.length_required")},
        {"TLS tunnel with two Content-Lengths", 0, [port, tls_port](ProxyContext& ctx) {
             std::string failure;
             auto r = tls_tunnel_exchange(port, std::stoi(tls_port), ctx.p.ca_file,
                                          "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc", failure);
             return failure.empty() ? expect_replies(r, {400}, "request.malformed") : failure;
         }},
        {"TLS tunnel with Content-Length and Transfer-Encoding", 0, [port, tls_port](ProxyContext& ctx) {
             std::string failure;
             auto r = tls_tunnel_exchange(port, std::stoi(tls_port), ctx.p.ca_file,
                                          "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", failure);
             return failure.empty() ? expect_replies(r, {400}, "request.malformed") : failure;
         }},
        {"TLS tunnel: requests pipelined, all answered in order", 3, [port, tls_port](ProxyContext& ctx) {
             std::string failure;
             auto r = tls_tunnel_exchange(port, std::stoi(tls_port), ctx.p.ca_file,
                                          "GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                                          "GET /c HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", failure);
             return failure.empty() ? expect_replies(r, {200, 200, 200}, "") : failure;
         }},
        {"TLS tunnel: keep-alive, a valid request then an obs-fold one", 1, [port, tls_port](ProxyContext& ctx) {
             std::string failure;
             auto r = tls_tunnel_exchange(port, std::stoi(tls_port), ctx.p.ca_file,
                                          "GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /fold HTTP/1.1\r\nHost: 127.0.0.1\r\nx-a: one\r\n two\r\n\r\n", failure);
             return failure.empty() ? expect_replies(r, {200, 400}, "request.malformed") : failure;
         }},
        {"TLS tunnel: percent escapes in a header reach the upstream unchanged", 1, [port, raw_tls_port, upstream_header](ProxyContext& ctx) {
             std::string failure;
             auto r = tls_tunnel_exchange(port, std::stoi(raw_tls_port), ctx.p.ca_file,
                                          "GET /pct HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-sig: a%2Fb%25c%0d\r\n\r\n", failure);
             if (!failure.empty())
                 return failure;
             auto f = expect_replies(r, {200}, "");
             return f.empty() ? upstream_header("x-sig", "a%2Fb%25c%0d", false)() : f;
         }},
        {"TLS tunnel: POST without a length", 0, [port, tls_port](ProxyContext& ctx) {
             std::string failure;
             auto r = tls_tunnel_exchange(port, std::stoi(tls_port), ctx.p.ca_file, "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", failure);
             return failure.empty() ? expect_replies(r, {411}, "request.length_required") : failure;
         }},

        // --- slow clients ---
        {"slowloris on the proxy port: the port keeps serving, the slow heads time out", 0, [port](ProxyContext& ctx) -> std::string {
             std::vector<int> fds;
             for (int i = 0; i < ctx.p.profile->limits.threads * 2; ++i)
                 if (int fd = connect_to(port); fd >= 0) {
                     ::send(fd, "G", 1, MSG_NOSIGNAL);
                     fds.push_back(fd);
                 }
             std::this_thread::sleep_for(std::chrono::milliseconds(300));
             std::string failure;
             auto started = Clock::now();
             if (!proxy_alive(port))
                 failure = "/ca.pem got no answer while " + std::to_string(fds.size()) + " clients sent their heads slowly";
             else if (Clock::now() - started > std::chrono::seconds(2))
                 failure = "/ca.pem took more than 2 s";
             std::size_t timed_out = 0;
             for (int fd : fds) {
                 Reply r = parse_reply(read_until_close(fd, 12000));
                 if (r.status == 408 && r.headers["x-vaultfwd-error"] == "request.timeout")
                     ++timed_out;
                 ::close(fd);
             }
             if (failure.empty() && timed_out != fds.size())
                 failure = std::to_string(timed_out) + " of " + std::to_string(fds.size()) + " slow heads got 408 request.timeout";
             return failure;
         }},
        {"a second head that stops halfway after a 407 gets 408", 0, [port, plain_host, connect_head](ProxyContext&) {
             auto r = proxy_exchange(port, connect_head(plain_host, "") + "CONNECT " + plain_host + " HTTP/1.1\r\nHost: a\r\n",
                                     15000);
             return expect_replies(r, {407, 408}, "request.timeout");
         }},
    };
    return rows;
}


// --- the inbound port ------------------------------------------------------------------------

// The inbound port with three routes: shop.example.test to the plain echo upstream (a form's
// card_number redacted), far.example.test to a host the allowlist refuses, and small limits.
struct InboundHarness {
    test::TempDir home;
    std::unique_ptr<profile::Profile> profile;
    std::unique_ptr<vault::Store> store;
    std::unique_ptr<server::AccessLog> log;
    upstream::Client client;
    std::unique_ptr<server::InboundProxy> inbound;
    std::thread thread;
    int port = 0;

    InboundHarness(test::TestPki& pki, int plain_port) {
        test::write_text(home / "upstream-ca.pem", pki.ca_pem());
        std::string text = "[listen]\ninbound = \"127.0.0.1:0\"\n\n[vault]\nkey = \"" + std::string(64, 'd') +
                           "\"\n\n[ca]\ncert = \"default/ca.pem\"\nkey = \"default/ca.key\"\n\n"
                           "[upstream]\nallow = [\"127.0.0.1\", \"localhost\"]\nallow_http = [\"127.0.0.1\"]\n"
                           "ca_files = [\"" + (home / "upstream-ca.pem").string() + "\"]\n"
                           "connect_timeout_ms = 2000\ntimeout_ms = 3000\n\n"
                           "[limits]\nmax_body_bytes = 65536\nmax_header_bytes = 8192\nthreads = 4\n\n"
                           "[[routes]]\nid = \"shop\"\ndirection = \"inbound\"\nupstream = \"http://127.0.0.1:" +
                           std::to_string(plain_port) + "\"\nhost = 'shop\\.example\\.test'\n\n"
                           "[[routes.filters]]\nphase = \"request\"\noperation = \"redact\"\ntransformer = \"form_field\"\n"
                           "targets = [\"card_number\"]\n\n"
                           "[[routes]]\nid = \"far\"\ndirection = \"inbound\"\nupstream = \"https://evil.example\"\n"
                           "host = 'far\\.example\\.test'\n";
        test::write_text(profile::profile_path(home.path(), "default"), text);
        auto loaded = profile::load(home.path(), "default");
        REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
        profile = std::make_unique<profile::Profile>(std::move(*loaded));
        REQUIRE(tls::init_ca(*profile, tls::CaOverwrite::never).ok());
        store = std::move(*vault::Store::open(profile->vault_dir(), profile->vault_key()));
        log = std::move(*server::AccessLog::open(profile->access_log_path()));
        inbound = std::make_unique<server::InboundProxy>(*profile, *store, client, *log);
        auto bound = inbound->bind("127.0.0.1", 0);
        REQUIRE_MESSAGE(bound.ok(), (bound.ok() ? "" : bound.error().message));
        port = *bound;
        thread = std::thread([this] { inbound->run(); });
    }
    ~InboundHarness() {
        inbound->stop();
        thread.join();
    }
};

// The inbound port answers a Host no route has with its JSON 404: its health check.
bool inbound_alive(int port) {
    auto r = proxy_exchange(port, "GET /health HTTP/1.1\r\nHost: nobody.example.test\r\nConnection: close\r\n\r\n");
    return r.size() == 1 && r[0].status == 404 && r[0].headers["x-vaultfwd-error"] == "inbound.no_route";
}

std::vector<ProxyRow> inbound_catalogue(int port, test::UpstreamServer& plain) {
    auto simple = [port](std::string bytes, std::vector<int> statuses, std::string code) {
        return [port, bytes, statuses, code](ProxyContext&) { return expect_replies(proxy_exchange(port, bytes), statuses, code); };
    };
    auto post = [](const std::string& host_line, const std::string& extra = "", const std::string& body = "a=1") {
        return "POST /orders HTTP/1.1\r\n" + host_line + "Connection: close\r\n" + extra +
               "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body;
    };
    const std::string shop = "Host: shop.example.test\r\n";
    auto connect_head = [](const std::string& target) {
        return "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
    };
    std::vector<ProxyRow> rows = {
        // --- the happy path, for contrast: a form's card number reaches the upstream as an alias ---
        {"a form posted to a route's Host: card number redacted", 1, [port, &plain, post](ProxyContext&) -> std::string {
             auto f = expect_replies(proxy_exchange(port, post("Host: shop.example.test\r\n", "", "card_number=4111111111111111&x=1")), {200}, "");
             if (!f.empty())
                 return f;
             const std::string body = plain.requests().back().body;
             return body.find("4111111111111111") == std::string::npos && body.find("card_number=tok_") == 0
                        ? ""
                        : "the upstream saw " + body.substr(0, 80);
         }},
        {"Host in another case and with a port", 1, simple(post("Host: SHOP.Example.Test:8443\r\n"), {200}, "")},

        // --- Host ---
        {"no Host header", 0, simple(post(""), {400}, "inbound.no_host")},
        {"an empty Host header", 0, simple(post("Host: \r\n"), {400}, "inbound.no_host")},
        {"two Host headers (one a route's)", 0, simple(post(shop + "Host: far.example.test\r\n"), {400}, "inbound.bad_host")},
        {"Host with a path", 0, simple(post("Host: shop.example.test/x\r\n"), {400}, "inbound.bad_host")},
        {"Host with a userinfo", 0, simple(post("Host: user@shop.example.test\r\n"), {400}, "inbound.bad_host")},
        {"Host with a port out of range", 0, simple(post("Host: shop.example.test:99999\r\n"), {400}, "inbound.bad_host")},
        {"Host with an unterminated IPv6 literal", 0, simple(post("Host: [::1\r\n"), {400}, "inbound.bad_host")},
        {"Host with a wildcard", 0, simple(post("Host: *.example.test\r\n"), {400}, "inbound.bad_host")},
        {"Host no route has", 0, simple(post("Host: shop.example.test.evil\r\n"), {404}, "inbound.no_route")},
        {"a route's host as a suffix of another name", 0, simple(post("Host: xshop.example.test\r\n"), {404}, "inbound.no_route")},
        {"absolute-form to a host no route has", 0, simple("GET http://evil.example/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n", {404}, "inbound.no_route")},
        {"asterisk-form OPTIONS", 0, simple("OPTIONS * HTTP/1.1\r\n" + shop + "Connection: close\r\n\r\n", {400}, "inbound.bad_target")},
        {"a route whose upstream the allowlist refuses", 0, simple(post("Host: far.example.test\r\n"), {403}, "upstream.host_not_allowed")},
        {"TRACE to a route", 0, simple("TRACE /x HTTP/1.1\r\n" + shop + "Connection: close\r\n\r\n", {405}, "request.method_not_allowed")},
        {"unknown method", 0, simple("BREW /x HTTP/1.1\r\n" + shop + "Connection: close\r\n\r\n", {400}, "request.malformed")},

        // --- CONNECT ---
        {"CONNECT to a host no route has", 0, simple(connect_head("evil.example:443"), {404}, "inbound.no_route")},
        {"CONNECT without a port", 0, simple(connect_head("shop.example.test"), {400}, "inbound.bad_connect_target")},
        {"CONNECT to port 0", 0, simple(connect_head("shop.example.test:0"), {400}, "inbound.bad_connect_target")},
        {"CONNECT to a route's host, then two Content-Lengths inside", 0, simple(connect_head("shop.example.test:80") + "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc", {200, 400}, "request.malformed")},
        {"CONNECT to a route's host, then a request inside", 1, simple(connect_head("shop.example.test:80") + "GET /x HTTP/1.1\r\nHost: whatever\r\nConnection: close\r\n\r\n", {200, 200}, "")},

        // --- sizes ---
        {"head over max_header_bytes", 0, simple("GET /x HTTP/1.1\r\n" + shop + "x-big: " + std::string(9000, 'a') + "\r\n\r\n", {431}, "request.header_too_large")},
        {"a declared body over the limit", 0, simple("POST /x HTTP/1.1\r\n" + shop + "Content-Length: 70000\r\n\r\n", {413}, "request.too_large")},
        {"a chunked body over the limit", 0, [port, shop](ProxyContext&) {
             std::string chunk(40000, 'a');
             char size[16];
             std::snprintf(size, sizeof size, "%zx", chunk.size());
             std::string bytes = "POST /x HTTP/1.1\r\n" + shop + "Transfer-Encoding: chunked\r\n\r\n" + size + "\r\n" + chunk +
                                 "\r\n" + size + "\r\n" + chunk + "\r\n0\r\n\r\n";
             return expect_replies(proxy_exchange(port, bytes), {413}, "request.too_large");
         }},
        {"POST without a length", 0, simple("POST /x HTTP/1.1\r\n" + shop + "\r\n", {411}, "request.length_required")},

        // --- smuggling-shaped heads ---
        {"two Content-Lengths", 0, simple("POST /x HTTP/1.1\r\n" + shop + "Content-Length: 3\r\nContent-Length: 30\r\n\r\nabc", {400}, "request.malformed")},
        {"Content-Length and Transfer-Encoding", 0, simple("POST /x HTTP/1.1\r\n" + shop + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", {400}, "request.malformed")},
        {"Transfer-Encoding: identity", 0, simple("POST /x HTTP/1.1\r\n" + shop + "Transfer-Encoding: identity\r\n\r\nabc", {400}, "request.malformed")},
        {"a bare LF between header lines", 0, simple("POST /x HTTP/1.1\r\nHost: shop.example.test\nContent-Length: 3\r\n\r\nabc", {400}, "request.malformed")},
        {"an obs-fold line", 0, simple("GET /x HTTP/1.1\r\n" + shop + "x-a: one\r\n two\r\n\r\n", {400}, "request.malformed")},
        {"a space before the colon", 0, simple("GET /x HTTP/1.1\r\nHost : shop.example.test\r\n\r\n", {400}, "request.malformed")},
        {"a smuggled second request after a valid one", 1, simple("GET /first HTTP/1.1\r\n" + shop + "\r\nPOST /second HTTP/1.1\r\n" + shop + "Content-Length: 1\r\nContent-Length: 20\r\n\r\nx", {200, 400}, "request.malformed")},
        {"requests pipelined: both answered, in order", 2, simple("GET /first HTTP/1.1\r\n" + shop + "\r\nGET /second HTTP/1.1\r\n" + shop + "Connection: close\r\n\r\n", {200, 200}, "")},

        // --- slow clients ---
        {"slowloris on the inbound port: the port keeps serving, the slow heads time out", 0, [port](ProxyContext&) -> std::string {
             std::vector<int> fds;
             for (int i = 0; i < 8; ++i)
                 if (int fd = connect_to(port); fd >= 0) {
                     ::send(fd, "G", 1, MSG_NOSIGNAL);
                     fds.push_back(fd);
                 }
             std::this_thread::sleep_for(std::chrono::milliseconds(300));
             std::string failure;
             if (!inbound_alive(port))
                 failure = "the port did not answer while " + std::to_string(fds.size()) + " clients sent their heads slowly";
             std::size_t timed_out = 0;
             for (int fd : fds) {
                 Reply r = parse_reply(read_until_close(fd, 12000));
                 if (r.status == 408 && r.headers["x-vaultfwd-error"] == "request.timeout")
                     ++timed_out;
                 ::close(fd);
             }
             if (failure.empty() && timed_out != fds.size())
                 failure = std::to_string(timed_out) + " of " + std::to_string(fds.size()) + " slow heads got 408 request.timeout";
             return failure;
         }},
    };
    return rows;
}

} // namespace

TEST_SUITE("bad_input") {
    TEST_CASE("bad-input catalogue: every malformed or hostile request is refused precisely") {
        Harness h;
        test::UpstreamServer up(h.pki);
        test::UpstreamServer mtls(h.pki, {.tls = true, .require_client_cert = true});

        tls::IssueOptions expired;
        expired.common_name = "expired client";
        expired.usage = tls::Usage::client;
        expired.not_before_offset_days = -10;
        expired.days = -2;
        auto expired_pair = tls::issue(expired, &h.pki.ca);
        REQUIRE(expired_pair.ok());
        REQUIRE(tls::inspect(expired_pair->cert.get()).not_after_epoch < tls::now_epoch());
        tls::IssueOptions foreign;
        foreign.common_name = "foreign client";
        foreign.usage = tls::Usage::client;
        auto foreign_pair = tls::issue(foreign, &h.pki.other_ca);
        REQUIRE(foreign_pair.ok());

        dialect::vtex::Card card{"5555444433331111", "JOHN DOE", "123", "02", "2028"};
        auto payment = dialect::vtex::create_payment(*h.store, h.profile.vault_key(), card);
        REQUIRE(payment.ok());
        dialect::vtex::Card crlf_card{"4111111111111111", "JOHN\r\nX-Injected: 1", "123", "02", "2028"};
        auto crlf_payment = dialect::vtex::create_payment(*h.store, h.profile.vault_key(), crlf_card);
        REQUIRE(crlf_payment.ok());
        auto urls = json::parse(dialect::vtex::create_payment_body(*payment, card, "http://x"));
        auto crlf_urls = json::parse(dialect::vtex::create_payment_body(*crlf_payment, crlf_card, "http://x"));
        // Custom tokens, stored as the tokens URL stores them: a field per token holding its logic.
        {
            const std::string H = payment->secure_hash;
            auto fields = *h.store->get("vtex_" + H);
            json doubling = {{"reduce", {json::array(), {{"cat", {{{"var", "accumulator"}}, {{"var", "accumulator"}}}}}, "xy"}}};
            for (int i = 0; i < 64; ++i)
                doubling["reduce"][0].push_back(i);
            json deep = "x";
            for (int i = 0; i < 1000; ++i)
                deep = json{{"cat", json::array({deep})}};
            fields["custom_token.crlf"] = json("sig\r\nX-Injected: 1").dump();
            fields["custom_token.lf"] = json("sig\nX-Injected: 1").dump();
            fields["custom_token.nul"] = json("sig\0x"s).dump();
            fields["custom_token.loop"] = json{{"replaceTokens", {"#vtex#loop#" + H + "#"}}}.dump();
            fields["custom_token.costly"] = doubling.dump();
            fields["custom_token.deep"] = deep.dump();
            REQUIRE(h.store->put("vtex_" + H, fields).ok());
        }
        auto path_of = [](const json& url) {
            std::string s = url.get<std::string>();
            return s.substr(s.find("/payment-provider"));
        };

        RawUpstream raw(h.pki, true);
        Context ctx(h, up, mtls, raw);
        ctx.up_url = up.url("");
        ctx.mtls_url = mtls.url("");
        ctx.vtex_proxy = path_of(urls["secureProxyUrl"]);
        ctx.vtex_tokens = path_of(urls["secureProxyTokensURL"]);
        ctx.vtex_hash = payment->secure_hash;
        ctx.vtex_proxy_crlf = path_of(crlf_urls["secureProxyUrl"]);
        ctx.vtex_hash_crlf = crlf_payment->secure_hash;
        ctx.client_cert_pct = pct(h.pki.client_cert_pem());
        ctx.client_key_pct = pct(h.pki.client_key_pem());
        ctx.expired_cert_pct = pct(tls::cert_to_pem(expired_pair->cert.get()));
        ctx.expired_key_pct = pct(tls::key_to_pem(expired_pair->key.get()));
        ctx.foreign_cert_pct = pct(tls::cert_to_pem(foreign_pair->cert.get()));
        ctx.foreign_key_pct = pct(tls::key_to_pem(foreign_pair->key.get()));
        ctx.other_ca_pct = pct(h.pki.other_ca_pem());
        ctx.server_pct = pct(h.pki.server_pem());

        auto rows = catalogue(ctx);
        std::size_t passed = 0;
        // Written row by row, so a row that kills the process still leaves the rows before it.
        std::filesystem::create_directories(test::report_dir());
        std::ofstream report(test::report_dir() / "bad-input-catalogue.txt");
        for (const auto& row : rows) {
            auto row_started = Clock::now();
            std::string failure = run_row(row, ctx);
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - row_started).count();
            if (failure.empty()) {
                ++passed;
                report << "PASS  " << row.name << " (" << ms << " ms)" << std::endl;
            } else {
                report << "FAIL  " << row.name << ": " << failure << std::endl;
                FAIL_CHECK(row.name << ": " << failure);
            }
        }
        std::size_t api_rows = rows.size(), api_passed = passed;

        // The proxy port.
        ProxyHarness proxy(h.pki);
        test::UpstreamServer plain_up(h.pki, {.tls = false});
        RawUpstream raw_plain(h.pki, false);
        ProxyContext pctx{proxy, plain_up, up, raw_plain, raw};
        auto prows = proxy_catalogue(pctx);
        std::size_t proxy_passed = 0;
        for (const auto& row : prows) {
            auto row_started = Clock::now();
            std::size_t before = pctx.upstream_count();
            std::string failure = row.run(pctx);
            std::size_t reached = pctx.upstream_count() - before;
            if (failure.empty() && reached != row.upstream)
                failure = std::to_string(reached) + " request(s) reached the upstream, expected " + std::to_string(row.upstream);
            if (!proxy_alive(proxy.port))
                failure += std::string(failure.empty() ? "" : "; ") + "the proxy no longer answers GET /ca.pem";
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - row_started).count();
            if (failure.empty()) {
                ++proxy_passed;
                report << "PASS  proxy: " << row.name << " (" << ms << " ms)" << std::endl;
            } else {
                report << "FAIL  proxy: " << row.name << ": " << failure << std::endl;
                FAIL_CHECK("proxy: " << row.name << ": " << failure);
            }
        }

        // The inbound port.
        InboundHarness inbound(h.pki, plain_up.port());
        auto irows = inbound_catalogue(inbound.port, plain_up);
        std::size_t inbound_passed = 0;
        for (const auto& row : irows) {
            auto row_started = Clock::now();
            std::size_t before = pctx.upstream_count();
            std::string failure = row.run(pctx);
            std::size_t reached = pctx.upstream_count() - before;
            if (failure.empty() && reached != row.upstream)
                failure = std::to_string(reached) + " request(s) reached the upstream, expected " + std::to_string(row.upstream);
            if (!inbound_alive(inbound.port))
                failure += std::string(failure.empty() ? "" : "; ") + "the inbound port no longer answers";
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - row_started).count();
            if (failure.empty()) {
                ++inbound_passed;
                report << "PASS  inbound: " << row.name << " (" << ms << " ms)" << std::endl;
            } else {
                report << "FAIL  inbound: " << row.name << ": " << failure << std::endl;
                FAIL_CHECK("inbound: " << row.name << ": " << failure);
            }
        }

        std::size_t total = api_rows + prows.size() + irows.size(),
                    total_passed = api_passed + proxy_passed + inbound_passed;
        char pct_text[32];
        std::snprintf(pct_text, sizeof pct_text, "%.1f", total ? 100.0 * static_cast<double>(total_passed) / static_cast<double>(total) : 0.0);
        std::string summary = "bad-input catalogue: " + std::to_string(total) + " rows, " + std::to_string(total_passed) +
                              " passed (" + pct_text + "%) [API port " + std::to_string(api_passed) + "/" +
                              std::to_string(api_rows) + ", proxy port " + std::to_string(proxy_passed) + "/" +
                              std::to_string(prows.size()) + ", inbound port " + std::to_string(inbound_passed) + "/" +
                              std::to_string(irows.size()) + "]";
        MESSAGE(summary);
        std::printf("%s\n", summary.c_str());
        report << summary << std::endl;
        CHECK(api_rows >= 100);
        CHECK(total_passed == total);
    }
}
