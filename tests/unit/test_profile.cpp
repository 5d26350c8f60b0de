// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include "core/profile/edit.hpp"
#include "core/profile/init.hpp"
#include "core/profile/profile.hpp"
#include "core/util/fs.hpp"
#include "support/support.hpp"

using namespace vaultfwd;

namespace {
const std::string k_key = std::string(64, 'a');

std::string minimal(const std::string& extra = {}) {
    return "[vault]\nkey = \"" + k_key + "\"\n" + extra;
}

Result<profile::Profile> parse(const std::string& text) {
    return profile::parse(text, "p.toml", "/home/x", "p");
}
} // namespace

TEST_SUITE("profile") {
    TEST_CASE("the example profile in fixtures is valid and complete") {
        auto text = test::read_text(test::source_dir() / "fixtures" / "profile.example.toml");
        REQUIRE_FALSE(text.empty());
        auto p = parse(text);
        REQUIRE_MESSAGE(p.ok(), p.error().describe("profile.example.toml"));
        CHECK(p->listen.api == "127.0.0.1:7410");
        CHECK(p->api_keys.size() == 2);
        CHECK(p->api_keys[1].reveal == std::vector<std::string>{"id.*", "custom.*"});
        CHECK(p->proxy_credentials.front().client_cert == "acquirer-mtls");
        REQUIRE(p->footprint_proxies.size() == 1);
        CHECK(p->footprint_proxies[0].headers.at("x-merchant") == "acme");
        REQUIRE(p->routes.size() == 2);
        CHECK(p->routes[0].filters.size() == 2);
        CHECK(p->routes[0].filters[1].phase == "response");
        CHECK(p->routes[0].direction == "outbound");
        CHECK(p->routes[1].direction == "inbound");
        CHECK(p->routes[1].upstream == "http://127.0.0.1:8080");
        CHECK(p->routes[1].filters[1].status == "2\\d\\d");
        CHECK(p->listen.inbound == "127.0.0.1:7412");
        CHECK(p->find_cert("acquirer-mtls") != nullptr);
        CHECK(p->find_pin("acquirer-root") != nullptr);
        CHECK(p->resolve("default/ca.pem") == std::filesystem::path("/home/x/default/ca.pem"));
    }

    TEST_CASE("a minimal profile takes the defaults") {
        auto p = parse(minimal());
        REQUIRE(p.ok());
        CHECK(p->listen.proxy == "127.0.0.1:7411");
        CHECK(p->listen.inbound == "127.0.0.1:7412");
        CHECK(p->limits.max_body_bytes == 5242880);
        CHECK(p->vault.alias_env == "sandbox");
        CHECK(p->vault_key().size() == 32);
        CHECK(p->access_log_path() == std::filesystem::path("/home/x/p/access.log"));
    }

    TEST_CASE("syntax errors give line and column") {
        auto p = parse(minimal("[listen]\napi = \n"));
        REQUIRE_FALSE(p.ok());
        CHECK(p.error().code == "profile.syntax");
        CHECK(p.error().line == 4);
        CHECK(p.error().column > 0);
    }

    TEST_CASE("unknown keys are named with a suggestion and a line") {
        auto p = parse(minimal("[upstrem]\nallow = []\n"));
        REQUIRE_FALSE(p.ok());
        CHECK(p.error().code == "profile.unknown_key");
        CHECK(p.error().line == 3);
        CHECK(p.error().message == "unknown key \"upstrem\" (did you mean \"upstream\"?)");
        auto nested = parse(minimal("[upstream]\nconect_timeout_ms = 5\n"));
        REQUIRE_FALSE(nested.ok());
        CHECK(nested.error().line == 4);
        CHECK(nested.error().message ==
              "unknown key \"upstream.conect_timeout_ms\" (did you mean "
              "\"upstream.connect_timeout_ms\"?)");
    }

    TEST_CASE("wrong types and bad values are named") {
        auto p = parse(minimal("[upstream]\ntimeout_ms = \"soon\"\n"));
        REQUIRE_FALSE(p.ok());
        CHECK(p.error().code == "profile.wrong_type");
        CHECK(p.error().message == "upstream.timeout_ms must be an integer");
        CHECK(p.error().line == 4);
        auto range = parse(minimal("[upstream]\ntimeout_ms = 0\n"));
        REQUIRE_FALSE(range.ok());
        CHECK(range.error().code == "profile.bad_value");
        auto arr = parse(minimal("[upstream]\nallow = \"x\"\n"));
        REQUIRE_FALSE(arr.ok());
        CHECK(arr.error().message == "upstream.allow must be an array of strings");
        auto key = parse("[vault]\nkey = \"abc\"\n");
        REQUIRE_FALSE(key.ok());
        CHECK(key.error().message.find("vault.key must be 64 hex characters") == 0);
        auto filter = parse(minimal("[[routes]]\nid = \"r\"\n[[routes.filters]]\nphase = "
                                    "\"later\"\ntargets = [\"$.a\"]\n"));
        REQUIRE_FALSE(filter.ok());
        CHECK(filter.error().message.find("routes.filters.phase must be one of request, response") == 0);
    }

    TEST_CASE("missing required keys and dangling references are errors") {
        auto p = parse(minimal("[[api_keys]]\nid = \"a\"\n"));
        REQUIRE_FALSE(p.ok());
        CHECK(p.error().message == "api_keys.key is required in this table");
        auto ref = parse(minimal("[[proxy_credentials]]\nid = \"c\"\nusername = \"u\"\npassword = "
                                 "\"p\"\nclient_cert = \"nope\"\n"));
        REQUIRE_FALSE(ref.ok());
        CHECK(ref.error().code == "profile.bad_reference");
        auto dup = parse(minimal("[[routes]]\nid = \"r\"\n[[routes]]\nid = \"r\"\n"));
        REQUIRE_FALSE(dup.ok());
        CHECK(dup.error().message == "route \"r\" is defined twice (first at line 4)");
        CHECK(parse("").error().code == "profile.missing_key");
    }

    TEST_CASE("validate lists every problem, earliest first") {
        auto errors = profile::validate(minimal("[listen]\napy = \"x\"\n[limits]\nthreads = \"x\"\n"),
                                        "p.toml");
        REQUIRE(errors.size() == 2);
        CHECK(errors[0].line == 4);
        CHECK(errors[1].line == 6);
    }

    TEST_CASE("a missing profile file is a clear error") {
        test::TempDir dir;
        auto p = profile::load(dir.path(), "nope");
        REQUIRE_FALSE(p.ok());
        CHECK(p.error().code == "profile.missing");
        CHECK(p.error().message.find("run 'vaultfwd init'") != std::string::npos);
        CHECK(profile::load(dir.path(), "../etc").error().code == "profile.bad_name");
    }

    TEST_CASE("init writes a loadable profile and keeps it unless forced") {
        test::TempDir dir;
        auto first = profile::init_profile(dir.path(), "default", profile::Overwrite::never);
        REQUIRE(first.ok());
        CHECK(first->created);
        auto p = profile::load(dir.path(), "default");
        REQUIRE_MESSAGE(p.ok(), p.error().message);
        CHECK(p->api_keys.front().key.rfind("sk_test_", 0) == 0);
        CHECK(util::file_mode(dir / "default.toml") == 0600);
        CHECK(util::file_mode(dir.path() / "default" / "ca.key") == 0600);
        auto before = test::read_text(dir / "default.toml");
        auto second = profile::init_profile(dir.path(), "default", profile::Overwrite::never);
        REQUIRE(second.ok());
        CHECK_FALSE(second->created);
        CHECK(test::read_text(dir / "default.toml") == before);
        auto forced = profile::init_profile(dir.path(), "default", profile::Overwrite::force);
        REQUIRE(forced.ok());
        CHECK(test::read_text(dir / "default.toml") != before);
    }

    TEST_CASE("init --force keeps the vault key when the vault holds data") {
        test::TempDir dir;
        REQUIRE(profile::init_profile(dir.path(), "default", profile::Overwrite::never).ok());
        auto key = profile::load(dir.path(), "default")->vault.key_hex;
        std::filesystem::create_directories(dir.path() / "default" / "vault");
        test::write_text(dir.path() / "default" / "vault" / "data", "x");
        REQUIRE(profile::init_profile(dir.path(), "default", profile::Overwrite::force).ok());
        CHECK(profile::load(dir.path(), "default")->vault.key_hex == key);
    }

    TEST_CASE("text edits keep comments and remove exactly what they added") {
        std::string text = minimal("# my hand-written note\n[upstream]\nallow = [\"a.example\"] # why\n");
        auto added = profile::append_entry_text(text, "pins", {{"name", "p1"}, {"cert", "x \"q\".pem"}});
        auto p = parse(added);
        REQUIRE(p.ok());
        CHECK(p->pins.at(0).cert == "x \"q\".pem");
        CHECK(added.find("# my hand-written note") != std::string::npos);
        auto twice = profile::append_entry_text(added, "pins", {{"name", "p2"}, {"cert", "y.pem"}});
        bool found = false;
        auto removed = profile::remove_entry_text(twice, "pins", "name", "p1", &found);
        REQUIRE(removed.ok());
        CHECK(found);
        auto left = parse(*removed);
        REQUIRE(left.ok());
        REQUIRE(left->pins.size() == 1);
        CHECK(left->pins[0].name == "p2");
        auto back = profile::remove_entry_text(*removed, "pins", "name", "p2", &found);
        CHECK(*back == text);
        CHECK(profile::remove_entry_text(text, "pins", "name", "zz", &found).ok());
        CHECK_FALSE(found);
    }

    TEST_CASE("file edits refuse to leave an invalid profile") {
        test::TempDir dir;
        REQUIRE(profile::init_profile(dir.path(), "default", profile::Overwrite::never).ok());
        auto file = dir / "default.toml";
        auto before = test::read_text(file);
        auto bad = profile::append_entry(file, "pins", {{"name", "p"}}); // no cert
        REQUIRE_FALSE(bad.ok());
        CHECK(bad.error().code == "profile.edit_invalid");
        CHECK(test::read_text(file) == before);
        REQUIRE(profile::append_entry(file, "pins", {{"name", "p"}, {"cert", "c.pem"}}).ok());
        CHECK(*profile::remove_entry(file, "pins", "name", "p"));
        CHECK(test::read_text(file) == before);
    }

    TEST_CASE("table edits append arrays and sub-tables, and remove them whole") {
        std::string text = minimal("# routes below\n");
        toml::table first_filter{{"phase", "request"},
                                 {"operation", "reveal"},
                                 {"transformer", "json_path"},
                                 {"targets", toml::array{"$.card.number", "$['it''s']"}}};
        toml::table second_filter{{"phase", "response"},
                                  {"operation", "redact"},
                                  {"transformer", "regex"},
                                  {"pattern", R"x(PAN=(?<token>\d{16})")x"},
                                  {"format", "FPE_SIX_T_FOUR"}};
        toml::table route{{"id", "acme"},
                          {"host", R"(api\.acme\.example)"},
                          {"methods", toml::array{"POST", "PUT"}},
                          {"filters", toml::array{first_filter, second_filter}}};
        auto added = profile::append_table_text(text, "routes", route);
        CHECK(added.rfind(text, 0) == 0);
        auto p = parse(added);
        REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.error().message));
        REQUIRE(p->routes.size() == 1);
        const auto& r = p->routes[0];
        CHECK(r.host == R"(api\.acme\.example)");
        CHECK(r.methods == std::vector<std::string>{"POST", "PUT"});
        REQUIRE(r.filters.size() == 2);
        CHECK(r.filters[0].targets == std::vector<std::string>{"$.card.number", "$['it''s']"});
        CHECK(r.filters[1].pattern == R"x(PAN=(?<token>\d{16})")x");
        CHECK(r.filters[1].format == "FPE_SIX_T_FOUR");

        // A second route after it; removing the first takes its [[routes.filters]] along.
        auto twice = profile::append_table_text(added, "routes", toml::table{{"id", "other"}});
        bool found = false;
        auto removed = profile::remove_entry_text(twice, "routes", "id", "acme", &found);
        REQUIRE(removed.ok());
        CHECK(found);
        auto left = parse(*removed);
        REQUIRE(left.ok());
        REQUIRE(left->routes.size() == 1);
        CHECK(left->routes[0].id == "other");
        CHECK(left->routes[0].filters.empty());
        CHECK(*profile::remove_entry_text(added, "routes", "id", "acme", &found) == text);

        // The file form writes several entries at once, or nothing when one is invalid.
        test::TempDir dir;
        auto file = dir / "p.toml";
        test::write_text(file, text);
        auto bad = profile::append_tables(file, "routes", {route, toml::table{{"host", "x"}}}); // no id
        REQUIRE_FALSE(bad.ok());
        CHECK(bad.error().code == "profile.edit_invalid");
        CHECK(test::read_text(file) == text);
        REQUIRE(profile::append_tables(file, "routes", {route, toml::table{{"id", "two"}}}).ok());
        auto both = profile::parse(test::read_text(file), file, dir.path(), "p");
        REQUIRE(both.ok());
        CHECK(both->routes.size() == 2);
    }
}
