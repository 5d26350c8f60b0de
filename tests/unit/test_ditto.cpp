// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <chrono>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include "core/ditto/echo.hpp"
#include "core/ditto/server.hpp"
#include "core/tls/store.hpp"
#include "core/util/strings.hpp"
#include "support/raw_upstream.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using namespace std::string_literals;

namespace {

// The request of the seed's examples, as curl sends it minus User-Agent and Accept (which the
// seed's transcript does not show).
ditto::EchoRequest seed_request() {
    ditto::EchoRequest req;
    req.method = "POST";
    req.target = "/";
    req.headers = {{"Host", "ditto.footprint.dev"},
                   {"Test-Header", "FootprintRocks"},
                   {"Content-Length", "19"},
                   {"Content-Type", "application/x-www-form-urlencoded"}};
    req.body = R"({"hello": "world" })";
    return req;
}

struct Pki {
    tls::KeyPair ca;
    tls::KeyPair server;
    std::string ca_pem;
};

Pki make_pki() {
    Pki p;
    p.ca = std::move(tls::make_ca("ditto test CA")).value();
    p.server = std::move(tls::issue_localhost_cert(p.ca, "127.0.0.1")).value();
    p.ca_pem = tls::cert_to_pem(p.ca.cert.get());
    return p;
}

ditto::ServerOptions options_for(const Pki& pki) {
    ditto::ServerOptions o;
    o.tls_cert_pem = tls::cert_to_pem(pki.server.cert.get());
    o.tls_key_pem = tls::key_to_pem(pki.server.key.get());
    o.threads = 4;
    return o;
}

std::unique_ptr<httplib::SSLClient> tls_client(int port, const tls::KeyPair* client = nullptr) {
    auto c = client ? std::make_unique<httplib::SSLClient>("127.0.0.1", port, client->cert.get(),
                                                           client->key.get())
                    : std::make_unique<httplib::SSLClient>("127.0.0.1", port);
    c->enable_server_certificate_verification(false);
    c->set_connection_timeout(5);
    c->set_read_timeout(5);
    return c;
}

// Raw exchanges (test::raw_exchange): the answer as it came off the wire, until the server
// closes (the last request should say Connection: close) or 5 s pass.
using test::raw_exchange;

std::unique_ptr<ditto::Server> plain_server(ditto::ServerOptions o = {}) {
    o.https = false;
    o.threads = 2;
    auto server = ditto::Server::start(o);
    REQUIRE_MESSAGE(server.ok(), server.error().message);
    return std::move(*server);
}

} // namespace

TEST_SUITE("ditto") {
    TEST_CASE("the text answer is the seed's, byte for byte") {
        auto answers = test::footprint_seed_answers();
        REQUIRE(answers.size() == 2);
        CHECK(answers[0] ==
              "test-header: FootprintRocks\ncontent-type: application/x-www-form-urlencoded\n\n"
              "{\"hello\": \"world\" }");
        auto req = seed_request();
        CHECK(ditto::echo_text(req) == answers[0]);

        SUBCASE("with a client certificate, its serial comes first") {
            req.client_cert =
                ditto::ClientCert{"CN=client", "CN=ca", "12431179266346922388", "AC846BADF5CF3194"};
            CHECK(ditto::echo_text(req) == answers[1]);
            auto res = ditto::echo(req, ditto::Format::text);
            CHECK(res.status == 200);
            REQUIRE(res.headers.size() == 1);
            CHECK(res.headers[0].first == "x-ditto-client-cert-serial");
            CHECK(res.headers[0].second == "12431179266346922388");
            CHECK(res.content_type.rfind("text/plain", 0) == 0);
        }
    }

    TEST_CASE("headers: lower-cased, in arrival order (repeats too), hop headers out") {
        ditto::EchoRequest req;
        req.headers = {{"X-B", "2"},
                       {"Connection", "keep-alive"},
                       {"x-a", "first"},
                       {"Authorization", "Basic eA=="},
                       {"X-A", "second"},
                       {"Transfer-Encoding", "chunked"},
                       {"X-Ditto-Client-Cert-Serial", "forged"},
                       {"C-Last", "/a%2Fb"}};
        auto list = ditto::echoed_headers(req.headers);
        REQUIRE(list.size() == 5);
        CHECK(list[0] == std::pair<std::string, std::string>{"x-b", "2"});
        CHECK(list[1] == std::pair<std::string, std::string>{"x-a", "first"});
        CHECK(list[2] == std::pair<std::string, std::string>{"authorization", "Basic eA=="});
        CHECK(list[3] == std::pair<std::string, std::string>{"x-a", "second"});
        CHECK(list[4] == std::pair<std::string, std::string>{"c-last", "/a%2Fb"});
        // No client certificate: a serial sent by the client is not echoed as if it were one.
        CHECK(ditto::echo_text(req).find("forged") == std::string::npos);
        CHECK(ditto::echo(req, ditto::Format::text).headers.empty());
        // An empty body still ends the header block with an empty line.
        CHECK(ditto::echo_text(req) == "x-b: 2\nx-a: first\nauthorization: Basic eA==\n"
                                       "x-a: second\nc-last: /a%2Fb\n\n");
        // In JSON, repeated names join in arrival order even when other headers came between.
        CHECK(ditto::echo_json(req)["headers"]["x-a"] == "first, second");
    }

    TEST_CASE("the JSON answer") {
        auto req = seed_request();
        req.target = "/a/b?x=1&y=%20";
        req.headers.emplace_back("X-Rep", "one");
        req.headers.emplace_back("x-rep", "two");
        auto j = ditto::echo_json(req);
        CHECK(j["method"] == "POST");
        CHECK(j["path"] == "/a/b");
        CHECK(j["query"] == "x=1&y=%20");
        CHECK(j["headers"]["test-header"] == "FootprintRocks");
        CHECK(j["headers"]["x-rep"] == "one, two");
        CHECK_FALSE(j["headers"].contains("host"));
        CHECK(j["body"] == R"({"hello": "world" })");
        CHECK(j["client_cert"].is_null());

        req.body = std::string("\xff\x00\x01", 3);
        req.client_cert = ditto::ClientCert{"CN=c", "CN=ca", "255", "FF"};
        j = ditto::echo_json(req);
        CHECK(j["body"].is_null());
        CHECK(j["body_base64"] == util::base64_encode(req.body));
        CHECK(j["client_cert"]["serial"] == "255");
        CHECK(j["client_cert"]["subject"] == "CN=c");
        auto res = ditto::echo(req, ditto::Format::json);
        CHECK(res.content_type == "application/json");
        CHECK(nlohmann::json::parse(res.body) == j);
    }

    TEST_CASE("split_target keeps the raw query") {
        CHECK(ditto::split_target("/p") == std::pair<std::string, std::string>{"/p", ""});
        CHECK(ditto::split_target("/p?a=%41&b") ==
              std::pair<std::string, std::string>{"/p", "a=%41&b"});
        CHECK(ditto::split_target("http://h/x?q") ==
              std::pair<std::string, std::string>{"http://h/x", "q"});
    }

    TEST_CASE("server: plain HTTP echoes any method and path") {
        ditto::ServerOptions o;
        o.https = false;
        o.threads = 4;
        auto server = ditto::Server::start(o);
        REQUIRE_MESSAGE(server.ok(), server.error().message);
        auto& s = **server;
        CHECK(s.https_port() == 0);
        REQUIRE(s.urls().size() == 1);
        CHECK(s.urls()[0] == "http://127.0.0.1:" + std::to_string(s.http_port()));
        httplib::Client c("127.0.0.1", s.http_port());
        auto r = c.Put("/deep/path?q=1", {{"X-Probe", "Yes"}}, "payload", "text/plain");
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->body.find("x-probe: Yes\n") != std::string::npos);
        CHECK(r->body.find("content-type: text/plain\n") != std::string::npos);
        CHECK(r->body.size() >= 9);
        CHECK(r->body.substr(r->body.size() - 9) == "\n\npayload");
        CHECK_FALSE(r->has_header("x-ditto-client-cert-serial"));
        for (const char* method : {"GET", "DELETE", "OPTIONS", "PATCH"}) {
            httplib::Request req;
            req.method = method;
            req.path = "/any/where";
            req.headers = {{"X-M", method}};
            auto rr = c.send(req);
            REQUIRE(rr);
            CHECK_MESSAGE(rr->status == 200, method);
            CHECK(rr->body.find(std::string("x-m: ") + method + "\n") != std::string::npos);
        }
        s.stop();
        s.stop(); // idempotent
    }

    TEST_CASE("server: HTTPS echoes the client certificate's serial, and works without one") {
        auto pki = make_pki();
        auto server = ditto::Server::start(options_for(pki));
        REQUIRE_MESSAGE(server.ok(), server.error().message);
        auto& s = **server;
        REQUIRE(s.https_port() > 0);
        REQUIRE(s.http_port() > 0);

        auto client = std::move(tls::issue_client_cert(pki.ca, "ditto client", 5)).value();
        auto serial = tls::inspect(client.cert.get()).serial_decimal;
        auto with = tls_client(s.https_port(), &client);
        auto r = with->Post("/", {{"Test-Header", "FootprintRocks"}}, "{}", "application/json");
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->get_header_value("x-ditto-client-cert-serial") == serial);
        CHECK(r->body.rfind("x-ditto-client-cert-serial: " + serial + "\n", 0) == 0);

        auto without = tls_client(s.https_port());
        auto r2 = without->Get("/");
        REQUIRE(r2);
        CHECK(r2->status == 200);
        CHECK_FALSE(r2->has_header("x-ditto-client-cert-serial"));

        SUBCASE("a self-signed client certificate is reported too when no client CA is set") {
            tls::IssueOptions io;
            io.common_name = "self";
            io.usage = tls::Usage::client;
            auto self = std::move(tls::issue(io, nullptr)).value();
            auto c = tls_client(s.https_port(), &self);
            auto r3 = c->Get("/");
            REQUIRE(r3);
            CHECK(r3->get_header_value("x-ditto-client-cert-serial") ==
                  tls::inspect(self.cert.get()).serial_decimal);
        }
    }

    TEST_CASE("server: a client CA and a required client certificate are enforced") {
        auto pki = make_pki();
        auto opts = options_for(pki);
        opts.http = false;
        opts.client_ca_pem = pki.ca_pem;
        opts.client_cert = ditto::ClientCertPolicy::required;
        auto server = ditto::Server::start(opts);
        REQUIRE_MESSAGE(server.ok(), server.error().message);
        int port = (*server)->https_port();
        CHECK((*server)->http_port() == 0);

        auto good = std::move(tls::issue_client_cert(pki.ca, "good", 5)).value();
        auto r = tls_client(port, &good)->Get("/");
        REQUIRE(r);
        CHECK(r->get_header_value("x-ditto-client-cert-serial") ==
              tls::inspect(good.cert.get()).serial_decimal);

        auto other_ca = std::move(tls::make_ca("another CA")).value();
        auto stranger = std::move(tls::issue_client_cert(other_ca, "stranger", 5)).value();
        auto refused = tls_client(port, &stranger)->Get("/");
        CHECK_FALSE(refused);
        auto anonymous = tls_client(port)->Get("/");
        CHECK_FALSE(anonymous);
        // The server keeps serving after refusing handshakes.
        auto again = tls_client(port, &good)->Get("/");
        REQUIRE(again);
        CHECK(again->status == 200);
    }

    TEST_CASE("server: bad TLS material and a busy port are reported, not thrown") {
        auto pki = make_pki();
        auto opts = options_for(pki);
        opts.tls_key_pem = tls::key_to_pem(pki.ca.key.get()); // not the server certificate's key
        auto mismatch = ditto::Server::start(opts);
        REQUIRE_FALSE(mismatch.ok());
        CHECK(mismatch.error().code == "ditto.tls");
        CHECK(mismatch.error().message.find("does not belong") != std::string::npos);

        opts = options_for(pki);
        opts.client_ca_pem = "not a pem";
        auto bad_ca = ditto::Server::start(opts);
        REQUIRE_FALSE(bad_ca.ok());
        CHECK(bad_ca.error().message.find("client CA") != std::string::npos);

        ditto::ServerOptions plain;
        plain.https = false;
        auto first = ditto::Server::start(plain);
        REQUIRE(first.ok());
        plain.http_port = (*first)->http_port();
        auto second = ditto::Server::start(plain);
        REQUIRE_FALSE(second.ok());
        CHECK(second.error().code == "ditto.bind");
    }

    TEST_CASE("server: methods httplib could not route, headers in order as sent, pipelining") {
        auto s = plain_server();
        // Headers out of name order, a repeated name with another between, `%2F` in a value and
        // in the target; a WebDAV method; a second request pipelined behind the first.
        auto got = raw_exchange(s->http_port(),
                                "PROPFIND /a%2Fb?x=%2F&y=a+b HTTP/1.1\r\nHost: h\r\nZ-Last: 1\r\n"
                                "A-First: /a%2Fb?c=%20d\r\nM-Mid:  spaced value \r\nz-last: 2\r\n"
                                "Content-Length: 3\r\n\r\nabc"
                                "PURGE /p HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        CAPTURE(got);
        auto first = got.find("\r\n\r\n");
        REQUIRE(got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
        REQUIRE(first != std::string::npos);
        const std::string body1 = "z-last: 1\na-first: /a%2Fb?c=%20d\nm-mid: spaced value\n"
                                  "z-last: 2\n\nabc";
        CHECK(got.substr(first + 4, body1.size()) == body1);
        CHECK(got.find("Content-Length: " + std::to_string(body1.size()) + "\r\n") < first);
        CHECK(got.find("content-type: text/plain; charset=utf-8\r\n") < first);
        auto second = got.find("HTTP/1.1 200 OK\r\n", first);
        REQUIRE(second != std::string::npos);
        // PURGE: only hop headers, which are not echoed, and no body: the echo is the empty line.
        const std::string tail = "Content-Length: 1\r\nConnection: close\r\n\r\n\n";
        CHECK(got.substr(got.size() - tail.size()) == tail);

        for (const char* method : {"TRACE", "MKCOL", "LINK", "SEARCH"}) {
            auto r = raw_exchange(s->http_port(), std::string(method) +
                                                      " /m HTTP/1.1\r\nHost: h\r\nX-M: 1\r\n"
                                                      "Connection: close\r\n\r\n");
            CHECK_MESSAGE(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0, method);
            CHECK_MESSAGE(r.substr(r.size() - 8) == "x-m: 1\n\n", method);
        }
        // CONNECT opens no tunnel: it is echoed, and the connection closes after the answer.
        auto connect = raw_exchange(s->http_port(), "CONNECT example.com:443 HTTP/1.1\r\n"
                                                    "Host: example.com:443\r\nX-C: 1\r\n\r\n");
        CHECK(connect.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
        CHECK(connect.find("Connection: close\r\n") != std::string::npos);
        CHECK(connect.substr(connect.size() - 8) == "x-c: 1\n\n");
        // HEAD: the head of the echo, no body.
        auto head = raw_exchange(s->http_port(), "HEAD /h HTTP/1.1\r\nHost: h\r\nX-H: 1\r\n"
                                                 "Connection: close\r\n\r\n");
        CHECK(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
        CHECK(head.find("Content-Length: 8\r\n") != std::string::npos);
        CHECK(head.substr(head.size() - 4) == "\r\n\r\n");
    }

    TEST_CASE("server: the JSON format keeps the raw target, and a body of any framing") {
        ditto::ServerOptions o;
        o.format = ditto::Format::json;
        auto s = plain_server(o);
        auto got = raw_exchange(s->http_port(),
                                "POST /a%2Fb?x=%2F HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
                                "chunked\r\nConnection: close\r\n\r\n3\r\n\xff\x00\x01\r\n0\r\n\r\n"s);
        auto split = got.find("\r\n\r\n");
        REQUIRE(split != std::string::npos);
        CHECK(got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
        auto j = nlohmann::json::parse(got.substr(split + 4));
        CHECK(j["method"] == "POST");
        CHECK(j["path"] == "/a%2Fb");
        CHECK(j["query"] == "x=%2F");
        CHECK(j["body_base64"] == util::base64_encode(std::string("\xff\x00\x01", 3)));
        CHECK_FALSE(j["headers"].contains("transfer-encoding"));

        // A POST without a length has no body (RFC 9112 §6.3): echoed, not refused.
        auto no_length = raw_exchange(s->http_port(), "POST /n HTTP/1.1\r\nHost: h\r\n"
                                                      "Connection: close\r\n\r\n");
        REQUIRE(no_length.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
        CHECK(nlohmann::json::parse(no_length.substr(no_length.find("\r\n\r\n") + 4))["body"] ==
              "");

        // A header value JSON cannot carry (not UTF-8) is an error of ditto's, as before.
        auto bad = raw_exchange(s->http_port(), "GET / HTTP/1.1\r\nHost: h\r\nX-Bin: \xff\xfe\r\n"
                                                "Connection: close\r\n\r\n");
        CHECK(bad.rfind("HTTP/1.1 500 ", 0) == 0);
        CHECK(bad.find("\"code\":\"ditto.internal\"") != std::string::npos);
    }

    TEST_CASE("server: max_body_bytes refuses a larger body with 413, the limit itself passes") {
        ditto::ServerOptions o;
        o.max_body_bytes = 16;
        auto s = plain_server(o);
        auto at_limit = raw_exchange(s->http_port(), "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: "
                                                     "16\r\nConnection: close\r\n\r\n" +
                                                         std::string(16, 'b'));
        CHECK(at_limit.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
        CHECK(at_limit.substr(at_limit.size() - 18) == "\n\n" + std::string(16, 'b'));
        auto over = raw_exchange(s->http_port(), "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: "
                                                 "17\r\n\r\n" +
                                                     std::string(17, 'b'));
        CHECK(over.rfind("HTTP/1.1 413 ", 0) == 0);
        CHECK(over.find("request.too_large") != std::string::npos);
        auto chunked = raw_exchange(s->http_port(),
                                    "PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    "10\r\n" + std::string(16, 'c') + "\r\n1\r\nc\r\n0\r\n\r\n");
        CHECK(chunked.rfind("HTTP/1.1 413 ", 0) == 0);
    }
}
