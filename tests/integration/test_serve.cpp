// SPDX-License-Identifier: Apache-2.0
// `serve`'s API listener end to end: real sockets, a real in-process HTTPS upstream whose
// certificates the test makes, a real vault in a temp folder.
#include <doctest/doctest.h>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/dialect/vtex.hpp"
#include "core/profile/init.hpp"
#include "core/profile/profile.hpp"
#include "core/server/api_server.hpp"
#include "core/util/strings.hpp"
#include "support/api_harness.hpp"
#include "support/raw_upstream.hpp"
#include "support/support.hpp"
#include "support/upstream_server.hpp"

using namespace vaultfwd;
using nlohmann::json;

namespace {

using test::k_fp;

// The API listener in-process (tests/support/api_harness.hpp); Harness(extra, root_pem) keeps
// this file's calls short.
struct Harness : test::ApiHarness {
    explicit Harness(const std::string& extra_profile = {}, const std::string& root_pem = {})
        : test::ApiHarness({extra_profile, root_pem}) {}
};

std::string pct(const std::string& pem) { return util::percent_encode(pem); }

} // namespace

TEST_SUITE("serve") {
    TEST_CASE("footprint reflect renders the seed's sentence exactly") {
        Harness h;
        auto res = h.post("/vault_proxy/reflect",
                          "The name on my credit card is {{ card.primary.name | to_ascii | to_uppercase }}. "
                          "I was born on a {{ id.dob | date_format(\"%Y-%m-%d\", \"%A in %B of %y\") }}.",
                          {{"x-fp-id", k_fp}});
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->body == "The name on my credit card is JANE DOE. I was born on a Friday in December of 88.");
        auto logline = test::read_text(h.profile.access_log_path());
        CHECK(logline.find("\"dialect\":\"reflect\"") != std::string::npos);
        CHECK(logline.find("Jane") == std::string::npos);
    }

    TEST_CASE("footprint jit: the upstream sees plaintext, ingress vaults the answer") {
        Harness h;
        test::UpstreamServer up(h.pki, {}, [](const http::Request&) {
            http::Response r;
            r.headers = {{"Content-Type", "application/json"}, {"X-Request-Id", "abc"}, {"Set-Cookie", "s=1"},
                         {"Cache-Control", "no-store"}};
            r.body = R"({"data":{"card":{"number":"4242-4242-4242-4242"},"ref":17}})";
            return r;
        });
        auto res = h.post("/vault_proxy/jit",
                          R"({"name":"{{ fp_id_test_jane.id.first_name }} {{ fp_id_test_jane.id.last_name | to_ascii }}","ach":"{{ fp_id_test_jane.custom.ach_account | replace("-", "") }}"})",
                          {{"x-fp-proxy-target-url", up.url("/charge?x=1")},
                           {"x-fp-proxy-method", "PUT"},
                           {"x-fp-proxy-fwd-content-type", "application/json"},
                           {"x-fp-proxy-fwd-authorization", "Bearer upstream-secret"},
                           {"x-fp-proxy-access-reason", "charge test"},
                           {"x-fp-proxy-ingress-content-type", "json"},
                           {"x-fp-proxy-ingress-rule",
                            "fp_id_test_jane.card.new.number = $.data.card.number | replace(\"-\", \"\"), "
                            "fp_id_test_jane.custom.ref = $.data.ref"}});
        REQUIRE(res);
        CHECK_MESSAGE(res->status == 200, res->body);
        auto seen = up.requests();
        REQUIRE(seen.size() == 1);
        CHECK(seen[0].method == "PUT");
        CHECK(seen[0].path == "/charge");
        CHECK(seen[0].query == "x=1");
        CHECK(seen[0].body == R"({"name":"Jane Doe","ach":"1212121212"})");
        CHECK(http::find(seen[0].headers, "authorization") == "Bearer upstream-secret");
        CHECK_FALSE(http::find(seen[0].headers, "x-fp-proxy-access-reason").has_value());
        // The client sees tokens, never the values the rules matched.
        CHECK(res->body == R"({"data":{"card":{"number":"fp_id_test_jane.card.new.number"},"ref":"fp_id_test_jane.custom.ref"}})");
        CHECK(res->get_header_value("x-footprint-proxy-upstream-status-code") == "200");
        CHECK(res->get_header_value("x-footprint-proxy-fwd-x-request-id") == "abc");
        CHECK(res->get_header_value("x-content-type-options") == "nosniff");
        CHECK(res->get_header_value("cache-control") == "no-store");
        CHECK_FALSE(res->has_header("Set-Cookie"));
        CHECK(h.store->field(k_fp, "card.new.number") == "4242424242424242");
        CHECK(h.store->field(k_fp, "custom.ref") == "17");
        auto logline = test::read_text(h.profile.access_log_path());
        CHECK(logline.find("charge test") != std::string::npos);
        CHECK(logline.find("4242") == std::string::npos);
    }

    TEST_CASE("footprint jit: any body goes as sent; the answer goes whole and unencoded") {
        // httplib's server would parse a multipart body into parts (leaving the body empty),
        // refuse a form over 8 KiB, slice the answer for a Range header and gzip it for an
        // Accept-Encoding one: the request guard hides those headers from it.
        Harness h;
        const std::string answer = [] {
            std::string a;
            for (int i = 0; i < 40; ++i)
                a += "answer line " + std::to_string(i) + "\n";
            return a;
        }();
        test::UpstreamServer up(h.pki, {}, [&](const http::Request&) {
            http::Response r;
            r.headers = {{"Content-Type", "text/plain"}};
            r.body = answer;
            return r;
        });
        httplib::Client cli("127.0.0.1", h.port);
        cli.set_basic_auth(h.key.c_str(), "");
        cli.set_decompress(false);
        cli.set_read_timeout(20, 0);
        httplib::Headers headers = {{"x-fp-proxy-target-url", up.url("/upload")},
                                    {"x-fp-proxy-fwd-content-type", "multipart/form-data; boundary=XyZ"},
                                    {"Range", "bytes=0-3"},
                                    {"Accept-Encoding", "gzip, deflate"}};
        const std::string multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"who\"\r\n\r\n"
                                      "{{ fp_id_test_jane.id.first_name }}\r\n--XyZ--\r\n";
        auto res = cli.Post("/vault_proxy/jit", headers, multipart, "multipart/form-data; boundary=XyZ");
        REQUIRE(res);
        CHECK_MESSAGE(res->status == 200, res->body);
        CHECK(res->body == answer);
        CHECK_FALSE(res->has_header("Content-Encoding"));
        CHECK_FALSE(res->has_header("Content-Range"));
        REQUIRE(up.request_count() == 1);
        CHECK(up.requests()[0].body == "--XyZ\r\nContent-Disposition: form-data; name=\"who\"\r\n\r\n"
                                       "Jane\r\n--XyZ--\r\n");

        const std::string form = "pad=" + std::string(20000, 'x') + "&who={{ fp_id_test_jane.id.first_name }}";
        headers = {{"x-fp-proxy-target-url", up.url("/form")},
                   {"x-fp-proxy-fwd-content-type", "application/x-www-form-urlencoded"},
                   {"Range", "junk"}};
        res = cli.Post("/vault_proxy/jit", headers, form, "application/x-www-form-urlencoded");
        REQUIRE(res);
        CHECK_MESSAGE(res->status == 200, res->body);
        CHECK(res->body == answer);
        REQUIRE(up.request_count() == 2);
        CHECK(up.requests()[1].body == "pad=" + std::string(20000, 'x') + "&who=Jane");
        CHECK(http::find(up.requests()[1].headers, "content-type") == "application/x-www-form-urlencoded");

        // A header line longer than httplib reads is refused by name, not with a bare 400.
        res = cli.Post("/vault_proxy/jit", {{"x-fp-proxy-target-url", up.url("/")}, {"X-Long", std::string(9000, 'a')}},
                       "hi", "text/plain");
        REQUIRE(res);
        CHECK(res->status == 431);
        CHECK(res->get_header_value("x-vaultfwd-error") == "request.header_too_large");
        CHECK(res->body.find("X-Long") != std::string::npos);
        CHECK(up.request_count() == 2);
    }

    TEST_CASE("footprint: upstream 5xx becomes 502; content types are sanitised") {
        Harness h;
        test::UpstreamServer up(h.pki, {}, [](const http::Request&) {
            http::Response r;
            r.status = 503;
            r.headers = {{"Content-Type", "text/html; charset=utf-8"}};
            r.body = "<b>down</b>";
            return r;
        });
        auto res = h.post("/vault_proxy/jit", "x", {{"x-fp-proxy-target-url", up.url("/")}});
        REQUIRE(res);
        CHECK(res->status == 502);
        CHECK(res->get_header_value("x-footprint-proxy-upstream-status-code") == "503");
        CHECK(res->get_header_value("Content-Type") == "text/plain; charset=utf-8");
        CHECK(res->body == "<b>down</b>");
        CHECK_FALSE(res->has_header("x-vaultfwd-error"));
    }

    TEST_CASE("footprint: unknown tokens are listed together and nothing is sent") {
        Harness h;
        test::UpstreamServer up(h.pki);
        auto res = h.post("/vault_proxy/jit",
                          "{{ fp_id_test_jane.id.middle_name }} {{ fp_id_test_jane.custom.other }}\n{{ fp_id_test_jane.custom.nope | to_uppercase }}",
                          {{"x-fp-proxy-target-url", up.url("/")}});
        REQUIRE(res);
        CHECK(res->status == 400);
        auto body = json::parse(res->body);
        std::string msg = body["message"];
        CHECK(msg.find("Found invalid or unknown data identifiers") != std::string::npos);
        CHECK(msg == "Found invalid or unknown data identifiers: fp_id_test_jane.id.middle_name\", "
                     "\"fp_id_test_jane.custom.other\", \"fp_id_test_jane.custom.nope | to_uppercase");
        CHECK(body["context"].get<std::string>().find("line 2, column 1") != std::string::npos);
        auto nobody = h.post("/vault_proxy/jit", "{{ fp_id_test_nobody.id.first_name }}",
                             {{"x-fp-proxy-target-url", up.url("/")}});
        CHECK(json::parse(nobody->body)["message"] == "User fp_id_test_nobody does not exist");
        CHECK(body["error"]["status_code"] == 400);
        CHECK(res->has_header("x-vaultfwd-error"));
        CHECK(up.request_count() == 0);
    }

    TEST_CASE("footprint: a key may reveal only its data identifiers (403)") {
        Harness h;
        httplib::Client cli("127.0.0.1", h.port);
        cli.set_bearer_token_auth("sk_test_kyc0000000000");
        auto ok = cli.Post("/vault_proxy/reflect", {{"x-fp-id", k_fp}}, "{{ id.first_name }}", "text/plain");
        REQUIRE(ok);
        CHECK(ok->status == 200);
        CHECK(ok->body == "Jane");
        auto no = cli.Post("/vault_proxy/reflect", {{"x-fp-id", k_fp}}, "{{ custom.credit_card }}", "text/plain");
        REQUIRE(no);
        CHECK(no->status == 403);
        CHECK(no->body.find("4242") == std::string::npos);
    }

    TEST_CASE("footprint: mTLS client certificates, pins, allowlist, CR/LF, timeouts") {
        Harness h;
        test::UpstreamServer mtls(h.pki, {.tls = true, .require_client_cert = true});
        SUBCASE("an upstream that demands a client certificate") {
            auto without = h.post("/vault_proxy/jit", "hi", {{"x-fp-proxy-target-url", mtls.url("/")}});
            REQUIRE(without);
            CHECK(without->status == 400);
            auto body = json::parse(without->body);
            CHECK(body["message"] == "Forward reqwest error");
            CHECK(body["code"] == "upstream.client_cert_rejected");
            auto with = h.post("/vault_proxy/jit", "hi",
                               {{"x-fp-proxy-target-url", mtls.url("/")},
                                {"x-fp-proxy-client-cert", pct(h.pki.client_cert_pem())},
                                {"x-fp-proxy-client-key", pct(h.pki.client_key_pem())}});
            REQUIRE(with);
            CHECK_MESSAGE(with->status == 200, with->body);
            auto half = h.post("/vault_proxy/jit", "hi",
                               {{"x-fp-proxy-target-url", mtls.url("/")},
                                {"x-fp-proxy-client-cert", pct(h.pki.client_cert_pem())}});
            CHECK(json::parse(half->body)["message"] == "Invalid or missing one of client cert and/or key headers");
            auto raw = h.post("/vault_proxy/jit", "hi",
                              {{"x-fp-proxy-target-url", mtls.url("/")},
                               {"x-fp-proxy-client-cert", "%zz"}, {"x-fp-proxy-client-key", "%zz"}});
            CHECK(json::parse(raw->body)["message"] == "PEM data must be url encoded");
        }
        SUBCASE("pins: a wrong one fails naming the cause, right ones work") {
            test::UpstreamServer up(h.pki);
            auto wrong = h.post("/vault_proxy/jit", "hi", {{"x-fp-proxy-target-url", up.url("/")},
                                                           {"x-fp-proxy-pin-cert", pct(h.pki.other_ca_pem())}});
            REQUIRE(wrong);
            CHECK(wrong->status == 400);
            CHECK(json::parse(wrong->body)["code"] == "upstream.pin_mismatch");
            auto right = h.post("/vault_proxy/jit", "hi",
                                {{"x-fp-proxy-target-url", up.url("/")},
                                 {"x-fp-proxy-pin-cert", pct(h.pki.other_ca_pem()) + "," + pct(h.pki.server_pem())}});
            CHECK(right->status == 200);
            CHECK(up.request_count() == 1);
            auto bad = h.post("/vault_proxy/jit", "hi", {{"x-fp-proxy-target-url", up.url("/")},
                                                         {"x-fp-proxy-pin-cert", "garbage"}});
            CHECK(json::parse(bad->body)["message"].get<std::string>().rfind("Bad pin server certificate", 0) == 0);
        }
        SUBCASE("hosts not allowed are refused before anything is sent") {
            for (std::string target : {"https://example.invalid/x", "https://user@127.0.0.1/",
                                       "https://api.onefootprint.com/", "ftp://127.0.0.1/"}) {
                auto res = h.post("/vault_proxy/jit", "hi", {{"x-fp-proxy-target-url", target}});
                REQUIRE(res);
                CHECK(res->status == 400);
            }
            auto missing = h.post("/vault_proxy/jit", "hi", {});
            CHECK(json::parse(missing->body)["message"] == "Missing required header: x-fp-proxy-target-url");
        }
        SUBCASE("a value substituted into nothing but the body; CR/LF in forwarded headers refused") {
            test::UpstreamServer up(h.pki);
            auto reply = test::run_program({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                                            "-H", "x-fp-proxy-fwd-x-evil: a\x01" "b", "-u", h.key + ":",
                                            "-H", "x-fp-proxy-target-url: " + up.url("/"), "-d", "hi",
                                            "http://127.0.0.1:" + std::to_string(h.port) + "/vault_proxy/jit"});
            CHECK(reply.out == "400");
            CHECK(up.request_count() == 0);
        }
        SUBCASE("a slow upstream gives 504") {
            test::UpstreamServer slow(h.pki, {.tls = true, .delay_ms = 4000});
            auto res = h.post("/vault_proxy/jit", "hi", {{"x-fp-proxy-target-url", slow.url("/")}});
            REQUIRE(res);
            CHECK(res->status == 504);
            CHECK(json::parse(res->body)["code"] == "upstream.timeout");
        }
    }

    TEST_CASE("footprint: configured proxies by id") {
        Harness h;
        test::UpstreamServer up(h.pki);
        std::string extra = "\n[[footprint_proxies]]\nid = \"proxy_acme\"\nurl = \"" + up.url("/v1") +
                            "\"\nmethod = \"PATCH\"\nheaders = { \"x-static\" = \"s\", \"content-type\" = \"application/json\" }\n"
                            "ingress_content_type = \"json\"\ningress_rules = [\"custom.echo = $.n\"]\n"
                            "\n[[footprint_proxies]]\nid = \"proxy_off\"\nurl = \"" + up.url("/") + "\"\nenabled = false\n";
        Harness hp(extra, h.pki.ca_pem());
        auto res = hp.post("/vault_proxy/proxy_acme", R"({"n":"{{ custom.credit_card }}"})",
                           {{"x-fp-id", k_fp}, {"x-fp-path-and-query", "/charges?live=0"},
                            {"x-fp-proxy-fwd-x-static", "override"}, {"x-fp-proxy-target-url", "https://ignored.example/"}});
        REQUIRE(res);
        CHECK_MESSAGE(res->status == 200, res->body);
        auto seen = up.requests();
        REQUIRE(seen.size() == 1);
        CHECK(seen[0].method == "PATCH");
        CHECK(seen[0].path == "/v1/charges");
        CHECK(seen[0].query == "live=0");
        CHECK(http::find(seen[0].headers, "x-static") == "override");
        CHECK(seen[0].body == R"({"n":"4242424242424242"})");
        CHECK(res->body == R"({"n":"fp_id_test_jane.custom.echo"})");
        auto off = hp.post("/vault_proxy/proxy_off", "x", {});
        CHECK(json::parse(off->body)["message"] == "Proxy configuration is disabled. Please enable it to use it.");
        CHECK(hp.post("/vault_proxy/proxy_nope", "x", {})->status == 404);
        auto no_fp = hp.post("/vault_proxy/proxy_acme", "x", {});
        CHECK(json::parse(no_fp->body)["message"] == "Must specifiy footprint user token header for ingress rules");
    }

    TEST_CASE("footprint: body limits and bad bodies") {
        Harness h;
        // A declared length over the limit fails before the body is read.
        auto early = test::run_program({"curl", "-s", "--max-time", "5", "-u", h.key + ":", "-H",
                                        "Content-Length: 6000000", "-H", "Expect:", "--data-binary", "x",
                                        "http://127.0.0.1:" + std::to_string(h.port) + "/vault_proxy/reflect"});
        CHECK(early.out.find("The request is too large, max size accepted is 5242880 KB.") != std::string::npos);
        http::Request big;
        big.method = "POST";
        big.path = "/vault_proxy/reflect";
        big.headers = {{"Authorization", "Bearer " + h.key}};
        big.body = std::string(5242881, 'a');
        server::AccessEntry entry;
        auto step = h.api->handle(big, entry);
        REQUIRE(std::holds_alternative<http::Response>(step)); // answered in the request phase
        const auto& res = std::get<http::Response>(step);
        CHECK(res.status == 400);
        CHECK(json::parse(res.body)["message"] == "The request is too large, max size accepted is 5242880 KB.");
        auto bad_length = test::run_program({"curl", "-s", "--max-time", "5", "-u", h.key + ":", "-H",
                                             "Content-Length: 12abc", "--data-binary", "x",
                                             "http://127.0.0.1:" + std::to_string(h.port) + "/vault_proxy/reflect"});
        CHECK(bad_length.out.find("\"status_code\":400") != std::string::npos);
        auto bad_utf8 = h.post("/vault_proxy/reflect", "a\xff", {});
        CHECK(json::parse(bad_utf8->body)["message"] == "Invalid body: proxy requests must contain utf8 only");
        auto noauth = h.post("/vault_proxy/reflect", "x", {}, false);
        CHECK(noauth->status == 401);
    }

    TEST_CASE("gr4vy: the seed's contract") {
        Harness h;
        test::UpstreamServer up(h.pki, {}, [](const http::Request&) {
            http::Response r;
            r.status = 201;
            r.headers = {{"Content-Type", "application/json"}, {"X-Frame-Options", "SAMEORIGIN"}};
            r.body = R"({"ok":true})";
            return r;
        });
        httplib::Headers headers = {{"x-vault-forward-url", up.url("/endpoint")},
                                    {"x-vault-forward-http-method", "PUT"},
                                    {"x-vault-forward-payment-methods", "pm_1, pm_2"},
                                    {"x-vault-forward-header-authorization", "Bearer 123"}};
        auto res = h.post("/vault-forward",
                          R"({"a":"{{ CARD_NUMBER_1 }}","b":"{{ CARD_EXPIRATION_DATE_2 }}","m":"{{ CARD_EXPIRATION_DATE_M_1 }}","y":"{{ CARD_EXPIRATION_DATE_YYYY_2 }}"})",
                          headers, true, "application/json");
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->body == R"({"ok":true})");
        CHECK(res->get_header_value("x-vault-forward-http-status-code") == "201");
        CHECK(res->get_header_value("x-vault-forward-header-x-frame-options") == "SAMEORIGIN");
        CHECK(res->get_header_value("Content-Type") == "application/json");
        auto seen = up.requests();
        REQUIRE(seen.size() == 1);
        CHECK(seen[0].method == "PUT");
        CHECK(seen[0].body == R"({"a":"4111111111111111","b":"11/31","m":"2","y":"2031"})");
        CHECK(http::find(seen[0].headers, "authorization") == "Bearer 123");

        SUBCASE("validation errors are 4XX and send nothing") {
            std::vector<httplib::Headers> bad = {
                {{"x-vault-forward-http-method", "PUT"}, {"x-vault-forward-payment-methods", "pm_1"}},
                {{"x-vault-forward-url", up.url("/")}, {"x-vault-forward-http-method", "GET"}, {"x-vault-forward-payment-methods", "pm_1"}},
                {{"x-vault-forward-url", up.url("/")}, {"x-vault-forward-http-method", "POST"}},
                {{"x-vault-forward-url", up.url("/")}, {"x-vault-forward-http-method", "POST"}, {"x-vault-forward-payment-methods", "pm_1,pm_1"}},
                {{"x-vault-forward-url", up.url("/")}, {"x-vault-forward-http-method", "POST"}, {"x-vault-forward-payment-methods", "pm_404"}},
                {{"x-vault-forward-url", "https://not-allowed.example/"}, {"x-vault-forward-http-method", "POST"}, {"x-vault-forward-payment-methods", "pm_1"}},
                {{"x-vault-forward-url", up.url("/")}, {"x-vault-forward-http-method", "POST"}, {"x-vault-forward-payment-methods", "pm_1"}, {"x-vault-forward-timeout", "soon"}},
            };
            for (const auto& hs : bad) {
                auto r = h.post("/vault-forward", "{{ CARD_NUMBER_1 }}", hs);
                REQUIRE(r);
                CHECK(r->status >= 400);
                CHECK(r->status < 500);
                CHECK(json::parse(r->body)["type"] == "error");
            }
            auto unknown = h.post("/vault-forward", "{{ CARD_NUMBER_3 }} {{ CARD_CVV_1 }}",
                                  {{"x-vault-forward-url", up.url("/")}, {"x-vault-forward-http-method", "POST"},
                                   {"x-vault-forward-payment-methods", "pm_1"}});
            CHECK(unknown->status == 400);
            CHECK(up.request_count() == 1);
        }
        SUBCASE("timeouts and network errors: 200 with x-vault-forward-error and no body") {
            test::UpstreamServer slow(h.pki, {.tls = true, .delay_ms = 2500});
            auto r = h.post("/vault-forward", "{{ CARD_NUMBER_1 }}",
                            {{"x-vault-forward-url", slow.url("/")}, {"x-vault-forward-http-method", "POST"},
                             {"x-vault-forward-payment-methods", "pm_1"}, {"x-vault-forward-timeout", "1"}});
            REQUIRE(r);
            CHECK(r->status == 200);
            CHECK(r->has_header("x-vault-forward-error"));
            CHECK(r->body.empty());
            auto closed = h.post("/vault-forward", "{{ CARD_NUMBER_1 }}",
                                 {{"x-vault-forward-url", "https://127.0.0.1:1/"}, {"x-vault-forward-http-method", "POST"},
                                  {"x-vault-forward-payment-methods", "pm_1"}});
            CHECK(closed->status == 200);
            CHECK(closed->get_header_value("x-vault-forward-error").find("cannot connect") != std::string::npos);
        }
    }

    TEST_CASE("vtex: the seed's request reaches the acquirer as step 4 shows it") {
        Harness h;
        test::UpstreamServer acquirer(h.pki);
        dialect::vtex::Card card{"5555444433331111", "JOHN DOE", "123", "02", "2028"};
        auto payment = dialect::vtex::create_payment(*h.store, h.profile.vault_key(), card);
        REQUIRE(payment.ok());
        auto created = json::parse(dialect::vtex::create_payment_body(*payment, card, "http://127.0.0.1:" + std::to_string(h.port)));
        std::string proxy_url = created["secureProxyUrl"];
        CHECK(created["card"]["bin"] == "555544");
        CHECK(created["card"]["numberLength"] == 16);
        auto path = proxy_url.substr(proxy_url.find("/payment-provider"));
        std::string t = "#vtex#token#" + payment->secure_hash + "#";
        std::string body = R"({"MerchantOrderId":"123456789","Payment":{"CreditCard":{"Holder":")" + t +
                           R"(holder#","CardNumber":")" + t + R"(number#","ExpirationDate":"02/2028","SecurityCode":")" + t + R"(csc#"}}})";
        httplib::Client cli("127.0.0.1", h.port);
        httplib::Headers headers = {{"Accept", "application/json"}, {"User-Agent", "HttpClient-1.0"},
                                    {"X-PROVIDER-Forward-To", acquirer.url("/v2/sales/")},
                                    {"X-PROVIDER-Forward-MerchantId", "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"},
                                    {"X-PROVIDER-Forward-MerchantKey", "012345678901234567890123456789012345678"}};
        auto res = cli.Post(path.c_str(), headers, body, "application/json");
        REQUIRE(res);
        CHECK_MESSAGE(res->status == 200, res->body);
        auto seen = acquirer.requests();
        REQUIRE(seen.size() == 1);
        CHECK(seen[0].path == "/v2/sales/");
        CHECK(seen[0].body == R"({"MerchantOrderId":"123456789","Payment":{"CreditCard":{"Holder":"JOHN DOE","CardNumber":"5555444433331111","ExpirationDate":"02/2028","SecurityCode":"123"}}})");
        CHECK(http::find(seen[0].headers, "Accept") == "application/json");
        CHECK(http::find(seen[0].headers, "Content-Type") == "application/json");
        CHECK(http::find(seen[0].headers, "User-Agent") == "HttpClient-1.0");
        CHECK(http::find(seen[0].headers, "MerchantId") == "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
        CHECK(http::find(seen[0].headers, "MerchantKey") == "012345678901234567890123456789012345678");
        CHECK_FALSE(http::find(seen[0].headers, "X-PROVIDER-Forward-To").has_value());

        SUBCASE("custom tokens in JsonLogic, in headers too") {
            std::string tokens_url = created["secureProxyTokensURL"];
            auto tpath = tokens_url.substr(tokens_url.find("/payment-provider"));
            auto made = cli.Post(tpath.c_str(), R"({"tokens":[{"name":"hashedCardNumber","value":{"md5":{"replaceTokens":[")" + t + R"(number#"]}}},{"name":"newToken","value":{"==":[1,1]}}]})", "application/json");
            REQUIRE(made);
            CHECK_MESSAGE(made->status == 200, made->body);
            auto list = cli.Get(tpath.c_str());
            CHECK(json::parse(list->body)["tokens"].size() == 5);
            std::string ph = "#vtex#hashedCardNumber#" + payment->secure_hash + "#";
            headers = {{"X-PROVIDER-Forward-To", acquirer.url("/sig")}, {"X-PROVIDER-Forward-Signature", ph}};
            auto r = cli.Post(path.c_str(), headers, R"({"n":"#vtex#newToken#)" + payment->secure_hash + R"(#"})", "application/json");
            REQUIRE(r);
            CHECK(r->status == 200);
            auto last = acquirer.requests().back();
            CHECK(http::find(last.headers, "Signature") == "055ea4f6b458fafb45bc70e7c6d3c5f0");
            CHECK(last.body == R"({"n":"true"})");
        }
        SUBCASE("the seed's error codes") {
            auto no_url = cli.Post(path.c_str(), body, "application/json");
            CHECK(no_url->status == 400);
            auto not_allowed = cli.Post(path.c_str(), {{"X-PROVIDER-Forward-To", "https://acquirer.invalid/"}}, body, "application/json");
            CHECK(not_allowed->status == 403);
            auto unknown = cli.Post(path.c_str(), {{"X-PROVIDER-Forward-To", acquirer.url("/")}},
                                    R"({"x":"#vtex#token#0000000#number#","y":"#vtex#nope#)" + payment->secure_hash + "#\"}", "application/json");
            CHECK(unknown->status == 400);
            auto xml = cli.Post(path.c_str(), {{"X-PROVIDER-Forward-To", acquirer.url("/")}}, "<a/>", "application/xml");
            CHECK(xml->status == 415);
            auto wrong_hash = cli.Post((path.substr(0, path.find("hash=") + 5) + std::string(64, '0')).c_str(),
                                       {{"X-PROVIDER-Forward-To", acquirer.url("/")}}, body, "application/json");
            CHECK(wrong_hash->status == 401);
            CHECK(acquirer.request_count() == 1);
        }
    }
    TEST_CASE("answer headers reach the client byte for byte, repeats kept: footprint, gr4vy, vtex") {
        Harness h;
        test::RawUpstream up({{test::k_fidelity_answer}});
        SUBCASE("footprint: x-footprint-proxy-fwd-*") {
            auto answer = h.post_raw("/vault_proxy/jit", R"({"n":"{{ fp_id_test_jane.id.first_name }}"})",
                                     {{"x-fp-proxy-target-url", up.url("/next")},
                                      {"x-fp-proxy-fwd-content-type", "application/json"}});
            test::check_fidelity(answer, "x-footprint-proxy-fwd-");
            REQUIRE(up.requests().size() == 1);
            CHECK(up.requests()[0].find(R"({"n":"Jane"})") != std::string::npos);
        }
        SUBCASE("gr4vy: x-vault-forward-header-*") {
            auto answer = h.post_raw("/vault-forward", "{{ CARD_NUMBER_1 }}",
                                     {{"Content-Type", "application/json"},
                                      {"x-vault-forward-url", up.url("/next")},
                                      {"x-vault-forward-http-method", "POST"},
                                      {"x-vault-forward-payment-methods", "pm_1"}});
            test::check_fidelity(answer, "x-vault-forward-header-");
            CHECK(up.requests().size() == 1);
        }
        SUBCASE("vtex: the acquirer's headers as they came") {
            dialect::vtex::Card card{"5555444433331111", "JOHN DOE", "123", "02", "2028"};
            auto payment = dialect::vtex::create_payment(*h.store, h.profile.vault_key(), card);
            REQUIRE(payment.ok());
            auto created = json::parse(dialect::vtex::create_payment_body(*payment, card, "http://127.0.0.1:" + std::to_string(h.port)));
            std::string proxy_url = created["secureProxyUrl"];
            auto path = proxy_url.substr(proxy_url.find("/payment-provider"));
            std::string t = "#vtex#token#" + payment->secure_hash + "#";
            auto answer = h.post_raw(path, R"({"CardNumber":")" + t + R"(number#"})",
                                     {{"Content-Type", "application/json"},
                                      {"X-PROVIDER-Forward-To", up.url("/v2/sales/")}},
                                     false);
            test::check_fidelity(answer, "");
            REQUIRE(up.requests().size() == 1);
            CHECK(up.requests()[0].find(R"({"CardNumber":"5555444433331111"})") != std::string::npos);
        }
    }
}
