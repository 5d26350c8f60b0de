// SPDX-License-Identifier: Apache-2.0
// The engine driven over real loopback sockets with a small set of phases (an echo): framing,
// keep-alive, pipelining, Expect: 100-continue, early answers, refusals, deadlines, many idle
// connections.

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <atomic>
#include <functional>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <openssl/ssl.h>

#include "core/server/engine.hpp"
#include "core/util/ossl.hpp"
#include "support/upstream_server.hpp"

using namespace vaultfwd;
using namespace std::chrono_literals;

namespace {

class Echo final : public server::Phases {
  public:
    std::optional<http::Response> on_head(server::Exchange& ex) override {
        if (ex.request.path == "/early") {
            http::Response r;
            r.status = 401;
            r.body = "no";
            return r;
        }
        return std::nullopt;
    }
    server::Step on_request(server::Exchange& ex) override {
        http::Response r;
        r.headers.push_back({"x-path", ex.request.path});
        r.headers.push_back({"x-query", ex.request.query});
        r.headers.push_back({"Set-Cookie", "a=1"});
        r.headers.push_back({"Set-Cookie", "b=2"});
        if (ex.request.path == "/slow")
            std::this_thread::sleep_for(100ms);
        r.body = ex.request.method + " " + ex.request.body;
        return r;
    }
    void log(const server::Exchange& ex) override {
        ++logged;
        last_status = ex.entry.status;
    }
    // Every CONNECT is accepted (to 127.0.0.1:443).
    std::optional<http::Response> on_connect(server::Exchange& ex) override {
        ex.tunnel = server::Tunnel{"127.0.0.1", 443, false, "test"};
        return std::nullopt;
    }
    std::atomic<int> logged{0};
    std::atomic<int> last_status{0};
};

struct Running {
    Echo phases;
    server::Engine engine;
    int port = 0;
    std::thread thread;

    explicit Running(server::EngineOptions o = {}) : engine(o, phases) {
        auto p = engine.bind("127.0.0.1", 0);
        REQUIRE(p.ok());
        port = *p;
        thread = std::thread([this] { engine.run(); });
    }
    ~Running() {
        engine.stop();
        thread.join();
    }
};

int connect_to(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    return fd;
}

void send_all(int fd, std::string_view s) {
    while (!s.empty()) {
        auto n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
        REQUIRE(n > 0);
        s.remove_prefix(static_cast<std::size_t>(n));
    }
}

// Reads until `done(bytes)` or the peer closes or `ms` pass.
std::string read_until(int fd, const std::function<bool(const std::string&)>& done, int ms = 3000) {
    std::string got;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!done(got)) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0)
            break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0)
            break;
        char buf[65536];
        auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
}

std::size_t count(const std::string& hay, std::string_view needle) {
    std::size_t n = 0;
    for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1))
        ++n;
    return n;
}

} // namespace

TEST_SUITE("engine") {
    TEST_CASE("requests on one keep-alive connection are answered in order, headers as given") {
        Running r;
        int fd = connect_to(r.port);
        send_all(fd, "POST /a%2Fb?q=a+b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
        auto first = read_until(fd, [](const std::string& s) { return s.find("POST hello") != std::string::npos; });
        CHECK(first.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
        CHECK(first.find("x-path: /a/b\r\n") != std::string::npos);
        CHECK(first.find("x-query: q=a+b\r\n") != std::string::npos);
        CHECK(first.find("Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n") != std::string::npos);
        CHECK(first.find("Content-Length: 10\r\n") != std::string::npos);
        send_all(fd, "GET /second HTTP/1.1\r\nHost: x\r\n\r\n");
        auto second = read_until(fd, [](const std::string& s) { return s.find("GET ") != std::string::npos; });
        CHECK(second.find("x-path: /second") != std::string::npos);
        ::close(fd);
    }

    TEST_CASE("pipelined requests each get their answer, in order") {
        Running r;
        int fd = connect_to(r.port);
        send_all(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
                     "POST /3 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz");
        auto got = read_until(fd, [](const std::string& s) { return s.find("POST z") != std::string::npos; });
        auto a = got.find("x-path: /slow"), b = got.find("x-path: /2"), c = got.find("x-path: /3");
        REQUIRE(a != std::string::npos);
        REQUIRE(b != std::string::npos);
        REQUIRE(c != std::string::npos);
        CHECK(a < b);
        CHECK(b < c);
        ::close(fd);
    }

    TEST_CASE("Expect: 100-continue gets its interim answer before the body is sent") {
        Running r;
        int fd = connect_to(r.port);
        send_all(fd, "PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
        auto interim = read_until(fd, [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; });
        CHECK(interim == "HTTP/1.1 100 Continue\r\n\r\n");
        send_all(fd, "data");
        auto final = read_until(fd, [](const std::string& s) { return s.find("PUT data") != std::string::npos; });
        CAPTURE(final);
        CHECK(final.rfind("HTTP/1.1 200 OK", 0) == 0);
        ::close(fd);
    }

    TEST_CASE("a chunked request body reaches the phases whole, without its framing") {
        Running r;
        int fd = connect_to(r.port);
        send_all(fd, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer-A: 1\r\n\r\n");
        auto got = read_until(fd, [](const std::string& s) { return s.find("POST abcde") != std::string::npos; });
        CHECK(got.find("POST abcde") != std::string::npos);
        ::close(fd);
    }

    TEST_CASE("an early answer from on_head drains the body and keeps the connection") {
        Running r;
        int fd = connect_to(r.port);
        send_all(fd, "POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                     "GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
        auto got = read_until(fd, [](const std::string& s) { return s.find("x-path: /after") != std::string::npos; });
        CHECK(got.rfind("HTTP/1.1 401 Unauthorized\r\n", 0) == 0);
        CHECK(got.find("x-path: /after") != std::string::npos);
        ::close(fd);
    }

    TEST_CASE("a malformed head is refused with 400 and the connection closes after the answer") {
        Running r;
        int fd = connect_to(r.port);
        send_all(fd, "GET / HTTP/1.1\r\nDummy: x\nContent-Length: 23\r\n\r\n");
        auto got = read_until(fd, [](const std::string&) { return false; });
        CHECK(got.rfind("HTTP/1.1 400 ", 0) == 0);
        CHECK(got.find("Connection: close\r\n") != std::string::npos);
        CHECK(got.find("request.malformed") != std::string::npos);
        ::close(fd);
        for (int i = 0; i < 100 && r.phases.logged == 0; ++i)
            std::this_thread::sleep_for(10ms);
        CHECK(r.phases.last_status == 400);
    }

    TEST_CASE("HEAD gets the head of the answer and no body") {
        Running r;
        int fd = connect_to(r.port);
        send_all(fd, "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n");
        auto got = read_until(fd, [](const std::string& s) { return s.find("GET ") != std::string::npos; });
        CHECK(got.find("HEAD ") == std::string::npos);
        CHECK(count(got, "HTTP/1.1 200 OK") == 2);
        ::close(fd);
    }

    TEST_CASE("a head that stalls gets 408 at its deadline; an idle connection is closed") {
        server::EngineOptions o;
        o.head_timeout_ms = 300;
        o.idle_timeout_ms = 300;
        Running r(o);
        int fd = connect_to(r.port);
        send_all(fd, "GET / HTTP/1.1\r\nHo");
        auto got = read_until(fd, [](const std::string&) { return false; }, 3000);
        CHECK(got.rfind("HTTP/1.1 408 ", 0) == 0);
        ::close(fd);
        int idle = connect_to(r.port);
        auto start = std::chrono::steady_clock::now();
        CHECK(read_until(idle, [](const std::string&) { return false; }, 3000).empty());
        CHECK(std::chrono::steady_clock::now() - start < 2s);
        ::close(idle);
    }

    TEST_CASE("two thousand idle connections cost no thread: a request still gets its answer at once") {
        Running r;
        std::vector<int> idle;
        for (int i = 0; i < 2000; ++i)
            idle.push_back(connect_to(r.port));
        for (int i = 0; i < 200 && r.engine.connections() < 2000; ++i)
            std::this_thread::sleep_for(10ms);
        CHECK(r.engine.connections() >= 2000);
        int fd = connect_to(r.port);
        auto start = std::chrono::steady_clock::now();
        send_all(fd, "GET /busy HTTP/1.1\r\nHost: x\r\n\r\n");
        auto got = read_until(fd, [](const std::string& s) { return s.find("GET ") != std::string::npos; });
        CHECK(got.find("x-path: /busy") != std::string::npos);
        CHECK(std::chrono::steady_clock::now() - start < 1s);
        ::close(fd);
        for (int s : idle)
            ::close(s);
        for (int i = 0; i < 300 && r.engine.connections() > 0; ++i)
            std::this_thread::sleep_for(10ms);
        CHECK(r.engine.connections() == 0); // every descriptor returned
    }

    TEST_CASE("a TLS tunnel waits for its first request as long as tunnel_idle_ms, not the head deadline") {
        // A client that opens its tunnels ahead of use (a pool) must find them still open.
        auto pki = test::make_pki();
        ossl::SslCtxPtr tunnel_tls(SSL_CTX_new(TLS_server_method()));
        REQUIRE(SSL_CTX_use_certificate(tunnel_tls.get(), pki.server.cert.get()) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey(tunnel_tls.get(), pki.server.key.get()) == 1);
        server::EngineOptions o;
        o.head_timeout_ms = 300;
        o.tunnel_idle_ms = 5000;
        o.tunnel_tls = tunnel_tls.get();
        Running r(o);
        int fd = connect_to(r.port);
        timeval tv{5, 0}; // every read below is bounded
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        send_all(fd, "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n");
        auto head = read_until(fd, [](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; });
        REQUIRE(head.rfind("HTTP/1.1 200", 0) == 0);
        ossl::SslCtxPtr client_ctx(SSL_CTX_new(TLS_client_method()));
        ossl::SslPtr ssl(SSL_new(client_ctx.get()));
        SSL_set_fd(ssl.get(), fd);
        REQUIRE(SSL_connect(ssl.get()) == 1);
        std::this_thread::sleep_for(900ms); // three head deadlines, well inside tunnel_idle_ms
        const std::string request = "GET /later HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        REQUIRE(SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) > 0);
        std::string answer;
        char buf[4096];
        while (answer.find("GET ") == std::string::npos) {
            int n = SSL_read(ssl.get(), buf, sizeof buf);
            if (n <= 0)
                break;
            answer.append(buf, static_cast<std::size_t>(n));
        }
        CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
        CHECK(answer.find("x-path: /later") != std::string::npos);
        ssl.reset();
        ::close(fd);
    }
}
