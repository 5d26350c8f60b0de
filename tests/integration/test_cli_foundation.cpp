// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include "core/util/fs.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using test::run_vaultfwd;

TEST_SUITE("cli") {
    TEST_CASE("version, help and usage errors") {
        auto v = run_vaultfwd({"--version"});
        CHECK(v.exit_code == 0);
        CHECK(v.out.find("vaultfwd ") == 0);
        auto h = run_vaultfwd({"--help"});
        CHECK(h.exit_code == 0);
        CHECK(h.out.find("Examples:") != std::string::npos);
        auto none = run_vaultfwd({});
        CHECK(none.exit_code == 2);
        CHECK(none.err.find("vaultfwd: error: ") == 0);
        auto bad = run_vaultfwd({"--no-such-flag", "init"});
        CHECK(bad.exit_code == 2);
        CHECK(bad.err.find("vaultfwd: error: ") == 0);
        auto sub = run_vaultfwd({"init", "--help"});
        CHECK(sub.exit_code == 0);
        CHECK(sub.out.find("Examples:") != std::string::npos);
    }

    TEST_CASE("init twice changes nothing; --force regenerates") {
        test::TempDir home;
        auto first = run_vaultfwd({"--home", home.path().string(), "init"});
        REQUIRE_MESSAGE(first.exit_code == 0, first.err);
        CHECK(first.out.find("created") != std::string::npos);
        // The API key is never printed whole.
        auto profile = test::read_text(home / "default.toml");
        auto key_pos = profile.find("sk_test_");
        REQUIRE(key_pos != std::string::npos);
        auto key = profile.substr(key_pos, profile.find('"', key_pos) - key_pos);
        CHECK(first.out.find(key) == std::string::npos);
        auto ca = test::read_text(home.path() / "default" / "ca.pem");

        auto second = run_vaultfwd({"--home", home.path().string(), "init"});
        CHECK(second.exit_code == 0);
        CHECK(second.out.find("kept") != std::string::npos);
        CHECK(test::read_text(home / "default.toml") == profile);
        CHECK(test::read_text(home.path() / "default" / "ca.pem") == ca);

        auto forced = run_vaultfwd({"--home", home.path().string(), "init", "--force"});
        CHECK(forced.exit_code == 0);
        CHECK(test::read_text(home / "default.toml") != profile);
        CHECK(test::read_text(home.path() / "default" / "ca.pem") != ca);
    }

    TEST_CASE("files holding keys are 0600, folders 0700") {
        test::TempDir home;
        REQUIRE(run_vaultfwd({"--home", home.path().string(), "--profile", "ci", "init"}).exit_code == 0);
        CHECK(util::file_mode(home / "ci.toml") == 0600);
        CHECK(util::file_mode(home.path() / "ci" / "ca.key") == 0600);
        CHECK(util::file_mode(home.path() / "ci") == 0700);
    }

    TEST_CASE("VAULTFWD_HOME is honoured and --json output parses") {
        test::TempDir home;
        auto r = run_vaultfwd({"--json", "init"}, "", {{"VAULTFWD_HOME", home.path().string()}});
        REQUIRE(r.exit_code == 0);
        CHECK(r.out.find("\"created\": true") != std::string::npos);
        CHECK(std::filesystem::exists(home / "default.toml"));
    }

    TEST_CASE("config check points at the line of each error") {
        test::TempDir home;
        REQUIRE(run_vaultfwd({"--home", home.path().string(), "init"}).exit_code == 0);
        auto ok = run_vaultfwd({"--home", home.path().string(), "config", "check"});
        CHECK(ok.exit_code == 0);
        CHECK(ok.out.find(": ok") != std::string::npos);

        auto text = test::read_text(home / "default.toml");
        auto pos = text.find("[upstream]");
        REQUIRE(pos != std::string::npos);
        text.replace(pos, 10, "[upstrem]");
        test::write_text(home / "default.toml", text);
        int line = 1;
        for (std::size_t i = 0; i < pos; ++i)
            line += text[i] == '\n';
        auto bad = run_vaultfwd({"--home", home.path().string(), "config", "check"});
        CHECK(bad.exit_code == 1);
        CHECK(bad.err.find("default.toml:" + std::to_string(line) + ":2: unknown key \"upstrem\" "
                           "(did you mean \"upstream\"?)") != std::string::npos);

        test::write_text(home / "default.toml", "[vault\nkey = 1\n");
        auto syntax = run_vaultfwd({"--home", home.path().string(), "config", "check"});
        CHECK(syntax.exit_code == 1);
        CHECK(syntax.err.find("default.toml:1:") != std::string::npos);

        auto missing = run_vaultfwd({"--home", home.path().string(), "--profile", "nope", "config", "check"});
        CHECK(missing.exit_code == 1);
        CHECK(missing.err.find("vaultfwd init") != std::string::npos);
    }

    TEST_CASE("config check validates the example profile; config show masks secrets") {
        // Every setting of the example reads; what config check misses in it are the files it
        // names (the CA's pair, a certificate's pair, a pin), which serve would need.
        auto r = run_vaultfwd({"config", "check", "--file",
                               (test::source_dir() / "fixtures" / "profile.example.toml").string()});
        CHECK(r.exit_code == 1);
        std::size_t problems = 0, missing = 0;
        for (std::size_t at = r.err.find("vaultfwd: error: "); at != std::string::npos;
             at = r.err.find("vaultfwd: error: ", at + 1)) {
            ++problems;
            const auto line = r.err.substr(at, r.err.find('\n', at) - at);
            missing += line.find(" does not exist") != std::string::npos;
        }
        CHECK_MESSAGE(problems == 6, r.err); // 5 files, and the summary line
        CHECK(missing == 5);
        test::TempDir home;
        REQUIRE(run_vaultfwd({"--home", home.path().string(), "init"}).exit_code == 0);
        auto text = test::read_text(home / "default.toml");
        auto show = run_vaultfwd({"--home", home.path().string(), "--json", "config", "show"});
        REQUIRE(show.exit_code == 0);
        auto vk = text.find("key = \"");
        auto vault_key = text.substr(vk + 7, 64);
        CHECK(show.out.find(vault_key) == std::string::npos);
        CHECK(show.out.find("sk_test_****") != std::string::npos);
        auto pw = text.find("password = \"");
        CHECK(show.out.find(text.substr(pw + 12, 32)) == std::string::npos);
    }
}
