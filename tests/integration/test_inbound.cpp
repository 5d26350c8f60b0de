// SPDX-License-Identifier: Apache-2.0
// VGS inbound routes on the inbound port, driven as a browser, a partner and a backend drive it:
// the real curl binary against the port started in-process on port 0, in-process upstreams
// (the customer's API) with certificates the test makes, and the built binary for the CLI.
#include <doctest/doctest.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "core/profile/profile.hpp"
#include "core/server/access_log.hpp"
#include "core/server/inbound_proxy.hpp"
#include "core/tls/store.hpp"
#include "core/upstream/client.hpp"
#include "core/util/strings.hpp"
#include "core/vault/store.hpp"
#include "support/curl.hpp"
#include "support/support.hpp"
#include "support/upstream_server.hpp"

using namespace vaultfwd;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using test::curl;
using test::CurlResult;

const std::string k_card = "4111111111111111";
const std::string k_name = "Jane Doe";

struct Options {
    bool inbound_tls = false;
    std::string routes;
};

// A home folder with a profile (the local CA, the test PKI's root trusted for upstreams, loopback
// allowed), a vault and an access log; start() runs the inbound port on a thread, restart()
// reloads the profile (after a CLI command changed it).
class Inbound {
  public:
    Inbound(const test::TestPki& pki, Options o) : m_options(std::move(o)) {
        test::write_text(home / "upstream-ca.pem", pki.ca_pem());
        test::write_text(home / "client.pem", pki.client_cert_pem());
        test::write_text(home / "client.key", pki.client_key_pem());
        std::string text = "[listen]\ninbound = \"127.0.0.1:0\"\ninbound_tls = " +
                           std::string(m_options.inbound_tls ? "true" : "false") + "\n\n[vault]\nkey = \"" +
                           std::string(64, 'e') +
                           "\"\n\n[ca]\ncert = \"default/ca.pem\"\nkey = \"default/ca.key\"\n\n"
                           "[upstream]\nallow = [\"127.0.0.1\", \"localhost\"]\nallow_http = [\"127.0.0.1\"]\n"
                           "ca_files = [\"" + (home / "upstream-ca.pem").string() +
                           "\"]\nconnect_timeout_ms = 2000\ntimeout_ms = 5000\n\n"
                           "[limits]\nmax_body_bytes = 65536\nmax_header_bytes = 4096\nthreads = 4\n" +
                           m_options.routes;
        test::write_text(profile::profile_path(home.path(), "default"), text);
        auto p = profile::load(home.path(), "default");
        REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.error().message));
        REQUIRE(tls::init_ca(*p, tls::CaOverwrite::never).ok());
        ca_file = p->resolve(p->ca.cert).string();
        auto s = vault::Store::open(p->vault_dir(), p->vault_key());
        REQUIRE(s.ok());
        store = std::move(*s);
        auto l = server::AccessLog::open(p->access_log_path());
        REQUIRE(l.ok());
        log = std::move(*l);
        log_path = p->access_log_path();
    }

    ~Inbound() { stop(); }

    void start() {
        auto p = profile::load(home.path(), "default");
        REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.error().message));
        m_profile = std::make_unique<profile::Profile>(std::move(*p));
        m_server = std::make_unique<server::InboundProxy>(*m_profile, *store, m_client, *log);
        auto bound = m_server->bind("127.0.0.1", port);
        REQUIRE_MESSAGE(bound.ok(), (bound.ok() ? "" : bound.error().message));
        port = *bound;
        m_thread = std::thread([this] { m_server->run(); });
    }

    void stop() {
        if (m_server) {
            m_server->stop();
            m_thread.join();
            m_server.reset();
        }
    }

    // With the profile as it is now on disk (on a new port).
    void restart() {
        stop();
        port = 0;
        start();
    }

    std::string url(const std::string& path) const {
        return std::string(m_options.inbound_tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port) + path;
    }

    std::vector<json> access_log() const {
        std::vector<json> out;
        for (const auto& line : util::split(test::read_text(log_path), '\n'))
            if (!line.empty())
                out.push_back(json::parse(line));
        return out;
    }

    test::RunResult cli(std::vector<std::string> args) const {
        args.insert(args.begin(), {"--home", home.path().string()});
        return test::run_vaultfwd(args);
    }

    test::TempDir home;
    std::string ca_file;
    std::unique_ptr<vault::Store> store;
    std::unique_ptr<server::AccessLog> log;
    fs::path log_path;
    int port = 0;

  private:
    Options m_options;
    std::unique_ptr<profile::Profile> m_profile;
    upstream::Client m_client;
    std::unique_ptr<server::InboundProxy> m_server;
    std::thread m_thread;
};

// The customer's API: records what it got; /show answers the text it was sent as {"card": …}
// (200, or 500 on /show-error); anything else {"stored": true}.
http::Response customer_api(const http::Request& r) {
    http::Response res;
    res.headers.push_back({"Content-Type", "application/json"});
    if (r.path == "/show" || r.path == "/show-error") {
        res.status = r.path == "/show" ? 200 : 500;
        res.body = json{{"card", r.body}}.dump();
    } else {
        res.body = R"({"stored": true})";
    }
    return res;
}

// The collect route: a form posted to /cards on collect.example.test has its card number
// (FPE_SIX_T_FOUR) and name (UUID) redacted; a 200 answer of /show has $.card revealed.
std::string collect_route(int upstream_port) {
    return "\n[[routes]]\nid = \"collect\"\ndirection = \"inbound\"\nupstream = \"http://127.0.0.1:" +
           std::to_string(upstream_port) +
           "\"\nhost = 'collect\\.example\\.test'\n\n"
           "[[routes.filters]]\nphase = \"request\"\noperation = \"redact\"\ntransformer = \"form_field\"\n"
           "targets = [\"card_number\"]\nformat = \"FPE_SIX_T_FOUR\"\npath = \"/cards\"\n"
           "content_type = \"application/x-www-form-urlencoded\"\n\n"
           "[[routes.filters]]\nphase = \"request\"\noperation = \"redact\"\ntransformer = \"form_field\"\n"
           "targets = [\"name\"]\nformat = \"UUID\"\npath = \"/cards\"\n"
           "content_type = \"application/x-www-form-urlencoded\"\n\n"
           "[[routes.filters]]\nphase = \"response\"\noperation = \"reveal\"\ntransformer = \"json_path\"\n"
           "targets = [\"$.card\"]\npath = \"/show.*\"\nstatus = \"200\"\n";
}

std::map<std::string, std::string> form_fields(const std::string& body) {
    std::map<std::string, std::string> out;
    for (const auto& pair : util::split(body, '&')) {
        auto eq = pair.find('=');
        std::string value = pair.substr(eq + 1);
        for (auto& c : value)
            if (c == '+')
                c = ' ';
        out[pair.substr(0, eq)] = value;
    }
    return out;
}

} // namespace

TEST_SUITE("inbound") {
    TEST_CASE("the collect flow: a form post reaches the customer's API with aliases, vault reveal gives the values") {
        auto pki = test::make_pki();
        test::UpstreamServer api(pki, {.tls = false}, customer_api);
        Inbound in(pki, {.routes = collect_route(api.port())});
        in.start();

        auto post = [&](const std::string& card, const std::string& name) {
            return curl({in.url("/cards?source=checkout"), "-H", "Host: collect.example.test", "--data-urlencode",
                         "card_number=" + card, "--data-urlencode", "name=" + name, "--data-urlencode", "amount=12"});
        };
        auto first = post(k_card, k_name);
        REQUIRE_MESSAGE(first.status == 200, (first.body + first.err));
        CHECK(first.body_json()["stored"] == true);
        auto second = post(k_card, k_name);
        REQUIRE(second.status == 200);

        auto got = api.requests();
        REQUIRE(got.size() == 2);
        // Path and query kept; the upstream's own Host; where the request came from.
        CHECK(got[0].path == "/cards");
        CHECK(got[0].query == "source=checkout");
        CHECK(http::find(got[0].headers, "host") == "127.0.0.1:" + std::to_string(api.port()));
        CHECK(http::find(got[0].headers, "x-forwarded-host") == "collect.example.test");
        auto fields = form_fields(got[0].body);
        const std::string card_alias = fields["card_number"], name_alias = fields["name"];
        CHECK(got[0].body.find("4111111111111111") == std::string::npos);
        CHECK(got[0].body.find("Jane") == std::string::npos);
        CHECK(fields["amount"] == "12");
        // FPE_SIX_T_FOUR keeps the first six and last four digits and the length.
        CHECK(card_alias.size() == 16);
        CHECK(card_alias.substr(0, 6) == "411111");
        CHECK(card_alias.substr(12) == "1111");
        CHECK(card_alias != k_card);
        CHECK(name_alias.rfind("tok_sandbox_", 0) == 0);
        // The same value gives the same alias again.
        CHECK(form_fields(got[1].body) == fields);

        auto card = in.cli({"vault", "reveal", card_alias});
        CHECK_MESSAGE(card.exit_code == 0, card.err);
        CHECK(util::trim(card.out) == k_card);
        auto name = in.cli({"vault", "reveal", name_alias});
        CHECK(util::trim(name.out) == k_name);

        // One access-log line per exchange: dialect, route, what was made; never a value.
        auto lines = in.access_log();
        REQUIRE(lines.size() == 2);
        CHECK(lines[0]["dialect"] == "vgs-inbound");
        CHECK(lines[0]["route"] == "collect");
        CHECK(lines[0]["redacted"] == 2);
        CHECK(lines[0]["revealed"] == 0);
        CHECK(lines[0]["status"] == 200);
        CHECK(lines[0]["method"] == "POST");
        CHECK(lines[0]["upstream_host"] == "127.0.0.1:" + std::to_string(api.port()));
        const std::string log_text = test::read_text(in.log_path);
        CHECK(log_text.find("4111111111111111") == std::string::npos);
        CHECK(log_text.find("Jane") == std::string::npos);
        CHECK(log_text.find(card_alias) == std::string::npos);
    }

    TEST_CASE("a path or content type the conditions exclude passes untouched") {
        auto pki = test::make_pki();
        test::UpstreamServer api(pki, {.tls = false}, customer_api);
        Inbound in(pki, {.routes = collect_route(api.port())});
        in.start();
        const std::string form = "card_number=" + k_card + "&name=Jane+Doe";
        auto other_path = curl({in.url("/profile"), "-H", "Host: collect.example.test", "--data", form});
        CHECK(other_path.status == 200);
        const std::string json_body = R"({"card_number": ")" + k_card + R"("})";
        auto other_type = curl({in.url("/cards"), "-H", "Host: collect.example.test", "-H",
                                "Content-Type: application/json", "--data", json_body});
        CHECK(other_type.status == 200);
        auto got = api.requests();
        REQUIRE(got.size() == 2);
        CHECK(got[0].body == form);
        CHECK(got[1].body == json_body);
        auto lines = in.access_log();
        REQUIRE(lines.size() == 2);
        CHECK(lines[0]["route"] == "collect");
        CHECK(lines[0]["tokens"] == 0);

        // A body no filter reads streams through, past limits.max_body_bytes (64 KiB here); one a
        // filter must read whole is bounded by it.
        test::write_text(in.home / "upload.bin", std::string(300000, 'u'));
        auto upload = curl({in.url("/profile/photo"), "-H", "Host: collect.example.test", "-H",
                            "Content-Type: application/octet-stream", "--data-binary",
                            "@" + (in.home / "upload.bin").string()});
        CHECK(upload.status == 200);
        REQUIRE(api.requests().size() == 3);
        CHECK(api.requests().back().body.size() == 300000);
        auto too_large = curl({in.url("/cards"), "-H", "Host: collect.example.test", "--data-binary",
                               "@" + (in.home / "upload.bin").string()});
        CHECK(too_large.status == 413);
        CHECK(too_large.header("x-vaultfwd-error") == "request.too_large");
        CHECK(api.requests().size() == 3);
    }

    TEST_CASE("a response-phase reveal gives the caller the value; its status condition holds it back on a 500") {
        auto pki = test::make_pki();
        test::UpstreamServer api(pki, {.tls = false}, customer_api);
        Inbound in(pki, {.routes = collect_route(api.port())});
        auto alias = in.store->alias(k_card, vault::AliasFormat::uuid);
        REQUIRE(alias.ok());
        in.start();
        auto shown = curl({in.url("/show"), "-H", "Host: collect.example.test", "-H", "Content-Type: text/plain",
                           "--data", *alias});
        REQUIRE_MESSAGE(shown.status == 200, shown.body);
        CHECK(shown.body_json()["card"] == k_card);
        auto failed = curl({in.url("/show-error"), "-H", "Host: collect.example.test", "-H",
                            "Content-Type: text/plain", "--data", *alias});
        CHECK(failed.status == 500);
        CHECK(failed.body_json()["card"] == *alias);
        auto lines = in.access_log();
        REQUIRE(lines.size() == 2);
        CHECK(lines[0]["revealed"] == 1);
        CHECK(lines[1]["revealed"] == 0);
        CHECK(test::read_text(in.log_path).find(k_card) == std::string::npos);
    }

    TEST_CASE("an unknown Host is a JSON 404 and nothing is sent anywhere") {
        auto pki = test::make_pki();
        test::UpstreamServer api(pki, {.tls = false}, customer_api);
        Inbound in(pki, {.routes = collect_route(api.port())});
        in.start();
        auto r = curl({in.url("/cards"), "-H", "Host: elsewhere.example.test", "--data", "card_number=" + k_card});
        CHECK(r.status == 404);
        CHECK(r.header("x-vaultfwd-error") == "inbound.no_route");
        auto err = r.body_json()["error"];
        CHECK(err["code"] == "inbound.no_route");
        CHECK(err["message"].get<std::string>().find("elsewhere.example.test") != std::string::npos);
        // A CONNECT to a hostname no route has is refused the same way.
        auto tunnel = curl({"https://elsewhere.example.test/cards", "-k", "-x", in.url("")});
        CHECK(tunnel.exit_code != 0);
        CHECK(tunnel.connect_status == 404);
        CHECK(api.request_count() == 0);
        auto lines = in.access_log();
        REQUIRE(lines.size() == 2);
        CHECK(lines[0]["status"] == 404);
        CHECK(lines[0]["error"] == "inbound.no_route");
    }

    TEST_CASE("inbound mTLS: the route's certificate is presented to its upstream, which refuses without it") {
        auto pki = test::make_pki();
        test::UpstreamServer partner(pki, {.require_client_cert = true});
        Inbound in(pki, {.routes = "\n[[routes]]\nid = \"visa-callback\"\ndirection = \"inbound\"\nupstream = "
                                   "\"https://localhost:" + std::to_string(partner.port()) +
                                   "\"\nhost = 'callbacks\\.example\\.test'\n"});
        in.start();
        auto without = curl({in.url("/notify"), "-H", "Host: callbacks.example.test", "--data", "{}"});
        CHECK(without.status == 502);
        CHECK(without.header("x-vaultfwd-error") == "upstream.client_cert_rejected");
        const std::string message = without.body_json()["error"]["message"].get<std::string>();
        CHECK_MESSAGE(message.find("route \"visa-callback\" has no inbound certificate") != std::string::npos, message);
        CHECK(message.find("--direction inbound --route visa-callback") != std::string::npos);

        // An inbound certificate is tied to an inbound route, with its key.
        auto no_route = in.cli({"cert", "add", "partner", "--direction", "inbound", "--cert",
                                (in.home / "client.pem").string(), "--key", (in.home / "client.key").string()});
        CHECK(no_route.exit_code == 1);
        CHECK(no_route.err.find("--route") != std::string::npos);
        auto no_key = in.cli({"cert", "add", "partner", "--direction", "inbound", "--route", "visa-callback", "--cert",
                              (in.home / "client.pem").string()});
        CHECK(no_key.exit_code == 1);
        CHECK(no_key.err.find("--key") != std::string::npos);
        auto add = in.cli({"cert", "add", "partner", "--direction", "inbound", "--route", "visa-callback", "--cert",
                           (in.home / "client.pem").string(), "--key", (in.home / "client.key").string()});
        REQUIRE_MESSAGE(add.exit_code == 0, add.err);
        auto list = in.cli({"cert", "list"});
        CHECK(list.out.find("inbound route visa-callback") != std::string::npos);
        auto listed = json::parse(in.cli({"--json", "cert", "list"}).out, nullptr, false);
        REQUIRE(listed.is_object());
        CHECK(listed["certs"][0]["direction"] == "inbound");
        CHECK(listed["certs"][0]["route"] == "visa-callback");

        in.restart();
        auto with = curl({in.url("/notify"), "-H", "Host: callbacks.example.test", "--data", "{}"});
        CHECK_MESSAGE(with.status == 200, with.body);
        CHECK(with.header("x-vaultfwd-error").empty());
        CHECK(partner.request_count() == 1);
    }

    TEST_CASE("the seed's reverse-proxy alternative: curl https://backgroundcheck… -k -x <inbound port>") {
        // The seed: curl https://backgroundcheck.yourcompany.com/post -k -x https://tnt….verygoodproxy.com
        //   -X POST -H "Content-type: application/json" -d '{"ssn": "$VGS_TOKEN"}'
        // with the vault's hostname mapped to the inbound port and Acme's endpoint to a local one.
        auto pki = test::make_pki();
        test::UpstreamServer acme(pki, {});
        for (bool tls : {false, true}) {
            CAPTURE(tls);
            Inbound in(pki, {.inbound_tls = tls,
                             .routes = "\n[[routes]]\nid = \"backgroundcheck\"\ndirection = \"inbound\"\nupstream = "
                                       "\"https://localhost:" + std::to_string(acme.port()) +
                                       "\"\nhost = 'backgroundcheck\\.yourcompany\\.com'\n\n[[routes.filters]]\n"
                                       "phase = \"request\"\noperation = \"reveal\"\ntransformer = \"json_path\"\n"
                                       "targets = [\"$.ssn\"]\n"});
            auto token = in.cli({"vault", "alias", "078-05-1120", "--format", "UUID"});
            REQUIRE_MESSAGE(token.exit_code == 0, token.err);
            const std::string vgs_token = std::string(util::trim(token.out));
            in.start();
            std::vector<std::string> proxy = {"-x", in.url("")};
            if (tls)
                proxy.insert(proxy.end(), {"--proxy-cacert", in.ca_file});
            std::vector<std::string> args = {"https://backgroundcheck.yourcompany.com/post", "-k"};
            args.insert(args.end(), proxy.begin(), proxy.end());
            args.insert(args.end(), {"-X", "POST", "-H", "Content-type: application/json", "-d",
                                     "{\"ssn\": \"" + vgs_token + "\"}"});
            auto r = curl(args);
            REQUIRE_MESSAGE(r.status == 200, (r.err + r.body));
            CHECK(r.body_json()["ssn"] == "078-05-1120");
            // Straight to the port with the route's Host works too (and with TLS, the leaf is
            // minted for the name the client asks for).
            std::vector<std::string> direct =
                tls ? std::vector<std::string>{"https://backgroundcheck.yourcompany.com:" + std::to_string(in.port) +
                                                   "/post",
                                               "--resolve",
                                               "backgroundcheck.yourcompany.com:" + std::to_string(in.port) +
                                                   ":127.0.0.1",
                                               "--cacert", in.ca_file}
                    : std::vector<std::string>{in.url("/post"), "-H", "Host: backgroundcheck.yourcompany.com"};
            direct.insert(direct.end(), {"-H", "Content-type: application/json", "-d", "{\"ssn\": \"" + vgs_token + "\"}"});
            auto d = curl(direct);
            REQUIRE_MESSAGE(d.status == 200, (d.err + d.body));
            CHECK(d.body_json()["ssn"] == "078-05-1120");
            auto lines = in.access_log();
            REQUIRE(lines.size() == 2);
            CHECK(lines[0]["route"] == "backgroundcheck");
            CHECK(lines[0]["revealed"] == 1);
            CHECK(test::read_text(in.log_path).find("078-05-1120") == std::string::npos);
        }
        REQUIRE(acme.request_count() == 4);
        for (const auto& req : acme.requests())
            CHECK(req.body.find("078-05-1120") != std::string::npos);
    }

    TEST_CASE("routes import of VGS inbound exports (both shapes), then traffic through the imported route") {
        auto pki = test::make_pki();
        test::UpstreamServer api(pki, {.tls = false}, customer_api);
        Inbound in(pki, {});
        for (const char* name : {"inbound-collect.yaml", "inbound-reveal-top-level.yaml"}) {
            std::string text = test::read_text(test::source_dir() / "fixtures" / "vgs" / name);
            // The exports name the customer's API as it was on the dashboard; here it is local.
            REQUIRE(text.find("http://127.0.0.1:8080") != std::string::npos);
            text = util::replace_all(text, "http://127.0.0.1:8080", "http://127.0.0.1:" + std::to_string(api.port()));
            test::write_text(in.home / name, text);
            auto imported = in.cli({"routes", "import", (in.home / name).string()});
            REQUIRE_MESSAGE(imported.exit_code == 0, imported.err);
            CHECK(imported.out.find("1 route(s) imported") != std::string::npos);
            CHECK(imported.out.find("inbound: Host") != std::string::npos);
            // What could not be carried over is named.
            if (std::string(name) == "inbound-collect.yaml")
                CHECK(imported.out.find("not imported: route \"collect-card\" filter \"by-query\"") != std::string::npos);
        }
        auto check = in.cli({"config", "check"});
        CHECK_MESSAGE(check.exit_code == 0, (check.out + check.err));
        in.start();
        // collect-card (attributes shape): card number and name redacted on POST /post forms.
        auto r = curl({in.url("/post"), "-H", "Host: tntabcd1234.sandbox.verygoodproxy.com", "--data-urlencode",
                       "card_number=" + k_card, "--data-urlencode", "name=" + k_name});
        REQUIRE_MESSAGE(r.status == 200, r.body);
        auto got = api.requests();
        REQUIRE(got.size() == 1);
        auto fields = form_fields(got[0].body);
        CHECK(fields["card_number"].size() == 16);
        CHECK(fields["card_number"].substr(0, 6) == "411111");
        CHECK(fields["card_number"] != k_card);
        CHECK(fields["name"].rfind("tok_sandbox_", 0) == 0);
        CHECK(util::trim(in.cli({"vault", "reveal", fields["card_number"]}).out) == k_card);
        // partner-reveal (top-level shape): the 200 answer of /show has $.card revealed.
        auto shown = curl({in.url("/show"), "-H", "Host: partner.example.test", "-H", "Content-Type: text/plain",
                           "--data", fields["card_number"]});
        REQUIRE_MESSAGE(shown.status == 200, shown.body);
        CHECK(shown.body_json()["card"] == k_card);
        auto lines = in.access_log();
        REQUIRE(lines.size() == 2);
        CHECK(lines[0]["redacted"] == 2);
        CHECK(lines[1]["route"] == "9d4e2a61-7b3c-4e5f-8a9b-0c1d2e3f4a55");
        CHECK(lines[1]["revealed"] == 1);
    }

    TEST_CASE("errors of the upstream leg are JSON with precise codes: refused, TLS verification, timeout") {
        auto pki = test::make_pki();
        auto stranger = test::make_pki(); // a server whose root the profile does not trust
        test::UpstreamServer untrusted(stranger, {});
        test::UpstreamServer slow(pki, {.tls = false, .delay_ms = 6500});
        auto route = [](const std::string& id, const std::string& upstream) {
            return "\n[[routes]]\nid = \"" + id + "\"\ndirection = \"inbound\"\nupstream = \"" + upstream +
                   "\"\nhost = '" + id + "\\.example\\.test'\n";
        };
        Inbound in(pki, {.routes = route("refused", "http://127.0.0.1:1") +
                                   route("untrusted", "https://localhost:" + std::to_string(untrusted.port())) +
                                   route("slow", "http://127.0.0.1:" + std::to_string(slow.port()))});
        in.start();
        struct Want {
            std::string host;
            int status;
            std::string code;
        };
        for (const auto& want : {Want{"refused", 502, "upstream.connect_failed"},
                                 Want{"untrusted", 502, "upstream.tls_verify_failed"},
                                 Want{"slow", 504, "upstream.timeout"}}) {
            CAPTURE(want.host);
            auto r = curl({in.url("/x"), "-H", "Host: " + want.host + ".example.test", "--data", "a=1"});
            CHECK(r.status == want.status);
            CHECK(r.header("x-vaultfwd-error") == want.code);
            CHECK(r.body_json()["error"]["code"] == want.code);
        }
        CHECK(untrusted.request_count() == 0);
        auto lines = in.access_log();
        REQUIRE(lines.size() == 3);
        CHECK(lines[0]["route"] == "refused");
        CHECK(lines[2]["error"] == "upstream.timeout");
    }

    TEST_CASE("an inbound route's upstream is checked: allowlist, a path, the port itself") {
        auto pki = test::make_pki();
        Inbound in(pki, {.routes = "\n[[routes]]\nid = \"far\"\ndirection = \"inbound\"\nupstream = "
                                   "\"https://api.elsewhere.example\"\nhost = 'far\\.example\\.test'\n"});
        in.start();
        auto far = curl({in.url("/x"), "-H", "Host: far.example.test"});
        CHECK(far.status == 403);
        CHECK(far.header("x-vaultfwd-error") == "upstream.host_not_allowed");
        in.stop();

        test::write_text(profile::profile_path(in.home.path(), "default"),
                         util::replace_all(test::read_text(profile::profile_path(in.home.path(), "default")),
                                           "https://api.elsewhere.example", "https://localhost/v1"));
        auto check = in.cli({"config", "check"});
        CHECK(check.exit_code == 1);
        CHECK_MESSAGE(check.err.find("has a path or query") != std::string::npos, check.err);
        CHECK(check.err.find("default.toml:") != std::string::npos); // pointing at the line
    }
}
