// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/crypto/seal.hpp"
#include "core/util/strings.hpp"
#include "core/vault/store.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string k_key_hex(64, 'b');

// A home with a minimal profile and a vault filled through the store itself, so these tests
// depend on render and decrypt only.
struct Home {
    test::TempDir dir;
    Home() {
        test::write_text(dir / "default.toml", "[vault]\nkey = \"" + k_key_hex + "\"\n");
        auto store = vault::Store::open(dir / "default" / "vault", *util::from_hex(k_key_hex));
        REQUIRE_MESSAGE(store.ok(), store.error().message);
        auto& s = **store;
        REQUIRE(s.put("fp_id_test_abc", {{"id.first_name", "Jane"},
                                         {"id.last_name", "Doè"},
                                         {"id.dob", "1988-12-30"},
                                         {"id.ssn9", "123456789"},
                                         {"custom.ach_account", "12-1212-1212"},
                                         {"card.primary.name", "Jane Doè"}})
                    .ok());
        REQUIRE(s.put("pm_visa", {{"card.number", "4111111111111111"},
                                  {"card.exp_month", "02"},
                                  {"card.exp_year", "2028"}})
                    .ok());
        REQUIRE(s.put("vtex_d799bae", {{"number", "5555444433331111"},
                                       {"holder", "JOHN DOE"},
                                       {"csc", "123"}})
                    .ok());
    }
    test::RunResult run(std::vector<std::string> args, const std::string& input = {}) const {
        args.insert(args.begin(), {"--home", dir.path().string()});
        return test::run_vaultfwd(args, input);
    }
};

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    for (auto& l : util::split(text, '\n'))
        if (!l.empty())
            out.push_back(l);
    return out;
}

} // namespace

TEST_SUITE("cli_render") {
    TEST_CASE("render prints the seed's reflect sentence from stdin, byte for byte") {
        Home home;
        const std::string body =
            "The name on my credit card is {{ card.primary.name | to_ascii | to_uppercase }}. I was "
            "born on a {{ id.dob | date_format(\"%Y-%m-%d\", \"%A in %B of %y\") }}.";
        auto r = home.run({"render", "--fp-id", "fp_id_test_abc"}, body);
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        CHECK(r.out == "The name on my credit card is JANE DOE. I was born on a Friday in December of 88.");
    }

    TEST_CASE("render reads a file and keeps every byte around the tokens") {
        Home home;
        auto file = home.dir / "req.json";
        test::write_text(file, "{\n  \"ach\": \"{{ fp_id_test_abc.custom.ach_account | replace(\"-\", \"\") }}\",\n"
                               "  \"last\": \"{{ fp_id_test_abc.id.last_name | to_ascii | to_uppercase }}\"\n}\n");
        auto r = home.run({"render", file.string()});
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        CHECK(r.out == "{\n  \"ach\": \"1212121212\",\n  \"last\": \"DOE\"\n}\n");
    }

    TEST_CASE("render fails closed and lists every bad token with file, line and column") {
        Home home;
        auto file = home.dir / "bad.json";
        test::write_text(file, "{\n"
                               "  \"a\": \"{{ fp_id_test_abc.id.middle_name }}\",\n"
                               "  \"ok\": \"{{ fp_id_test_abc.id.first_name }}\",\n"
                               "  \"b\": \"{{ fp_id_test_abc.id.first_name | shout }}\", \"c\": \"{{}}\"\n"
                               "}\n");
        auto r = home.run({"render", file.string()});
        CHECK(r.exit_code == 1);
        CHECK(r.out.empty());
        CHECK(r.out.find("Jane") == std::string::npos);
        auto err = lines(r.err);
        REQUIRE(err.size() >= 3);
        const std::string f = file.string();
        CHECK(err[0] == "vaultfwd: error: " + f +
                            ":2:9: {{ fp_id_test_abc.id.middle_name }}: record \"fp_id_test_abc\" has no field "
                            "\"id.middle_name\"");
        CHECK(err[1].rfind("vaultfwd: error: " + f + ":4:9: {{ fp_id_test_abc.id.first_name | shout }}: unknown "
                           "filter \"shout\"; the filters are to_lowercase, ", 0) == 0);
        CHECK(err[2] == "vaultfwd: error: " + f + ":4:60: {{}}: the token is empty: write {{ <fp_id>.<data identifier> }}");
    }

    TEST_CASE("render --json lists problems for scripts and exits 1") {
        Home home;
        auto r = home.run({"--json", "render", "--fp-id", "fp_id_test_abc"},
                          "{{ id.nope }}\n{{ id.email }} {{ id.ssn9 | hmac_sha256(\"zz\") }}");
        CHECK(r.exit_code == 1);
        auto j = json::parse(r.out);
        CHECK(j["ok"] == false);
        CHECK(j["problem_count"] == 3);
        REQUIRE(j["problems"].size() == 3);
        CHECK(j["problems"][0]["line"] == 1);
        // With a global fp_id, text that is not a data identifier is read as "<fp_id>.<di>", and
        // "id" is no fp_id: Footprint's message, and for people what is valid instead.
        CHECK(j["problems"][0]["message"] == "Missing or invalid fp_id in proxy token.");
        CHECK(j["problems"][0]["detail"].get<std::string>().rfind(
                  "{{ id.nope }}: \"id.nope\" is not a data identifier: the id. kinds are id.first_name, ", 0) == 0);
        CHECK(j["problems"][1]["code"] == "template.unknown");
        CHECK(j["problems"][2]["column"] == 16);
        CHECK(j["problems"][2]["message"] == "Invalid filter function: argument 'key' must be hex-encoded");
        CHECK(r.out.find("123456789") == std::string::npos);
    }

    TEST_CASE("render --check validates without printing any value") {
        Home home;
        auto ok = home.run({"render", "--check", "--fp-id", "fp_id_test_abc"},
                           "{{ id.ssn9 }} {{ id.first_name | to_uppercase }}");
        REQUIRE_MESSAGE(ok.exit_code == 0, ok.err);
        CHECK(ok.out.find("2") != std::string::npos);
        CHECK(ok.out.find("123456789") == std::string::npos);
        CHECK(ok.out.find("JANE") == std::string::npos);
        auto bad = home.run({"render", "--check", "--fp-id", "fp_id_test_abc"}, "{{ id.email }}");
        CHECK(bad.exit_code == 1);
        CHECK(bad.err.find("<stdin>:1:1: {{ id.email }}: record \"fp_id_test_abc\" has no field \"id.email\"") !=
              std::string::npos);
    }

    TEST_CASE("render messages name the token as written, the filter, what is valid; never a value") {
        Home home;
        const std::string body = "{{ id.nickname }}\n"
                                 "{{ id.first_name | shout }} {{ id.first_name | to_upercase }}\n"
                                 "{{ id.frist_name }} {{ card.primary.numbr }} {{ bank.x }}\n"
                                 "{{ id.ssn9 | hmac_sha256(\"not-hex-s3cret\") }} {{ id.dob | date_format(\"%d/%m\", \"%Y\") }}\n"
                                 "{{ fp_id_test_other.id.first_name }} {{ custom.ach_account | prefix(x) }}\n";
        for (bool check : {true, false}) {
            std::vector<std::string> args = {"render", "--fp-id", "fp_id_test_abc"};
            if (check)
                args.push_back("--check");
            auto r = home.run(args, body);
            CAPTURE(r.err);
            CHECK(r.exit_code == 1);
            CHECK(r.out.empty());
            auto err = lines(r.err);
            REQUIRE(err.size() == 11);
            CHECK(err[0].rfind("vaultfwd: error: <stdin>:1:1: {{ id.nickname }}: \"id.nickname\" is not a data "
                               "identifier: the id. kinds are id.first_name, id.middle_name, ", 0) == 0);
            CHECK(err[1].rfind("vaultfwd: error: <stdin>:2:1: {{ id.first_name | shout }}: unknown filter \"shout\"; "
                               "the filters are to_lowercase, to_uppercase, to_ascii, prefix(n)", 0) == 0);
            CHECK(err[2].find("{{ id.first_name | to_upercase }}: unknown filter \"to_upercase\" (did you mean "
                              "to_uppercase?)") != std::string::npos);
            CHECK(err[3].find("{{ id.frist_name }}: \"id.frist_name\" is not a data identifier") != std::string::npos);
            CHECK(err[3].find("(did you mean id.first_name?)") != std::string::npos);
            CHECK(err[4].find("{{ card.primary.numbr }}: \"card.primary.numbr\" is not a data identifier: write "
                              "card.<alias>.<kind>") != std::string::npos);
            CHECK(err[5].find("{{ bank.x }}: \"bank.x\" is not a data identifier: it starts with id., custom., card.") !=
                  std::string::npos);
            CHECK(err[6].find("<stdin>:4:1: {{ id.ssn9 | hmac_sha256(\"<scrubbed>\") }}: filter \"hmac_sha256\": "
                              "argument 'key' must be hex-encoded") != std::string::npos);
            CHECK(err[7].find("{{ id.dob | date_format(\"%d/%m\", \"%Y\") }}: filter \"date_format\" failed: "
                              "invalid date or date format") != std::string::npos);
            CHECK(err[8].find("{{ fp_id_test_other.id.first_name }}: the token names fp_id \"fp_id_test_other\" while "
                              "the global fp_id (--fp-id, x-fp-id) is \"fp_id_test_abc\"") != std::string::npos);
            CHECK(err[9].find("{{ custom.ach_account | prefix(x) }}: filter \"prefix\": argument could not parse "
                              "as Integer") != std::string::npos);
            CHECK(err[10] == "vaultfwd: error: 10 problem(s) in <stdin>; nothing was rendered");
            // No value from the vault, nor the hmac key written in the template.
            for (const char* value : {"Jane", "1988", "12-30", "123456789", "1212", "not-hex-s3cret"})
                CHECK_MESSAGE(r.err.find(value) == std::string::npos, value);
        }
        // Without --fp-id the token says what it lacks.
        auto no_id = home.run({"render", "--check"}, "{{ custom.ach_account }}");
        CHECK(no_id.err.find("{{ custom.ach_account }}: no fp_id: write {{ <fp_id>.custom.ach_account }} or give "
                             "the fp_id once with --fp-id (x-fp-id)") != std::string::npos);
        auto nobody = home.run({"render", "--check"}, "{{ fp_id_test_nobody.id.first_name }}");
        CHECK(nobody.err.find("{{ fp_id_test_nobody.id.first_name }}: no record \"fp_id_test_nobody\" in the vault") !=
              std::string::npos);
    }

    TEST_CASE("render speaks Gr4vy and VTEX, detecting the dialect by default") {
        Home home;
        auto g = home.run({"render", "--payment-methods", "pm_visa"},
                          "<card><n>{{ CARD_NUMBER_1 }}</n><e>{{ CARD_EXPIRATION_DATE_1 }}</e></card>");
        REQUIRE_MESSAGE(g.exit_code == 0, g.err);
        CHECK(g.out == "<card><n>4111111111111111</n><e>02/28</e></card>");
        auto out_of_range = home.run({"render", "--dialect", "gr4vy", "--payment-methods", "pm_visa"},
                                     "{{ CARD_NUMBER_2 }}");
        CHECK(out_of_range.exit_code == 1);
        auto v = home.run({"render", "--dialect", "vtex", "--vtex-payment", "d799bae"},
                          "{\"CardNumber\":\"#vtex#token#d799bae#number#\",\"Csc\":\"#vtex#csc#d799bae#\"}");
        REQUIRE_MESSAGE(v.exit_code == 0, v.err);
        CHECK(v.out == "{\"CardNumber\":\"5555444433331111\",\"Csc\":\"123\"}");
        auto mixed = home.run({"render"}, "{{ fp_id_test_abc.id.first_name }} #vtex#csc#d799bae#");
        CHECK(mixed.exit_code == 1);
        CHECK(mixed.err.find("--dialect") != std::string::npos);
    }

    TEST_CASE("render refuses bad options with exit code 2") {
        Home home;
        CHECK(home.run({"render", "--dialect", "vgs"}, "x").exit_code == 2);
        CHECK(home.run({"render", "--fp-id", "not an id"}, "x").exit_code == 2);
        CHECK(home.run({"render", "--payment-methods", "pm_a,pm_a"}, "x").exit_code == 2);
    }

    TEST_CASE("decrypt opens what the encrypt filter produced, for both algorithms") {
        Home home;
        for (auto alg : {crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, crypto::SealAlgorithm::rsa_pkcs1v15}) {
            CAPTURE(crypto::seal_algorithm_name(alg));
            auto pair = crypto::make_test_key_pair(alg);
            auto key = home.dir / "partner.pem";
            test::write_text(key, pair.private_key_pem);
            const std::string body = "{{ id.ssn9 | encrypt('" + std::string(crypto::seal_algorithm_name(alg)) +
                                     "', '" + util::to_hex(pair.public_key_der) + "') }}";
            auto rendered = home.run({"render", "--fp-id", "fp_id_test_abc"}, body);
            REQUIRE_MESSAGE(rendered.exit_code == 0, rendered.err);
            auto opened = home.run({"decrypt", "--key", key.string(), rendered.out});
            REQUIRE_MESSAGE(opened.exit_code == 0, opened.err);
            CHECK(opened.out == "123456789");
            auto piped = home.run({"--json", "decrypt", "--key", key.string()}, rendered.out + "\n");
            REQUIRE_MESSAGE(piped.exit_code == 0, piped.err);
            CHECK(json::parse(piped.out)["plaintext"] == "123456789");
        }
    }

    TEST_CASE("decrypt reports a wrong key and unreadable input") {
        Home home;
        auto pair = crypto::make_test_key_pair(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm);
        auto other = crypto::make_test_key_pair(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm);
        auto key = home.dir / "other.pem";
        test::write_text(key, other.private_key_pem);
        auto box = util::to_hex(*crypto::seal(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm,
                                              pair.public_key_der, "secret"));
        auto wrong = home.run({"decrypt", "--key", key.string(), box});
        CHECK(wrong.exit_code == 1);
        CHECK(wrong.err.find("vaultfwd: error: ") == 0);
        CHECK(wrong.out.empty());
        auto junk = home.run({"decrypt", "--key", key.string(), "!!!"});
        CHECK(junk.exit_code == 2);
        auto rsa_alg = home.run({"decrypt", "--key", key.string(), "--algorithm", "rsa_pkcs1v15", box});
        CHECK(rsa_alg.exit_code == 1);
    }

    TEST_CASE("render and decrypt --help show examples") {
        for (const char* cmd : {"render", "decrypt"}) {
            auto r = test::run_vaultfwd({cmd, "--help"});
            CHECK(r.exit_code == 0);
            CHECK(r.out.find("Examples:") != std::string::npos);
            CHECK(r.out.find(std::string("vaultfwd ") + cmd) != std::string::npos);
        }
    }
}
