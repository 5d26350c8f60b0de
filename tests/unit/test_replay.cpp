// SPDX-License-Identifier: Apache-2.0
// The pure parts of `replay`: loading HAR and raw HTTP recordings, planning the request sent to
// `serve`, normalizing answers, the line diff and golden files.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "core/replay/diff.hpp"
#include "core/replay/golden.hpp"
#include "core/replay/normalize.hpp"
#include "core/replay/plan.hpp"
#include "core/replay/recording.hpp"
#include "core/util/strings.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using namespace vaultfwd::replay;
using nlohmann::json;

namespace {

json har_of(json entries) {
    return {{"log", {{"version", "1.2"}, {"entries", entries}}}};
}

json entry(json request) {
    return {{"request", request}};
}

Recording one(const Result<std::vector<Recording>>& r) {
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().describe("test")));
    REQUIRE(r->size() == 1);
    return r->front();
}

Error error_of(const Result<std::vector<Recording>>& r) {
    REQUIRE_FALSE(r.ok());
    return r.error();
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

Recording recording(const std::string& method, const std::string& target, http::Headers headers,
                    const std::string& body = "{{ id.first_name }}") {
    Recording rec;
    rec.method = method;
    rec.target = target;
    auto parts = split_target(target);
    REQUIRE(parts.ok());
    rec.path = parts->first;
    rec.query = parts->second;
    rec.headers = std::move(headers);
    rec.body = body;
    return rec;
}

} // namespace

TEST_SUITE("replay") {
    TEST_CASE("HAR: requests, headers, bodies and names as browsers export them") {
        json har = har_of(json::array({
            {{"comment", "Charge the card!"},
             {"request",
              {{"method", "POST"},
               {"url", "https://api.onefootprint.com/vault_proxy/jit?x=1#frag"},
               {"headers", json::array({{{"name", ":authority"}, {"value", "api.onefootprint.com"}},
                                        {{"name", "content-length"}, {"value", "12"}},
                                        {{"name", "x-fp-id"}, {"value", "fp_id_test_a"}}})},
               {"postData",
                {{"mimeType", "application/json"}, {"text", "{\"a\":\"{{ id.x }}\"}"}}}}}},
            entry({{"method", "PUT"},
                   {"url", "https://crm.example/v2/p"},
                   {"headers", json::array({{{"name", "Content-Type"}, {"value", "text/plain"}}})},
                   {"postData", {{"mimeType", "application/json"}, {"text", "body"}}}}),
            entry({{"method", "GET"}, {"url", "http://h.example"}, {"headers", json::array()}}),
        }));
        auto r = parse_har(har.dump(), "dir/checkout.har");
        REQUIRE_MESSAGE(r.ok(), r.error().message);
        REQUIRE(r->size() == 3);
        const auto& a = (*r)[0];
        CHECK(a.file == "dir/checkout.har");
        CHECK(a.index == 1);
        CHECK(a.name == "checkout-Charge-the-card");
        CHECK(a.method == "POST");
        CHECK(a.path == "/vault_proxy/jit");
        CHECK(a.query == "x=1");
        REQUIRE(a.headers.size() == 2); // pseudo-header and content-length dropped
        CHECK(a.headers[0].name == "x-fp-id");
        CHECK(http::find(a.headers, "content-type") == "application/json"); // from mimeType
        CHECK(a.body == "{\"a\":\"{{ id.x }}\"}");
        const auto& b = (*r)[1];
        CHECK(b.name == "checkout-2");
        CHECK(http::find_all(b.headers, "content-type") == std::vector<std::string>{"text/plain"});
        CHECK((*r)[2].path == "/");
        CHECK((*r)[2].body.empty());
    }

    TEST_CASE("HAR: form params become the body; names stay unique") {
        json har = har_of(json::array({
            {{"comment", "same"},
             {"request",
              {{"method", "POST"},
               {"url", "https://a.example/f"},
               {"headers", json::array()},
               {"postData",
                {{"mimeType", "application/x-www-form-urlencoded"},
                 {"params", json::array({{{"name", "card number"}, {"value", "{{ custom.cc }}"}},
                                         {{"name", "x"}, {"value", "1&2"}}})}}}}}},
            {{"comment", "same"},
             {"request",
              {{"method", "POST"}, {"url", "https://a.example/g"}, {"headers", json::array()}}}},
        }));
        auto r = parse_har(har.dump(), "forms.har");
        REQUIRE(r.ok());
        CHECK((*r)[0].body == util::percent_encode("card number") + "=" +
                                  util::percent_encode("{{ custom.cc }}") +
                                  "&x=" + util::percent_encode("1&2"));
        CHECK((*r)[0].name == "forms-same");
        CHECK((*r)[1].name == "forms-2");
    }

    TEST_CASE("HAR: entries that are not http(s) are skipped and listed, indices kept") {
        // What Chrome exports beside the page's requests: inline images, extension pages, blobs.
        json har = har_of(json::array(
            {entry({{"method", "GET"}, {"url", "data:image/png;base64,iVBORw0KGgo="}}),
             entry({{"method", "POST"}, {"url", "https://a.example/pay"}}),
             entry({{"method", "GET"}, {"url", "chrome-extension://abcdef/popup.html"}}),
             entry({{"method", "GET"}, {"url", "blob:https://a.example/5f1d-11"}}),
             entry({{"method", "GET"}, {"url", "HTTP://a.example/x"}})}));
        std::vector<Skipped> skipped;
        auto r = parse_har(har.dump(), "page.har", &skipped);
        REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
        REQUIRE(r->size() == 2);
        CHECK((*r)[0].index == 2);
        CHECK((*r)[0].name == "page-2");
        CHECK((*r)[1].index == 5);
        CHECK((*r)[1].target == "HTTP://a.example/x");
        REQUIRE(skipped.size() == 3);
        CHECK(skipped[0].file == "page.har");
        CHECK(skipped[0].index == 1);
        CHECK(skipped[0].where == "entry 1 (log.entries[0])");
        CHECK(skipped[0].scheme == "data");
        CHECK(skipped[1].scheme == "chrome-extension");
        CHECK(skipped[1].where == "entry 3 (log.entries[2])");
        CHECK(skipped[2].scheme == "blob");
        // Without a list to fill, the same requests.
        auto quiet = parse_har(har.dump(), "page.har");
        REQUIRE(quiet.ok());
        CHECK(quiet->size() == 2);

        // Only such entries: nothing to replay, said as such.
        json only = har_of(json::array({entry({{"method", "GET"}, {"url", "data:,x"}})}));
        auto e = error_of(parse_har(only.dump(), "x.har"));
        CHECK(e.code == "replay.empty");
        CHECK(contains(e.message, "none of the 1 entries"));
        // A malformed entry after a skipped one is still an error naming it.
        json bad = har_of(json::array({entry({{"method", "GET"}, {"url", "data:,x"}}),
                                       entry({{"method", "GET"}})}));
        CHECK(error_of(parse_har(bad.dump(), "x.har")).message ==
              "entry 2 (log.entries[1]): request.url is missing or not a string");
    }

    TEST_CASE("HAR: malformed files name the entry and the field") {
        SUBCASE("JSON syntax: line and column") {
            auto e =
                error_of(parse_har("{\n  \"log\": {\n    \"entries\": [,]\n  }\n}\n", "x.har"));
            CHECK(e.code == "replay.bad_json");
            CHECK(e.line == 3);
            CHECK(e.column > 1);
            CHECK(e.describe("x.har").rfind("x.har:3:", 0) == 0);
        }
        SUBCASE("not a HAR") {
            CHECK(error_of(parse_har("[1,2]", "x.har")).message.find("no top-level \"log\"") !=
                  std::string::npos);
            CHECK(error_of(parse_har(R"({"log":{}})", "x.har")).message.find("log.entries") !=
                  std::string::npos);
            CHECK(error_of(parse_har(R"({"log":{"entries":[]}})", "x.har")).code == "replay.empty");
        }
        SUBCASE("a missing url in the second entry") {
            json har =
                har_of(json::array({entry({{"method", "GET"}, {"url", "https://a.example/"}}),
                                    entry({{"method", "POST"}})}));
            auto e = error_of(parse_har(har.dump(), "x.har"));
            CHECK(e.code == "replay.bad_har");
            CHECK(e.message == "entry 2 (log.entries[1]): request.url is missing or not a string");
        }
        SUBCASE("field by field") {
            auto msg = [](json request) {
                auto r = parse_har(har_of(json::array({entry(request)})).dump(), "x.har");
                REQUIRE_FALSE(r.ok());
                return r.error().message;
            };
            CHECK(contains(msg({{"url", "https://a/"}}), "request.method is missing"));
            CHECK(contains(msg({{"method", "GE T"}, {"url", "https://a/"}}),
                           "is not an HTTP method"));
            CHECK(contains(msg({{"method", "GET"}, {"url", "a.example/x"}}),
                           "request.url: the request target"));
            CHECK(contains(msg({{"method", "GET"}, {"url", "ftp://a/"}}),
                           "none of the 1 entries of log.entries is an http(s) request"));
            CHECK(contains(msg({{"method", "GET"}, {"url", "https:///x"}}), "has no host"));
            CHECK(contains(msg({{"method", "GET"}, {"url", "https://a/"}, {"headers", {{"a", 1}}}}),
                           "request.headers is not an array"));
            CHECK(msg({{"method", "GET"},
                       {"url", "https://a/"},
                       {"headers", json::array({{{"name", "a"}, {"value", 1}}})}}) ==
                  "entry 1 (log.entries[0]): request.headers[0]: name and value must be strings");
            CHECK(
                contains(msg({{"method", "GET"},
                              {"url", "https://a/"},
                              {"headers", json::array({{{"name", "a"}, {"value", "x\r\ny: z"}}})}}),
                         "holds CR, LF or NUL"));
            CHECK(contains(
                msg({{"method", "POST"},
                     {"url", "https://a/"},
                     {"postData",
                      {{"params", json::array({{{"name", "f"}, {"fileName", "a.txt"}}})}}}}),
                "request.postData.params[0]: file uploads cannot be replayed"));
            CHECK(contains(
                msg({{"method", "POST"}, {"url", "https://a/"}, {"postData", {{"text", 5}}}}),
                "request.postData.text is not a string"));
        }
    }

    TEST_CASE("raw HTTP: CRLF, Content-Length honoured, several messages in one file") {
        std::string text =
            "\r\nPOST /vault-forward HTTP/1.1\r\nHost: a.example\r\n"
            "Content-Length: 5\r\nX-A:  spaced  \r\n\r\nhello"
            "\r\n\r\nPUT https://b.example/p/q?z=1 HTTP/1.0\r\nContent-Length: 0\r\n\r\n\r\n";
        auto r = parse_raw(text, "two.http");
        REQUIRE_MESSAGE(r.ok(), r.error().describe("two.http"));
        REQUIRE(r->size() == 2);
        const auto& a = (*r)[0];
        CHECK(a.line == 2);
        CHECK(a.name == "two-1");
        CHECK(a.method == "POST");
        CHECK(a.path == "/vault-forward");
        CHECK(a.body == "hello");
        CHECK(http::find(a.headers, "x-a") == "spaced");
        CHECK_FALSE(http::find(a.headers, "content-length").has_value());
        const auto& b = (*r)[1];
        CHECK(b.line == 9);
        CHECK(b.name == "two-2");
        CHECK(b.target == "https://b.example/p/q?z=1");
        CHECK(b.path == "/p/q");
        CHECK(b.query == "z=1");
        CHECK(b.body.empty());
    }

    TEST_CASE("raw HTTP: LF files, HTTP/1.1 framing (no length, no body), a chunked body") {
        auto lf = one(parse_raw("PATCH /x HTTP/1.1\nContent-Type: application/json\nContent-Length: 16\n\n"
                                "{\"a\": 1}\n\nline 3\n",
                                "lf.http"));
        CHECK(lf.body == "{\"a\": 1}\n\nline 3"); // LF kept inside the body, byte for byte
        auto none = one(parse_raw("GET /x HTTP/1.1\nHost: a", "h.http"));
        CHECK(none.body.empty());
        auto chunked = one(parse_raw("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n",
                                     "ch.http"));
        CHECK(chunked.body == "hello, world");
        CHECK_FALSE(http::find(chunked.headers, "transfer-encoding").has_value());
        auto bom = one(parse_raw("\xEF\xBB\xBFGET / HTTP/1.1\n\n", "bom.http"));
        CHECK(bom.method == "GET");
    }

    TEST_CASE("raw HTTP: a request without Content-Length or chunked has no body: the next line starts the next request") {
        auto r = parse_raw("GET /a HTTP/1.1\nHost: x\n\nGET /b HTTP/1.1\nHost: x\n", "two.http");
        REQUIRE_MESSAGE(r.ok(), r.error().describe("two.http"));
        REQUIRE(r->size() == 2);
        CHECK((*r)[0].path == "/a");
        CHECK((*r)[0].body.empty());
        CHECK((*r)[1].path == "/b");
        CHECK((*r)[1].line == 4);
        // A POST too (replay's raw files do not ask for a length); CRLF and LF mixed.
        auto post = parse_raw("POST /p HTTP/1.1\r\n\r\nGET /q HTTP/1.1\n\n", "p.http");
        REQUIRE_MESSAGE(post.ok(), post.error().describe("p.http"));
        REQUIRE(post->size() == 2);
        CHECK((*post)[0].body.empty());
        CHECK((*post)[1].path == "/q");
        // Text after a bodiless request that is not a request is refused, with its line.
        auto stray = parse_raw("POST /x HTTP/1.1\n\nbody\n", "s.http");
        REQUIRE_FALSE(stray.ok());
        CHECK(stray.error().line == 3);
        CHECK(contains(stray.error().message, "request line must be METHOD TARGET HTTP/1.1"));
        // The parser stays strict inside a head: a bare CR is refused.
        auto cr = parse_raw("GET /x HTTP/1.1\nA: b\rc\n\n", "cr.http");
        REQUIRE_FALSE(cr.ok());
        CHECK(cr.error().line == 2);
    }

    TEST_CASE("raw HTTP: malformed files give the line and what is wrong") {
        auto err = [](const std::string& text) {
            auto r = parse_raw(text, "bad.http");
            REQUIRE_FALSE(r.ok());
            CHECK(r.error().code != "");
            return r.error();
        };
        auto e = err("POST /x HTTP/1.1\nHost: a\nnot a header\n\nbody");
        CHECK(e.code == "replay.bad_raw");
        CHECK(e.line == 3);
        CHECK(contains(e.message, "has no ':'"));
        CHECK(e.describe("bad.http").rfind("bad.http:3: ", 0) == 0);
        CHECK(contains(err("POST /x\n\n").message, "request line must be METHOD TARGET HTTP/1.1"));
        CHECK(err("\n\nGET /x HTTP/1.1 extra\n").line == 3);
        CHECK(
            contains(err("GET x HTTP/1.1\n").message, "must be an absolute http(s) URL or a path"));
        auto short_body = err("POST /x HTTP/1.1\r\nA: b\r\nContent-Length: 10\r\n\r\nabc");
        CHECK(short_body.line == 3);
        CHECK(short_body.message == "Content-Length is 10 but only 3 bytes follow the headers");
        CHECK(
            contains(err("POST /x HTTP/1.1\nContent-Length: ten\n\n").message, "is not a number"));
        CHECK(contains(err("POST /x HTTP/1.1\nContent-Length: 1\nContent-Length: 2\n\nab").message,
                       "twice"));
        CHECK(contains(err("POST /x HTTP/1.1\nA: b\n  folded\n\n").message, "folded header lines"));
        CHECK(err("POST /x HTTP/1.1\nA: b\n  folded\n\n").line == 3);
        CHECK(contains(err("POST /x HTTP/1.1\nBad Name: b\n\n").message, "is not a valid token"));
        CHECK(contains(
            err("POST /x HTTP/1.1\nTransfer-Encoding: chunked\nContent-Length: 3\n\n").message,
            "both Transfer-Encoding and Content-Length"));
        CHECK(
            contains(err("POST /x HTTP/1.1\nTransfer-Encoding: gzip\n\n").message, "only chunked"));
        CHECK(contains(err("POST /x HTTP/1.1\nTransfer-Encoding: chunked\n\nzz\r\nab\r\n0\r\n\r\n").message,
                       "is not a hexadecimal number"));
        CHECK(contains(err("POST /x HTTP/1.1\nTransfer-Encoding: chunked\n\n5\r\nab").message,
                       "ends before its last (zero-size) chunk"));
        CHECK(contains(err("POST /x HTTP/1.1\nTransfer-Encoding: chunked\n\n2\nab\n0\n\n").message,
                       "need CRLF line ends in a raw file"));
        CHECK(err("\n \n\r\n").code == "replay.empty");
    }

    TEST_CASE("load() tells HAR from raw HTTP; the fixtures load") {
        auto dir = test::source_dir() / "fixtures" / "replay";
        auto har = load(dir / "checkout.har");
        REQUIRE_MESSAGE(har.ok(), har.error().message);
        REQUIRE(har->size() == 2);
        CHECK((*har)[0].name == "checkout-charge-card");
        CHECK((*har)[1].name == "checkout-2");
        auto gr4vy = load(dir / "gr4vy-forward.http");
        REQUIRE_MESSAGE(gr4vy.ok(), gr4vy.error().message);
        REQUIRE(gr4vy->size() == 1);
        CHECK(classify((*gr4vy)[0]) == Kind::gr4vy);
        CHECK((*gr4vy)[0].body.back() == '}'); // Content-Length ends it before the final CRLF
        auto crm = load(dir / "crm-update.http");
        REQUIRE(crm.ok());
        CHECK(classify((*crm)[0]) == Kind::plain);
        auto missing = load(dir / "nope.har");
        REQUIRE_FALSE(missing.ok());
        CHECK(missing.error().code == "replay.read");
    }

    TEST_CASE("targets, slugs and re-pointing") {
        CHECK(split_target("https://a.example").value() ==
              std::make_pair(std::string("/"), std::string()));
        CHECK(split_target("HTTP://a.example:8080?q=1").value() ==
              std::make_pair(std::string("/"), std::string("q=1")));
        CHECK(split_target("/a/b?c=d&e#f").value() ==
              std::make_pair(std::string("/a/b"), std::string("c=d&e")));
        CHECK_FALSE(split_target("a/b").ok());
        CHECK_FALSE(split_target("/a b").ok());
        CHECK(slug("  Charge card (3DS) / retry ") == "Charge-card-3DS-retry");
        CHECK(slug("...").empty());
        CHECK(slug(std::string(100, 'x')).size() == 64);
        CHECK(repoint("https://pay.example/v1/charges?currency=usd", "https://127.0.0.1:9/")
                  .value() == "https://127.0.0.1:9/v1/charges?currency=usd");
        CHECK(repoint("https://pay.example", "http://echo.local/base").value() ==
              "http://echo.local/base/");
        CHECK_FALSE(repoint("not a url", "https://e").ok());
    }

    TEST_CASE("classify by path, then headers") {
        CHECK(classify(recording("POST", "https://api.onefootprint.com/vault_proxy/jit", {})) ==
              Kind::footprint_jit);
        CHECK(classify(recording("POST", "/vault_proxy/reflect", {})) == Kind::footprint_reflect);
        CHECK(classify(recording("POST", "/vault_proxy/proxy_abc", {})) == Kind::footprint_proxy);
        CHECK(classify(recording("POST", "/vault-forward", {})) == Kind::gr4vy);
        CHECK(classify(recording("POST", "/api/forward",
                                 {{"X-Vault-Forward-Url", "https://x/"}})) == Kind::gr4vy);
        CHECK(classify(recording("POST", "/x", {{"X-PROVIDER-Forward-To", "https://x/"}})) ==
              Kind::vtex);
        CHECK(classify(recording("POST", "/other", {{"x-fp-proxy-target-url", "https://x/"}})) ==
              Kind::footprint_jit);
        CHECK(classify(recording("PUT", "https://crm.example/p", {})) == Kind::plain);
    }

    TEST_CASE("plan: reflect renders the body with the recording's x-fp-id") {
        profile::Profile p;
        auto rec = recording("POST", "https://api.onefootprint.com/vault_proxy/jit",
                             {{"Authorization", "Basic recorded"},
                              {"x-fp-proxy-footprint-token", "fp_id_test_a"},
                              {"x-fp-proxy-access-reason", "why"},
                              {"Content-Type", "application/json"},
                              {"x-fp-proxy-target-url", "https://pay.example/"}});
        auto req = plan(rec, Target{}, p);
        REQUIRE(req.ok());
        CHECK(req->method == "POST");
        CHECK(req->path == "/vault_proxy/reflect");
        CHECK(req->body == rec.body);
        CHECK(http::find(req->headers, "x-fp-id") == "fp_id_test_a");
        CHECK(http::find(req->headers, "x-fp-access-reason") == "why");
        CHECK_FALSE(http::find(req->headers, "authorization").has_value());
        CHECK_FALSE(http::find(req->headers, "x-fp-proxy-target-url").has_value());
        auto gr4vy = plan(recording("POST", "/vault-forward", {}), Target{}, p);
        REQUIRE_FALSE(gr4vy.ok());
        CHECK(gr4vy.error().code == "replay.reflect_unsupported");
        CHECK(contains(gr4vy.error().message, "--via ditto"));
    }

    TEST_CASE("plan: echo re-points each dialect at the echo server") {
        profile::Profile p;
        p.name = "default";
        Target t;
        t.via = Via::echo;
        t.echo_origin = "https://127.0.0.1:4443";
        t.pin_pem = "-----BEGIN CERTIFICATE-----\nAB+/=\n-----END CERTIFICATE-----\n";
        SUBCASE("footprint jit: target re-pointed, pin replaced, ingress and credentials dropped") {
            auto rec =
                recording("POST", "https://api.onefootprint.com/vault_proxy/jit",
                          {{"Authorization", "Basic recorded"},
                           {"Host", "api.onefootprint.com"},
                           {"x-fp-proxy-target-url", "https://pay.example/v1/charges?currency=usd"},
                           {"x-fp-proxy-pin-cert", "recorded-pin"},
                           {"x-fp-proxy-ingress-content-type", "json"},
                           {"x-fp-proxy-ingress-rule", "fp_id_test_a.custom.x=$.x"},
                           {"x-fp-proxy-fwd-authorization", "Bearer upstream"},
                           {"Accept-Encoding", "gzip"}});
            auto req = plan(rec, t, p);
            REQUIRE_MESSAGE(req.ok(), req.error().message);
            CHECK(req->path == "/vault_proxy/jit");
            CHECK(http::find(req->headers, "x-fp-proxy-target-url") ==
                  "https://127.0.0.1:4443/v1/charges?currency=usd");
            CHECK(http::find_all(req->headers, "x-fp-proxy-pin-cert") ==
                  std::vector<std::string>{util::percent_encode(t.pin_pem)});
            CHECK(util::percent_decode(*http::find(req->headers, "x-fp-proxy-pin-cert")) ==
                  t.pin_pem);
            CHECK(http::find(req->headers, "x-fp-proxy-fwd-authorization") == "Bearer upstream");
            for (const char* gone : {"authorization", "host", "x-fp-proxy-ingress-rule",
                                     "x-fp-proxy-ingress-content-type", "accept-encoding"})
                CHECK_MESSAGE(!http::find(req->headers, gone).has_value(), gone);
        }
        SUBCASE("a plain request goes through jit with its method and headers forwarded") {
            auto rec = recording("PATCH", "https://crm.example/v2/c/42?notify=false",
                                 {{"Host", "crm.example"},
                                  {"Content-Type", "application/json"},
                                  {"Authorization", "Bearer crm"},
                                  {"x-fp-id", "fp_id_test_a"}});
            auto req = plan(rec, t, p);
            REQUIRE(req.ok());
            CHECK(req->path == "/vault_proxy/jit");
            CHECK(http::find(req->headers, "x-fp-proxy-target-url") ==
                  "https://127.0.0.1:4443/v2/c/42?notify=false");
            CHECK(http::find(req->headers, "x-fp-proxy-method") == "PATCH");
            CHECK(http::find(req->headers, "x-fp-proxy-fwd-content-type") == "application/json");
            CHECK(http::find(req->headers, "x-fp-proxy-fwd-authorization") == "Bearer crm");
            CHECK(http::find(req->headers, "x-fp-id") == "fp_id_test_a");
            CHECK_FALSE(http::find(req->headers, "x-fp-proxy-fwd-host").has_value());
            CHECK_FALSE(http::find(req->headers, "authorization").has_value());
        }
        SUBCASE("gr4vy and vtex keep their requests and re-point the destination header") {
            auto g = plan(recording("POST", "https://api.gr4vy.app/vault-forward",
                                    {{"x-vault-forward-url", "https://acq.example/pay?x=1"},
                                     {"x-vault-forward-payment-methods", "pm_1"},
                                     {"authorization", "Bearer gr4vy"}}),
                          t, p);
            REQUIRE(g.ok());
            CHECK(g->path == "/vault-forward");
            CHECK(http::find(g->headers, "x-vault-forward-url") ==
                  "https://127.0.0.1:4443/pay?x=1");
            CHECK(http::find(g->headers, "x-vault-forward-payment-methods") == "pm_1");
            CHECK_FALSE(http::find(g->headers, "x-fp-proxy-pin-cert").has_value());
            auto v = plan(recording("POST",
                                    "/payment-provider/transactions/t1/payments/p1/proxy?hash=abc",
                                    {{"X-PROVIDER-Forward-To", "https://acq.example/v2/sales/"}}),
                          t, p);
            REQUIRE(v.ok());
            CHECK(v->path == "/payment-provider/transactions/t1/payments/p1/proxy");
            CHECK(v->query == "hash=abc");
            CHECK(http::find(v->headers, "X-PROVIDER-Forward-To") ==
                  "https://127.0.0.1:4443/v2/sales/");
            // With an unpinned origin (a running serve), they go there; Footprint still pins.
            Target both = t;
            both.unpinned_origin = "http://127.0.0.1:8080";
            auto gp = plan(recording("POST", "/vault-forward",
                                     {{"x-vault-forward-url", "https://acq.example/pay"}}),
                           both, p);
            CHECK(http::find(gp.value().headers, "x-vault-forward-url") ==
                  "http://127.0.0.1:8080/pay");
            auto fp = plan(recording("POST", "/vault_proxy/jit",
                                     {{"x-fp-proxy-target-url", "https://acq.example/pay"}}),
                           both, p);
            CHECK(http::find(fp.value().headers, "x-fp-proxy-target-url") ==
                  "https://127.0.0.1:4443/pay");
            auto bad =
                plan(recording("POST", "/vault-forward", {{"x-vault-forward-url", "nope"}}), t, p);
            REQUIRE_FALSE(bad.ok());
            CHECK(contains(bad.error().message, "x-vault-forward-url"));
        }
        SUBCASE("a configured proxy id becomes jit with the profile's configuration") {
            profile::FootprintProxy cfg;
            cfg.id = "proxy_acme";
            cfg.url = "https://acme.example/v1";
            cfg.method = "PATCH";
            cfg.headers = {{"X-Static", "s"}, {"content-type", "application/json"}};
            cfg.access_reason = "configured";
            p.footprint_proxies.push_back(cfg);
            auto req = plan(recording("POST", "/vault_proxy/proxy_acme",
                                      {{"x-fp-path-and-query", "/charges?live=0"},
                                       {"x-fp-proxy-fwd-x-static", "override"}}),
                            t, p);
            REQUIRE_MESSAGE(req.ok(), req.error().message);
            CHECK(req->path == "/vault_proxy/jit");
            CHECK(http::find(req->headers, "x-fp-proxy-target-url") ==
                  "https://127.0.0.1:4443/v1/charges?live=0");
            CHECK(http::find(req->headers, "x-fp-proxy-method") == "PATCH");
            CHECK(http::find_all(req->headers, "x-fp-proxy-fwd-x-static") ==
                  std::vector<std::string>{"override"});
            CHECK(http::find(req->headers, "x-fp-proxy-fwd-content-type") == "application/json");
            CHECK(http::find(req->headers, "x-fp-proxy-access-reason") == "configured");
            CHECK_FALSE(http::find(req->headers, "x-fp-path-and-query").has_value());
            auto unknown = plan(recording("POST", "/vault_proxy/proxy_nope", {}), t, p);
            REQUIRE_FALSE(unknown.ok());
            CHECK(unknown.error().code == "replay.unknown_proxy");
            p.footprint_proxies.front().enabled = false;
            CHECK(plan(recording("POST", "/vault_proxy/proxy_acme", {}), t, p).error().code ==
                  "replay.proxy_disabled");
        }
    }

    TEST_CASE("normalize: stable status, sorted selected headers, masked ids and origins") {
        http::Response res;
        res.status = 400;
        res.headers = {{"X-Vaultfwd-Error", "upstream.connect"},
                       {"Content-Type", "application/json"},
                       {"Date", "Tue, 01 Jan 2030 00:00:00 GMT"},
                       {"Content-Length", "99"},
                       {"Keep-Alive", "timeout=5, max=5"},
                       {"x-footprint-proxy-fwd-date", "now"},
                       {"x-vault-forward-header-server", "nginx"},
                       {"x-footprint-proxy-fwd-x-ditto-client-cert-serial", "1234567"},
                       {"x-request-id", "r1"}};
        res.body =
            R"({"message":"cannot connect to 127.0.0.1:41234","support_id": "vaultfwd_0123456789abcdef","error":{"support_id":"x\"y"}})";
        NormalizeOptions o;
        o.replacements = {{"https://127.0.0.1:41234", "<echo>"}, {"127.0.0.1:41234", "<echo>"}};
        o.ignore_headers = {"X-Request-Id"};
        CHECK(
            normalize(res, o) ==
            "HTTP/1.1 400 Bad Request\n"
            "content-type: application/json\n"
            "x-footprint-proxy-fwd-x-ditto-client-cert-serial: <serial>\n"
            "x-vaultfwd-error: upstream.connect\n"
            "\n"
            R"({"message":"cannot connect to <echo>","support_id": "<support-id>","error":{"support_id":"<support-id>"}})");
        CHECK(is_volatile_header("x-footprint-proxy-fwd-Content-Length"));
        CHECK_FALSE(is_volatile_header("content-type"));
    }

    TEST_CASE("normalize: a ditto JSON echo reads as the request the third party received") {
        http::Response res;
        res.headers = {{"content-type", "application/json"},
                       {"x-footprint-proxy-upstream-status-code", "200"}};
        json echo = {
            {"method", "PUT"},
            {"path", "/v2/p"},
            {"query", "a=1"},
            {"headers",
             {{"user-agent", "ua"}, {"content-type", "application/json"}, {"date", "x"}}},
            {"body", "{\"n\":\"Jane\"}"},
            {"client_cert", {{"subject", "CN=client"}, {"issuer", "CN=ca"}, {"serial", "99"}}}};
        res.body = echo.dump(2) + "\n";
        CHECK(normalize(res, {}) == "HTTP/1.1 200 OK\n"
                                    "content-type: application/json\n"
                                    "x-footprint-proxy-upstream-status-code: 200\n"
                                    "\n"
                                    "> PUT /v2/p?a=1\n"
                                    "> content-type: application/json\n"
                                    "> user-agent: ua\n"
                                    "> [client certificate] subject: CN=client; issuer: CN=ca\n"
                                    ">\n"
                                    "{\"n\":\"Jane\"}");
        NormalizeOptions o;
        o.ignore_headers = {"user-agent"};
        CHECK_FALSE(contains(normalize(res, o), "user-agent"));
        res.body = "x-ditto-client-cert-serial: 4242\ntest-header: a\n\nbody"; // a text echo
        CHECK(contains(normalize(res, {}),
                       "\n\nx-ditto-client-cert-serial: <serial>\ntest-header: a\n\nbody"));
    }

    TEST_CASE("unified diff: hunks, context and missing final newlines") {
        CHECK(unified_diff("a\nb\n", "a\nb\n", "x", "y").empty());
        CHECK(unified_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n",
                           "golden", "actual") ==
              "--- golden\n+++ actual\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8\n");
        CHECK(unified_diff("a\n", "a", "g", "a") ==
              "--- g\n+++ a\n@@ -1 +1 @@\n-a\n+a\n\\ No newline at end of file\n");
        CHECK(unified_diff("", "new\n", "g", "a") == "--- g\n+++ a\n@@ -0,0 +1 @@\n+new\n");
        CHECK(unified_diff("x\ny\n", "", "g", "a") == "--- g\n+++ a\n@@ -1,2 +0,0 @@\n-x\n-y\n");
        // Two changes far apart make two hunks; close ones merge.
        std::string from, to;
        for (int i = 1; i <= 20; ++i) {
            from += std::to_string(i) + "\n";
            to += (i == 2 || i == 18 ? "changed" : std::to_string(i)) + "\n";
        }
        auto d = unified_diff(from, to, "g", "a");
        CHECK(contains(d, "@@ -1,5 +1,5 @@\n 1\n-2\n+changed\n 3\n 4\n 5\n"));
        CHECK(contains(d, "@@ -15,6 +15,6 @@\n 15\n 16\n 17\n-18\n+changed\n 19\n 20\n"));
        auto near = unified_diff("1\n2\n3\n4\n5\n6\n7\n", "1\nX\n3\n4\n5\nY\n7\n", "g", "a");
        CHECK(near == "--- g\n+++ a\n@@ -1,7 +1,7 @@\n 1\n-2\n+X\n 3\n 4\n 5\n-6\n+Y\n 7\n");
        // Past the table's size the changed middle shows as replaced wholesale, quickly.
        std::string big_a = "same\n", big_b = "same\n";
        for (int i = 0; i < 2500; ++i) {
            big_a += "a" + std::to_string(i) + "\n";
            big_b += "b" + std::to_string(i) + "\n";
        }
        auto big = unified_diff(big_a, big_b, "g", "a");
        CHECK(big.rfind("--- g\n+++ a\n@@ -1,2501 +1,2501 @@\n same\n-a0\n", 0) == 0);
        CHECK(contains(big, "\n-a2499\n+b0\n"));
        // An insertion keeps the lines around it as context.
        CHECK(unified_diff("a\nb\nc\n", "a\nb\nnew\nc\n", "g", "a") ==
              "--- g\n+++ a\n@@ -1,3 +1,4 @@\n a\n b\n+new\n c\n");
    }

    TEST_CASE("golden files: missing, match, mismatch with a diff, update") {
        test::TempDir dir;
        Recording rec;
        rec.name = "checkout-1";
        auto path = golden_path(dir / "golden", rec);
        CHECK(path == dir / "golden" / "checkout-1.txt");
        CHECK(compare(path, "HTTP/1.1 200 OK\n").value().verdict == Verdict::missing);
        auto written = update(path, "HTTP/1.1 200 OK\n\nJANE\n");
        REQUIRE(written.ok());
        CHECK(written->verdict == Verdict::written);
        CHECK(test::read_text(path) == "HTTP/1.1 200 OK\n\nJANE\n");
        CHECK(update(path, "HTTP/1.1 200 OK\n\nJANE\n").value().verdict == Verdict::unchanged);
        CHECK(compare(path, "HTTP/1.1 200 OK\n\nJANE\n").value().verdict == Verdict::match);
        auto diff = compare(path, "HTTP/1.1 200 OK\n\njane\n");
        REQUIRE(diff.ok());
        CHECK(diff->verdict == Verdict::mismatch);
        CHECK(diff->diff ==
              "--- " + path.string() +
                  "\n+++ actual\n@@ -1,3 +1,3 @@\n HTTP/1.1 200 OK\n \n-JANE\n+jane\n");
    }
}
