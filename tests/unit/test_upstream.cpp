// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include "core/upstream/client.hpp"
#include "core/upstream/url.hpp"
#include "support/support.hpp"
#include "support/upstream_server.hpp"

using namespace vaultfwd;
using namespace vaultfwd::upstream;

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

    TEST_CASE("https calls: extra roots, pins, mTLS, keep-alive, timeouts") {
        auto pki = test::make_pki();
        test::TempDir dir;
        test::write_text(dir / "ca.pem", pki.ca_pem());
        test::UpstreamServer server(pki);
        Client client;
        Call call;
        call.url = *parse_url(server.url("/post?x=1"));
        call.body = R"({"a":1})";
        call.headers = {{"Content-Type", "application/json"}, {"X-Custom", "v"}, {"Connection", "close"}};

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
}
