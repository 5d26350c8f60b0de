// SPDX-License-Identifier: Apache-2.0
#include "support/raw_upstream.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <chrono>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <openssl/ssl.h>

#include "core/util/strings.hpp"
#include "support/serve_process.hpp"
#include "support/upstream_server.hpp"

namespace vaultfwd::test {

namespace {

// One accepted connection, plain or TLS (blocking).
struct Peer {
    int fd;
    SSL* ssl; // null: plain
    // Bytes read into `chunk`: > 0; 0 when nothing came within 20 ms; < 0 at the end.
    long read(char* chunk, std::size_t size) {
        if (!ssl || SSL_pending(ssl) == 0) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0)
                return 0;
        }
        long n = ssl ? SSL_read(ssl, chunk, static_cast<int>(size)) : ::read(fd, chunk, size);
        return n > 0 ? n : -1;
    }
    void write(const std::string& bytes) {
        if (ssl)
            SSL_write(ssl, bytes.data(), static_cast<int>(bytes.size()));
        else
            ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    }
};

// Reads one request (head and Content-Length body) into `out`, keeping what follows in
// `buffer`; false on EOF or when `stop` is set.
bool read_request(Peer& peer, std::string& buffer, std::string& out, const std::atomic<bool>& stop) {
    while (true) {
        auto end = buffer.find("\r\n\r\n");
        if (end != std::string::npos) {
            std::size_t length = 0;
            std::string head = buffer.substr(0, end);
            for (auto& c : head)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (auto at = head.find("\r\ncontent-length:"); at != std::string::npos)
                length = std::stoul(head.substr(at + 17));
            if (buffer.size() >= end + 4 + length) {
                out = buffer.substr(0, end + 4 + length);
                buffer.erase(0, end + 4 + length);
                return true;
            }
        }
        char chunk[4096];
        long n = peer.read(chunk, sizeof chunk);
        if (n == 0) {
            if (stop)
                return false;
            continue;
        }
        if (n < 0)
            return false;
        buffer.append(chunk, static_cast<std::size_t>(n));
    }
}

} // namespace

RawUpstream::RawUpstream(std::vector<Answer> answers, const TestPki* tls) : m_answers(std::move(answers)) {
    if (tls) {
        m_tls.reset(SSL_CTX_new(TLS_server_method()));
        if (SSL_CTX_use_certificate(m_tls.get(), tls->server.cert.get()) != 1 ||
            SSL_CTX_use_PrivateKey(m_tls.get(), tls->server.key.get()) != 1)
            throw std::runtime_error("raw upstream: cannot use the server certificate");
    }
    m_listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(m_listen, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(m_listen, 16) != 0)
        throw std::runtime_error("raw upstream: cannot listen on loopback");
    socklen_t len = sizeof addr;
    ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&addr), &len);
    m_port = ntohs(addr.sin_port);
    m_thread = std::thread([this] { serve(); });
}

RawUpstream::~RawUpstream() {
    m_stop = true;
    m_thread.join();
    ::close(m_listen);
}

std::string RawUpstream::url(const std::string& path) const {
    return std::string(m_tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(m_port) + path;
}

std::vector<std::string> RawUpstream::requests() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_requests;
}

void RawUpstream::serve() {
    while (!m_stop) {
        pollfd p{m_listen, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0)
            continue;
        int fd = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        ++m_connections;
        ossl::SslPtr ssl;
        if (m_tls) {
            ssl.reset(SSL_new(m_tls.get()));
            SSL_set_fd(ssl.get(), fd);
            if (SSL_accept(ssl.get()) != 1) {
                ::close(fd);
                continue;
            }
        }
        Peer peer{fd, ssl.get()};
        std::string buffer, request;
        while (read_request(peer, buffer, request, m_stop)) {
            std::size_t n;
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                n = m_requests.size();
                m_requests.push_back(request);
            }
            const Answer& a = m_answers[std::min(n, m_answers.size() - 1)];
            if (a.hang) {
                std::string ignored;
                while (read_request(peer, buffer, ignored, m_stop)) {
                }
                break;
            }
            if (!a.bytes.empty())
                peer.write(a.bytes);
            if (a.close)
                break;
        }
        if (ssl)
            SSL_shutdown(ssl.get());
        ssl.reset();
        ::close(fd);
    }
}

std::string raw_exchange(int port, const std::string& request, int timeout_ms) {
    int fd = connect_loopback(port);
    if (fd < 0)
        return {};
    std::string out;
    bool sent = true;
    for (std::size_t off = 0; sent && off < request.size();) {
        ssize_t n = ::send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
        sent = n > 0;
        off += sent ? static_cast<std::size_t>(n) : 0;
    }
    if (sent) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (true) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
            pollfd p{fd, POLLIN, 0};
            if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
                break;
            char chunk[4096];
            ssize_t n = ::read(fd, chunk, sizeof chunk);
            if (n <= 0)
                break;
            out.append(chunk, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    return out;
}

std::vector<std::string> header_lines(const std::string& answer) {
    std::vector<std::string> lines;
    auto end = answer.find("\r\n\r\n");
    auto at = answer.find("\r\n");
    while (at != std::string::npos && at < end) {
        auto next = answer.find("\r\n", at + 2);
        lines.push_back(answer.substr(at + 2, next - at - 2));
        at = next;
    }
    return lines;
}

const std::string k_fidelity_answer = "HTTP/1.1 200 OK\r\n"
                                      "x-next: /a%2Fb?c=%20d\r\n"
                                      "Set-Cookie: a=1; Path=/\r\n"
                                      "Content-Type: application/json\r\n"
                                      "X-Request-ID: Mixed%2fCase\r\n"
                                      "Set-Cookie: b=%2F2\r\n"
                                      "Connection: keep-alive, X-Hop\r\n"
                                      "X-Hop: secret\r\n"
                                      "Content-Length: 2\r\n"
                                      "\r\n"
                                      "{}";

namespace {

// The position of header line `line` in a raw answer; -1 when missing.
long position(const std::string& answer, const std::string& line) {
    auto lines = header_lines(answer);
    auto it = std::find(lines.begin(), lines.end(), line);
    return it == lines.end() ? -1 : it - lines.begin();
}

} // namespace

void check_fidelity(const std::string& answer, const std::string& prefix) {
    INFO(answer);
    CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
    // The dialects that rename headers write their names in lower case; the others keep them.
    auto name = [&](const std::string& as_sent) {
        return prefix + (prefix.empty() ? as_sent : util::to_lower(as_sent));
    };
    // In the upstream's order: httplib's client sorted them by name (Set-Cookie before x-next)
    // and percent-decoded every value (/a/b?c= d, Mixed/Case, b=/2).
    const std::vector<std::string> in_order = {
        name("x-next") + ": /a%2Fb?c=%20d", name("Set-Cookie") + ": a=1; Path=/",
        name("X-Request-ID") + ": Mixed%2fCase", name("Set-Cookie") + ": b=%2F2"};
    long previous = -1;
    for (const auto& line : in_order) {
        long at = position(answer, line);
        CHECK_MESSAGE(at > previous, line);
        previous = std::max(previous, at);
    }
    CHECK(answer.find("secret") == std::string::npos);
    CHECK(util::to_lower(answer).find("x-hop") == std::string::npos);
}

} // namespace vaultfwd::test
