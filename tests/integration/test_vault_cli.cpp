// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <filesystem>
#include <set>
#include <sys/stat.h>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/util/strings.hpp"
#include "core/vault/store.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string k_key_hex(64, 'a');

// A home with a minimal profile: only the vault table is required.
struct Home {
    test::TempDir dir;
    explicit Home(const std::string& extra = "") {
        test::write_text(dir / "default.toml", "[vault]\nkey = \"" + k_key_hex + "\"\n" + extra);
    }
    test::RunResult run(std::vector<std::string> args, const std::string& input = {}) const {
        args.insert(args.begin(), {"--home", dir.path().string()});
        return test::run_vaultfwd(args, input);
    }
    fs::path vault_dir() const { return dir.path() / "default" / "vault"; }
};

std::string all_bytes_under(const fs::path& dir) {
    std::string out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file())
            out += test::read_text(e.path());
    return out;
}

// Every scalar of a JSON document, as text (strings as they are, numbers as written by dump()).
void leaves(const json& j, std::vector<std::string>& out) {
    if (j.is_object() || j.is_array()) {
        for (const auto& v : j)
            leaves(v, out);
    } else {
        out.push_back(j.is_string() ? j.get<std::string>() : j.dump());
    }
}

ino_t inode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_ino;
}

const std::vector<std::string> k_card_fields = {"number", "cvc", "exp_month", "exp_year", "exp"};
const std::string k_card_rules = "[[rule]]\npath = \"$..number\"\nformat = \"FPE_SIX_T_FOUR\"\n"
                                 "[[rule]]\npath = \"$..cvc\"\nformat = \"NUM_LENGTH_PRESERVING\"\n"
                                 "[[rule]]\npath = \"$..exp_month\"\nformat = \"NUM_LENGTH_PRESERVING\"\n"
                                 "[[rule]]\npath = \"$..exp_year\"\nformat = \"NUM_LENGTH_PRESERVING\"\n"
                                 "[[rule]]\npath = \"$..exp\"\nformat = \"NUM_LENGTH_PRESERVING\"\n";

json card_fixture(const std::string& id, const std::vector<std::string>& values) {
    json card = json::object();
    for (std::size_t i = 0; i < k_card_fields.size(); ++i)
        card[k_card_fields[i]] = values[i];
    return {{"id", id}, {"payment_method", {{"card", card}}}};
}

} // namespace

TEST_SUITE("vault") {
    TEST_CASE("vault put, get, list and rm from the command line") {
        Home home;
        auto put = home.run({"vault", "put", "fp_id_test_abc", "id.first_name=Jane",
                             "id.last_name=Doe", "custom.note=a=b"});
        REQUIRE_MESSAGE(put.exit_code == 0, put.err);
        CHECK(put.out.find("fp_id_test_abc") != std::string::npos);
        CHECK(put.out.find("Jane") == std::string::npos);

        auto field = home.run({"vault", "get", "fp_id_test_abc.id.first_name"});
        CHECK(field.exit_code == 0);
        CHECK(field.out == "Jane\n");
        CHECK(home.run({"vault", "get", "fp_id_test_abc.custom.note"}).out == "a=b\n");

        auto whole = home.run({"--json", "vault", "get", "fp_id_test_abc"});
        REQUIRE(whole.exit_code == 0);
        auto j = json::parse(whole.out);
        CHECK(j["id"] == "fp_id_test_abc");
        CHECK(j["fields"]["id.last_name"] == "Doe");

        // Ids may hold dots: the whole argument is tried first, then each split.
        REQUIRE(home.run({"vault", "put", "pm.1", "card.number=4111111111111111"}).exit_code == 0);
        CHECK(home.run({"vault", "get", "pm.1.card.number"}).out == "4111111111111111\n");

        auto list = home.run({"vault", "list"});
        CHECK(list.exit_code == 0);
        CHECK(list.out.find("fp_id_test_abc  custom.note, id.first_name, id.last_name") !=
              std::string::npos);
        CHECK(list.out.find("pm.1  card.number") != std::string::npos);
        auto jlist = home.run({"--json", "vault", "list"});
        CHECK(json::parse(jlist.out)["records"].size() == 2);
        for (const auto& out : {list.out, list.err, jlist.out}) {
            CHECK(out.find("Jane") == std::string::npos);
            CHECK(out.find("4111111111111111") == std::string::npos);
        }

        auto missing = home.run({"vault", "get", "fp_id_test_abc.id.dob"});
        CHECK(missing.exit_code == 1);
        CHECK(missing.err.find("vaultfwd: error: record fp_id_test_abc has no field id.dob") !=
              std::string::npos);
        CHECK(missing.err.find("Jane") == std::string::npos);
        CHECK(home.run({"vault", "get", "nobody"}).exit_code == 1);

        CHECK(home.run({"vault", "rm", "pm.1"}).exit_code == 0);
        CHECK(home.run({"vault", "get", "pm.1.card.number"}).exit_code == 1);
        auto rm_again = home.run({"vault", "rm", "pm.1"});
        CHECK(rm_again.exit_code == 1);
        CHECK(rm_again.err.find("no record or alias pm.1") != std::string::npos);
        CHECK(home.run({"vault", "put", "x"}).exit_code == 2);
        CHECK(home.run({"vault", "put", "x", "novalue"}).exit_code == 2);
    }

    TEST_CASE("vault put --stdin keeps values off the command line") {
        Home home;
        auto put = home.run({"vault", "put", "fp_id_x", "--stdin"},
                            "custom.ssn=123-45-6789\r\n\nid.first_name=Zoë\n");
        REQUIRE_MESSAGE(put.exit_code == 0, put.err);
        CHECK(home.run({"vault", "get", "fp_id_x.custom.ssn"}).out == "123-45-6789\n");
        CHECK(home.run({"vault", "get", "fp_id_x.id.first_name"}).out == "Zoë\n");
    }

    TEST_CASE("vault alias and reveal") {
        Home home("alias_env = \"live\"\n");
        auto a = home.run({"vault", "alias", "4111111111111111", "--format", "FPE_SIX_T_FOUR"});
        REQUIRE_MESSAGE(a.exit_code == 0, a.err);
        REQUIRE(a.out.size() == 17);
        std::string alias = a.out.substr(0, 16);
        CHECK(alias.substr(0, 6) == "411111");
        CHECK(alias.substr(12) == "1111");
        CHECK(alias != "4111111111111111");
        // Same value and format: same alias, also through stdin and in JSON.
        CHECK(home.run({"vault", "alias", "-", "-f", "fpe_six_t_four"}, "4111111111111111\n").out ==
              a.out);
        auto j = json::parse(
            home.run({"--json", "vault", "alias", "4111111111111111", "--format", "FPE_SIX_T_FOUR"})
                .out);
        CHECK(j["alias"] == alias);
        CHECK(j["format"] == "FPE_SIX_T_FOUR");

        auto r = home.run({"vault", "reveal", alias});
        CHECK(r.exit_code == 0);
        CHECK(r.out == "4111111111111111\n");

        auto uuid = home.run({"vault", "alias", "Jane Doe"});
        CHECK(uuid.out.rfind("tok_live_", 0) == 0);
        // A value that does not fit falls back, and says so.
        auto fb = home.run({"vault", "alias", "not-a-card", "--format", "FPE_SIX_T_FOUR"});
        CHECK(fb.exit_code == 0);
        CHECK(fb.out.rfind("tok_live_", 0) == 0);
        CHECK(fb.err.find("UUID") != std::string::npos);

        auto list = home.run({"vault", "list", "--aliases"});
        CHECK(list.out.find(alias + "  FPE_SIX_T_FOUR") != std::string::npos);
        CHECK(list.out.find("Jane Doe") == std::string::npos);

        auto unknown = home.run({"vault", "reveal", "tok_live_nope"});
        CHECK(unknown.exit_code == 1);
        CHECK(unknown.err.find("vaultfwd: error: no alias tok_live_nope") != std::string::npos);
        auto bad = home.run({"vault", "alias", "x", "--format", "FPE_SIX_T_FOR"});
        CHECK(bad.exit_code == 2);
        CHECK(bad.err.find("did you mean FPE_SIX_T_FOUR?") != std::string::npos);

        CHECK(home.run({"vault", "rm", alias}).exit_code == 0);
        CHECK(home.run({"vault", "reveal", alias}).exit_code == 1);
    }

    TEST_CASE("a running store sees what the CLI writes, and the CLI what it writes") {
        Home home;
        REQUIRE(home.run({"vault", "list"}).exit_code == 0); // creates the vault
        auto store = vault::Store::open(home.vault_dir(), std::string(32, '\xaa'));
        REQUIRE_MESSAGE(store.ok(), store.error().message);
        REQUIRE(home.run({"vault", "put", "pm_9", "card.number=5555555555554444"}).exit_code == 0);
        CHECK((*store)->field("pm_9", "card.number") == "5555555555554444");
        auto alias = (*store)->alias("Jane", vault::AliasFormat::uuid);
        REQUIRE(alias.ok());
        CHECK(home.run({"vault", "reveal", *alias}).out == "Jane\n");
        REQUIRE(home.run({"vault", "compact"}).exit_code == 0);
        REQUIRE(home.run({"vault", "put", "pm_10", "card.number=4000056655665556"}).exit_code == 0);
        CHECK((*store)->field("pm_10", "card.number") == "4000056655665556");
        CHECK((*store)->field("pm_9", "card.number") == "5555555555554444");
    }

    TEST_CASE("the vault files never hold a value in clear, and a wrong key is named") {
        Home home;
        const std::vector<std::string> values = {"4111111111111111", "Jane Q. Public",
                                                 "123-45-6789", "737"};
        for (std::size_t i = 0; i < values.size(); ++i) {
            REQUIRE(
                home.run({"vault", "put", "r" + std::to_string(i), "v=" + values[i]}).exit_code ==
                0);
            REQUIRE(home.run({"vault", "alias", values[i], "--format", "NUM_LENGTH_PRESERVING"})
                        .exit_code == 0);
        }
        REQUIRE(home.run({"vault", "compact"}).exit_code == 0);
        const std::string bytes = all_bytes_under(home.dir.path() / "default");
        for (const auto& v : values)
            CHECK_MESSAGE(bytes.find(v) == std::string::npos, v);

        test::write_text(home.dir / "default.toml",
                         "[vault]\nkey = \"" + std::string(64, 'b') + "\"\n");
        auto wrong = home.run({"vault", "list"});
        CHECK(wrong.exit_code == 1);
        CHECK(wrong.err.find("vault key does not open") != std::string::npos);
    }

    TEST_CASE("vault help shows examples, and a missing profile says what to do") {
        Home home;
        auto help = home.run({"vault", "alias", "--help"});
        CHECK(help.exit_code == 0);
        CHECK(help.out.find("Examples:") != std::string::npos);
        CHECK(help.out.find("--format") != std::string::npos);
        auto none = home.run({"--profile", "nope", "vault", "list"});
        CHECK(none.exit_code == 1);
        CHECK(none.err.find("vaultfwd init") != std::string::npos);
    }

    TEST_CASE("tokenize a folder of fixtures with a rules file: golden output, then idempotent") {
        Home home;
        const auto src = test::source_dir() / "fixtures" / "tokenize";
        const auto out = home.dir / "out";
        auto r = home.run({"tokenize", (src / "input").string(), "--rules",
                           (src / "rules.toml").string(), "-o", out.string()});
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        CHECK(r.err.find("tokenized 18 value(s) in 3 fixture(s)") != std::string::npos);
        // The vault key is fixed, so the aliases are too: compare with the reviewed output.
        for (const auto* name : {"payment.json", "vtex_payment.json", "customers/customers.json"}) {
            CAPTURE(name);
            CHECK(test::read_text(out / name) == test::read_text(src / "expected" / name));
        }
        // The originals are in the vault behind the aliases.
        auto doc = json::parse(test::read_text(out / "payment.json"));
        const std::string number = doc["payment_method"]["card"]["number"];
        CHECK(home.run({"vault", "reveal", number}).out == "4111111111111111\n");
        auto vtex = json::parse(test::read_text(out / "vtex_payment.json"));
        CHECK(
            home.run({"vault", "reveal", std::to_string(vtex["card"]["security_code"].get<int>())})
                .out == "4321\n");

        // Again over its own output, in place: nothing changes.
        auto again = home.run({"--json", "tokenize", out.string(), "--rules",
                               (src / "rules.toml").string(), "--in-place"});
        REQUIRE_MESSAGE(again.exit_code == 0, again.err);
        auto summary = json::parse(again.out);
        CHECK(summary["tokenized"] == 0);
        CHECK(summary["already"] == 18);
        for (const auto* name : {"payment.json", "vtex_payment.json", "customers/customers.json"})
            CHECK(test::read_text(out / name) == test::read_text(src / "expected" / name));
        // No value of the inputs is in the vault files.
        const std::string bytes = all_bytes_under(home.dir.path() / "default");
        for (const auto* v : {"4111111111111111", "Jane Doe", "john.doe@example.com", "Müller"})
            CHECK(bytes.find(v) == std::string::npos);
    }

    TEST_CASE("tokenize from stdin and flags, to stdout or a file, and its errors") {
        Home home;
        const std::string input = "{\"card\": {\"number\": \"4111111111111111\", \"cvv\": 737}}\n";
        auto r = home.run({"tokenize", "-", "--rule", "$.card.number=FPE_T_FOUR", "-r",
                           "$..cvv=NUM_LENGTH_PRESERVING"},
                          input);
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        auto doc = json::parse(r.out);
        CHECK(doc["card"]["number"].get<std::string>().substr(12) == "1111");
        CHECK(doc["card"]["cvv"].is_number());
        // A rule after the fixture name, and -o FILE.
        test::write_text(home.dir / "in.json", input);
        auto f = home.run({"tokenize", (home.dir / "in.json").string(), "-r",
                           "$.card.number=FPE_T_FOUR", "-o", (home.dir / "o.json").string()});
        REQUIRE_MESSAGE(f.exit_code == 0, f.err);
        CHECK(json::parse(test::read_text(home.dir / "o.json"))["card"]["number"] ==
              doc["card"]["number"]);
        CHECK(f.err.find("wrote 1 file(s)") != std::string::npos);

        auto progress = home.run({"tokenize", (home.dir / "in.json").string(), "-r", "$..number",
                                  "-o", (home.dir / "p.json").string(), "--progress", "always"});
        CHECK(progress.err.find("tokenizing [##############################] 1/1 files") !=
              std::string::npos);
        auto none = home.run({"tokenize", (home.dir / "in.json").string(), "-r", "$.nothing"});
        CHECK(none.exit_code == 0);
        CHECK(none.err.find("warning: rule $.nothing selected nothing") != std::string::npos);

        auto bad_rule = home.run({"tokenize", "-", "-r", "$.card.number=FPE_T_FOR"}, input);
        CHECK(bad_rule.exit_code == 2);
        CHECK(bad_rule.err.find("did you mean FPE_T_FOUR?") != std::string::npos);
        auto bad_path = home.run({"tokenize", "-", "-r", "$.card["}, input);
        CHECK(bad_path.exit_code == 2);
        CHECK(bad_path.err.find("column") != std::string::npos);
        CHECK(home.run({"tokenize", "-"}, input).exit_code == 2);
        test::write_text(home.dir / "bad.json",
                         "{\n  \"card\": \"4111111111111111\",\n  oops\n}\n");
        auto bad_json = home.run({"tokenize", (home.dir / "bad.json").string(), "-r", "$.card"});
        CHECK(bad_json.exit_code == 1);
        CHECK(bad_json.err.find("bad.json:3:3: invalid JSON") != std::string::npos);
        CHECK(bad_json.err.find("4111") == std::string::npos);
        auto several = home.run({"tokenize", (home.dir / "in.json").string(),
                                 (home.dir / "o.json").string(), "-r", "$..number"});
        CHECK(several.exit_code == 2);
        CHECK(several.err.find("-o DIR") != std::string::npos);
        test::write_text(home.dir / "rules.toml", "[[rule]]\npath = \"$.a\"\nformt = \"UUID\"\n");
        auto bad_file =
            home.run({"tokenize", "-", "--rules", (home.dir / "rules.toml").string()}, input);
        CHECK(bad_file.exit_code == 1);
        CHECK(
            bad_file.err.find("rules.toml:3:1: unknown key \"formt\" (did you mean \"format\"?)") !=
            std::string::npos);
    }

    TEST_CASE("tokenize vaults real values that equal existing aliases, in every format, and is "
              "byte-for-byte repeatable") {
        Home home;
        test::write_text(home.dir / "rules.toml", k_card_rules);
        const std::string rules = (home.dir / "rules.toml").string();
        // Seed the vault: eight ordinary cards (every CVC 123 in half of them, as fixtures do).
        const std::vector<std::vector<std::string>> seeds = {
            {"4111111111111111", "314", "12", "2029", "1229"},
            {"5555555555554444", "123", "01", "2030", "0130"},
            {"4242424242424242", "123", "07", "2031", "0731"},
            {"378282246310005", "9876", "11", "2027", "1127"},
            {"6011111111111117", "555", "03", "2028", "0328"},
            {"4000056655665556", "123", "09", "2026", "0926"},
            {"5105105105105100", "631", "05", "2033", "0533"},
            {"4012888888881881", "123", "10", "2035", "1035"},
        };
        fs::create_directories(home.dir / "seeds");
        fs::create_directories(home.dir / "in");
        for (std::size_t i = 0; i < seeds.size(); ++i)
            test::write_text(home.dir / "seeds" / ("s" + std::to_string(i) + ".json"),
                             card_fixture("seed-" + std::to_string(i), seeds[i]).dump(2) + "\n");
        auto seeded = home.run({"tokenize", (home.dir / "seeds").string(), "--rules", rules, "-o",
                                (home.dir / "seeded").string()});
        REQUIRE_MESSAGE(seeded.exit_code == 0, seeded.err);

        // Fixtures whose REAL values are exactly those aliases: 16-digit numbers, CVCs, expiry
        // months (UUIDs: VGS keeps NUM_LENGTH_PRESERVING for 3+ digits), years and MMYY.
        std::vector<std::vector<std::string>> sources;
        for (std::size_t i = 0; i < seeds.size(); ++i) {
            auto doc =
                json::parse(test::read_text(home.dir / "seeded" / ("s" + std::to_string(i) + ".json")));
            std::vector<std::string> values;
            for (const auto& f : k_card_fields)
                values.push_back(doc["payment_method"]["card"][f].get<std::string>());
            CHECK(values != seeds[i]);
            sources.push_back(values);
            test::write_text(home.dir / "in" / ("c" + std::to_string(i) + ".json"),
                             card_fixture("c-" + std::to_string(i), values).dump(2) + "\n");
        }
        // The exact case of the report: a real CVC equal to the alias of another card's CVC.
        CHECK(sources[0][1].size() == 3);

        auto store = vault::Store::open(home.vault_dir(), std::string(32, '\xaa'));
        REQUIRE(store.ok());
        // Every output: no leaf is one of its fixture's source values, and each selected value
        // is an alias of the value that was at its place. (Across fixtures a short alias can
        // equal another card's real value, as any format-preserving alias can: that is an
        // alias, not a value left in clear, and the reveal check below tells them apart.)
        auto scan = [&](const fs::path& dir) {
            for (std::size_t i = 0; i < sources.size(); ++i) {
                const auto file = dir / ("c" + std::to_string(i) + ".json");
                CAPTURE(file);
                auto doc = json::parse(test::read_text(file));
                std::vector<std::string> all;
                leaves(doc, all);
                const std::set<std::string> own(sources[i].begin(), sources[i].end());
                for (const auto& leaf : all)
                    CHECK_MESSAGE(own.count(leaf) == 0, "a source value left in clear");
                for (std::size_t f = 0; f < k_card_fields.size(); ++f) {
                    const auto out = doc["payment_method"]["card"][k_card_fields[f]].get<std::string>();
                    CHECK(out != sources[i][f]);
                    CHECK((*store)->reveal(out) == sources[i][f]);
                }
            }
        };

        const auto out1 = home.dir / "out1", out2 = home.dir / "out2";
        auto first = home.run({"--json", "tokenize", (home.dir / "in").string(), "--rules", rules,
                               "-o", out1.string()});
        REQUIRE_MESSAGE(first.exit_code == 0, first.err);
        auto s1 = json::parse(first.out);
        CHECK(s1["tokenized"] == sources.size() * k_card_fields.size());
        CHECK(s1["already"] == 0);
        scan(out1);

        // Second run over the same inputs and vault: byte-identical outputs.
        auto second = home.run({"tokenize", (home.dir / "in").string(), "--rules", rules, "-o",
                                out2.string()});
        REQUIRE_MESSAGE(second.exit_code == 0, second.err);
        scan(out2);
        for (std::size_t i = 0; i < sources.size(); ++i) {
            const std::string name = "c" + std::to_string(i) + ".json";
            CHECK(test::read_text(out1 / name) == test::read_text(out2 / name));
        }

        // A run over its own output, in place: recognised from the ledger, nothing rewritten
        // (same inode, so not even replaced by an identical copy).
        const ino_t before = inode_of(out1 / "c0.json");
        const std::string bytes_before = test::read_text(out1 / "c0.json");
        auto again = home.run({"--json", "tokenize", out1.string(), "--rules", rules, "--in-place"});
        REQUIRE_MESSAGE(again.exit_code == 0, again.err);
        auto s3 = json::parse(again.out);
        CHECK(s3["tokenized"] == 0);
        CHECK(s3["already"] == sources.size() * k_card_fields.size());
        CHECK(s3["written"] == 0);
        CHECK(s3["unchanged"] == sources.size());
        CHECK(inode_of(out1 / "c0.json") == before);
        CHECK(test::read_text(out1 / "c0.json") == bytes_before);
        scan(out1);

        // Bytes prove nothing: a fixture byte for byte equal to an output, under a name
        // tokenize never wrote (or on stdin), is a real fixture: vaulted again, never kept.
        fs::copy_file(out1 / "c1.json", home.dir / "copy.json");
        auto copy = home.run({"--json", "tokenize", (home.dir / "copy.json").string(), "--rules",
                              rules, "--in-place"});
        REQUIRE_MESSAGE(copy.exit_code == 0, copy.err);
        CHECK(json::parse(copy.out)["tokenized"] == k_card_fields.size());
        auto piped = home.run({"tokenize", "-", "--rules", rules}, test::read_text(out1 / "c1.json"));
        REQUIRE_MESSAGE(piped.exit_code == 0, piped.err);
        CHECK(piped.out == test::read_text(home.dir / "copy.json"));
        CHECK(piped.out != test::read_text(out1 / "c1.json"));

        // Undecidable: in a recorded output, the alias at a location replaced by another alias
        // of the vault. Refused with the file, line, column and JSONPath; nothing written.
        auto doc = json::parse(test::read_text(out1 / "c3.json"));
        doc["payment_method"]["card"]["cvc"] = sources[5][1]; // an alias, but not this one
        test::write_text(out1 / "c3.json", doc.dump(2) + "\n");
        const std::string tampered = test::read_text(out1 / "c3.json");
        auto refused = home.run({"tokenize", (out1 / "c3.json").string(), "--rules", rules,
                                 "--in-place"});
        CHECK(refused.exit_code == 1);
        CHECK(refused.err.find((out1 / "c3.json").string() + ":5:14: $['payment_method']['card']"
                               "['cvc']: this value replaced the alias tokenize wrote here") !=
              std::string::npos);
        CHECK(test::read_text(out1 / "c3.json") == tampered);

        // A ledger edited by hand is damage, not trusted.
        const auto ledger = home.vault_dir() / "tokenize.ledger";
        std::string text = test::read_text(ledger);
        REQUIRE(text.find("\"files\":{") != std::string::npos);
        text.insert(text.find("\"files\":{") + 9, "\"/x.json\":{},");
        test::write_text(ledger, text);
        auto damaged = home.run({"tokenize", (out1 / "c1.json").string(), "--rules", rules});
        CHECK(damaged.exit_code == 1);
        CHECK(damaged.err.find("tokenize.ledger is damaged") != std::string::npos);
    }
}
