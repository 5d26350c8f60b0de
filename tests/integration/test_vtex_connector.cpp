// SPDX-License-Identifier: Apache-2.0
// Connector testing end to end, as the README's VTEX tour does it: `vaultfwd serve` runs, a
// connector (a real HTTP server on loopback, written here the way a payment provider is) gets
// `vtex send-payment`'s Create Payment, calls the secure proxy URL of that serve with the card
// tokens, and the acquirer (a real HTTPS server) sees the card data.
#include <doctest/doctest.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/util/strings.hpp"
#include "support/support.hpp"
#include "support/upstream_server.hpp"

using namespace vaultfwd;
using nlohmann::json;

namespace {

// A payment provider under development: POST /payments authorises through the secure proxy
// (X-PROVIDER-Forward-To the acquirer, tokens in the body and in a header) and answers as the
// Payment Provider Protocol asks (status approved or denied). The server it runs in records what
// VTEX's Gateway (here `vtex send-payment`) sent it.
test::UpstreamServer::Handler payment_provider(std::string acquirer) {
    return [acquirer](const http::Request& req) {
        http::Response res;
        if (req.method != "POST" || req.path != "/payments") {
            res.status = 404;
            return res;
        }
        auto in = json::parse(req.body);
        std::string proxy = in["secureProxyUrl"];
        auto after_scheme = proxy.find("://") + 3;
        auto path_at = proxy.find('/', after_scheme);
        auto host_port = proxy.substr(after_scheme, path_at - after_scheme);
        httplib::Client gateway(host_port.substr(0, host_port.find(':')),
                                std::stoi(host_port.substr(host_port.find(':') + 1)));
        const auto& card = in["card"];
        json sale = {{"MerchantOrderId", in["orderId"]},
                     {"Payment",
                      {{"Amount", in["value"]},
                       {"Installments", in["installments"]},
                       {"CreditCard",
                        {{"CardNumber", card["numberToken"]},
                         {"Holder", card["holderToken"]},
                         {"SecurityCode", card["cscToken"]},
                         {"ExpirationDate", card["expiration"]["month"].get<std::string>() + "/" +
                                                card["expiration"]["year"].get<std::string>()},
                         {"Brand", in["paymentMethod"]}}}}}};
        httplib::Headers headers = {{"X-PROVIDER-Forward-To", acquirer},
                                    {"X-PROVIDER-Forward-MerchantId", "merchant-1"},
                                    {"X-PROVIDER-Forward-Card-Last-Digits", card["numberToken"]}};
        auto answer = gateway.Post(proxy.substr(path_at).c_str(), headers, sale.dump(), "application/json");
        bool approved = answer && answer->status == 200;
        json out = {{"paymentId", in["paymentId"]},
                    {"status", approved ? "approved" : "denied"},
                    {"authorizationId", approved ? "AUT-1" : ""},
                    {"tid", "TID-1"},
                    {"nsu", "NSU-1"},
                    {"acquirer", "test-acquirer"},
                    {"code", approved ? "0000" : std::to_string(answer ? answer->status : 0)},
                    {"message", approved ? "approved by the acquirer" : "the secure proxy said no"},
                    {"delayToAutoSettle", 21600},
                    {"delayToAutoSettleAfterAntifraud", 1800},
                    {"delayToCancel", 21600}};
        res.headers = {{"Content-Type", "application/json"}};
        res.body = out.dump();
        return res;
    };
}

std::string header(const http::Request& r, std::string_view name) { return http::find(r.headers, name).value_or(""); }

} // namespace

TEST_SUITE("vtex_connector") {
    TEST_CASE("send-payment: the connector calls the secure proxy of a running serve, the acquirer sees the card") {
        test::TempDir home;
        auto pki = test::make_pki();
        REQUIRE(test::run_vaultfwd({"--home", home.path().string(), "init"}).exit_code == 0);
        test::write_text(home / "root.pem", pki.ca_pem());
        auto text = test::read_text(home / "default.toml");
        text = util::replace_all(text, "timeout_ms = 15000", "timeout_ms = 15000\nca_files = [\"root.pem\"]");
        test::write_text(home / "default.toml", text);

        test::UpstreamServer acquirer(pki, {}, [](const http::Request& r) {
            http::Response res;
            res.headers = {{"Content-Type", "application/json"}};
            bool known = r.body.find("\"4111111111111111\"") != std::string::npos;
            res.status = known ? 200 : 402;
            res.body = known ? R"({"Status":2,"ReturnCode":"00"})" : R"({"Status":3,"ReturnCode":"57"})";
            return res;
        });
        test::Process serve({test::binary_path(), "--home", home.path().string(), "serve", "--api-listen",
                             "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0", "--inbound-listen", "127.0.0.1:0"});
        auto listeners = test::read_listeners(serve);
        REQUIRE_FALSE(listeners.api.empty());
        test::UpstreamServer connector(pki, {.tls = false}, payment_provider(acquirer.url("/v2/sales/")));
        const std::vector<std::string> card = {"--number", "4111111111111111", "--holder", "JOHN DOE", "--csc",
                                               "123", "--exp-month", "02", "--exp-year", "2028"};
        auto send = [&](std::vector<std::string> extra, const std::map<std::string, std::string>& env = {}) {
            std::vector<std::string> args = {"--home", home.path().string(), "vtex", "send-payment",
                                             "--connector", connector.url(""), "--api-base",
                                             "http://" + listeners.api};
            args.insert(args.end(), extra.begin(), extra.end());
            return test::run_vaultfwd(args, {}, env);
        };

        auto args = card;
        args.insert(args.end(), {"--value", "120.00", "--currency", "USD", "--installments", "3",
                                 "--expect-status", "200"});
        auto ok = send(args, {{"VAULTFWD_VTEX_APP_TOKEN", "app-token-from-env"}});
        REQUIRE_MESSAGE(ok.exit_code == 0, ok.err);
        auto answer = json::parse(ok.out);
        CHECK(answer["status"] == "approved");
        CHECK(answer["authorizationId"] == "AUT-1");
        CHECK(ok.err.find("answered 200") != std::string::npos);

        // The connector got VTEX's Create Payment: tokens, never the card.
        auto got = connector.requests();
        REQUIRE(got.size() == 1);
        CHECK(got[0].body.find("4111111111111111") == std::string::npos);
        auto created = json::parse(got[0].body);
        CHECK(created["paymentMethod"] == "Visa");
        CHECK(created["value"] == 120.0);
        CHECK(created["currency"] == "USD");
        CHECK(created["installments"] == 3);
        CHECK(header(got[0], "X-VTEX-API-AppKey") == "vtexappkey-test");
        CHECK(header(got[0], "X-VTEX-API-AppToken") == "app-token-from-env");
        CHECK(header(got[0], "Accept") == "application/json");

        // The acquirer got the card data, in the body and in a forwarded header.
        auto seen = acquirer.requests();
        REQUIRE(seen.size() == 1);
        CHECK(seen[0].path == "/v2/sales/");
        auto sale = json::parse(seen[0].body);
        CHECK(sale["Payment"]["CreditCard"]["CardNumber"] == "4111111111111111");
        CHECK(sale["Payment"]["CreditCard"]["Holder"] == "JOHN DOE");
        CHECK(sale["Payment"]["CreditCard"]["SecurityCode"] == "123");
        CHECK(sale["Payment"]["CreditCard"]["Brand"] == "Visa");
        CHECK(http::find(seen[0].headers, "Card-Last-Digits") == "4111111111111111");
        CHECK(http::find(seen[0].headers, "MerchantId") == "merchant-1");

        SUBCASE("--expect-status fails the run when the connector answers otherwise") {
            auto wrong = send(
                {"--number", "5555444433331111", "--holder", "JOHN DOE", "--csc", "123", "--exp-month", "02",
                 "--exp-year", "2028", "--expect-status", "201"});
            CHECK(wrong.exit_code == 1);
            CHECK(wrong.err.find("answered 200, not 201") != std::string::npos);
            // The acquirer said no to the Mastercard (its rule), and the connector says so: denied.
            CHECK(json::parse(wrong.out)["status"] == "denied");
            CHECK(json::parse(connector.requests().back().body)["paymentMethod"] == "Mastercard");
        }
        SUBCASE("a body from `vtex payment` is sent as it is, with the provider header names") {
            auto made = test::run_vaultfwd({"--home", home.path().string(), "vtex", "payment", "--number",
                                            "4111111111111111", "--holder", "JOHN DOE", "--csc", "123",
                                            "--exp-month", "02", "--exp-year", "2028", "--api-base",
                                            "http://" + listeners.api});
            REQUIRE_MESSAGE(made.exit_code == 0, made.err);
            test::write_text(home / "p.json", made.out);
            auto r = send({"--body", (home / "p.json").string(), "--provider-headers", "--app-token", "t-1",
                           "--expect-status", "200"});
            REQUIRE_MESSAGE(r.exit_code == 0, r.err);
            const auto last = connector.requests().back();
            CHECK(last.body == made.out);
            CHECK(header(last, "X-VTEX-API-AppKey").empty());
            CHECK(header(last, "X-PROVIDER-API-AppKey") == "vtexappkey-test");
            CHECK(header(last, "X-PROVIDER-API-AppToken") == "t-1");
            CHECK(acquirer.requests().size() == 2);
        }
        SUBCASE("usage and connection errors are clear") {
            auto no_card = send({"--holder", "JOHN DOE"});
            CHECK(no_card.exit_code == 2);
            CHECK(no_card.err.find("--number is required") != std::string::npos);
            auto both = send({"--body", "x.json", "--number", "4111111111111111"});
            CHECK(both.exit_code == 2);
            auto args2 = card;
            args2.insert(args2.end(), {"--connector", "http://127.0.0.1:1"});
            auto closed = test::run_vaultfwd([&] {
                std::vector<std::string> a = {"--home", home.path().string(), "vtex", "send-payment"};
                a.insert(a.end(), args2.begin(), args2.end());
                return a;
            }());
            CHECK(closed.exit_code == 1);
            CHECK(closed.err.find("vaultfwd: error: ") == 0);
            CHECK(closed.err.find("127.0.0.1:1") != std::string::npos);
            CHECK(closed.err.find("4111111111111111") == std::string::npos);
        }
    }
}
