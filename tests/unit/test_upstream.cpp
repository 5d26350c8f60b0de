// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <fstream>
#include <future>
#include <sstream>

#include <httplib.h>

#include "core/net/loop.hpp"
#include "core/upstream/client.hpp"
#include "core/upstream/url.hpp"
#include "support/raw_upstream.hpp"
#include "support/support.hpp"
#include "support/upstream_server.hpp"

using namespace vaultfwd;
using namespace vaultfwd::upstream;

namespace {

// An HTTPS upstream that, like a load balancer, closes a keep-alive connection after it sat idle
// for a second (httplib sends close_notify first, so the client still sees readable bytes and
// believes the connection alive), and records which connection each request arrived on.
class IdleClosingUpstream {
  public:
    // `requests_per_connection` 1: the server closes every connection after its answer.
    explicit IdleClosingUpstream(const test::TestPki& pki, int requests_per_connection = 5)
        : m_server(pki.server.cert.get(), pki.server.key.get()) {
        m_server.set_keep_alive_timeout(1);
        m_server.set_keep_alive_max_count(static_cast<std::size_t>(requests_per_connection));
        m_server.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                m_remotes.push_back(req.remote_addr + ":" + std::to_string(req.remote_port));
                m_resumed.push_back(SSL_session_reused(req.ssl) == 1);
            }
            res.set_content(req.body, "application/json");
        });
        m_port = m_server.bind_to_any_port("127.0.0.1");
        m_thread = std::thread([this] { m_server.listen_after_bind(); });
        while (!m_server.is_running())
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ~IdleClosingUpstream() {
        m_server.stop();
        m_thread.join();
    }
    std::string url() const { return "https://127.0.0.1:" + std::to_string(m_port) + "/charge"; }
    int port() const { return m_port; }
    std::vector<std::string> remotes() const {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_remotes;
    }
    // For each request: whether its connection's TLS session was resumed.
    std::vector<bool> resumed() const {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_resumed;
    }

  private:
    httplib::SSLServer m_server;
    std::thread m_thread;
    int m_port = 0;
    mutable std::mutex m_mutex;
    std::vector<std::string> m_remotes;
    std::vector<bool> m_resumed;
};

// Answers for a raw upstream (test::RawUpstream) that break a connection at the exact points
// that matter to the retry rule, which no real server does on purpose.
const test::RawUpstream::Answer k_ok{
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"};
const test::RawUpstream::Answer k_drop{"", true}; // close without answering
const test::RawUpstream::Answer k_truncate{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok",
                                           true}; // half the declared body, then close
const test::RawUpstream::Answer k_hang{"", true, true}; // never answer

// An event loop on its own thread with a worker for name lookups, as serve's engine runs them:
// calls made with Client::start on it, and their streamed bodies read there the way the
// engine relays them (next() until pending, then when_ready()).
class LoopThread {
  public:
    LoopThread() : m_thread([this] { m_loop.run(); }) {}
    ~LoopThread() {
        m_loop.stop();
        m_thread.join();
    }

    struct Result {
        Outcome outcome;
        std::string body;     // a streamed body, read whole
        std::string body_error; // its error code when it broke
        int pending = 0;      // how often it said pending
        bool ran_on_loop = true;
    };

    Result call(Client& client, Call call) {
        auto done = std::make_shared<std::promise<Result>>();
        auto future = done->get_future();
        m_loop.post([this, &client, call = std::move(call), done]() mutable {
            auto offload = [this](std::function<void()> job) { m_workers.submit(std::move(job)); };
            client.start(std::move(call), m_loop, offload, [this, done](Outcome out) {
                auto r = std::make_shared<Result>();
                r->ran_on_loop = m_loop.on_loop_thread();
                auto body = std::move(out.response.stream);
                r->outcome = std::move(out);
                if (!body) {
                    done->set_value(std::move(*r));
                    return;
                }
                read(std::move(body), r, done);
            });
        });
        return future.get();
    }

  private:
    static void read(std::shared_ptr<http::BodySource> body, std::shared_ptr<Result> r,
                     std::shared_ptr<std::promise<Result>> done) {
        for (;;) {
            switch (body->next(r->body)) {
            case http::BodySource::Step::piece:
                continue;
            case http::BodySource::Step::pending:
                ++r->pending;
                body->when_ready([body, r, done] { read(body, r, done); });
                return;
            case http::BodySource::Step::failed:
                r->body_error = body->error_code();
                [[fallthrough]];
            case http::BodySource::Step::end:
                done->set_value(std::move(*r));
                return;
            }
        }
    }

    net::Loop m_loop;
    net::Workers m_workers{1};
    std::thread m_thread;
};

// The retry-once rule, checked through `make`: send() on the test's thread, or start() on a loop.
void retry_rule(const std::function<Outcome(const Call&)>& make) {
    Call call;
    call.body = "amount=1";
    call.timeout_ms = 1000;
    SUBCASE("reused connection broken before the answer: retried once on a new connection") {
        test::RawUpstream up({k_ok, k_drop, k_ok});
        call.url = *parse_url(up.url("/pay"));
        REQUIRE(make(call).ok());
        auto out = make(call);
        CHECK_MESSAGE(out.ok(), out.error_code);
        CHECK(up.requests().size() == 3);
        CHECK(up.connections() == 2);
    }
    SUBCASE("a connection dialed for this call is never retried") {
        test::RawUpstream up({k_drop});
        call.url = *parse_url(up.url("/pay"));
        auto out = make(call);
        CHECK(out.error_code == "upstream.connection_broken");
        CHECK(up.requests().size() == 1);
    }
    SUBCASE("an answer that began is never retried") {
        test::RawUpstream up({k_ok, k_truncate});
        call.url = *parse_url(up.url("/pay"));
        REQUIRE(make(call).ok());
        auto out = make(call);
        CHECK(out.error_code == "upstream.connection_broken");
        CHECK(up.requests().size() == 2);
    }
    SUBCASE("a timeout is never retried") {
        test::RawUpstream up({k_ok, k_hang});
        call.url = *parse_url(up.url("/pay"));
        REQUIRE(make(call).ok());
        call.timeout_ms = 300;
        auto out = make(call);
        CHECK(out.error_code == "upstream.timeout");
        CHECK(up.requests().size() == 2);
    }
}

} // namespace

TEST_SUITE("upstream") {
    TEST_CASE("urls parse strictly") {
        auto u = parse_url("HTTPS://Api.Example.com:8443/v1/x?y=1#frag");
        REQUIRE(u.ok());
        CHECK(u->scheme == "https");
        CHECK(u->host == "api.example.com");
        CHECK(u->port == 8443);
        CHECK(u->path_and_query == "/v1/x?y=1");
        CHECK(parse_url("https://example.com")->path_and_query == "/");
        CHECK(parse_url("https://example.com")->port == 443);
        CHECK(parse_url("http://example.com?q")->path_and_query == "/?q");
        auto v6 = parse_url("https://[::1]:9/");
        REQUIRE(v6.ok());
        CHECK(v6->host == "::1");
        CHECK(v6->to_string() == "https://[::1]:9/");
        CHECK(parse_url("https://user:pw@example.com/").error().message.find("user info") !=
              std::string::npos);
        CHECK_FALSE(parse_url("ftp://example.com/").ok());
        CHECK_FALSE(parse_url("https://exa mple.com/").ok());
        CHECK_FALSE(parse_url("https://example.com:99999/").ok());
        CHECK_FALSE(parse_url("https://example.com:8a/").ok());
        CHECK_FALSE(parse_url("https:///path").ok());
        CHECK_FALSE(parse_url("https://example.com\r\nX: y/").ok());
        CHECK_FALSE(parse_url("https://evil.com\\@good.com/").ok());
        CHECK_FALSE(parse_url("example.com/path").ok());
    }

    TEST_CASE("the allowlist is checked against the dialed host") {
        Allowlist allow{{"api.example.com", "*.acquirer.example"}, {"127.0.0.1"}};
        CHECK(check_allowed(*parse_url("https://api.example.com/"), allow).ok());
        CHECK(check_allowed(*parse_url("https://API.EXAMPLE.COM./"), allow).ok());
        CHECK(check_allowed(*parse_url("https://eu.acquirer.example/"), allow).ok());
        CHECK_FALSE(check_allowed(*parse_url("https://acquirer.example/"), allow).ok());
        CHECK_FALSE(check_allowed(*parse_url("https://api.example.com.evil.io/"), allow).ok());
        CHECK_FALSE(check_allowed(*parse_url("https://evilapi.example.com/"), allow).ok());
        auto http = check_allowed(*parse_url("http://api.example.com/"), allow);
        REQUIRE_FALSE(http.ok());
        CHECK(http.error().code == "upstream.http_not_allowed");
        CHECK(check_allowed(*parse_url("http://127.0.0.1:8080/"), allow).ok());
        auto other = check_allowed(*parse_url("https://10.0.0.1/"), allow);
        CHECK(other.error().code == "upstream.host_not_allowed");
    }

    TEST_CASE("https calls: the certificate must name the host dialed") {
        auto pki = test::make_pki();
        tls::IssueOptions elsewhere;
        elsewhere.common_name = "localhost"; // a subjectAltName exists, so the CN is not used
        elsewhere.dns_names = {"elsewhere.test"};
        elsewhere.usage = tls::Usage::server;
        pki.server = std::move(*tls::issue(elsewhere, &pki.ca));
        test::UpstreamServer server(pki);
        Client client;
        Call call;
        call.tls.pin_pems = {pki.ca_pem()};
        call.body = "x";
        for (const std::string host : {"127.0.0.1", "localhost"}) {
            CAPTURE(host);
            call.url = *parse_url("https://" + host + ":" + std::to_string(server.port()) + "/post");
            auto out = client.send(call);
            CHECK(out.failure == FailureKind::tls_verify);
            CHECK(out.error_code == "upstream.tls_verify_failed");
            CHECK(out.error_message.find("mismatch") != std::string::npos);
        }
        CHECK(server.request_count() == 0);
    }

    TEST_CASE("https calls: extra roots, pins, mTLS, keep-alive, timeouts") {
        auto pki = test::make_pki();
        test::TempDir dir;
        test::write_text(dir / "ca.pem", pki.ca_pem());
        test::UpstreamServer server(pki);
        Client client;
        Call call;
        call.url = *parse_url(server.url("/post?x=1"));
        call.body = R"({"a":1})";
        call.headers = {
            {"Content-Type", "application/json"}, {"X-Custom", "v"}, {"Connection", "close"}};

        SUBCASE("untrusted without the test root") {
            auto out = client.send(call);
            CHECK(out.failure == FailureKind::tls_verify);
            CHECK(out.error_code == "upstream.tls_verify_failed");
            CHECK(server.request_count() == 0);
        }
        SUBCASE("trusted with the root as an extra CA file, connection reused") {
            call.tls.extra_ca_files = {(dir / "ca.pem").string()};
            auto a = client.send(call);
            REQUIRE_MESSAGE(a.ok(), a.error_message);
            CHECK(a.response.status == 200);
            CHECK(a.response.body == call.body);
            auto b = client.send(call);
            REQUIRE(b.ok());
            auto reqs = server.requests();
            REQUIRE(reqs.size() == 2);
            CHECK(reqs[0].remote_addr == reqs[1].remote_addr); // same TCP connection
            CHECK(reqs[0].path == "/post");
            CHECK(reqs[0].query == "x=1");
            CHECK(http::find(reqs[0].headers, "x-custom") == "v");
            CHECK(http::find(reqs[0].headers, "connection") != "close");
        }
        SUBCASE("pinned root and pinned non-self-signed leaf work; a wrong pin fails") {
            call.tls.pin_pems = {pki.ca_pem()};
            CHECK(client.send(call).ok());
            call.tls.pin_pems = {pki.server_pem()};
            auto leaf = client.send(call);
            CHECK_MESSAGE(leaf.ok(), leaf.error_message);
            call.tls.pin_pems = {pki.other_ca_pem()};
            auto wrong = client.send(call);
            CHECK(wrong.failure == FailureKind::pin_mismatch);
            CHECK(wrong.error_code == "upstream.pin_mismatch");
            call.tls.pin_pems = {"garbage"};
            CHECK(client.send(call).error_code == "upstream.bad_pin");
        }
        SUBCASE("a pinned store trusts only the pins, never the system roots") {
            // The process's system roots now include the test root (OpenSSL reads SSL_CERT_FILE
            // when it loads the default paths): a pin on an unrelated root must still refuse.
            ::setenv("SSL_CERT_FILE", (dir / "ca.pem").c_str(), 1);
            call.tls.pin_pems = {pki.other_ca_pem()};
            auto wrong = client.send(call);
            ::unsetenv("SSL_CERT_FILE");
            CHECK(wrong.failure == FailureKind::pin_mismatch);
            CHECK(server.request_count() == 0);
        }
        SUBCASE("the target reaches the upstream byte for byte (no re-encoding)") {
            // httplib's client re-encodes '+', ',', ';', '\'' and spaces by default: a query
            // "q=a+b" (a space, in form encoding) would arrive as "q=a%2Bb" (a plus).
            call.tls.pin_pems = {pki.ca_pem()};
            call.url = *parse_url(server.url("/post?q=a+b&list=1,2;3&n='x'&e=%2B%20"));
            auto out = client.send(call);
            REQUIRE_MESSAGE(out.ok(), out.error_message);
            auto reqs = server.requests();
            REQUIRE(reqs.size() == 1);
            CHECK(reqs[0].query == "q=a+b&list=1,2;3&n='x'&e=%2B%20");
            // Bytes outside ASCII are the one thing encoded: a request line is ASCII.
            call.url = *parse_url(server.url("/post?name=Jos\xc3\xa9"));
            REQUIRE(client.send(call).ok());
            CHECK(server.requests().back().query == "name=Jos%C3%A9");
        }
        SUBCASE("header values with CR/LF are refused before sending") {
            call.tls.pin_pems = {pki.ca_pem()};
            call.headers.push_back({"X-Evil", "a\r\nInjected: yes"});
            auto out = client.send(call);
            CHECK(out.error_code == "upstream.bad_header");
            CHECK(server.request_count() == 0);
        }
    }

    TEST_CASE("client certificates: required upstream refuses without, accepts with") {
        auto pki = test::make_pki();
        test::UpstreamServer server(pki, {.tls = true, .require_client_cert = true});
        Client client;
        Call call;
        call.url = *parse_url(server.url("/mtls"));
        call.tls.pin_pems = {pki.ca_pem()};
        auto without = client.send(call);
        CHECK_FALSE(without.ok());
        CHECK(without.failure == FailureKind::client_cert_rejected);
        CHECK(without.error_code == "upstream.client_cert_rejected");
        call.tls.client_cert_pem = pki.client_cert_pem();
        call.tls.client_key_pem = pki.client_key_pem();
        auto with = client.send(call);
        CHECK_MESSAGE(with.ok(), with.error_message);
        call.tls.client_key_pem = tls::key_to_pem(pki.server.key.get());
        CHECK(client.send(call).error_code == "upstream.client_key_mismatch");
    }

    TEST_CASE("client certificates: a refusal is named as such every time, however the race ends") {
        // With TLS 1.3 the client finishes its handshake before the server has judged the
        // certificate; the server's alert and its reset then race the request. A large body makes
        // the write more likely to meet the reset, an empty one the read.
        auto pki = test::make_pki();
        test::UpstreamServer server(pki, {.tls = true, .require_client_cert = true});
        tls::IssueOptions expired;
        expired.common_name = "expired client";
        expired.usage = tls::Usage::client;
        expired.not_before_offset_days = -10;
        expired.days = -2;
        auto expired_pair = tls::issue(expired, &pki.ca);
        REQUIRE(expired_pair.ok());
        tls::IssueOptions foreign;
        foreign.common_name = "foreign client";
        foreign.usage = tls::Usage::client;
        auto foreign_pair = tls::issue(foreign, &pki.other_ca);
        REQUIRE(foreign_pair.ok());
        struct Identity {
            std::string name;
            std::string cert, key;
        };
        std::vector<Identity> identities = {
            {"none", "", ""},
            {"unknown CA", tls::cert_to_pem(foreign_pair->cert.get()),
             tls::key_to_pem(foreign_pair->key.get())},
            {"expired", tls::cert_to_pem(expired_pair->cert.get()),
             tls::key_to_pem(expired_pair->key.get())},
        };
        // 50 refusals, each identity with both bodies in turn; each needs a new connection.
        Client client;
        std::map<std::string, int> wrong;
        std::string last;
        for (int i = 0; i < 50; ++i) {
            const auto& id = identities[static_cast<std::size_t>(i) % identities.size()];
            Call call;
            call.url = *parse_url(server.url("/mtls"));
            call.tls.pin_pems = {pki.ca_pem()};
            call.tls.client_cert_pem = id.cert;
            call.tls.client_key_pem = id.key;
            call.body = (i / 3) % 2 ? std::string(256 * 1024, 'x') : std::string();
            auto out = client.send(call);
            if (out.error_code != "upstream.client_cert_rejected") {
                ++wrong[id.name];
                last = out.error_code + ": " + out.error_message;
            }
        }
        INFO("last wrong answer: ", last);
        CHECK(wrong["none"] == 0);
        CHECK(wrong["unknown CA"] == 0);
        CHECK(wrong["expired"] == 0);
        CHECK(server.request_count() == 0);
    }

    TEST_CASE("a keep-alive connection the upstream closed while idle is redialled once") {
        auto pki = test::make_pki();
        IdleClosingUpstream server(pki);
        Client client;
        Call call;
        call.url = *parse_url(server.url());
        call.tls.pin_pems = {pki.ca_pem()};
        call.headers = {{"Content-Type", "application/json"}};
        call.body = R"({"n":1})";
        auto first = client.send(call);
        REQUIRE_MESSAGE(first.ok(), first.error_message);
        std::this_thread::sleep_for(std::chrono::milliseconds(1600)); // past the 1 s idle limit
        call.body = R"({"n":2})";
        auto second = client.send(call);
        REQUIRE_MESSAGE(second.ok(), (second.error_code + ": " + second.error_message));
        CHECK(second.response.body == call.body);
        auto remotes = server.remotes();
        REQUIRE(remotes.size() == 2);    // each request reached the upstream once
        CHECK(remotes[0] != remotes[1]); // the second on a new connection: the first was closed
    }

    TEST_CASE("on an event loop, a pooled connection the upstream closes while idle is closed at once") {
        auto pki = test::make_pki();
        IdleClosingUpstream server(pki);
        LoopThread loop;
        Client client;
        Call call;
        call.url = *parse_url(server.url());
        call.tls.pin_pems = {pki.ca_pem()};
        call.body = R"({"n":1})";
        // Our sockets to the upstream that it closed and we did not (CLOSE_WAIT), by /proc/net/tcp.
        auto close_waits = [&] {
            std::ifstream tcp("/proc/net/tcp");
            std::string line;
            std::getline(tcp, line);
            int n = 0;
            char port_hex[8];
            std::snprintf(port_hex, sizeof port_hex, "%04X", server.port());
            while (std::getline(tcp, line)) {
                std::istringstream in(line);
                std::string slot, local, remote, state;
                in >> slot >> local >> remote >> state;
                if (state == "08" && remote.substr(remote.size() - 4) == port_hex)
                    ++n;
            }
            return n;
        };
        auto first = loop.call(client, call).outcome;
        REQUIRE_MESSAGE(first.ok(), first.error_message);
        std::this_thread::sleep_for(std::chrono::milliseconds(1600)); // past the 1 s idle limit
        CHECK(close_waits() == 0); // the loop saw the close and let the connection go
        call.body = R"({"n":2})";
        auto second = loop.call(client, call).outcome;
        REQUIRE_MESSAGE(second.ok(), (second.error_code + ": " + second.error_message));
        CHECK(second.response.body == call.body);
        auto remotes = server.remotes();
        REQUIRE(remotes.size() == 2); // each request reached the upstream once
        CHECK(remotes[0] != remotes[1]);
    }

    TEST_CASE("a connection idle in one event loop is lent to another loop and to a worker: one connection serves them") {
        // An upstream that serves one keep-alive connection at a time (a single-threaded
        // server) must see one connection whichever loop or worker makes the next call.
        auto pki = test::make_pki();
        IdleClosingUpstream server(pki);
        LoopThread a, b;
        Client client;
        Call call;
        call.url = *parse_url(server.url());
        call.tls.pin_pems = {pki.ca_pem()};
        call.body = R"({"n":1})";
        auto first = a.call(client, call).outcome;
        REQUIRE_MESSAGE(first.ok(), first.error_message);
        call.body = R"({"n":2})";
        auto second = b.call(client, call).outcome; // b has none of its own: a lends it
        REQUIRE_MESSAGE(second.ok(), (second.error_code + ": " + second.error_message));
        CHECK(second.response.body == call.body);
        call.body = R"({"n":3})";
        auto third = client.send(call); // a worker's call: b lends it
        REQUIRE_MESSAGE(third.ok(), (third.error_code + ": " + third.error_message));
        CHECK(third.response.body == call.body);
        call.body = R"({"n":4})";
        auto fourth = a.call(client, call).outcome; // send() left it in its own list
        REQUIRE_MESSAGE(fourth.ok(), (fourth.error_code + ": " + fourth.error_message));
        CHECK(fourth.response.body == call.body);
        auto remotes = server.remotes();
        REQUIRE(remotes.size() == 4);
        CHECK(remotes[1] == remotes[0]);
        CHECK(remotes[2] == remotes[0]);
        CHECK(remotes[3] == remotes[0]);
    }

    TEST_CASE("a failed call is retried only on a reused connection, before any answer") {
        Client client;
        retry_rule([&client](const Call& call) { return client.send(call); });
    }

    TEST_CASE("calls on an event loop keep the retry-once rule") {
        LoopThread loop;
        Client client;
        retry_rule([&](const Call& call) { return loop.call(client, call).outcome; });
    }

    TEST_CASE("calls on an event loop: TLS, pooling, verification, failures named as send() names them") {
        auto pki = test::make_pki();
        test::TempDir dir;
        test::write_text(dir / "ca.pem", pki.ca_pem());
        test::UpstreamServer server(pki);
        LoopThread loop;
        Client client;
        Call call;
        call.url = *parse_url(server.url("/post?x=1"));
        call.body = R"({"a":1})";
        call.headers = {{"Content-Type", "application/json"}, {"X-Custom", "v"}};

        // Untrusted without the root: refused in the handshake, nothing sent.
        auto untrusted = loop.call(client, call);
        CHECK(untrusted.ran_on_loop);
        CHECK(untrusted.outcome.error_code == "upstream.tls_verify_failed");
        CHECK(server.request_count() == 0);
        // A wrong pin is named as such.
        Call pinned = call;
        pinned.tls.pin_pems = {pki.other_ca_pem()};
        CHECK(loop.call(client, pinned).outcome.error_code == "upstream.pin_mismatch");
        // Trusted: the answer whole, the second call on the same pooled connection.
        call.tls.extra_ca_files = {(dir / "ca.pem").string()};
        auto a = loop.call(client, call);
        REQUIRE_MESSAGE(a.outcome.ok(), a.outcome.error_message);
        CHECK(a.outcome.response.status == 200);
        CHECK(a.outcome.response.body == call.body);
        auto b = loop.call(client, call);
        REQUIRE(b.outcome.ok());
        auto reqs = server.requests();
        REQUIRE(reqs.size() == 2);
        CHECK(reqs[0].remote_addr == reqs[1].remote_addr);
        CHECK(reqs[0].query == "x=1");
        CHECK(http::find(reqs[0].headers, "x-custom") == "v");
        // A header value with a line break: nothing is sent.
        Call bad = call;
        bad.headers.push_back({"X-Bad", "a\r\nInjected: 1"});
        CHECK(loop.call(client, bad).outcome.error_code == "upstream.bad_header");
        CHECK(server.request_count() == 2);
        // A name, not an IP literal, is resolved off the loop.
        Call named = call;
        named.url = *parse_url("https://localhost:" + std::to_string(server.port()) + "/post");
        auto by_name = loop.call(client, named);
        REQUIRE_MESSAGE(by_name.outcome.ok(), by_name.outcome.error_message);
        CHECK(by_name.outcome.response.body == call.body);
        CHECK(server.request_count() == 3);
        // A closed port, a name that does not resolve, a slow upstream.
        call.url = *parse_url("http://127.0.0.1:1/");
        CHECK(loop.call(client, call).outcome.failure == FailureKind::connect);
        call.url = *parse_url("http://no-such-host.invalid/");
        auto unresolved = loop.call(client, call);
        CHECK(unresolved.outcome.failure == FailureKind::connect);
        CHECK(unresolved.outcome.error_message.find("does not resolve") != std::string::npos);
        test::UpstreamServer slow(pki, {.tls = false, .delay_ms = 1500});
        call.url = *parse_url(slow.url("/slow"));
        call.timeout_ms = 300;
        auto t0 = std::chrono::steady_clock::now();
        auto timed_out = loop.call(client, call);
        CHECK(timed_out.outcome.error_code == "upstream.timeout");
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(1200));
    }

    TEST_CASE("calls on an event loop: streamed answers wait without blocking, then give the connection back") {
        LoopThread loop;
        Client client;
        Call call;
        call.method = "GET";
        call.stream_answer = true;
        SUBCASE("chunked, headers byte for byte, the connection reused") {
            test::RawUpstream up({{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Next: /a%2Fb?c=%20d\r\n"
                                   "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"}});
            call.url = *parse_url(up.url("/c"));
            for (int i = 0; i < 2; ++i) {
                auto r = loop.call(client, call);
                REQUIRE_MESSAGE(r.outcome.ok(), r.outcome.error_message);
                CHECK(r.body == "hello world");
                CHECK(r.body_error.empty());
                const auto& h = r.outcome.response.headers;
                REQUIRE(h.size() == 3);
                CHECK(h[0].value == "/a%2Fb?c=%20d");
                CHECK(h[1].value == "a=1");
                CHECK(h[2].value == "b=2");
            }
            CHECK(up.connections() == 1);
        }
        SUBCASE("a body that arrives in two parts: pending between them, then the rest, whole") {
            // A plain socket upstream: the head and half of a 3 MB body, a pause, the rest.
            std::string big(3 * 1024 * 1024 + 7, 'x');
            for (std::size_t i = 0; i < big.size(); i += 4096)
                big[i] = static_cast<char>('a' + (i / 4096) % 26);
            int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            socklen_t len = sizeof addr;
            REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
            REQUIRE(::listen(lfd, 4) == 0);
            ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
            std::thread upstream([lfd, &big] {
                int c = ::accept(lfd, nullptr, nullptr);
                std::string got;
                char buf[4096];
                while (got.find("\r\n\r\n") == std::string::npos) {
                    auto n = ::recv(c, buf, sizeof buf, 0);
                    if (n <= 0)
                        break;
                    got.append(buf, static_cast<std::size_t>(n));
                }
                std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n";
                auto send_all = [c](std::string_view bytes) {
                    while (!bytes.empty()) {
                        auto n = ::send(c, bytes.data(), bytes.size(), MSG_NOSIGNAL);
                        if (n <= 0)
                            return;
                        bytes.remove_prefix(static_cast<std::size_t>(n));
                    }
                };
                send_all(head + big.substr(0, big.size() / 2));
                std::this_thread::sleep_for(std::chrono::milliseconds(300));
                send_all(std::string_view(big).substr(big.size() / 2));
                ::close(c);
            });
            call.url = *parse_url("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/big");
            auto r = loop.call(client, call);
            upstream.join();
            ::close(lfd);
            REQUIRE_MESSAGE(r.outcome.ok(), r.outcome.error_message);
            CHECK(r.body.size() == big.size());
            CHECK(r.body == big);
            CHECK(r.pending > 0); // it waited for the second half on the loop, without blocking it
        }
        SUBCASE("a body cut short fails with the cause") {
            test::RawUpstream up({k_truncate});
            call.url = *parse_url(up.url("/t"));
            auto r = loop.call(client, call);
            REQUIRE(r.outcome.ok()); // the head arrived whole
            CHECK(r.body == "ok");
            CHECK(r.body_error == "upstream.connection_broken");
        }
    }

    TEST_CASE("slow upstreams time out; closed ports fail to connect") {
        auto pki = test::make_pki();
        test::UpstreamServer slow(pki, {.tls = false, .delay_ms = 1500});
        Client client;
        Call call;
        call.url = *parse_url(slow.url("/slow"));
        call.timeout_ms = 300;
        auto out = client.send(call);
        CHECK(out.failure == FailureKind::timeout);
        CHECK(out.error_code == "upstream.timeout");
        call.url = *parse_url("http://127.0.0.1:1/");
        CHECK(client.send(call).failure == FailureKind::connect);
    }
    TEST_CASE("answers keep header bytes, order and repeats; hop-by-hop headers go both ways") {
        test::RawUpstream up({{"HTTP/1.1 200 OK\r\n"
                               "x-next: /a%2Fb?c=%20d\r\n"
                               "Zeta: 1\r\n"
                               "Set-Cookie: a=1; Path=/\r\n"
                               "Connection: keep-alive, X-Hop\r\n"
                               "alpha: x%25y\r\n"
                               "X-Hop: secret\r\n"
                               "Keep-Alive: timeout=5\r\n"
                               "Set-Cookie: b=2\r\n"
                               "Content-Length: 2\r\n"
                               "\r\n"
                               "ok"}});
        Client client;
        Call call;
        call.url = *parse_url(up.url("/pay?q=a+b&p=%2F"));
        call.body = "abc";
        call.headers = {{"Zeta", "1"},
                        {"alpha", "x%2Fy"},
                        {"Connection", "keep-alive, X-Hop"},
                        {"X-Hop", "secret"},
                        {"TE", "trailers"},
                        {"Host", "elsewhere.example"},
                        {"Content-Length", "99"},
                        {"Set-Cookie", "c=1"},
                        {"Set-Cookie", "c=2"}};
        auto out = client.send(call);
        REQUIRE_MESSAGE(out.ok(), out.error_message);
        CHECK(out.response.status == 200);
        CHECK(out.response.body == "ok");
        std::vector<std::pair<std::string, std::string>> got;
        for (const auto& h : out.response.headers)
            got.emplace_back(h.name, h.value);
        std::vector<std::pair<std::string, std::string>> want = {
            {"x-next", "/a%2Fb?c=%20d"}, {"Zeta", "1"},           {"Set-Cookie", "a=1; Path=/"},
            {"alpha", "x%25y"},          {"Set-Cookie", "b=2"},   {"Content-Length", "2"}};
        CHECK(got == want);
        // The request: the target and headers as given, in order; Host first, our length last;
        // no Content-Type was given and none is added.
        auto reqs = up.requests();
        REQUIRE(reqs.size() == 1);
        CHECK(reqs[0] == "POST /pay?q=a+b&p=%2F HTTP/1.1\r\n"
                         "Host: 127.0.0.1:" + std::to_string(up.port()) + "\r\n"
                         "Zeta: 1\r\n"
                         "alpha: x%2Fy\r\n"
                         "Set-Cookie: c=1\r\n"
                         "Set-Cookie: c=2\r\n"
                         "Content-Length: 3\r\n"
                         "\r\n"
                         "abc");
    }

    TEST_CASE("answer bodies: chunked, until close, HEAD, 1xx, redirects, malformed") {
        Client client;
        Call call;
        call.method = "GET";
        SUBCASE("chunked: de-chunked, trailers dropped, the connection reused") {
            test::RawUpstream up({{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
                                   "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"}});
            call.url = *parse_url(up.url("/c"));
            for (int i = 0; i < 2; ++i) {
                auto out = client.send(call);
                REQUIRE_MESSAGE(out.ok(), out.error_message);
                CHECK(out.response.body == "hello world");
                REQUIRE(out.response.headers.size() == 1);
                CHECK(out.response.headers[0].name == "X-A");
            }
            CHECK(up.connections() == 1);
            CHECK(up.requests()[0].rfind("GET /c HTTP/1.1\r\nHost: ", 0) == 0);
            CHECK(up.requests()[0].find("Content-Length") == std::string::npos);
        }
        SUBCASE("until close: the whole body, then a new connection") {
            test::RawUpstream up({{"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", true}});
            call.url = *parse_url(up.url("/u"));
            for (int i = 0; i < 2; ++i) {
                auto out = client.send(call);
                REQUIRE_MESSAGE(out.ok(), out.error_message);
                CHECK(out.response.body == "all of it");
            }
            CHECK(up.connections() == 2);
        }
        SUBCASE("HEAD: no body, Content-Length kept, the connection reused") {
            test::RawUpstream up({{"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"}});
            call.method = "HEAD";
            call.url = *parse_url(up.url("/h"));
            for (int i = 0; i < 2; ++i) {
                auto out = client.send(call);
                REQUIRE_MESSAGE(out.ok(), out.error_message);
                CHECK(out.response.body.empty());
                CHECK(http::find(out.response.headers, "content-length") == "1234");
            }
            CHECK(up.connections() == 1);
        }
        SUBCASE("1xx answers are skipped; a 3xx is an answer, never followed") {
            test::RawUpstream up({{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"},
                                  {"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n"}});
            call.url = *parse_url(up.url("/r"));
            CHECK(client.send(call).response.status == 201);
            auto moved = client.send(call);
            REQUIRE(moved.ok());
            CHECK(moved.response.status == 302);
            CHECK(http::find(moved.response.headers, "location") == "http://127.0.0.1:1/");
            CHECK(up.requests().size() == 2);
        }
        SUBCASE("a malformed answer is an io failure that names it") {
            test::RawUpstream up({{"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", true}});
            call.url = *parse_url(up.url("/m"));
            auto out = client.send(call);
            CHECK(out.failure == FailureKind::io);
            CHECK(out.error_code == "upstream.bad_response");
            CHECK(up.requests().size() == 1); // never retried: the connection was new
        }
    }

    TEST_CASE("a new connection to a known upstream resumes the TLS session") {
        auto pki = test::make_pki();
        IdleClosingUpstream server(pki, 1); // every answer closes its connection
        Client client;
        Call call;
        call.url = *parse_url(server.url());
        call.tls.pin_pems = {pki.ca_pem()};
        call.body = "{}";
        for (int i = 0; i < 3; ++i) {
            auto out = client.send(call);
            REQUIRE_MESSAGE(out.ok(), out.error_message);
        }
        auto remotes = server.remotes();
        REQUIRE(remotes.size() == 3);
        CHECK(remotes[0] != remotes[1]);
        CHECK(remotes[1] != remotes[2]);
        auto resumed = server.resumed();
        CHECK_FALSE(resumed[0]);
        CHECK(resumed[1]);
        CHECK(resumed[2]);
        // Another pool key (other TLS settings) never gets that session.
        call.tls.pin_pems = {pki.ca_pem(), pki.other_ca_pem()};
        REQUIRE(client.send(call).ok());
        CHECK_FALSE(server.resumed().back());
    }

    TEST_CASE("one client shared by many threads") {
        auto pki = test::make_pki();
        test::UpstreamServer server(pki, {.tls = true, .threads = 8, .record = false});
        Client client;
        std::atomic<int> good{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 6; ++t)
            threads.emplace_back([&, t] {
                Call call;
                call.url = *parse_url(server.url("/t"));
                call.tls.pin_pems = {pki.ca_pem()};
                for (int i = 0; i < 40; ++i) {
                    call.body = std::to_string(t) + "-" + std::to_string(i);
                    auto out = client.send(call);
                    if (out.ok() && out.response.body == call.body)
                        ++good;
                }
            });
        for (auto& th : threads)
            th.join();
        CHECK(good == 240);
    }
}
