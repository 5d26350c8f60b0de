// SPDX-License-Identifier: Apache-2.0
// `vaultfwd replay` end to end: the built binary against a temp home whose vault holds the
// fixture user, replaying fixtures/replay/ through reflect and through the proxy to ditto.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/profile/init.hpp"
#include "core/profile/profile.hpp"
#include "core/util/strings.hpp"
#include "core/vault/store.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path fixtures() {
    return test::source_dir() / "fixtures" / "replay";
}
std::string fixture(const std::string& name) {
    return (fixtures() / name).string();
}
std::string golden(const std::string& via) {
    return (fixtures() / "golden" / via).string();
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

// A home made by `init`, with the fixture records of vault.tsv in its vault.
struct Home {
    test::TempDir dir;
    Home() {
        REQUIRE(profile::init_profile(dir.path(), "default", profile::Overwrite::never).ok());
        auto p = profile::load(dir.path(), "default");
        REQUIRE_MESSAGE(p.ok(), p.error().message);
        auto store = vault::Store::open(p->vault_dir(), p->vault_key(), {p->vault.alias_env});
        REQUIRE_MESSAGE(store.ok(), store.error().message);
        std::map<std::string, vault::Fields> records;
        for (const auto& line : util::split(test::read_text(fixtures() / "vault.tsv"), '\n')) {
            auto cols = util::split(line, '\t');
            if (cols.size() == 3)
                records[cols[0]][cols[1]] = cols[2];
        }
        REQUIRE(records.size() == 2);
        for (const auto& [id, fields] : records)
            REQUIRE((*store)->put(id, fields).ok());
    }
    test::RunResult run(std::vector<std::string> args) const {
        args.insert(args.begin(), {"--home", dir.path().string()});
        return test::run_vaultfwd(args);
    }
};

// The first line of a started server's stdout that contains `marker`, from there to the end.
std::string url_after(test::Process& p, const std::string& marker) {
    for (int i = 0; i < 10; ++i) {
        auto line = p.read_line();
        if (line.empty())
            break;
        if (auto at = line.find(marker); at != std::string::npos)
            return line.substr(at + marker.size());
    }
    return {};
}

} // namespace

TEST_SUITE("replay_cli") {
    TEST_CASE(
        "a HAR with two templated requests matches its golden files via reflect and via ditto") {
        Home home;
        auto reflect = home.run(
            {"replay", "--via", "reflect", "--expect", golden("reflect"), fixture("checkout.har")});
        INFO(reflect.out, reflect.err);
        CHECK(reflect.exit_code == 0);
        CHECK(contains(reflect.out, "ok        checkout-charge-card ("));
        CHECK(contains(reflect.out, "ok        checkout-2 ("));
        CHECK(contains(reflect.out, "replay: 2 requests, 2 ok, 0 failed"));

        auto ditto = home.run(
            {"replay", "--via", "ditto", "--expect", golden("ditto"), fixture("checkout.har")});
        INFO(ditto.out, ditto.err);
        CHECK(ditto.exit_code == 0);
        CHECK(contains(ditto.out, "2 ok, 0 failed"));

        // The golden files show what the third party receives: plaintext values, its path, the
        // forwarded headers, and none of the proxy's control headers or the recorded API key.
        auto charge = test::read_text(fixtures() / "golden" / "ditto" / "checkout-charge-card.txt");
        CHECK(contains(charge, "> POST /v1/charges?currency=usd\n"));
        CHECK(contains(charge, "> idempotency-key: order-1001\n"));
        CHECK(contains(charge, "\"full_name\": \"Jane Doe\""));
        CHECK(contains(charge, "\"cc\": \"4242424242424242\""));
        CHECK(contains(charge, "\"last4_ssn\": \"6789\""));
        CHECK_FALSE(contains(charge, "> x-fp-"));
        CHECK_FALSE(contains(charge, "c2tfdGVzdF9yZWNvcmRlZDo"));
        auto profile_put = test::read_text(fixtures() / "golden" / "ditto" / "checkout-2.txt");
        CHECK(contains(profile_put, "> PUT /v2/profiles/42\n"));
        CHECK(contains(profile_put, "name=JANE DOE&born=Friday in December of 88&ach=1212121212"));
        CHECK(test::read_text(fixtures() / "golden" / "reflect" / "checkout-2.txt") ==
              "HTTP/1.1 200 OK\n\n"
              "name=JANE DOE&born=Friday in December of 88&ach=1212121212");
    }

    TEST_CASE(
        "a changed template exits 1 with a unified diff; --update rewrites the golden files") {
        Home home;
        test::TempDir work;
        auto har = test::read_text(fixtures() / "checkout.har");
        auto changed = util::replace_all(har, "to_ascii | to_uppercase", "to_ascii | to_lowercase");
        REQUIRE(changed != har);
        test::write_text(work / "checkout.har", changed); // same stem: same golden names

        auto r = home.run({"replay", "--via", "reflect", "--expect", golden("reflect"),
                           (work / "checkout.har").string()});
        INFO(r.out, r.err);
        CHECK(r.exit_code == 1);
        CHECK(contains(r.out, "ok        checkout-charge-card ("));
        CHECK(contains(r.out, "MISMATCH  checkout-2 ("));
        CHECK(contains(r.out, "--- " + golden("reflect") +
                                  "/checkout-2.txt\n+++ actual\n@@ -1,3 +1,3 @@\n"
                                  " HTTP/1.1 200 OK\n \n"
                                  "-name=JANE DOE&born=Friday in December of 88&ach=1212121212\n"
                                  "\\ No newline at end of file\n"
                                  "+name=jane doe&born=Friday in December of 88&ach=1212121212\n"));
        CHECK(contains(
            r.err, "vaultfwd: error: 1 of 2 replayed requests did not match their golden files"));

        // The same through ditto: the diff shows the body the third party would now receive.
        auto d = home.run({"replay", "--via", "ditto", "--expect", golden("ditto"),
                           (work / "checkout.har").string()});
        CHECK(d.exit_code == 1);
        CHECK(contains(d.out, "+name=jane doe&born="));

        fs::copy(golden("reflect"), work / "golden");
        auto u = home.run({"replay", "--via", "reflect", "--expect", (work / "golden").string(),
                           "--update", (work / "checkout.har").string()});
        INFO(u.out, u.err);
        CHECK(u.exit_code == 0);
        CHECK(contains(u.out, "ok        checkout-charge-card ("));
        CHECK(contains(u.out, "written   checkout-2 ("));
        CHECK(contains(test::read_text(work / "golden" / "checkout-2.txt"), "name=jane doe&"));
        auto again = home.run({"replay", "--via", "reflect", "--expect", (work / "golden").string(),
                               (work / "checkout.har").string()});
        CHECK(again.exit_code == 0);
        // A missing golden file is a failure until --update writes it.
        auto none = home.run(
            {"replay", "--expect", (work / "empty").string(), (work / "checkout.har").string()});
        CHECK(none.exit_code == 1);
        CHECK(contains(none.out, "MISSING   checkout-2 ("));
    }

    TEST_CASE("raw HTTP files: Gr4vy through /vault-forward, a plain request through jit") {
        Home home;
        auto r = home.run({"replay", "--via", "ditto", "--expect", golden("ditto"),
                           fixture("gr4vy-forward.http"), fixture("crm-update.http")});
        INFO(r.out, r.err);
        CHECK(r.exit_code == 0);
        auto gr4vy = test::read_text(fixtures() / "golden" / "ditto" / "gr4vy-forward-1.txt");
        CHECK(contains(gr4vy, "x-vault-forward-http-status-code: 200\n"));
        CHECK(contains(gr4vy, "> POST /v1/payments?capture=true\n"));
        CHECK(contains(gr4vy, "> authorization: Bearer acquirer-key-123\n"));
        CHECK(contains(
            gr4vy,
            R"({"card":{"number":"4111111111111111","expiry":"02/28","exp_year":"2028"},"amount":1299})"));
        CHECK_FALSE(contains(gr4vy, "recorded-gr4vy-token"));
        auto crm = test::read_text(fixtures() / "golden" / "ditto" / "crm-update-1.txt");
        CHECK(contains(crm, "> PATCH /v2/customers/42?notify=false\n"));
        CHECK(contains(crm, "> x-api-version: 2024-01\n"));
        CHECK(contains(crm, R"({"first":"JANE","last":"Doe","ssn_last4":"6789"})"));

        auto plain = home.run({"replay", fixture("crm-update.http")});
        CHECK(plain.exit_code == 0);
        CHECK(contains(plain.out, "=== crm-update-1 (" + fixture("crm-update.http") +
                                      " #1): PATCH https://api.crm.example/"));
        CHECK(contains(plain.out, R"({"first":"JANE","last":"Doe","ssn_last4":"6789"})"));

        // Reflect cannot render Gr4vy placeholders: the request fails and the run exits 1.
        auto no = home.run({"replay", "--via", "reflect", fixture("gr4vy-forward.http")});
        CHECK(no.exit_code == 1);
        CHECK(contains(no.out, "ERROR     gr4vy-forward-1 ("));
        CHECK(contains(no.out, "replay it --via ditto"));
    }

    TEST_CASE("malformed HAR and raw files stop the run, naming the file and the place") {
        Home home;
        test::TempDir work;
        test::write_text(work / "syntax.har", "{\n  \"log\": {\n    \"entries\": [\n      {,}\n");
        auto s = home.run({"replay", (work / "syntax.har").string()});
        CHECK(s.exit_code == 1);
        CHECK(contains(s.err, "vaultfwd: error: " + (work / "syntax.har").string() + ":4:"));
        CHECK(contains(s.err, "invalid JSON"));

        json har = {
            {"log",
             {{"entries",
               json::array({{{"request", {{"method", "GET"}, {"url", "https://a.example/"}}}},
                            {{"request", {{"method", "POST"}}}}})}}}};
        test::write_text(work / "nourl.har", har.dump(2));
        auto u = home.run({"replay", fixture("checkout.har"), (work / "nourl.har").string()});
        CHECK(u.exit_code == 1);
        CHECK(contains(u.err,
                       (work / "nourl.har").string() +
                           ": entry 2 (log.entries[1]): request.url is missing or not a string"));
        CHECK(u.out.empty()); // nothing was replayed

        test::write_text(work / "bad.http", "POST /vault_proxy/reflect HTTP/1.1\r\nHost: "
                                            "a\r\nx-fp-id fp_id_test_ReplayJane\r\n\r\n{}");
        auto raw = home.run({"replay", (work / "bad.http").string()});
        CHECK(raw.exit_code == 1);
        CHECK(contains(raw.err, (work / "bad.http").string() + ":3: a header line has no ':'"));

        test::write_text(work / "short.http",
                         "POST /vault_proxy/reflect HTTP/1.1\nContent-Length: 50\n\n{}");
        auto short_body = home.run({"replay", (work / "short.http").string()});
        CHECK(short_body.exit_code == 1);
        CHECK(contains(short_body.err,
                       ":2: Content-Length is 50 but only 2 bytes follow the headers"));

        auto missing = home.run({"replay", (work / "nope.har").string()});
        CHECK(missing.exit_code == 1);
        CHECK(contains(missing.err, "nope.har"));
    }

    TEST_CASE("--json summary, and usage errors exit 2") {
        Home home;
        auto r = home.run({"--json", "replay", "--via", "ditto", "--expect", golden("ditto"),
                           fixture("checkout.har")});
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        auto j = json::parse(r.out);
        CHECK(j["via"] == "ditto");
        CHECK(j["server"] == "in-process");
        CHECK(j["total"] == 2);
        CHECK(j["passed"] == 2);
        CHECK(j["failed"] == 0);
        REQUIRE(j["results"].size() == 2);
        CHECK(j["results"][0]["name"] == "checkout-charge-card");
        CHECK(j["results"][0]["kind"] == "Footprint jit");
        CHECK(j["results"][0]["outcome"] == "match");
        CHECK(j["results"][0]["status"] == 200);
        CHECK(j["results"][0]["result"] ==
              test::read_text(fixtures() / "golden" / "ditto" / "checkout-charge-card.txt"));

        // --ignore-header takes one name each time, so the files can follow it.
        auto ignored = home.run({"replay", "--via", "ditto", "--ignore-header", "User-Agent",
                                 fixture("crm-update.http")});
        CHECK(ignored.exit_code == 0);
        CHECK(contains(ignored.out, "> x-api-version: 2024-01\n"));
        CHECK_FALSE(contains(ignored.out, "user-agent"));

        CHECK(home.run({"replay", "--update", fixture("checkout.har")}).exit_code == 2);
        CHECK(home.run({"replay", "--via", "carrier-pigeon", fixture("checkout.har")}).exit_code ==
              2);
        CHECK(home.run({"replay"}).exit_code == 2);
        auto help = home.run({"replay", "--help"});
        CHECK(help.exit_code == 0);
        CHECK(contains(help.out, "Examples:"));
        CHECK(contains(help.out, "<file-stem>-<n>.txt"));
    }

    TEST_CASE(
        "--server uses a running serve; --via URL another echo server, with the same results") {
        Home home;
        test::Process serve({test::binary_path(), "--home", home.dir.path().string(), "serve",
                             "--api-listen", "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0", "--inbound-listen", "127.0.0.1:0"});
        auto api = url_after(serve, "api listening on ");
        REQUIRE_FALSE(api.empty());
        // Gr4vy cannot pin: through a running serve it reaches the ditto over plain http.
        auto r = home.run({"replay", "--server", api, "--via", "ditto", "--expect", golden("ditto"),
                           fixture("checkout.har"), fixture("gr4vy-forward.http")});
        INFO(r.out, r.err);
        CHECK(r.exit_code == 0);

        test::Process ditto({test::binary_path(), "--home", home.dir.path().string(), "ditto",
                             "--format", "json", "--no-https"});
        auto echo = url_after(ditto, "ditto listening on ");
        REQUIRE(echo.rfind("http://127.0.0.1:", 0) == 0);
        auto v =
            home.run({"replay", "--via", echo, "--expect", golden("ditto"), fixture("checkout.har"),
                      fixture("crm-update.http"), fixture("gr4vy-forward.http")});
        INFO(v.out, v.err);
        CHECK(v.exit_code == 0);

        auto down = home.run({"replay", "--server", "http://127.0.0.1:1", fixture("checkout.har")});
        CHECK(down.exit_code == 1);
        CHECK(contains(down.err, "is 'vaultfwd serve' running there?"));
    }

    TEST_CASE("entries that are not http(s) are skipped with a note and counted") {
        Home home;
        test::TempDir work;
        // checkout.har as Chrome would export it: an inline image first, an extension's page
        // between the two requests.
        auto har = json::parse(test::read_text(fixtures() / "checkout.har"));
        auto& entries = har["log"]["entries"];
        json image = {{"request",
                       {{"method", "GET"},
                        {"url", "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAA"},
                        {"headers", json::array()}}}};
        json extension = {{"request",
                           {{"method", "GET"},
                            {"url", "chrome-extension://nkbihfbeogaeaoehlefnkodbefgpgknn/p.html"},
                            {"headers", json::array()}}}};
        entries.insert(entries.begin() + 1, extension);
        entries.insert(entries.begin(), image);
        auto file = (work / "browser.har").string();
        test::write_text(file, har.dump(2));

        auto r = home.run({"replay", "--via", "reflect", file});
        INFO(r.out, r.err);
        CHECK(r.exit_code == 0);
        CHECK(contains(r.err, "replay: skipped " + file +
                                  " entry 1 (log.entries[0]): a data: URL is not an http(s) "
                                  "request\n"));
        CHECK(contains(r.err, "replay: skipped " + file +
                                  " entry 3 (log.entries[2]): a chrome-extension: URL is not an "
                                  "http(s) request\n"));
        CHECK_FALSE(contains(r.err, "iVBORw0KGgo")); // the URL itself is not echoed
        CHECK(contains(r.out, "replay: 2 requests, 2 ok, 0 failed, 2 skipped (not http(s))\n"));

        auto j = home.run({"--json", "replay", "--via", "reflect", file});
        REQUIRE_MESSAGE(j.exit_code == 0, j.err);
        auto summary = json::parse(j.out);
        CHECK(summary["total"] == 2);
        REQUIRE(summary["skipped"].size() == 2);
        CHECK(summary["skipped"][0] == json({{"file", file}, {"index", 1}, {"scheme", "data"}}));
        CHECK(summary["skipped"][1]["scheme"] == "chrome-extension");
        CHECK(summary["results"][0]["index"] == 2);
    }

    TEST_CASE("--via https://… the proxy does not trust: the error says which CA and where") {
        Home home;
        test::Process ditto({test::binary_path(), "--home", home.dir.path().string(), "ditto",
                             "--format", "json", "--no-http"});
        auto echo = url_after(ditto, "ditto listening on ");
        REQUIRE(echo.rfind("https://127.0.0.1:", 0) == 0);
        auto refused = home.run({"replay", "--via", echo, fixture("checkout.har")});
        INFO(refused.out, refused.err);
        CHECK(refused.exit_code == 1);
        auto ca = (home.dir / "default" / "ca.pem").string();
        auto profile = home.dir / "default.toml";
        CHECK(contains(refused.err,
                       "replay: the proxy does not trust the certificate of the echo server " +
                           echo + "\n"));
        CHECK(contains(refused.err, "signs it with the local CA " + ca));
        CHECK(contains(refused.err, "in the [upstream] table of " + profile.string()));
        const std::string line = "ca_files = [\"" + ca + "\"]";
        CHECK(contains(refused.err, "    " + line + "\n"));

        // Doing what it says makes the same replay pass, with ditto's golden results.
        auto text = test::read_text(profile);
        auto at = text.find("[upstream]\n");
        REQUIRE(at != std::string::npos);
        text.insert(at + 11, line + "\n");
        test::write_text(profile, text);
        auto trusted =
            home.run({"replay", "--via", echo, "--expect", golden("ditto"), fixture("checkout.har")});
        INFO(trusted.out, trusted.err);
        CHECK(trusted.exit_code == 0);
        CHECK_FALSE(contains(trusted.err, "does not trust"));
    }

    TEST_CASE("scripts/smoke-replay passes with the built binary") {
        auto r =
            test::run_program({"bash", (test::source_dir() / "scripts" / "smoke-replay").string(),
                               test::binary_path()});
        INFO(r.out, r.err);
        CHECK(r.exit_code == 0);
        CHECK(contains(r.out, "smoke-replay: ok"));
        CHECK(contains(r.out,
                       "replay: 3 requests, 3 ok, 0 failed")); // reflect: the HAR and crm-update
        CHECK(contains(r.out, "replay: 4 requests, 4 ok, 0 failed")); // ditto: all of them
    }
}
