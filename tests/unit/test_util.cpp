// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <random>
#include <regex>
#include <thread>

#include "core/util/fs.hpp"
#include "core/util/random.hpp"
#include "core/util/redact.hpp"
#include "core/util/result.hpp"
#include "core/util/strings.hpp"
#include "support/support.hpp"

using namespace vaultfwd;

TEST_SUITE("util") {
    TEST_CASE("result carries a value or an error") {
        Result<int> ok = 3;
        CHECK(ok.ok());
        CHECK(*ok == 3);
        Result<int> bad = make_error("x.bad", "it broke", 4, 7);
        CHECK_FALSE(bad.ok());
        CHECK(bad.error().describe("f.toml") == "f.toml:4:7: it broke");
        CHECK(bad.error().describe() == "line 4, column 7: it broke");
    }

    TEST_CASE("hex, base64 and percent encodings round trip") {
        std::string bytes("\x00\xff\x10 abc", 7);
        CHECK(util::to_hex(bytes) == "00ff1020616263");
        CHECK(*util::from_hex("00FF1020616263") == bytes);
        CHECK_FALSE(util::from_hex("abc").has_value());
        CHECK_FALSE(util::from_hex("zz").has_value());
        CHECK(util::base64_encode("hello") == "aGVsbG8=");
        CHECK(*util::base64_decode("aGVsbG8=") == "hello");
        CHECK(util::base64url_encode("\xfb\xff") == "-_8");
        CHECK(*util::base64url_decode("-_8") == "\xfb\xff");
        CHECK_FALSE(util::base64_decode("a$==").has_value());
        CHECK(*util::percent_decode("a%20b%2Fc") == "a b/c");
        CHECK_FALSE(util::percent_decode("a%2").has_value());
        CHECK_FALSE(util::percent_decode("a%zz").has_value());
        CHECK(util::percent_encode("a b/c") == "a%20b%2Fc");
    }

    TEST_CASE("base64 decodes every length and refuses a bad character wherever it is") {
        std::string bytes;
        for (int n = 0; n < 70; ++n) {
            CAPTURE(n);
            const std::string std64 = util::base64_encode(bytes), url64 = util::base64url_encode(bytes);
            REQUIRE(util::base64_decode(std64).has_value());
            CHECK(*util::base64_decode(std64) == bytes);
            REQUIRE(util::base64url_decode(url64).has_value());
            CHECK(*util::base64url_decode(url64) == bytes);
            for (std::size_t at = 0; at < url64.size(); ++at) { // '*' is in neither alphabet
                std::string bad = url64;
                bad[at] = '*';
                CHECK_FALSE(util::base64url_decode(bad).has_value());
            }
            bytes.push_back(static_cast<char>((n * 37 + 11) & 0xff));
        }
        CHECK_FALSE(util::base64_decode("aGVsb").has_value()); // 4n+1 characters
        CHECK_FALSE(util::base64_decode("aGVs-G8=").has_value()); // url alphabet in standard
        CHECK_FALSE(util::base64url_decode("aGVs+G8").has_value());
    }

    TEST_CASE("utf-8 validation") {
        CHECK(util::is_valid_utf8("Doè ✓ 😀"));
        CHECK_FALSE(util::is_valid_utf8("\xc3"));
        CHECK_FALSE(util::is_valid_utf8("\xc0\xaf")); // overlong
        CHECK_FALSE(util::is_valid_utf8("\xed\xa0\x80")); // surrogate
    }

    TEST_CASE("nearest suggests close words only") {
        CHECK(util::nearest("upstrem", {"upstream", "server", "vault"}) == "upstream");
        CHECK(util::nearest("zzzzzz", {"upstream", "server"}).empty());
    }

    TEST_CASE("redact masks card numbers, keys and credentials") {
        CHECK(util::redact("card 4111 1111 1111 1111 ok") == "card **** **** **** 1111 ok");
        CHECK(util::redact("ssn 123456789") == "ssn *****6789");
        CHECK(util::redact("Authorization: Basic c2tfdGVzdDo=") == "Authorization: Basic ****");
        CHECK(util::redact("key sk_test_abcdef123") == "key sk_test_****");
        CHECK(util::redact("token tok_sandbox_5ZmQ2B8bn9kDh3gD7Y6h2nqX3tz4Vk1Lp9") ==
              "token tok_sandbox_5ZmQ2B8bn9kDh3gD7Y6h2nqX3tz4Vk1Lp9");
        CHECK(util::redact("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----") ==
              "[pem redacted]");
        CHECK(util::mask_secret("sk_test_0123456789") == "sk_test_****");
        CHECK(util::mask_secret("short") == "****");
    }

    TEST_CASE("redact scans in linear time and never recurses per character") {
        // std::regex matched "Bearer <credential>" with one stack frame per character: a header
        // of 30 000 characters, logged, overflowed a worker's 8 MiB stack and killed serve.
        std::string out[4];
        std::thread worker([&] { // a worker thread's stack, as in serve
            const std::string long_run(1 << 20, 'a');
            out[0] = util::redact("x-fp-access-reason: Bearer " + long_run);
            out[1] = util::redact("-----BEGIN X-----" + long_run + "-----END X-----");
            out[2] = util::redact("sk_test_" + long_run);
            std::string begins;
            for (int i = 0; i < 20000; ++i)
                begins += "-----BEGIN X-----";
            out[3] = util::redact(begins);
        });
        worker.join();
        CHECK(out[0] == "x-fp-access-reason: Bearer ****");
        CHECK(out[1] == "[pem redacted]");
        CHECK(out[2] == "sk_test_****");
        CHECK(out[3].size() == 20000 * 17);
    }

    TEST_CASE("redact masks exactly what the former std::regex patterns masked") {
        // The three patterns redact() used to run through std::regex are the reference, on short
        // texts made of the pieces that matter to them.
        auto reference = [](std::string s) {
            static const std::regex pem("-----BEGIN [A-Z ]+-----[\\s\\S]*?-----END [A-Z ]+-----");
            s = std::regex_replace(s, pem, "[pem redacted]");
            static const std::regex auth("((?:Basic|Bearer)\\s+)[A-Za-z0-9+/=._~-]+",
                                         std::regex::icase);
            s = std::regex_replace(s, auth, "$1****");
            static const std::regex keys(
                "\\b((?:sk|pk|key|secret)_(?:test_|live_)?)[A-Za-z0-9]{4,}");
            return std::regex_replace(s, keys, "$1****");
        };
        const std::vector<std::string> pieces = {
            "Basic",  "bEaReR", " ",     "\n",    "\t",   "sk_",        "pk_", "key_", "secret_",
            "test_",  "live_",  "abcd",  "ab",    "Z9",   "-----BEGIN ", "-----END ",
            "RSA KEY", "-----", "x",     "_",     "=",    "+/",         "~.", "-", ":", "my"};
        std::mt19937 rng(20261124);
        std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1), count(1, 12);
        for (int n = 0; n < 20000; ++n) {
            std::string text;
            for (std::size_t k = count(rng); k > 0; --k)
                text += pieces[pick(rng)];
            REQUIRE_MESSAGE(util::mask_patterns(text) == reference(text), text);
        }
        CHECK(util::redact("Bearer\t\tabc.def~") == "Bearer\t\t****");
        CHECK(util::redact("sk_test_ab") == "sk_****_ab");
        CHECK(util::redact("my_sk_abcdef") == "my_sk_abcdef");
        CHECK(util::redact("a -----BEGIN A-----x-----END B----- b -----END C-----") ==
              "a [pem redacted] b -----END C-----");
    }

    TEST_CASE("redact's first look never skips what its passes would mask") {
        // redact() returns text as it is when its look finds nothing any rule needs; the
        // passes are the reference, on texts made of pieces near every rule's edge (digit runs
        // around 9, opaque runs around 32, prefixes, armour, credentials).
        const std::vector<std::string> pieces = {
            "Basic", "bEaReR", " ", "-", "sk_", "pk", "_", "key", "secret", "test_", "abcd", "1234",
            "5", "67890", "AAAAAAAAAAAAAAAA", "a1b2c3d4", "/", "+", "=", "tok_", "fp_", "-----",
            "-----BEGIN ", "-----END ", "RSA KEY", "/vault_proxy/jit", "?q=", "é", "\x01"};
        std::mt19937 rng(20261203);
        std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1), count(1, 10);
        for (int n = 0; n < 30000; ++n) {
            std::string text;
            for (std::size_t k = count(rng); k > 0; --k)
                text += pieces[pick(rng)];
            REQUIRE_MESSAGE(util::redact(text) == util::redact_passes(text), text);
        }
        CHECK(util::redact("/vault_proxy/jit") == "/vault_proxy/jit");
        CHECK(util::redact("12345678") == "12345678");
        CHECK(util::redact("123456789") == "*****6789");
        CHECK(util::redact(std::string(31, 'a') + "1") == "aaaa****");
    }

    TEST_CASE("atomic writes keep the mode and replace the content") {
        test::TempDir dir;
        auto p = dir / "f.txt";
        REQUIRE(util::write_file_atomic(p, "one", 0600).ok());
        REQUIRE(util::write_file_atomic(p, "two", 0600).ok());
        CHECK(*util::read_file(p) == "two");
        CHECK(util::file_mode(p) == 0600);
        CHECK_FALSE(util::read_file(dir / "missing").ok());
        CHECK(util::random_hex(16).size() == 32);
        CHECK(util::random_hex(16) != util::random_hex(16));
    }
}
