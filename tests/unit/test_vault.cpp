// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/crypto/aead.hpp"
#include "core/template/render.hpp"
#include "core/util/fs.hpp"
#include "core/vault/store.hpp"
#include "core/vault/tokenize.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using vault::AliasFormat;
using vault::Store;
namespace fs = std::filesystem;

namespace {

const std::string k_key(32, '\x11');
const std::string k_wrong_key(32, '\x12');

std::unique_ptr<Store> open_ok(const fs::path& dir, const std::string& key = k_key,
                               vault::Options opts = {}) {
    auto s = Store::open(dir, key, std::move(opts));
    if (!s)
        FAIL(s.error().code << ": " << s.error().message);
    return std::move(*s);
}

std::string file_bytes(const fs::path& p) {
    return test::read_text(p);
}

void overwrite(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << bytes;
}

// Byte offset of the n-th record (0-based) of a vault log, from its frames.
std::size_t record_offset(const std::string& log, int n) {
    std::size_t pos = 64;
    for (int i = 0; i < n; ++i) {
        std::uint32_t len = 0;
        for (int b = 0; b < 4; ++b)
            len = (len << 8) | static_cast<unsigned char>(log[pos + static_cast<std::size_t>(b)]);
        pos += 8 + len;
    }
    return pos;
}

// Runs `body` in a forked child that exits with its return value.
pid_t fork_child(const std::function<int()>& body) {
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid == 0)
        ::_exit(body());
    return pid;
}

int wait_child(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

} // namespace

TEST_SUITE("crypto") {
    TEST_CASE("aes-256-gcm seals and opens with the same key and aad") {
        const std::string key(32, 'k');
        auto sealed = crypto::aead_seal(key, "4111111111111111", "record 7");
        REQUIRE(sealed.ok());
        CHECK(sealed->size() == 16 + crypto::k_aead_overhead);
        CHECK(sealed->find("4111111111111111") == std::string::npos);
        auto opened = crypto::aead_open(key, *sealed, "record 7");
        REQUIRE(opened.ok());
        CHECK(*opened == "4111111111111111");
        // A fresh nonce each time: the same plaintext seals differently.
        CHECK(*crypto::aead_seal(key, "4111111111111111", "record 7") != *sealed);
        // Empty plaintext still carries an authenticated tag.
        auto empty = crypto::aead_seal(key, "", "");
        REQUIRE(empty.ok());
        CHECK(crypto::aead_open(key, *empty).ok());
        CHECK(crypto::aead_open(key, *empty)->empty());
    }

    TEST_CASE("aes-256-gcm refuses a wrong key, a wrong aad, a changed byte and a short blob") {
        const std::string key(32, 'k');
        auto sealed = *crypto::aead_seal(key, "secret value", "aad");
        auto wrong = crypto::aead_open(std::string(32, 'j'), sealed, "aad");
        REQUIRE_FALSE(wrong.ok());
        CHECK(wrong.error().code == "crypto.auth_failed");
        CHECK(wrong.error().message.find("secret") == std::string::npos);
        CHECK(crypto::aead_open(key, sealed, "aae").error().code == "crypto.auth_failed");
        for (std::size_t i = 0; i < sealed.size(); ++i) {
            std::string t = sealed;
            t[i] = static_cast<char>(t[i] ^ 0x01);
            CHECK(crypto::aead_open(key, t, "aad").error().code == "crypto.auth_failed");
        }
        CHECK(crypto::aead_open(key, sealed.substr(0, sealed.size() - 1), "aad").error().code ==
              "crypto.auth_failed");
        CHECK(crypto::aead_open(key, sealed.substr(0, 27), "aad").error().code ==
              "crypto.truncated");
        CHECK(crypto::aead_seal("short", "x").error().code == "crypto.bad_key");
        CHECK(crypto::aead_open("short", sealed).error().code == "crypto.bad_key");
    }
}

TEST_SUITE("vault") {
    TEST_CASE("records: put, get, field, list, remove, and they survive a reopen") {
        test::TempDir tmp;
        {
            auto s = open_ok(tmp.path());
            REQUIRE(s->put("fp_id_test_abc", {{"id.first_name", "Jane"}, {"id.last_name", "Doè"}})
                        .ok());
            REQUIRE(s->put("pm_1", {{"card.number", "4111111111111111"},
                                    {"card.exp_month", "12"},
                                    {"card.exp_year", "2030"}})
                        .ok());
            // A later put sets its fields and keeps the others.
            REQUIRE(
                s->put("fp_id_test_abc", {{"id.first_name", "John"}, {"custom.ssn", "123-45-6789"}})
                    .ok());
            CHECK(s->field("fp_id_test_abc", "id.first_name") == "John");
            CHECK(s->field("fp_id_test_abc", "id.last_name") == "Doè");
            CHECK_FALSE(s->field("fp_id_test_abc", "id.dob").has_value());
            CHECK_FALSE(s->field("nobody", "id.first_name").has_value());
            CHECK(s->has_record("pm_1"));
            CHECK_FALSE(s->has_record("pm_2"));
        }
        auto s = open_ok(tmp.path());
        CHECK(s->warnings().empty());
        auto rec = s->get("fp_id_test_abc");
        REQUIRE(rec.has_value());
        CHECK(rec->size() == 3);
        CHECK(rec->at("custom.ssn") == "123-45-6789");
        auto list = s->list();
        REQUIRE(list.size() == 2);
        CHECK(list[0].id == "fp_id_test_abc");
        CHECK(list[0].fields ==
              std::vector<std::string>{"custom.ssn", "id.first_name", "id.last_name"});
        CHECK(list[1].id == "pm_1");
        REQUIRE(s->remove("pm_1").ok());
        CHECK_FALSE(s->has_record("pm_1"));
        CHECK(s->remove("pm_1").error().code == "vault.not_found");
        auto again = open_ok(tmp.path());
        CHECK_FALSE(again->has_record("pm_1"));
        CHECK(again->record_count() == 1);
        // Reading through the RecordSource interface, as templates do.
        const vault::RecordSource& src = *again;
        CHECK(src.field("fp_id_test_abc", "id.first_name") == "John");
    }

    TEST_CASE("a put that changes nothing does not grow the log") {
        test::TempDir tmp;
        auto s = open_ok(tmp.path());
        REQUIRE(s->put("r", {{"a", "0"}, {"b", "1"}}).ok());
        const auto size = fs::file_size(tmp.path() / "vault.log");
        REQUIRE(s->put("r", {{"a", "0"}}).ok());
        REQUIRE(s->put("r", {}).ok());
        CHECK(fs::file_size(tmp.path() / "vault.log") == size);
        // Within one batch, earlier puts count: a=1 then a=0 again must end at 0.
        REQUIRE(s->put_many({{"r", {{"a", "1"}}}, {"r", {{"a", "0"}}}}).ok());
        CHECK(fs::file_size(tmp.path() / "vault.log") > size);
        CHECK(s->field("r", "a") == "0");
        CHECK(open_ok(tmp.path())->field("r", "a") == "0");
        // An empty record is still a record.
        REQUIRE(s->put("empty", {}).ok());
        CHECK(s->has_record("empty"));
    }

    TEST_CASE("bad ids and field names are refused") {
        test::TempDir tmp;
        auto s = open_ok(tmp.path());
        CHECK(s->put("", {{"a", "b"}}).error().code == "vault.bad_id");
        CHECK(s->put("a\nb", {{"a", "b"}}).error().code == "vault.bad_id");
        CHECK(s->put("ok", {{"", "b"}}).error().code == "vault.bad_field");
        CHECK(s->put("ok", {{"a\x01", "b"}}).error().code == "vault.bad_field");
        CHECK(s->record_count() == 0);
        CHECK(Store::open(tmp.path(), "short").error().code == "vault.bad_key");
        vault::Options bad_env;
        bad_env.alias_env = "Not Valid";
        CHECK(Store::open(tmp.path(), k_key, bad_env).error().code == "vault.bad_env");
    }

    TEST_CASE("aliases: the same value and format give the same alias, also after a rebuild") {
        test::TempDir tmp;
        std::string a6, au, araw;
        {
            auto s = open_ok(tmp.path());
            a6 = *s->alias("4111111111111111", AliasFormat::fpe_six_t_four);
            au = *s->alias("4111111111111111", AliasFormat::uuid);
            araw = *s->alias("Jane Doe", AliasFormat::raw_uuid);
            CHECK(a6.substr(0, 6) == "411111");
            CHECK(a6 != "4111111111111111");
            CHECK(au.rfind("tok_sandbox_", 0) == 0);
            CHECK(*s->alias("4111111111111111", AliasFormat::fpe_six_t_four) == a6);
            CHECK(s->reveal(a6) == "4111111111111111");
            CHECK(s->reveal(au) == "4111111111111111");
            CHECK(s->reveal(araw) == "Jane Doe");
            CHECK_FALSE(s->reveal("tok_sandbox_unknown").has_value());
            CHECK(s->alias_count() == 3);
            auto info = s->alias_info(a6);
            REQUIRE(info.has_value());
            CHECK(info->format == AliasFormat::fpe_six_t_four);
            // A fallback is recorded as such.
            auto fb = *s->alias("not a card", AliasFormat::fpe_six_t_four);
            CHECK(fb.rfind("tok_sandbox_", 0) == 0);
            CHECK(s->alias_info(fb)->requested == AliasFormat::fpe_six_t_four);
            CHECK(s->alias_info(fb)->format == AliasFormat::uuid);
        }
        {
            auto s = open_ok(tmp.path());
            CHECK(*s->alias("4111111111111111", AliasFormat::fpe_six_t_four) == a6);
            CHECK(s->alias_count() == 4);
            CHECK(s->reveal(araw) == "Jane Doe");
        }
        // A new vault with the same key derives the same aliases.
        fs::remove_all(tmp.path() / "v2");
        auto fresh = open_ok(tmp.path() / "v2");
        CHECK(*fresh->alias("4111111111111111", AliasFormat::fpe_six_t_four) == a6);
        CHECK(*fresh->alias("Jane Doe", AliasFormat::raw_uuid) == araw);
        // Another key does not.
        auto other = open_ok(tmp.path() / "v3", k_wrong_key);
        CHECK(*other->alias("4111111111111111", AliasFormat::fpe_six_t_four) != a6);
        // The env is configurable.
        vault::Options live;
        live.alias_env = "live";
        auto lv = open_ok(tmp.path() / "v4", k_key, live);
        CHECK(lv->alias("x", AliasFormat::uuid)->rfind("tok_live_", 0) == 0);
    }

    TEST_CASE("alias collisions derive again: 500 three-digit values get 500 distinct aliases") {
        test::TempDir tmp;
        auto s = open_ok(tmp.path());
        std::vector<vault::AliasRequest> reqs;
        for (int i = 0; i < 500; ++i) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "%03d", i * 2);
            reqs.push_back({buf, AliasFormat::num_length_preserving});
        }
        // Half in one batch, half one by one: both paths check collisions.
        std::vector<vault::AliasRequest> first(reqs.begin(), reqs.begin() + 250);
        auto batch = s->alias_many(first);
        REQUIRE(batch.ok());
        std::vector<std::string> aliases = *batch;
        for (std::size_t i = 250; i < reqs.size(); ++i)
            aliases.push_back(*s->alias(reqs[i].value, reqs[i].format));
        std::set<std::string> distinct(aliases.begin(), aliases.end());
        CHECK(distinct.size() == 500);
        for (std::size_t i = 0; i < reqs.size(); ++i) {
            CHECK(aliases[i].size() == 3);
            for (std::size_t d = 0; d < 3; ++d)
                CHECK(aliases[i][d] != reqs[i].value[d]);
            CHECK(s->reveal(aliases[i]) == reqs[i].value);
        }
        // The same again is idempotent, through the batch API too.
        CHECK(*s->alias_many(reqs) == aliases);
        CHECK(s->alias_count() == 500);
        // A value repeated within one batch gets one alias.
        auto dup = *s->alias_many({{"5555", AliasFormat::uuid}, {"5555", AliasFormat::uuid}});
        CHECK(dup[0] == dup[1]);
    }

    TEST_CASE("removing an alias") {
        test::TempDir tmp;
        auto s = open_ok(tmp.path());
        auto a = *s->alias("123-45-6789", AliasFormat::uuid);
        REQUIRE(s->remove_alias(a).ok());
        CHECK_FALSE(s->reveal(a).has_value());
        CHECK(s->remove_alias(a).error().code == "vault.not_found");
        auto reopened = open_ok(tmp.path());
        CHECK_FALSE(reopened->reveal(a).has_value());
        // Vaulting the value again gives the same alias back (it is derived, not stored).
        CHECK(*reopened->alias("123-45-6789", AliasFormat::uuid) == a);
    }

    TEST_CASE("a wrong key is reported as such, not as garbage") {
        test::TempDir tmp;
        REQUIRE(open_ok(tmp.path())->put("r", {{"f", "v"}}).ok());
        auto bad = Store::open(tmp.path(), k_wrong_key);
        REQUIRE_FALSE(bad.ok());
        CHECK(bad.error().code == "vault.wrong_key");
        CHECK(open_ok(tmp.path())->field("r", "f") == "v");
    }

    TEST_CASE("files are private: folder 0700, files 0600") {
        test::TempDir tmp;
        auto dir = tmp.path() / "vault";
        REQUIRE(open_ok(dir)->put("r", {{"f", "v"}}).ok());
        CHECK(util::file_mode(dir) == 0700);
        CHECK(util::file_mode(dir / "vault.log") == 0600);
        CHECK(util::file_mode(dir / "vault.lock") == 0600);
    }

    TEST_CASE("a changed byte anywhere in a record is reported with its offset and record") {
        test::TempDir tmp;
        {
            auto s = open_ok(tmp.path());
            for (int i = 0; i < 5; ++i)
                REQUIRE(
                    s->put("rec" + std::to_string(i), {{"card.number", "4111111111111111"}}).ok());
        }
        const auto log = tmp.path() / "vault.log";
        const std::string good = file_bytes(log);
        const std::size_t third = record_offset(good, 2), fourth = record_offset(good, 3);
        // Every byte of the third record except its length frame (checked separately below).
        for (std::size_t at = third + 8; at < fourth; ++at) {
            std::string bad = good;
            bad[at] = static_cast<char>(bad[at] ^ 0x20);
            overwrite(log, bad);
            auto s = Store::open(tmp.path(), k_key);
            CAPTURE(at);
            REQUIRE_FALSE(s.ok());
            CHECK(s.error().code == "vault.corrupt");
            CHECK(s.error().message.find("byte " + std::to_string(third)) != std::string::npos);
            CHECK(s.error().message.find("record 3") != std::string::npos);
            CHECK(s.error().message.find("4111") == std::string::npos);
        }
        // A damaged length field is damage, not a short write.
        std::string bad = good;
        bad[third + 1] = static_cast<char>(bad[third + 1] ^ 0x01);
        overwrite(log, bad);
        CHECK(Store::open(tmp.path(), k_key).error().code == "vault.corrupt");
        // A record copied to another place fails: records are bound to their offset.
        overwrite(log, good + good.substr(third, fourth - third));
        auto moved = Store::open(tmp.path(), k_key);
        REQUIRE_FALSE(moved.ok());
        CHECK(moved.error().message.find("record 6") != std::string::npos);
        // Two records swapped fail too.
        const std::size_t second = record_offset(good, 1);
        overwrite(log, good.substr(0, second) + good.substr(third, fourth - third) +
                           good.substr(second, third - second) + good.substr(fourth));
        CHECK(Store::open(tmp.path(), k_key).error().code == "vault.corrupt");
        // A damaged header is not mistaken for a wrong key... unless the check value is hit.
        overwrite(log, "NOTAVAULT" + good.substr(9));
        CHECK(Store::open(tmp.path(), k_key).error().code == "vault.corrupt");
        overwrite(log, good.substr(0, 30));
        CHECK(Store::open(tmp.path(), k_key).error().code == "vault.corrupt");
        overwrite(log, good);
        CHECK(open_ok(tmp.path())->record_count() == 5);
    }

    TEST_CASE("a record damaged after open is reported, with its position, when first read") {
        test::TempDir tmp;
        std::string alias;
        {
            auto s = open_ok(tmp.path());
            for (int i = 0; i < 5; ++i)
                REQUIRE(s->put("fp_id_test_r" + std::to_string(i),
                               {{"card.number", "411111111111111" + std::to_string(i)},
                                {"id.first_name", "Jane"}})
                            .ok());
            alias = *s->alias("5555555555554444", AliasFormat::uuid);
        }
        const auto log = tmp.path() / "vault.log";
        const std::string good = file_bytes(log);
        const std::size_t third = record_offset(good, 2), fourth = record_offset(good, 3);
        const std::size_t sixth = record_offset(good, 5);
        // Open checks every record and keeps only the index; values are read on first use.
        auto s = open_ok(tmp.path());
        CHECK(s->read_field("fp_id_test_r0", "card.number")->value() == "4111111111111110");
        CHECK(s->read_field("fp_id_test_r3", "card.number")->value() == "4111111111111113");
        // Now the third record (one of its sealed bytes) and the alias record change on disk.
        std::string bad = good;
        bad[fourth - 3] = static_cast<char>(bad[fourth - 3] ^ 0x01);
        bad[good.size() - 20] = static_cast<char>(bad[good.size() - 20] ^ 0x01);
        overwrite(log, bad);
        auto damaged = s->read_field("fp_id_test_r2", "card.number");
        REQUIRE_FALSE(damaged.ok());
        CHECK(damaged.error().code == "vault.corrupt");
        CHECK(damaged.error().message.find("byte " + std::to_string(third)) != std::string::npos);
        CHECK(damaged.error().message.find("record 3") != std::string::npos);
        CHECK(damaged.error().message.find("4111") == std::string::npos);
        CHECK(s->read("fp_id_test_r2").error().code == "vault.corrupt");
        CHECK_THROWS_AS((void)s->field("fp_id_test_r2", "id.first_name"), vault::DamagedVault);
        auto bad_alias = s->read_alias(alias);
        REQUIRE_FALSE(bad_alias.ok());
        CHECK(bad_alias.error().message.find("byte " + std::to_string(sixth)) != std::string::npos);
        CHECK(bad_alias.error().message.find("record 6") != std::string::npos);
        CHECK_THROWS_AS((void)s->reveal(alias), vault::DamagedVault);
        // A put over a damaged field cannot tell whether it changes anything: refused too.
        CHECK(s->put("fp_id_test_r2", {{"id.first_name", "Jane"}}).error().code == "vault.corrupt");
        // Records read before the damage, and undamaged ones, are still served.
        CHECK(s->field("fp_id_test_r3", "card.number") == "4111111111111113");
        CHECK(s->field("fp_id_test_r4", "card.number") == "4111111111111114");
        // Templates report it as undecryptable, naming the position, never the value.
        tmpl::RenderRequest req;
        req.body = R"({"n":"{{ fp_id_test_r2.id.first_name }}",)"
                   R"("m":"{{ fp_id_test_r4.id.first_name }}"})";
        req.source = s.get();
        auto out = tmpl::render(req);
        CHECK_FALSE(out.ok);
        REQUIRE(out.problems.size() == 1);
        CHECK(out.problems[0].code == "template.undecryptable");
        CHECK(out.problems[0].message.find("record 3") != std::string::npos);
        CHECK(out.body.empty());
        // Opened again, the vault refuses as before.
        auto reopened = Store::open(tmp.path(), k_key);
        REQUIRE_FALSE(reopened.ok());
        CHECK(reopened.error().message.find("byte " + std::to_string(third)) != std::string::npos);
    }

    TEST_CASE("read_fields reads many fields at once: in order, another store's writes seen, a "
              "damaged record failing only its own queries") {
        test::TempDir tmp;
        auto a = open_ok(tmp.path());
        REQUIRE(a->put_many({{"fp_id_test_a", {{"id.first_name", "Ann"}, {"id.last_name", "Lee"}}},
                             {"fp_id_test_b", {{"id.first_name", "Bo"}}},
                             {"fp_id_test_c", {{"id.first_name", "Cy"}}}})
                    .ok());
        auto b = open_ok(tmp.path());
        using Q = vault::RecordSource::FieldQuery;
        auto values = b->read_fields({Q{"fp_id_test_b", "id.first_name"},
                                      Q{"fp_id_test_a", "id.last_name"},
                                      Q{"fp_id_test_a", "id.nickname"}, Q{"fp_id_test_z", "id.first_name"},
                                      Q{"fp_id_test_a", "id.first_name"}});
        REQUIRE(values.size() == 5);
        CHECK(values[0]->value() == "Bo");
        CHECK(values[1]->value() == "Lee");
        CHECK_FALSE(values[2]->has_value());
        CHECK_FALSE(values[3]->has_value());
        CHECK(values[4]->value() == "Ann");
        // The other store's write is read by the next call.
        REQUIRE(a->put("fp_id_test_b", {{"id.first_name", "Bea"}}).ok());
        REQUIRE(a->put("fp_id_test_z", {{"id.first_name", "Zed"}}).ok());
        values = b->read_fields({Q{"fp_id_test_b", "id.first_name"}, Q{"fp_id_test_z", "id.first_name"}});
        CHECK(values[0]->value() == "Bea");
        CHECK(values[1]->value() == "Zed");
        // A record damaged on disk after open (fp_id_test_c's, the third, never read yet) fails
        // its own query, with its position; the others still read.
        const auto log = tmp.path() / "vault.log";
        const std::string good = file_bytes(log);
        const std::size_t third = record_offset(good, 2), fourth = record_offset(good, 3);
        std::string bad = good;
        bad[fourth - 2] = static_cast<char>(bad[fourth - 2] ^ 0x01);
        overwrite(log, bad);
        values = b->read_fields({Q{"fp_id_test_c", "id.first_name"}, Q{"fp_id_test_a", "id.first_name"}});
        REQUIRE_FALSE(values[0].ok());
        CHECK(values[0].error().code == "vault.corrupt");
        CHECK(values[0].error().message.find("byte " + std::to_string(third)) != std::string::npos);
        CHECK(values[0].error().message.find("record 3") != std::string::npos);
        CHECK(values[1]->value() == "Ann");
    }

    TEST_CASE("a torn tail is reported, everything before it kept, and the next write cuts it") {
        test::TempDir tmp;
        {
            auto s = open_ok(tmp.path());
            for (int i = 0; i < 4; ++i)
                REQUIRE(s->put("rec" + std::to_string(i), {{"v", std::string(100, 'x')}}).ok());
        }
        const auto log = tmp.path() / "vault.log";
        const std::string good = file_bytes(log);
        const std::size_t last = record_offset(good, 3);
        for (std::size_t cut : {last + 3, last + 8, last + 40, good.size() - 1}) {
            overwrite(log, good.substr(0, cut));
            auto s = open_ok(tmp.path());
            CAPTURE(cut);
            CHECK(s->record_count() == 3);
            REQUIRE(s->warnings().size() == 1);
            CHECK(s->warnings()[0].find("byte " + std::to_string(last)) != std::string::npos);
            CHECK(s->warnings()[0].find("record 4") != std::string::npos);
        }
        // Zeros left by a crash count as a torn tail too.
        overwrite(log, good + std::string(50, '\0'));
        CHECK(open_ok(tmp.path())->warnings().size() == 1);

        overwrite(log, good.substr(0, good.size() - 10));
        {
            auto s = open_ok(tmp.path());
            REQUIRE(s->put("after", {{"v", "1"}}).ok());
            CHECK(s->warnings().size() == 2); // reported at open, then discarded
            CHECK(s->warnings()[1].find("discarded") != std::string::npos);
        }
        auto s = open_ok(tmp.path());
        CHECK(s->warnings().empty());
        CHECK(s->record_count() == 4);
        CHECK(s->field("after", "v") == "1");
        CHECK_FALSE(s->has_record("rec3"));
    }

    TEST_CASE("a vault larger than a read block: whole at open, damage and a torn tail past it "
              "found, aliases found again after open and after compaction") {
        test::TempDir tmp;
        std::vector<std::string> aliases;
        {
            auto s = open_ok(tmp.path());
            std::vector<std::pair<std::string, vault::Fields>> batch;
            for (int i = 0; i < 3000; ++i)
                batch.push_back({"r" + std::to_string(i),
                                 {{"a", std::string(300 + static_cast<std::size_t>(i % 7), 'a')},
                                  {"b", std::to_string(i)}}});
            REQUIRE(s->put_many(batch).ok());
            std::vector<vault::AliasRequest> reqs;
            for (int i = 0; i < 2000; ++i)
                reqs.push_back({"value " + std::to_string(i), AliasFormat::uuid});
            auto made = s->alias_many(reqs);
            REQUIRE(made.ok());
            aliases = *made;
        }
        const auto log = tmp.path() / "vault.log";
        const std::string good = file_bytes(log);
        // The log is read a mebibyte at a time: records cross that boundary.
        REQUIRE(good.size() > (1u << 20) + 100000);
        {
            auto s = open_ok(tmp.path());
            CHECK(s->warnings().empty());
            CHECK(s->record_count() == 3000);
            CHECK(s->alias_count() == 2000);
            for (int i : {0, 1, 1500, 2999})
                CHECK(s->field("r" + std::to_string(i), "b") == std::to_string(i));
            CHECK(s->reveal(aliases[1234]) == "value 1234");
            // The lookup table is built on the first alias asked for: a value keeps its alias.
            CHECK(*s->alias("value 1999", AliasFormat::uuid) == aliases[1999]);
            auto again = s->alias_many({{"value 0", AliasFormat::uuid}, {"new", AliasFormat::uuid}});
            REQUIRE(again.ok());
            CHECK((*again)[0] == aliases[0]);
            CHECK(s->alias_count() == 2001);
            // Compaction gives the index new storage; the table is built again from it.
            REQUIRE(s->compact().ok());
            CHECK(*s->alias("value 42", AliasFormat::uuid) == aliases[42]);
            CHECK(*s->alias("new", AliasFormat::uuid) == (*again)[1]);
            CHECK(s->alias_count() == 2001);
            CHECK(s->field("r2999", "a") == std::string(300 + 2999 % 7, 'a'));
        }
        // A changed byte in the record that crosses the first boundary, and in the last record.
        std::size_t n = 0;
        while (record_offset(good, static_cast<int>(n) + 1) <= (1u << 20))
            ++n;
        for (std::size_t rec : {n, std::size_t{4999}}) {
            const std::size_t at = record_offset(good, static_cast<int>(rec));
            std::string bad = good;
            bad[at + 20] = static_cast<char>(bad[at + 20] ^ 0x01);
            overwrite(log, bad);
            auto s = Store::open(tmp.path(), k_key);
            CAPTURE(rec);
            REQUIRE_FALSE(s.ok());
            CHECK(s.error().code == "vault.corrupt");
            CHECK(s.error().message.find("byte " + std::to_string(at)) != std::string::npos);
            CHECK(s.error().message.find("record " + std::to_string(rec + 1)) !=
                  std::string::npos);
        }
        // A torn last record, far past the first block.
        overwrite(log, good.substr(0, good.size() - 5));
        auto s = open_ok(tmp.path());
        CHECK(s->alias_count() == 1999);
        REQUIRE(s->warnings().size() == 1);
        CHECK(s->warnings()[0].find("byte " + std::to_string(record_offset(good, 4999))) !=
              std::string::npos);
        CHECK(s->warnings()[0].find("record 5000") != std::string::npos);
    }

    TEST_CASE("a vault of several read blocks opens with its tags checked beside the index: "
              "the first damaged record by position is the one reported") {
        // Past a mebibyte, open indexes records on one thread while another checks their
        // tags, a block of the log at a time (more blocks than it keeps in memory at once).
        test::TempDir tmp;
        constexpr int k_records = 12000;
        {
            auto s = open_ok(tmp.path());
            std::vector<std::pair<std::string, vault::Fields>> batch;
            for (int i = 0; i < k_records; ++i)
                batch.push_back({"r" + std::to_string(i),
                                 {{"card.number", "4111" + std::to_string(100000 + i)},
                                  {"note", std::string(400, static_cast<char>('a' + i % 26))}}});
            REQUIRE(s->put_many(batch).ok());
            REQUIRE(s->alias("5555555555554444", AliasFormat::uuid).ok());
        }
        const auto log = tmp.path() / "vault.log";
        const std::string good = file_bytes(log);
        REQUIRE(good.size() > (5u << 20));
        {
            auto s = open_ok(tmp.path());
            CHECK(s->warnings().empty());
            CHECK(s->record_count() == k_records);
            CHECK(s->alias_count() == 1);
            for (int i : {0, 2500, 7001, k_records - 1})
                CHECK(s->field("r" + std::to_string(i), "card.number") ==
                      "4111" + std::to_string(100000 + i));
        }
        auto at = [&](int n) { return record_offset(good, n); };
        auto refused_at = [&](const std::string& bytes, int n, const std::string& why) {
            overwrite(log, bytes);
            auto s = Store::open(tmp.path(), k_key);
            REQUIRE_FALSE(s.ok());
            CHECK(s.error().code == "vault.corrupt");
            CHECK(s.error().message.find("byte " + std::to_string(at(n)) + " ") !=
                  std::string::npos);
            CHECK(s.error().message.find("record " + std::to_string(n + 1) + ")") !=
                  std::string::npos);
            CHECK(s.error().message.find(why) != std::string::npos);
            // No card number; the file's path is taken out first (a temporary folder's random
            // name may hold "4111").
            std::string message = s.error().message;
            for (auto p = message.find(log.string()); p != std::string::npos; p = message.find(log.string()))
                message.erase(p, log.string().size());
            CHECK(message.find("4111") == std::string::npos);
        };
        // A sealed byte in the fifth mebibyte, and a record id further on.
        const int sealed = 9000, later = 10500;
        std::string bad = good;
        bad[at(sealed + 1) - 30] = static_cast<char>(bad[at(sealed + 1) - 30] ^ 0x04);
        bad[at(later) + 8 + 1 + 4 + 4] = static_cast<char>(bad[at(later) + 8 + 1 + 4 + 4] ^ 0x01);
        refused_at(bad, sealed, "fails authentication");
        // The record id alone: the index would read it; its tag does not hold.
        bad = good;
        bad[at(later) + 8 + 1 + 4 + 4] = static_cast<char>(bad[at(later) + 8 + 1 + 4 + 4] ^ 0x01);
        refused_at(bad, later, "fails authentication");
        // A field count that cannot be read as one: the tag fails on it first.
        bad = good;
        const std::size_t count_at = at(later) + 8 + 1 + 4 + 4 + ("r" + std::to_string(later)).size();
        bad[count_at] = static_cast<char>(0x7f);
        refused_at(bad, later, "fails authentication");
        // A damaged length field after a damaged seal: the earlier record is reported.
        bad = good;
        bad[at(sealed + 1) - 30] = static_cast<char>(bad[at(sealed + 1) - 30] ^ 0x04);
        bad[at(later) + 1] = static_cast<char>(bad[at(later) + 1] ^ 0x01);
        refused_at(bad, sealed, "fails authentication");
        // The length field alone.
        bad = good;
        bad[at(later) + 1] = static_cast<char>(bad[at(later) + 1] ^ 0x01);
        refused_at(bad, later, "length field is damaged");
        // A record copied to the end is bound to its own offset.
        refused_at(good + good.substr(at(5), at(6) - at(5)), k_records + 1,
                   "fails authentication");
        // A torn last record far past the first blocks: reported, everything before it kept.
        overwrite(log, good.substr(0, good.size() - 7));
        auto s = open_ok(tmp.path());
        CHECK(s->record_count() == k_records);
        CHECK(s->alias_count() == 0);
        REQUIRE(s->warnings().size() == 1);
        CHECK(s->warnings()[0].find("byte " + std::to_string(at(k_records))) != std::string::npos);
        CHECK(s->field("r11999", "card.number") == "4111111999");
    }

    TEST_CASE("a read scope looks at the file once: one request sees one state of the vault") {
        test::TempDir tmp;
        auto a = open_ok(tmp.path());
        auto b = open_ok(tmp.path()); // another process, as far as the file goes
        REQUIRE(a->put("r1", {{"f", "1"}}).ok());
        {
            Store::ReadScope one_state(*b);
            CHECK(b->field("r1", "f") == "1"); // the first read catches up with the file
            REQUIRE(a->put("r1", {{"f", "2"}}).ok());
            REQUIRE(a->put("r2", {{"f", "new"}}).ok());
            CHECK(b->field("r1", "f") == "1"); // later reads in the scope: the same state
            CHECK_FALSE(b->has_record("r2"));
            // A scope on another store does not hold this one back.
            Store::ReadScope other(*a);
            CHECK(a->field("r1", "f") == "2");
            // Another thread is not in this thread's scope.
            std::optional<std::string> seen;
            std::thread t([&] { seen = b->field("r2", "f"); });
            t.join();
            CHECK(seen == "new");
        }
        // Out of the scope every read looks again.
        REQUIRE(a->put("r1", {{"f", "3"}}).ok());
        CHECK(b->field("r1", "f") == "3");
        // A write inside a scope catches up and sees its own record at once.
        {
            Store::ReadScope one_state(*b);
            CHECK(b->field("r1", "f") == "3");
            REQUIRE(a->put("r3", {{"f", "a"}}).ok());
            REQUIRE(b->put("r4", {{"f", "b"}}).ok());
            CHECK(b->field("r4", "f") == "b");
            CHECK(b->field("r3", "f") == "a"); // the write caught up with a's record
        }
    }

    TEST_CASE("two stores on one folder see each other's writes, also across compaction") {
        test::TempDir tmp;
        auto a = open_ok(tmp.path());
        auto b = open_ok(tmp.path());
        REQUIRE(a->put("r1", {{"f", "1"}}).ok());
        CHECK(b->field("r1", "f") == "1");
        auto alias = *b->alias("4111111111111111", AliasFormat::fpe_t_four);
        CHECK(a->reveal(alias) == "4111111111111111");
        CHECK(*a->alias("4111111111111111", AliasFormat::fpe_t_four) == alias);
        REQUIRE(b->remove("r1").ok());
        CHECK_FALSE(a->has_record("r1"));
        for (int i = 0; i < 50; ++i)
            REQUIRE(a->put("r2", {{"f", std::to_string(i)}}).ok());
        const auto before = fs::file_size(tmp.path() / "vault.log");
        auto stats = a->compact();
        REQUIRE(stats.ok());
        CHECK(stats->records == 1);
        CHECK(stats->aliases == 1);
        CHECK(stats->bytes_before == before);
        CHECK(fs::file_size(tmp.path() / "vault.log") < before);
        // b notices the new file, reads it, and writes to it.
        CHECK(b->field("r2", "f") == "49");
        REQUIRE(b->put("r3", {{"f", "3"}}).ok());
        CHECK(a->field("r3", "f") == "3");
        REQUIRE(a->put("r4", {{"f", "4"}}).ok());
        CHECK(b->field("r4", "f") == "4");
        auto c = open_ok(tmp.path());
        CHECK(c->record_count() == 3);
        CHECK(c->reveal(alias) == "4111111111111111");
        CHECK(c->warnings().empty());
        // No temp files are left behind.
        std::set<std::string> names;
        for (const auto& e : fs::directory_iterator(tmp.path()))
            names.insert(e.path().filename().string());
        CHECK(names == std::set<std::string>{"vault.lock", "vault.log"});
    }

    TEST_CASE("no value put into the vault appears in clear in any file it wrote") {
        test::TempDir tmp;
        const std::vector<std::string> values = {"4111111111111111",
                                                 "5555555555554444",
                                                 "Jane Q. Public",
                                                 "123-45-6789",
                                                 "jane@example.com",
                                                 "1990-12-24",
                                                 "737",
                                                 "Rua Doè 12, São Paulo"};
        {
            auto s = open_ok(tmp.path());
            int i = 0;
            for (const auto& v : values) {
                REQUIRE(s->put("rec" + std::to_string(i++), {{"value", v}}).ok());
                REQUIRE(s->alias(v, AliasFormat::uuid).ok());
                REQUIRE(s->alias(v, AliasFormat::fpe_six_t_four).ok());
                REQUIRE(s->alias(v, AliasFormat::num_length_preserving).ok());
            }
            REQUIRE(s->remove("rec0").ok());
            REQUIRE(s->compact().ok());
            REQUIRE(s->put("late", {{"value", values[0]}}).ok());
        }
        int files = 0;
        for (const auto& e : fs::recursive_directory_iterator(tmp.path())) {
            if (!e.is_regular_file())
                continue;
            ++files;
            const std::string bytes = file_bytes(e.path());
            for (const auto& v : values) {
                CAPTURE(e.path().string());
                CAPTURE(v);
                CHECK(bytes.find(v) == std::string::npos);
            }
        }
        CHECK(files == 2);
    }

    TEST_CASE("4 processes writing 500 records each at once lose nothing") {
        test::TempDir tmp;
        REQUIRE(open_ok(tmp.path())->put("seed", {{"f", "0"}}).ok());
        const auto dir = tmp.path();
        std::vector<pid_t> kids;
        for (int p = 0; p < 4; ++p) {
            kids.push_back(fork_child([dir, p] {
                auto s = Store::open(dir, k_key);
                if (!s)
                    return 2;
                for (int i = 0; i < 500; ++i) {
                    std::string id = "p" + std::to_string(p) + "_" + std::to_string(i);
                    if (!(*s)->put(id, {{"card.number", "4111" + std::to_string(i)}, {"n", id}}))
                        return 3;
                    // Aliases race too: the same values from every process.
                    if (i % 50 == 0 && !(*s)->alias("v" + std::to_string(i), AliasFormat::uuid))
                        return 4;
                }
                return 0;
            }));
        }
        for (pid_t k : kids)
            CHECK(wait_child(k) == 0);
        auto s = open_ok(dir);
        CHECK(s->warnings().empty());
        CHECK(s->record_count() == 2001);
        int missing = 0;
        for (int p = 0; p < 4; ++p)
            for (int i = 0; i < 500; ++i) {
                std::string id = "p" + std::to_string(p) + "_" + std::to_string(i);
                if (s->field(id, "n") != id ||
                    s->field(id, "card.number") != "4111" + std::to_string(i))
                    ++missing;
            }
        CHECK(missing == 0);
        // Every process derived the same alias for the same value: one alias per value.
        CHECK(s->alias_count() == 10);
    }

    TEST_CASE("kill -9 mid-write never loses an acknowledged record") {
        test::TempDir tmp;
        const auto dir = tmp.path();
        std::mt19937 rng(12345);
        std::set<std::string> acked;
        int torn_seen = 0;
        for (int round = 0; round < 20; ++round) {
            int fds[2];
            REQUIRE(::pipe(fds) == 0);
            pid_t kid = fork_child([&, round] {
                ::close(fds[0]);
                auto s = Store::open(dir, k_key);
                if (!s)
                    return 2;
                std::mt19937 local(static_cast<unsigned>(round));
                for (int i = 0;; ++i) {
                    std::string id = "r" + std::to_string(round) + "_" + std::to_string(i);
                    // Large values span several pages, so a kill can land inside one write.
                    std::size_t size = (local() % 3 == 0) ? 100000 : 40;
                    if (!(*s)->put(id, {{"v", std::string(size, 'a' + static_cast<char>(i % 26))}}))
                        return 3;
                    std::string line = id + "\n";
                    if (::write(fds[1], line.data(), line.size()) < 0)
                        return 4;
                }
            });
            ::close(fds[1]);
            // Let it acknowledge a few records, then kill it at a random moment of the next.
            const std::size_t want = acked.size() + 1 + rng() % 5;
            std::string got;
            char buf[4096];
            auto take_lines = [&] {
                std::size_t pos;
                while ((pos = got.find('\n')) != std::string::npos) {
                    acked.insert(got.substr(0, pos));
                    got.erase(0, pos + 1);
                }
            };
            while (acked.size() < want) {
                ssize_t n = ::read(fds[0], buf, sizeof buf);
                if (n <= 0)
                    break;
                got.append(buf, static_cast<std::size_t>(n));
                take_lines();
            }
            std::this_thread::sleep_for(std::chrono::microseconds(rng() % 8000));
            ::kill(kid, SIGKILL);
            CHECK(wait_child(kid) == 128 + SIGKILL);
            ssize_t n;
            while ((n = ::read(fds[0], buf, sizeof buf)) > 0)
                got.append(buf, static_cast<std::size_t>(n));
            ::close(fds[0]);
            take_lines();
            auto s = Store::open(dir, k_key);
            REQUIRE_MESSAGE(s.ok(), s.error().message);
            torn_seen += static_cast<int>((*s)->warnings().size());
            int lost = 0;
            for (const auto& id : acked)
                if (!(*s)->has_record(id))
                    ++lost;
            CHECK(lost == 0);
        }
        MESSAGE(acked.size() << " acknowledged records, " << torn_seen << " torn tails seen");
        CHECK(acked.size() >= 30);
        auto s = open_ok(dir);
        REQUIRE(s->put("final", {{"v", "1"}}).ok());
        CHECK(open_ok(dir)->warnings().empty());
    }
}

TEST_SUITE("vault") {
    TEST_CASE("tokenize rules from flags") {
        auto r = vault::parse_rule("$.card.number=FPE_SIX_T_FOUR");
        REQUIRE(r.ok());
        CHECK(r->path == "$.card.number");
        CHECK(r->format == AliasFormat::fpe_six_t_four);
        CHECK(vault::parse_rule(" $..cvv = num_length_preserving ")->format ==
              AliasFormat::num_length_preserving);
        CHECK(vault::parse_rule(" $..cvv = num_length_preserving ")->path == "$..cvv");
        CHECK(vault::parse_rule("$.name")->format == AliasFormat::uuid);
        // A filter's == stays in the path.
        CHECK(vault::parse_rule("$[?@.kind=='card'].number")->path == "$[?@.kind=='card'].number");
        auto f = vault::parse_rule("$[?@.kind=='card'].number=PFPT");
        CHECK(f->path == "$[?@.kind=='card'].number");
        CHECK(f->format == AliasFormat::pfpt);
        CHECK(vault::parse_rule("$[?@.n==UUID]")->path == "$[?@.n==UUID]");
        auto bad = vault::parse_rule("$.a=FPE_SIX_T_FUR");
        REQUIRE_FALSE(bad.ok());
        CHECK(bad.error().code == "tokenize.bad_format");
        CHECK(bad.error().message.find("did you mean FPE_SIX_T_FOUR?") != std::string::npos);
        CHECK(vault::parse_rule("=UUID").error().code == "tokenize.bad_rule");
        CHECK(vault::parse_rule("  ").error().code == "tokenize.bad_rule");
    }

    TEST_CASE("tokenize rules files point at the line of a mistake") {
        auto ok = vault::parse_rules_file("# cards\n[[rule]]\npath = \"$.card.number\"\n"
                                          "format = \"FPE_SIX_T_FOUR\"\n\n[[rule]]\npath = "
                                          "\"$..name\"\n",
                                          "rules.toml");
        REQUIRE_MESSAGE(ok.ok(), ok.error().message);
        REQUIRE(ok->size() == 2);
        CHECK((*ok)[0].format == AliasFormat::fpe_six_t_four);
        CHECK((*ok)[0].line == 2);
        CHECK((*ok)[1].path == "$..name");
        CHECK((*ok)[1].format == AliasFormat::uuid);

        auto typo = vault::parse_rules_file("[[rule]]\npath = \"$.a\"\nfromat = \"UUID\"\n", "r");
        REQUIRE_FALSE(typo.ok());
        CHECK(typo.error().code == "tokenize.unknown_key");
        CHECK(typo.error().line == 3);
        CHECK(typo.error().message.find("did you mean \"format\"?") != std::string::npos);
        auto fmt = vault::parse_rules_file("[[rule]]\npath = \"$.a\"\nformat = \"UID\"\n", "r");
        CHECK(fmt.error().code == "tokenize.bad_format");
        CHECK(fmt.error().line == 3);
        auto syntax = vault::parse_rules_file("[[rule]]\npath = \n", "r");
        CHECK(syntax.error().code == "tokenize.syntax");
        CHECK(syntax.error().line == 2);
        CHECK(vault::parse_rules_file("[[rule]]\nformat = \"UUID\"\n", "r").error().code ==
              "tokenize.bad_rule");
        CHECK(vault::parse_rules_file("rules = 1\n", "r").error().code == "tokenize.unknown_key");
        CHECK(vault::parse_rules_file("[[rule]]\npath = 3\n", "r").error().line == 2);

        auto path = vault::Tokenizer::make({{"$.a[", AliasFormat::uuid, 4}});
        REQUIRE_FALSE(path.ok());
        CHECK(path.error().code == "tokenize.bad_path");
        CHECK(path.error().line == 4);
        CHECK(vault::Tokenizer::make({}).error().code == "tokenize.no_rules");
    }

    TEST_CASE("tokenize replaces only the selected values and keeps every other byte") {
        test::TempDir tmp;
        auto s = open_ok(tmp.path());
        auto tok = vault::Tokenizer::make({
            {"$.payment.card.number", AliasFormat::fpe_six_t_four, 0},
            {"$..cvv", AliasFormat::num_length_preserving, 0},
            {"$..holder", AliasFormat::uuid, 0},
            {"$.payment.card.*", AliasFormat::raw_uuid, 0}, // overlaps: first rule wins
            {"$.customers[*].ssn", AliasFormat::uuid, 0},
            {"$.flags", AliasFormat::uuid, 0},
        });
        REQUIRE(tok.ok());
        const std::string input =
            "{\n"
            "  \"payment\": {\"card\": {\"number\": \"4111111111111111\",  \"cvv\": 737,\n"
            "      \"holder\": \"Jos\\u00e9 Doe\", \"exp\": \"12/30\"}},\n"
            "  \"customers\": [ {\"ssn\": \"123-45-6789\"}, {\"ssn\": \"\"}, {\"ssn\": null} ],\n"
            "  \"flags\": {\"vip\": true},\n"
            "  \"untouched\": \"4111111111111111\"\n"
            "}\n";
        auto r = tok->apply(input, *s);
        REQUIRE_MESSAGE(r.ok(), r.error().message);
        const std::string& out = r->text;
        auto doc = nlohmann::json::parse(out);
        const std::string number = doc["payment"]["card"]["number"];
        CHECK(number.substr(0, 6) == "411111");
        CHECK(number != "4111111111111111");
        CHECK(s->reveal(number) == "4111111111111111");
        // A number stays a number when its alias is one.
        REQUIRE(doc["payment"]["card"]["cvv"].is_number_integer());
        CHECK(s->reveal(std::to_string(doc["payment"]["card"]["cvv"].get<int>())) == "737");
        CHECK(s->reveal(doc["payment"]["card"]["holder"].get<std::string>()) == "José Doe");
        CHECK(s->reveal(doc["payment"]["card"]["exp"].get<std::string>()) == "12/30");
        CHECK(s->reveal(doc["customers"][0]["ssn"].get<std::string>()) == "123-45-6789");
        CHECK(doc["customers"][1]["ssn"] == "");
        CHECK(doc["customers"][2]["ssn"].is_null());
        CHECK(doc["untouched"] == "4111111111111111");
        CHECK(r->stats.tokenized == 5);
        CHECK(r->stats.skipped == 3); // "", null, the flags object
        CHECK(r->stats.per_rule == std::vector<std::size_t>{1, 1, 1, 1, 3, 1});
        // Everything else is byte for byte the input: same lines, same spacing.
        CHECK(out.find("\"cvv\": ") != std::string::npos);
        CHECK(out.find("\",  \"cvv\"") != std::string::npos);
        CHECK(out.find("[ {\"ssn\": ") != std::string::npos);
        CHECK(out.find("\"flags\": {\"vip\": true},\n  \"untouched\": \"4111111111111111\"\n}\n") !=
              std::string::npos);
        CHECK(std::count(out.begin(), out.end(), '\n') ==
              std::count(input.begin(), input.end(), '\n'));

        // Idempotent: its own output, with the record of what it wrote, comes back unchanged.
        CHECK(r->aliases.size() == 5);
        CHECK(r->aliases.at("$['payment']['card']['number']") == number);
        auto again = tok->apply(out, *s, &r->aliases);
        REQUIRE(again.ok());
        CHECK(again->text == out);
        CHECK(again->stats.tokenized == 0);
        CHECK(again->stats.already == 5);
        // And the same input gives the same output.
        CHECK(tok->apply(input, *s)->text == out);
    }

    TEST_CASE("tokenize handles escaped keys, a root scalar, a BOM and numbers as strings") {
        test::TempDir tmp;
        auto s = open_ok(tmp.path());
        auto tok = *vault::Tokenizer::make({{"$['na\\u006de']", AliasFormat::uuid, 0},
                                            {"$['it\\'s']", AliasFormat::uuid, 0},
                                            {"$.big", AliasFormat::uuid, 0},
                                            {"$.card", AliasFormat::fpe_t_four, 0}});
        auto r =
            tok.apply("\xEF\xBB\xBF{\"na\\u006de\": \"Ann\", \"it's\": \"x\", \"big\": 12.5e3, "
                      "\"card\": 4111111111111111}",
                      *s);
        REQUIRE_MESSAGE(r.ok(), r.error().message);
        auto doc = nlohmann::json::parse(r->text);
        CHECK(s->reveal(doc["name"].get<std::string>()) == "Ann");
        CHECK(s->reveal(doc["it's"].get<std::string>()) == "x");
        // Numbers are aliased from their literal text; a non-numeric alias becomes a string.
        CHECK(s->reveal(doc["big"].get<std::string>()) == "12.5e3");
        REQUIRE(doc["card"].is_number_unsigned());
        CHECK(std::to_string(doc["card"].get<std::uint64_t>()).substr(12) == "1111");

        auto root = *vault::Tokenizer::make({{"$", AliasFormat::raw_uuid, 0}});
        auto rr = root.apply(" \"secret\" ", *s);
        REQUIRE(rr.ok());
        CHECK(s->reveal(nlohmann::json::parse(rr->text).get<std::string>()) == "secret");
    }

    TEST_CASE("tokenize reports bad JSON with its position and without quoting it") {
        test::TempDir tmp;
        auto s = open_ok(tmp.path());
        auto tok = *vault::Tokenizer::make({{"$.a", AliasFormat::uuid, 0}});
        auto bad = tok.apply("{\n  \"a\": \"4111111111111111\",\n  \"b\": 4111x\n}", *s);
        REQUIRE_FALSE(bad.ok());
        CHECK(bad.error().code == "tokenize.bad_json");
        CHECK(bad.error().line == 3);
        CHECK(bad.error().message.find("4111") == std::string::npos);
        // A number too large for a double is invalid JSON too (nlohmann throws out_of_range).
        auto huge = tok.apply("{\"a\": 41e999}", *s);
        REQUIRE_FALSE(huge.ok());
        CHECK(huge.error().code == "tokenize.bad_json");
        CHECK(huge.error().message.find("41e999") == std::string::npos);
        // In a batch, one bad document does not stop the others.
        auto many = tok.apply_many({{"{\"a\": \"x\"}"}, {"{"}, {"{\"a\": \"y\"}"}}, *s);
        REQUIRE(many.ok());
        CHECK((*many)[0].ok());
        CHECK_FALSE((*many)[1].ok());
        CHECK((*many)[2].ok());
        CHECK(s->alias_count() == 2);
    }

    TEST_CASE("tokenize vaults a real value that equals an alias, unless it wrote that alias there") {
        test::TempDir tmp;
        auto s = open_ok(tmp.path());
        // "314" gets an alias; a fixture whose real CVC is that alias is still a real value.
        const std::string taken = *s->alias("314", AliasFormat::num_length_preserving);
        const std::string month = *s->alias("12", AliasFormat::num_length_preserving); // RAW_UUID
        auto tok = *vault::Tokenizer::make({{"$.cvc", AliasFormat::num_length_preserving, 0},
                                            {"$.exp_month", AliasFormat::num_length_preserving, 0}});
        const std::string input =
            "{\"cvc\": \"" + taken + "\",\n \"exp_month\": \"" + month + "\"}";
        auto r = tok.apply(input, *s);
        REQUIRE_MESSAGE(r.ok(), r.error().message);
        CHECK(r->stats.tokenized == 2);
        CHECK(r->stats.already == 0);
        auto doc = nlohmann::json::parse(r->text);
        CHECK(doc["cvc"] != taken);
        CHECK(s->reveal(doc["cvc"].get<std::string>()) == taken);
        CHECK(s->reveal(doc["exp_month"].get<std::string>()) == month);
        CHECK(r->aliases.at("$['cvc']") == doc["cvc"]);

        // With the record of what it wrote, its own output is left alone.
        auto again = tok.apply(r->text, *s, &r->aliases);
        REQUIRE(again.ok());
        CHECK(again->text == r->text);
        CHECK(again->stats.already == 2);
        // Without it, the output is a document tokenize never wrote: vaulted again, never kept.
        auto stranger = tok.apply(r->text, *s);
        REQUIRE(stranger.ok());
        CHECK(stranger->stats.tokenized == 2);

        // A recorded location now holding another alias of the vault: refused at its position.
        const std::string edited = "{\"cvc\": \"" + std::string(doc["cvc"]) + "\",\n \"exp_month\": \"" +
                                   taken + "\"}";
        auto undecided = tok.apply(edited, *s, &r->aliases);
        REQUIRE_FALSE(undecided.ok());
        CHECK(undecided.error().code == "tokenize.undecidable");
        CHECK(undecided.error().line == 2);
        CHECK(undecided.error().column == 15);
        CHECK(undecided.error().message.find("$['exp_month']") == 0);
        CHECK(undecided.error().message.find("314") == std::string::npos);
        // A recorded location now holding a value that is not an alias: a real value, vaulted.
        auto changed = tok.apply("{\"cvc\": \"271\", \"exp_month\": \"" +
                                     std::string(doc["exp_month"]) + "\"}",
                                 *s, &r->aliases);
        REQUIRE(changed.ok());
        CHECK(changed->stats.tokenized == 1);
        CHECK(changed->stats.already == 1);
        // The alias it wrote, gone from the vault: refused, not kept as if it were one.
        REQUIRE(s->remove_alias(doc["cvc"].get<std::string>()).ok());
        auto gone = tok.apply(r->text, *s, &r->aliases);
        REQUIRE_FALSE(gone.ok());
        CHECK(gone.error().message.find("no longer holds") != std::string::npos);
    }

    TEST_CASE("the tokenize ledger knows what it wrote by path only and refuses edits") {
        test::TempDir tmp;
        const auto file = tmp.path() / "tokenize.ledger";
        const std::string key(32, 'k');
        auto ledger = *vault::TokenizeLedger::load(file, key);
        CHECK_FALSE(ledger.written("/out/a.json").has_value());
        ledger.record("/out/a.json", {{"$['cvc']", "107"}});
        CHECK(ledger.written("/out/a.json")->at("$['cvc']") == "107"); // before the save too
        REQUIRE(ledger.save().ok());

        auto again = *vault::TokenizeLedger::load(file, key);
        CHECK(again.written("/out/a.json")->at("$['cvc']") == "107");
        CHECK_FALSE(again.written("/elsewhere/a.json").has_value());
        // A later write of the same file replaces what it held.
        again.record("/out/a.json", {});
        CHECK(again.written("/out/a.json")->empty());
        // Another process's entries survive a save.
        auto other = *vault::TokenizeLedger::load(file, key);
        other.record("/out/c.json", {{"$['n']", "x"}});
        REQUIRE(other.save().ok());
        REQUIRE(again.save().ok());
        auto merged = *vault::TokenizeLedger::load(file, key);
        CHECK(merged.written("/out/c.json").has_value());
        CHECK(merged.written("/out/a.json")->empty());
        CHECK(util::file_mode(file) == 0600);

        // Edited, or read with another vault key: damage, named with what to do.
        auto wrong = vault::TokenizeLedger::load(file, std::string(32, 'j'));
        REQUIRE_FALSE(wrong.ok());
        CHECK(wrong.error().code == "tokenize.ledger_damaged");
        std::string text = test::read_text(file);
        text.replace(text.find("\"x\""), 3, "\"y\"");
        test::write_text(file, text);
        auto edited = vault::TokenizeLedger::load(file, key);
        REQUIRE_FALSE(edited.ok());
        CHECK(edited.error().message.find("delete it and tokenize the real fixtures again") !=
              std::string::npos);
    }
}
