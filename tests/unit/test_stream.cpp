// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <thread>

#include "core/net/stream.hpp"
#include "core/tls/cert.hpp"

using namespace vaultfwd;
using namespace std::chrono_literals;

namespace {

struct Tls {
    tls::KeyPair ca = std::move(tls::make_ca("stream test CA")).value();
    tls::KeyPair leaf;
    ossl::SslCtxPtr server{SSL_CTX_new(TLS_server_method())};
    ossl::SslCtxPtr client{SSL_CTX_new(TLS_client_method())};

    Tls() {
        tls::IssueOptions o;
        o.common_name = "inner.test";
        o.dns_names = {"inner.test"};
        leaf = std::move(tls::issue(o, &ca)).value();
        SSL_CTX_use_certificate(server.get(), leaf.cert.get());
        SSL_CTX_use_PrivateKey(server.get(), leaf.key.get());
        X509_STORE_add_cert(SSL_CTX_get_cert_store(client.get()), ca.cert.get());
        SSL_CTX_set_verify(client.get(), SSL_VERIFY_PEER, nullptr);
    }
};

std::pair<std::unique_ptr<net::Stream>, std::unique_ptr<net::Stream>> socket_pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    return {std::make_unique<net::SocketStream>(fds[0]), std::make_unique<net::SocketStream>(fds[1])};
}

// Wraps `s` in TLS on both sides (in two threads) and returns the pair.
std::pair<std::unique_ptr<net::TlsStream>, std::unique_ptr<net::TlsStream>>
tls_pair(Tls& t, std::unique_ptr<net::Stream> a, std::unique_ptr<net::Stream> b) {
    auto client = std::make_unique<net::TlsStream>(std::move(a), t.client.get(), net::TlsRole::client);
    auto server = std::make_unique<net::TlsStream>(std::move(b), t.server.get(), net::TlsRole::server);
    SSL_set_tlsext_host_name(client->ssl(), "inner.test");
    SSL_set1_host(client->ssl(), "inner.test");
    bool server_ok = false, timed_out = false;
    std::thread th([&] { server_ok = net::handshake(*server, net::Clock::now() + 5s, timed_out); });
    bool client_timed_out = false;
    bool client_ok = net::handshake(*client, net::Clock::now() + 5s, client_timed_out);
    th.join();
    CHECK(client_ok);
    CHECK(server_ok);
    return {std::move(client), std::move(server)};
}

// Sends `bytes` one way and reads them back whole on the other side.
std::string round_trip(net::Stream& from, net::Stream& to, const std::string& bytes) {
    std::thread th([&] { CHECK(net::write_all(from, bytes, net::Clock::now() + 5s)); });
    std::string got;
    bool timed_out = false;
    while (got.size() < bytes.size()) {
        if (net::read_some(to, got, net::Clock::now() + 5s, timed_out) != net::Io::ok)
            break;
    }
    th.join();
    return got;
}

// A socket stream whose writes can be held back and let go a few bytes at a time: a TLS peer
// over it delivers records whole, together, or cut in the middle, as the test chooses.
class HeldStream final : public net::Stream {
  public:
    explicit HeldStream(std::unique_ptr<net::Stream> lower) : m_lower(std::move(lower)) {}
    net::Io read(char* buf, std::size_t cap, std::size_t& n) override { return m_lower->read(buf, cap, n); }
    net::Io write(const char* buf, std::size_t len, std::size_t& n) override {
        if (!hold)
            return m_lower->write(buf, len, n);
        held.append(buf, len);
        n = len;
        return net::Io::ok;
    }
    void shutdown_write() override { m_lower->shutdown_write(); }
    int fd() const override { return m_lower->fd(); }
    void release(std::size_t count) {
        REQUIRE(net::write_all(*m_lower, std::string_view(held).substr(0, count), net::Clock::now() + 2s));
        held.erase(0, count);
    }
    bool hold = false;
    std::string held;

  private:
    std::unique_ptr<net::Stream> m_lower;
};

bool socket_readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
}

} // namespace

TEST_SUITE("net") {
    TEST_CASE("a socket stream passes bytes both ways and reports the end of the stream") {
        auto [a, b] = socket_pair();
        CHECK(round_trip(*a, *b, "hello") == "hello");
        a->shutdown_write();
        std::string rest;
        bool timed_out = false;
        CHECK(net::read_some(*b, rest, net::Clock::now() + 2s, timed_out) == net::Io::eof);
    }

    TEST_CASE("a read with nothing to read times out at its deadline") {
        auto [a, b] = socket_pair();
        std::string out;
        bool timed_out = false;
        auto start = net::Clock::now();
        CHECK(net::read_some(*b, out, start + 150ms, timed_out) == net::Io::error);
        CHECK(timed_out);
        CHECK(net::Clock::now() - start >= 150ms);
    }

    TEST_CASE("TLS over a socket, and TLS inside that TLS (CONNECT through a TLS proxy port)") {
        Tls t;
        auto [a, b] = socket_pair();
        auto [outer_client, outer_server] = tls_pair(t, std::move(a), std::move(b));
        std::string big(300000, 'x');
        for (std::size_t i = 0; i < big.size(); ++i)
            big[i] = static_cast<char>('a' + i % 26);
        CHECK(round_trip(*outer_client, *outer_server, big) == big);

        auto [inner_client, inner_server] = tls_pair(t, std::move(outer_client), std::move(outer_server));
        CHECK(round_trip(*inner_client, *inner_server, big) == big);
        CHECK(round_trip(*inner_server, *inner_client, "answer") == "answer");

        // A clean close of the inner stream reads as the end of the stream on the other side.
        inner_client->shutdown_write();
        std::string rest;
        bool timed_out = false;
        CHECK(net::read_some(*inner_server, rest, net::Clock::now() + 2s, timed_out) == net::Io::eof);
    }

    TEST_CASE("TLS records that arrive together are taken with one read of the socket; a cut record waits") {
        Tls t;
        auto [a, b] = socket_pair();
        auto held = std::make_unique<HeldStream>(std::move(a));
        HeldStream* h = held.get();
        auto [client, server] = tls_pair(t, std::move(held), std::move(b));
        h->hold = true;
        std::size_t n = 0;
        CHECK(client->write("first", 5, n) == net::Io::ok);
        std::size_t first_record = h->held.size();
        CHECK(client->write("second", 6, n) == net::Io::ok);
        h->release(h->held.size()); // both records in one segment

        char buf[64];
        REQUIRE(net::wait(*server, net::Io::want_read, net::Clock::now() + 2s));
        REQUIRE(server->read(buf, sizeof buf, n) == net::Io::ok);
        CHECK(std::string(buf, n) == "first");
        // The second record came with the first: the socket has nothing, the stream has it.
        CHECK_FALSE(socket_readable(server->fd()));
        CHECK(server->readable_now());
        REQUIRE(server->read(buf, sizeof buf, n) == net::Io::ok);
        CHECK(std::string(buf, n) == "second");
        CHECK_FALSE(server->readable_now());
        CHECK(server->read(buf, sizeof buf, n) == net::Io::want_read);

        // A record cut in the middle: what came is taken, and the stream says it has nothing
        // to read (a caller waits on the socket instead of spinning) until the rest arrives.
        CHECK(client->write("third record", 12, n) == net::Io::ok);
        CHECK(h->held.size() > 10);
        h->release(10);
        REQUIRE(net::wait(*server, net::Io::want_read, net::Clock::now() + 2s));
        CHECK(server->read(buf, sizeof buf, n) == net::Io::want_read);
        CHECK_FALSE(server->readable_now());
        CHECK_FALSE(net::wait(*server, net::Io::want_read, net::Clock::now() + 100ms));
        h->release(h->held.size());
        REQUIRE(net::wait(*server, net::Io::want_read, net::Clock::now() + 2s));
        REQUIRE(server->read(buf, sizeof buf, n) == net::Io::ok);
        CHECK(std::string(buf, n) == "third record");
        CHECK(first_record > 5);
    }

    TEST_CASE("a handshake against a certificate the client does not trust fails with a reason") {
        Tls t;
        Tls other; // a different CA
        auto [a, b] = socket_pair();
        auto client = std::make_unique<net::TlsStream>(std::move(a), other.client.get(), net::TlsRole::client);
        auto server = std::make_unique<net::TlsStream>(std::move(b), t.server.get(), net::TlsRole::server);
        bool timed_out = false;
        std::thread th([&] {
            bool server_timed_out = false;
            net::handshake(*server, net::Clock::now() + 2s, server_timed_out);
        });
        CHECK_FALSE(net::handshake(*client, net::Clock::now() + 2s, timed_out));
        th.join();
        CHECK_FALSE(timed_out);
        CHECK(client->handshake_error().find("certificate verify failed") != std::string::npos);
    }
}
