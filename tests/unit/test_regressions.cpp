// SPDX-License-Identifier: Apache-2.0
// Minimal reproducers of what the fuzz targets in fuzz/ found (scripts/fuzz), one TEST_CASE per
// finding, named after the target that found it.
#include <doctest/doctest.h>

#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "core/dialect/footprint.hpp"
#include "core/dialect/vtex.hpp"
#include "core/profile/init.hpp"
#include "core/replay/recording.hpp"
#include "core/template/footprint.hpp"
#include "core/upstream/url.hpp"
#include "core/util/json_text.hpp"
#include "core/util/strings.hpp"
#include "support/support.hpp"
#include "support/upstream_server.hpp"

using namespace vaultfwd;
using namespace std::string_literals;
using nlohmann::json;

namespace {

// Runs `fn` in a forked child, on a thread with the default stack (as a server worker runs),
// so a reproducer that crashes the process fails its test instead of killing the test run.
// Returns fn's result, or 128 + the signal that ended the child.
int in_child(const std::function<int()>& fn) {
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        int rc = 3;
        std::thread worker([&] {
            try {
                rc = fn();
            } catch (const std::exception& e) {
                std::fprintf(stderr, "child threw: %s\n", e.what());
                rc = 2;
            }
        });
        worker.join();
        std::fflush(nullptr);
        ::_exit(rc);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A profile, vault and upstream client in `home`, as `serve` has them.
struct Served {
    profile::Profile profile;
    std::unique_ptr<vault::Store> store;
    upstream::Client client;
    std::unique_ptr<dialect::Services> services;

    Served(const std::filesystem::path& home, const std::string& root_pem) {
        if (!profile::init_profile(home, "default", profile::Overwrite::never).ok())
            throw std::runtime_error("init failed");
        test::write_text(home / "root.pem", root_pem);
        auto text = test::read_text(home / "default.toml");
        text = util::replace_all(text, "timeout_ms = 15000", "timeout_ms = 3000\nca_files = [\"root.pem\"]");
        test::write_text(home / "default.toml", text);
        profile = std::move(*profile::load(home, "default"));
        store = std::move(*vault::Store::open(profile.vault_dir(), profile.vault_key()));
        services = std::make_unique<dialect::Services>(dialect::Services{profile, *store, client});
    }
};

std::string nested_array(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

} // namespace

TEST_SUITE("regressions") {
    TEST_CASE("fuzz url: a host made only of dots is an empty host") {
        // "." lost its trailing dot and became "", which parse_url promises to refuse.
        for (const char* text : {"https://./", "https://.:51615/", "http://.?x"}) {
            auto url = upstream::parse_url(text);
            CHECK_MESSAGE(!url.ok(), text);
            if (!url.ok())
                CHECK(url.error().code == "upstream.bad_url");
            else
                CHECK_FALSE(url->host.empty());
        }
    }

    TEST_CASE("fuzz url: a host with an empty label does not print back to another host") {
        // "a.." lost one trailing dot and kept the other: to_string() gave "https://a.:51615/",
        // which parses to host "a". Empty labels ("a..", "..b", "a..b") are not DNS names.
        for (const char* text : {"https://a..:51615/", "https://localhost../", "https://a..b/", "https://.a/"}) {
            auto url = upstream::parse_url(text);
            if (!url.ok()) {
                CHECK(url.error().code == "upstream.bad_url");
                continue;
            }
            auto again = upstream::parse_url(url->to_string());
            REQUIRE_MESSAGE(again.ok(), text);
            CHECK_MESSAGE(again->host == url->host, text);
            CHECK_MESSAGE(url->host.find("..") == std::string::npos, text);
            CHECK_MESSAGE(url->host.front() != '.', text);
            CHECK_MESSAGE(url->host.back() != '.', text);
        }
    }

    TEST_CASE("fuzz har: a number too large for a double is invalid JSON, not an uncaught throw") {
        // nlohmann reports "55e445" as out_of_range.406, not parse_error, so `catch (parse_error)`
        // let it through and `vaultfwd replay` / `vaultfwd tokenize` died in std::terminate.
        // Its message also quoted the number.
        for (const std::string& text : {"55e445"s, "{\"log\": {\"entries\": [1e999]}}"s,
                                        "[\n  1,\n  -9e400\n]"s}) {
            Result<std::vector<replay::Recording>> har = make_error("unset", "");
            CHECK_NOTHROW(har = replay::parse_har(text, "x.har"));
            REQUIRE_FALSE(har.ok());
            CHECK(har.error().code == "replay.bad_json");
            CHECK(har.error().message.find("number overflow") != std::string::npos);
            CHECK(har.error().message.find("e4") == std::string::npos);
            CHECK(har.error().message.find("e9") == std::string::npos);
        }
        auto at = util::parse_json("[\n  1,\n  -9e400\n]", "x.bad_json");
        REQUIRE_FALSE(at.ok());
        CHECK(at.error().line == 3);
        CHECK(at.error().column == 8);
        // Syntax errors keep their reason and position, without the "last read" excerpt.
        auto syntax = util::parse_json("{\"a\": \"4111111111111111\",\n \"b\": 4111x}", "x.bad_json");
        REQUIRE_FALSE(syntax.ok());
        CHECK(syntax.error().line == 2);
        CHECK(syntax.error().message.rfind("invalid JSON: syntax error", 0) == 0);
        CHECK(syntax.error().message.find("4111") == std::string::npos);
        auto fine = util::parse_json(" {\"a\": [1, 2.5, \"x\"]} ", "x.bad_json");
        REQUIRE(fine.ok());
        CHECK((*fine)["a"][1].get<double>() == 2.5);
    }

    TEST_CASE("fuzz footprint: a truncated UTF-8 sequence in an ingress rule header does not throw") {
        // 0xC9 alone decoded as U+0009 (white space) of length 2, so trimming ran past the end
        // and string_view::substr threw std::out_of_range; the header reaches the splitter
        // before any UTF-8 check, so the API answered 500.
        for (const std::string& value : {"\xc9"s, "\xa9 "s, "a = $.b, \xc9"s, "\xe0\x80"s}) {
            std::vector<std::string> pieces;
            CHECK_NOTHROW(pieces = tmpl::split_ingress_rule_header(value));
            for (const auto& piece : pieces) {
                Result<tmpl::IngressRule> rule = make_error("unset", "");
                CHECK_NOTHROW(rule = tmpl::parse_ingress_rule(piece));
                CHECK_FALSE(rule.ok());
            }
            Result<tmpl::IngressRule> direct = make_error("unset", "");
            CHECK_NOTHROW(direct = tmpl::parse_ingress_rule(value));
            CHECK_FALSE(direct.ok());
        }
    }

    TEST_CASE("catalogue: a VTEX custom token nested 100000 deep does not crash the server") {
        // core/dialect/vtex.cpp handle_tokens stores t["value"].dump(): nlohmann's serializer
        // recurses once per level and overflows a worker's 8 MB stack (SIGSEGV kills serve).
        test::TempDir home;
        int rc = in_child([&] {
            Served s(home.path(), "");
            dialect::vtex::Card card{"5555444433331111", "JOHN DOE", "123", "02", "2028"};
            auto payment = dialect::vtex::create_payment(*s.store, s.profile.vault_key(), card);
            auto urls = json::parse(dialect::vtex::create_payment_body(*payment, card, "http://x"));
            std::string tokens_url = urls["secureProxyTokensURL"];
            http::Request r;
            r.method = "POST";
            r.path = tokens_url.substr(tokens_url.find("/payment-provider"), tokens_url.find('?') - tokens_url.find("/payment-provider"));
            r.query = tokens_url.substr(tokens_url.find('?') + 1);
            r.headers = {{"Content-Type", "application/json"}};
            r.body = R"({"tokens":[{"name":"deep","value":)" + nested_array(100000) + "}]}";
            server::AccessEntry entry;
            auto res = server::complete(dialect::vtex::handle(r, *s.services, entry), s.services->client);
            std::fprintf(stderr, "vtex tokens answered %d\n", res.status);
            return res.status == 400 ? 0 : 1;
        });
        CHECK_MESSAGE(rc == 0, "child ended with " << rc << " (139 = SIGSEGV)");
    }

    TEST_CASE("catalogue: an upstream answering JSON nested 100000 deep does not crash ingress") {
        // core/dialect/footprint.cpp apply_ingress re-serialises the upstream document with
        // doc.dump(): the same unbounded recursion, reached by any upstream's answer.
        test::TempDir home;
        auto pki = test::make_pki();
        int rc = in_child([&] {
            test::UpstreamServer up(pki, {}, [](const http::Request&) {
                http::Response res;
                res.headers = {{"Content-Type", "application/json"}};
                res.body = R"({"ref":"x","deep":)" + nested_array(100000) + "}";
                return res;
            });
            Served s(home.path(), pki.ca_pem());
            if (!s.store->put("fp_id_test_jane", {{"id.first_name", "Jane"}}).ok())
                return 4;
            http::Request r;
            r.method = "POST";
            r.path = "/vault_proxy/jit";
            r.headers = {{"x-fp-proxy-target-url", up.url("/")},
                         {"x-fp-proxy-ingress-content-type", "json"},
                         {"x-fp-proxy-ingress-rule", "fp_id_test_jane.custom.ref = $.ref"}};
            r.body = "{}";
            server::AccessEntry entry;
            auto res = server::complete(dialect::footprint::handle("jit", r, {&s.profile.api_keys.front()}, *s.services, entry),
                                        s.services->client);
            std::fprintf(stderr, "jit answered %d\n", res.status);
            return res.status == 502 ? 0 : 1;
        });
        CHECK_MESSAGE(rc == 0, "child ended with " << rc << " (139 = SIGSEGV)");
    }
}
