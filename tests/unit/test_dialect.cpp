// SPDX-License-Identifier: Apache-2.0
// What a VTEX connector and a Gr4vy integrator see before any socket: card brands, the Create
// Payment body against VTEX's documented fields, which Gr4vy endpoint a URL belongs to.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "core/dialect/gr4vy.hpp"
#include "core/dialect/vtex.hpp"
#include "core/profile/profile.hpp"
#include "core/util/strings.hpp"
#include "core/vault/store.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using namespace vaultfwd::dialect;
using nlohmann::json;

namespace {

const std::string k_key(32, 'k');

vtex::Card card_of(const std::string& number) { return {number, "JOHN DOE", "123", "02", "2028"}; }

// The fields VTEX's Payment Provider Protocol documents as required in a Create Payment request
// (POST /payments), with the JSON type of each ("string", "number", "object", "array", "null").
void check_fields(const json& object, const std::vector<std::pair<std::string, std::string>>& fields,
                  const std::string& where) {
    for (const auto& [name, type] : fields) {
        INFO(where << "." << name);
        REQUIRE(object.contains(name));
        CHECK(std::string(object[name].type_name()) == type);
    }
}

} // namespace

TEST_SUITE("dialect") {
    TEST_CASE("vtex: the card brand comes from the number, named as VTEX names it") {
        const std::vector<std::pair<std::string, std::string>> cards = {
            {"4111111111111111", "Visa"},
            {"5555444433331111", "Mastercard"},
            {"2223000048400011", "Mastercard"},
            {"378282246310005", "American Express"},
            {"36259600000004", "Diners"},
            {"30569309025904", "Diners"},
            {"6011111111111117", "Discover"},
            {"3530111333300000", "JCB"},
            {"6362970000457013", "Elo"},     // inside Discover's 6
            {"5066991111111118", "Elo"},     // inside Mastercard's 5
            {"4514160000000003", "Elo"},     // inside Visa's 4
            {"6062825624254001", "Hipercard"},
            {"3841000000000000004", "Hipercard"}, // inside Diners' 38
        };
        for (const auto& [number, brand] : cards) {
            CHECK_MESSAGE(vtex::card_brand(number) == brand, number);
            auto order = vtex::resolve_order(card_of(number), {});
            REQUIRE_MESSAGE(order.ok(), number);
            CHECK(order->payment_method == brand);
        }
        CHECK(vtex::card_brand("9999000000000004").empty());
        auto unknown = vtex::resolve_order(card_of("9999000000000004"), {});
        REQUIRE_FALSE(unknown.ok());
        CHECK(unknown.error().code == "vtex.unknown_brand");
        CHECK(unknown.error().message.find("BIN 999900") != std::string::npos);
        CHECK(unknown.error().message.find("--brand") != std::string::npos);
        CHECK(unknown.error().message.find("9999000000000004") == std::string::npos);

        // An explicit brand wins, spelled as VTEX spells it whatever the case given.
        vtex::Order named;
        named.payment_method = "american express";
        CHECK(vtex::resolve_order(card_of("9999000000000004"), named)->payment_method == "American Express");
        named.payment_method = "Maestro";
        CHECK(vtex::resolve_order(card_of("4111111111111111"), named)->payment_method == "Maestro");
        named.payment_method = "Bitcoin";
        auto bad = vtex::resolve_order(card_of("4111111111111111"), named);
        CHECK(bad.error().code == "vtex.bad_payment_method");
        CHECK(bad.error().message.find("Hipercard") != std::string::npos);
    }

    TEST_CASE("vtex: value, currency and installments are checked") {
        auto card = card_of("4111111111111111");
        auto with = [&](std::string value, std::string currency, int installments) {
            vtex::Order o;
            o.value = std::move(value);
            o.currency = std::move(currency);
            o.installments = installments;
            return vtex::resolve_order(card, o);
        };
        CHECK(with("31.90", "BRL", 1).ok());
        CHECK(with("7", "USD", 12).ok());
        for (auto* v : {"", "abc", "1.234", "-5", "0", "0.00", "1e3", "12,50"})
            CHECK_MESSAGE(with(v, "BRL", 1).error().code == "vtex.bad_order", v);
        for (auto* c : {"brl", "BR", "EURO", "U$D"})
            CHECK_MESSAGE(with("1", c, 1).error().code == "vtex.bad_order", c);
        CHECK(with("1", "BRL", 0).error().code == "vtex.bad_order");
        CHECK(with("1", "BRL", 100).error().code == "vtex.bad_order");
    }

    TEST_CASE("vtex: the Create Payment body has every field VTEX's protocol documents") {
        test::TempDir dir;
        auto store = vault::Store::open(dir / "vault", k_key);
        REQUIRE(store.ok());
        auto card = card_of("378282246310005");
        card.csc = "1234";
        vtex::Order order;
        order.value = "120.00";
        order.currency = "USD";
        order.installments = 3;
        auto resolved = vtex::resolve_order(card, order);
        REQUIRE(resolved.ok());
        auto payment = vtex::create_payment(**store, k_key, card);
        REQUIRE(payment.ok());
        const std::string text = vtex::create_payment_body(*payment, card, "http://127.0.0.1:7410", *resolved);
        auto body = json::parse(text);

        check_fields(body, {{"reference", "string"}, {"orderId", "string"}, {"shopperInteraction", "string"},
                            {"transactionId", "string"}, {"paymentId", "string"}, {"paymentMethod", "string"},
                            {"paymentMethodCustomCode", "null"}, {"merchantName", "string"},
                            {"value", "number"}, {"currency", "string"}, {"installments", "number"},
                            {"deviceFingerprint", "string"}, {"miniCart", "object"}, {"url", "string"},
                            {"callbackUrl", "string"}, {"returnUrl", "string"},
                            // documented, not required
                            {"verificationOnly", "boolean"}, {"referenceValue", "number"},
                            {"installmentsInterestRate", "number"}, {"installmentsValue", "number"},
                            {"ipAddress", "string"}, {"card", "object"}, {"recipients", "array"},
                            {"merchantSettings", "array"}, {"sandBoxMode", "boolean"},
                            {"totalCartValue", "number"}, {"secureProxyUrl", "string"},
                            {"secureProxyTokensURL", "string"}},
                     "body");
        const auto& cart = body["miniCart"];
        check_fields(cart, {{"shippingValue", "number"}, {"taxValue", "number"}, {"buyer", "object"},
                            {"shippingAddress", "object"}, {"billingAddress", "object"}, {"items", "array"}},
                     "miniCart");
        check_fields(cart["buyer"], {{"firstName", "string"}, {"lastName", "string"}, {"document", "string"},
                                     {"documentType", "string"}, {"email", "string"}, {"phone", "string"},
                                     {"isCorporate", "boolean"}},
                     "buyer");
        for (const char* address : {"shippingAddress", "billingAddress"})
            check_fields(cart[address], {{"country", "string"}, {"street", "string"}, {"number", "string"},
                                         {"neighborhood", "string"}, {"postalCode", "string"}, {"city", "string"},
                                         {"state", "string"}},
                         address);
        REQUIRE(cart["items"].size() == 1);
        check_fields(cart["items"][0], {{"id", "string"}, {"name", "string"}, {"price", "number"},
                                        {"quantity", "number"}, {"discount", "number"}},
                     "items[0]");

        CHECK(body["paymentMethod"] == "American Express");
        CHECK(body["value"] == 120.0);
        CHECK(body["referenceValue"] == 120.0);
        CHECK(body["currency"] == "USD");
        CHECK(body["installments"] == 3);
        CHECK(body["installmentsValue"] == 40.0);
        CHECK(body["paymentId"] == payment->payment_id);
        CHECK(body["transactionId"] == payment->transaction_id);
        // The cart adds up to the value.
        double items = 0;
        for (const auto& item : cart["items"])
            items += item["price"].get<double>() * item["quantity"].get<double>() - item["discount"].get<double>();
        CHECK(items + cart["shippingValue"].get<double>() + cart["taxValue"].get<double>() ==
              doctest::Approx(120.0));
        CHECK(body["orderId"].get<std::string>().size() == 13);
        CHECK(body["returnUrl"].get<std::string>().find(body["orderId"].get<std::string>()) != std::string::npos);

        // The secure proxy fields are the seed's, as before.
        std::string base = "http://127.0.0.1:7410/payment-provider/transactions/" + payment->transaction_id +
                           "/payments/" + payment->payment_id;
        CHECK(body["secureProxyUrl"] == base + "/proxy?hash=" + payment->long_hash);
        CHECK(body["secureProxyTokensURL"] == base + "/tokens?hash=" + payment->long_hash);
        std::string t = "#vtex#token#" + payment->secure_hash + "#";
        CHECK(body["card"] == json{{"holderToken", t + "holder#"}, {"bin", "378282"}, {"numberToken", t + "number#"},
                                   {"numberLength", 15}, {"cscToken", t + "csc#"}, {"cscLength", 4},
                                   {"expiration", {{"month", "02"}, {"year", "2028"}}}});
        // Tokens only: neither the number, the code nor the holder's name in clear.
        CHECK(text.find("378282246310005") == std::string::npos);
        CHECK(text.find("\"1234\"") == std::string::npos);
        CHECK(text.find("JOHN DOE") == std::string::npos);

        // Defaults, and the ids differ per payment.
        auto other = vtex::create_payment(**store, k_key, card_of("4111111111111111"));
        auto plain = json::parse(vtex::create_payment_body(*other, card_of("4111111111111111"), "http://x"));
        CHECK(plain["paymentMethod"] == "Visa");
        CHECK(plain["value"] == 31.9);
        CHECK(plain["currency"] == "BRL");
        CHECK(plain["installments"] == 1);
        CHECK(plain["orderId"] != body["orderId"]);
    }

    TEST_CASE("gr4vy: a forward URL finds its enabled endpoint by host, port and path") {
        auto p = profile::parse("[vault]\nkey = \"" + std::string(64, 'a') + "\"\n"
                                "[[certs]]\nname = \"a\"\ncert = \"a.pem\"\nkey = \"a.key\"\n"
                                "[[certs]]\nname = \"b\"\ncert = \"b.pem\"\nkey = \"b.key\"\ngr4vy_endpoint = \"pay\"\n"
                                "[[gr4vy_endpoints]]\nid = \"all\"\nhost = \"api.acquirer.example\"\nclient_cert = \"a\"\n"
                                "[[gr4vy_endpoints]]\nid = \"pay\"\nhost = \"API.acquirer.example\"\npath = \"/v1/pay\"\n"
                                "[[gr4vy_endpoints]]\nid = \"port\"\nhost = \"127.0.0.1:8443\"\n",
                                "p.toml", "/tmp", "p");
        REQUIRE_MESSAGE(p.ok(), p.error().describe());
        auto id_for = [&](const std::string& url) -> std::string {
            auto u = upstream::parse_url(url);
            REQUIRE(u.ok());
            const auto* ep = gr4vy::match_endpoint(*p, *u);
            return ep ? ep->id : "";
        };
        CHECK(id_for("https://api.acquirer.example/v1/pay") == "pay");
        CHECK(id_for("https://api.acquirer.example/v1/pay/123?x=1") == "pay");
        CHECK(id_for("https://api.acquirer.example/v1/payments") == "all"); // not a whole segment
        CHECK(id_for("https://api.acquirer.example/") == "all");
        CHECK(id_for("https://127.0.0.1:8443/x") == "port");
        CHECK(id_for("https://127.0.0.1:9443/x").empty());
        CHECK(id_for("https://other.example/v1/pay").empty());
        CHECK(gr4vy::endpoint_cert(*p, *gr4vy::match_endpoint(*p, *upstream::parse_url("https://api.acquirer.example/"))) == "a");
        CHECK(gr4vy::endpoint_cert(*p, p->gr4vy_endpoints[1]) == "b");
        CHECK(gr4vy::endpoint_cert(*p, p->gr4vy_endpoints[2]).empty());
    }

    TEST_CASE("gr4vy: endpoints in the profile are checked") {
        const std::string head = "[vault]\nkey = \"" + std::string(64, 'a') + "\"\n";
        auto errors = [&](const std::string& rest) { return profile::validate(head + rest, "p.toml"); };
        CHECK(errors("[[gr4vy_endpoints]]\nid = \"x\"\nhost = \"a.example\"\npath = \"/v1\"\n").empty());
        auto no_cert = errors("[[gr4vy_endpoints]]\nid = \"x\"\nhost = \"a.example\"\nclient_cert = \"nope\"\n");
        REQUIRE(no_cert.size() == 1);
        CHECK(no_cert[0].message.find("no [[certs]] entry") != std::string::npos);
        CHECK(no_cert[0].line == 6); // at the value that names it, as config check reports
        CHECK(no_cert[0].column == 15);
        CHECK(errors("[[gr4vy_endpoints]]\nid = \"x\"\nhost = \"https://a.example/v1\"\n").size() == 1);
        CHECK(errors("[[gr4vy_endpoints]]\nid = \"x\"\nhost = \"a.example\"\npath = \"v1\"\n").size() == 1);
        CHECK(errors("[[gr4vy_endpoints]]\nid = \"x\"\n").size() == 1);
        CHECK(errors("[[gr4vy_endpoints]]\nid = \"x\"\nhost = \"a\"\nclient_certs = \"c\"\n")[0].message.find(
                  "did you mean \"gr4vy_endpoints.client_cert\"") != std::string::npos);
        auto dangling = errors("[[certs]]\nname = \"c\"\ncert = \"c.pem\"\nkey = \"c.key\"\ngr4vy_endpoint = \"nope\"\n");
        REQUIRE(dangling.size() == 1);
        CHECK(dangling[0].message.find("no [[gr4vy_endpoints]] entry") != std::string::npos);
        auto inbound = errors("[[certs]]\nname = \"c\"\ndirection = \"inbound\"\nroute = \"in\"\ncert = \"c.pem\"\n"
                              "key = \"c.key\"\n[[routes]]\nid = \"in\"\ndirection = \"inbound\"\n"
                              "upstream = \"https://a.example\"\n"
                              "[[gr4vy_endpoints]]\nid = \"x\"\nhost = \"a\"\nclient_cert = \"c\"\n");
        REQUIRE(inbound.size() == 1);
        CHECK(inbound[0].message.find("inbound certificate") != std::string::npos);
    }
}
