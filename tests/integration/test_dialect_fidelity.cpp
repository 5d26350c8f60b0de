// SPDX-License-Identifier: Apache-2.0
// What a Gr4vy and a Footprint integrator observe on the API port: advanced authentication
// (mTLS) of Vault Forward endpoints through an upstream that requires a client certificate, and
// Footprint's error order under x-fp-id. Real sockets, real TLS with certificates made here.
#include <doctest/doctest.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/util/strings.hpp"
#include "support/api_harness.hpp"
#include "support/support.hpp"
#include "support/upstream_server.hpp"

using namespace vaultfwd;
using nlohmann::json;

namespace {

httplib::Headers forward_to(const std::string& url) {
    return {{"x-vault-forward-url", url},
            {"x-vault-forward-http-method", "POST"},
            {"x-vault-forward-payment-methods", "pm_1"}};
}

} // namespace

TEST_SUITE("dialect_fidelity") {
    TEST_CASE("gr4vy advanced authentication: an endpoint's certificate opens an mTLS-only upstream") {
        test::TempDir files;
        auto pki = test::make_pki();
        test::write_text(files / "client.pem", pki.client_cert_pem());
        test::write_text(files / "client.key", pki.client_key_pem());
        std::string extra = "\n[[certs]]\nname = \"acquirer-mtls\"\ncert = \"" + (files / "client.pem").string() +
                            "\"\nkey = \"" + (files / "client.key").string() + "\"\n"
                            "\n[[gr4vy_endpoints]]\nid = \"acquirer\"\nhost = \"127.0.0.1\"\npath = \"/mtls\"\n"
                            "client_cert = \"acquirer-mtls\"\n";
        test::ApiHarness h({extra, pki.ca_pem()});
        test::UpstreamServer mtls(pki, {.tls = true, .require_client_cert = true}, [](const http::Request& r) {
            http::Response res;
            res.status = 201;
            res.headers = {{"Content-Type", "application/json"}, {"X-Acquirer", "ok"}};
            res.body = R"({"seen":)" + json(r.body).dump() + "}";
            return res;
        });

        // The endpoint's certificate is presented: the upstream answers, Gr4vy's contract holds.
        auto with = h.post("/vault-forward", R"({"n":"{{ CARD_NUMBER_1 }}"})", forward_to(mtls.url("/mtls/charge")),
                           true, "application/json");
        REQUIRE(with);
        CHECK(with->status == 200);
        CHECK(with->get_header_value("x-vault-forward-http-status-code") == "201");
        CHECK(with->get_header_value("x-vault-forward-header-x-acquirer") == "ok");
        CHECK_FALSE(with->has_header("x-vault-forward-error"));
        CHECK_FALSE(with->has_header("x-vaultfwd-error"));
        CHECK(with->body == R"({"seen":"{\"n\":\"4111111111111111\"}"})");
        REQUIRE(mtls.request_count() == 1);

        // Outside the endpoint's path no certificate is presented: the handshake is refused, and
        // Gr4vy answers as for any network error, the precise cause in vaultfwd's own header.
        auto without = h.post("/vault-forward", R"({"n":"{{ CARD_NUMBER_1 }}"})", forward_to(mtls.url("/other")),
                              true, "application/json");
        REQUIRE(without);
        CHECK(without->status == 200);
        CHECK(without->body.empty());
        CHECK_FALSE(without->has_header("x-vault-forward-http-status-code"));
        CHECK(without->get_header_value("x-vaultfwd-error") == "upstream.client_cert_rejected");
        auto error = without->get_header_value("x-vault-forward-error");
        CHECK(error.find("no [[gr4vy_endpoints]] entry with a client certificate matches 127.0.0.1:" +
                         std::to_string(mtls.port())) != std::string::npos);
        CHECK(error.find("4111") == std::string::npos);
        CHECK(mtls.request_count() == 1);

        // The same upstream without client certificates required answers either path.
        test::UpstreamServer plain(pki);
        auto open = h.post("/vault-forward", "{{ CARD_NUMBER_1 }}", forward_to(plain.url("/other")));
        CHECK(open->get_header_value("x-vault-forward-http-status-code") == "200");
    }

    TEST_CASE("gr4vy: `cert add --gr4vy-endpoint` ties a certificate to an endpoint, and serve presents it") {
        test::TempDir home, files;
        auto pki = test::make_pki();
        const std::string h = home.path().string();
        REQUIRE(test::run_vaultfwd({"--home", h, "init"}).exit_code == 0);
        test::write_text(home / "root.pem", pki.ca_pem());
        test::write_text(files / "client.pem", pki.client_cert_pem());
        test::write_text(files / "client.key", pki.client_key_pem());
        auto text = test::read_text(home / "default.toml");
        text = util::replace_all(text, "timeout_ms = 15000", "timeout_ms = 15000\nca_files = [\"root.pem\"]");
        text += "\n# the acquirer that wants our client certificate\n[[gr4vy_endpoints]]\nid = \"acquirer\"\n"
                "host = \"127.0.0.1\"\n";
        test::write_text(home / "default.toml", text);

        auto unknown = test::run_vaultfwd({"--home", h, "cert", "add", "acq", "--cert", (files / "client.pem").string(),
                                           "--key", (files / "client.key").string(), "--gr4vy-endpoint", "acquirr"});
        CHECK(unknown.exit_code == 1);
        CHECK(unknown.err.find("no gr4vy endpoint \"acquirr\"") != std::string::npos);
        CHECK(unknown.err.find("did you mean \"acquirer\"") != std::string::npos);
        auto inbound = test::run_vaultfwd({"--home", h, "cert", "add", "acq", "--direction", "inbound", "--cert",
                                           (files / "client.pem").string(), "--gr4vy-endpoint", "acquirer"});
        CHECK(inbound.exit_code == 1);
        auto added = test::run_vaultfwd({"--home", h, "cert", "add", "acq", "--cert", (files / "client.pem").string(),
                                         "--key", (files / "client.key").string(), "--gr4vy-endpoint", "acquirer"});
        REQUIRE_MESSAGE(added.exit_code == 0, added.err);
        CHECK(added.out.find("gr4vy endpoint acquirer") != std::string::npos);
        auto listed = test::run_vaultfwd({"--home", h, "--json", "cert", "list"});
        CHECK(json::parse(listed.out)["certs"][0]["gr4vy_endpoint"] == "acquirer");
        // The comment above the endpoint survived the edit.
        CHECK(test::read_text(home / "default.toml").find("# the acquirer that wants our client certificate") !=
              std::string::npos);
        CHECK(test::run_vaultfwd({"--home", h, "config", "check"}).exit_code == 0);
        REQUIRE(test::run_vaultfwd({"--home", h, "vault", "put", "pm_1", "card.number=4111111111111111",
                                    "card.exp_month=02", "card.exp_year=2028"})
                    .exit_code == 0);

        test::UpstreamServer mtls(pki, {.tls = true, .require_client_cert = true});
        test::Process serve({test::binary_path(), "--home", h, "serve", "--api-listen", "127.0.0.1:0",
                             "--proxy-listen", "127.0.0.1:0", "--inbound-listen", "127.0.0.1:0"});
        auto listeners = test::read_listeners(serve);
        REQUIRE_FALSE(listeners.api.empty());
        auto key_at = text.find("sk_test_");
        std::string key = text.substr(key_at, text.find('"', key_at) - key_at);
        httplib::Client cli("127.0.0.1", listeners.api_port());
        cli.set_basic_auth(key.c_str(), "");
        cli.set_read_timeout(20, 0);
        auto res = cli.Post("/vault-forward", forward_to(mtls.url("/charge")), "{{ CARD_NUMBER_1 }}", "text/plain");
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK_MESSAGE(res->get_header_value("x-vault-forward-http-status-code") == "200",
                      res->get_header_value("x-vault-forward-error"));
        REQUIRE(mtls.request_count() == 1);
        CHECK(mtls.requests()[0].body == "4111111111111111");
    }

    TEST_CASE("footprint: with x-fp-id, a token without a valid fp_id is Footprint's fp_id error first") {
        test::ApiHarness h;
        auto reflect = [&](const std::string& body) {
            auto r = h.post("/vault_proxy/reflect", body, {{"x-fp-id", test::k_fp}});
            REQUIRE(r);
            auto j = json::parse(r->body, nullptr, false);
            return std::make_pair(r->status, j.is_object() ? j.value("message", "") : r->body);
        };
        auto [status, message] = reflect("{{ id.nope }}");
        CHECK(status == 400);
        CHECK(message == "Missing or invalid fp_id in proxy token.");
        std::tie(status, message) = reflect("{{ nope }}");
        CHECK(message == "Missing or invalid fp_id in proxy token.");
        std::tie(status, message) = reflect("{{ fp_id_test_other.id.first_name }}");
        CHECK(status == 400);
        CHECK(message.rfind("Cannot mix global footprint token", 0) == 0);
        std::tie(status, message) = reflect(std::string("{{ ") + test::k_fp + ".id.nope }}");
        CHECK(message == "Cannont parse data identifier: id.nope");
        std::tie(status, message) = reflect("{{ id.first_name }}");
        CHECK(status == 200);
        CHECK(message == "Jane");
        // The API keeps Footprint's wording: no CLI explanation leaks into it.
        auto r = h.post("/vault_proxy/reflect", "{{ id.nickname }}", {{"x-fp-id", test::k_fp}});
        REQUIRE(r);
        CHECK(json::parse(r->body)["message"] == "Missing or invalid fp_id in proxy token.");
        CHECK(r->body.find("is not a data identifier") == std::string::npos);
    }
}
