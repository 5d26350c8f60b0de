// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "core/vault/alias.hpp"

using namespace vaultfwd;
using vault::AliasFormat;

namespace {

const std::string k_key(32, '\x42');
const std::string k_other_key(32, '\x43');

std::string alias_of(std::string_view value, AliasFormat f, std::uint32_t attempt = 0,
                     std::string_view env = "sandbox", const std::string& key = k_key) {
    return vault::make_alias(key, value, f, attempt, env);
}

bool is_digits(const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

bool is_uuid_alias(const std::string& s, const std::string& env = "sandbox") {
    static const std::string b58 = "[1-9A-HJ-NP-Za-km-z]";
    return std::regex_match(s, std::regex("tok_" + env + "_" + b58 + "{22}"));
}

bool is_raw_uuid(const std::string& s) {
    return std::regex_match(
        s, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
}

// Luhn-valid test card numbers of every length the card formats accept.
const std::vector<std::string> k_cards = {
    "4111111111111111",    // Visa, 16
    "5555555555554444",    // Mastercard, 16
    "378282246310005",     // Amex, 15
    "30569309025904",      // Diners, 14
    "6011000990139424",    // Discover, 16
    "4000056655665556",    // Visa debit
    "6304000000000000",    // Maestro, 16
    "6759649826438453",    // Maestro UK
    "6212345678901265",    // UnionPay, 16
    "4111111111111111110", // 19 digits (Luhn-valid)
};

} // namespace

TEST_SUITE("vault") {
    TEST_CASE("alias format names round trip, case-insensitively") {
        for (const auto& name : vault::alias_format_names()) {
            auto f = vault::parse_alias_format(name);
            REQUIRE(f.has_value());
            CHECK(vault::format_name(*f) == name);
            CHECK(vault::alias_format_from_byte(static_cast<std::uint8_t>(*f)) == f);
        }
        CHECK(vault::alias_format_names().size() == 7);
        CHECK(vault::parse_alias_format("fpe_six_t_four") == AliasFormat::fpe_six_t_four);
        CHECK_FALSE(vault::parse_alias_format("FPE_SSN_T_FOUR").has_value());
        CHECK_FALSE(vault::alias_format_from_byte(0).has_value());
        CHECK_FALSE(vault::alias_format_from_byte(8).has_value());
    }

    TEST_CASE("luhn check") {
        for (const auto& c : k_cards)
            CHECK_MESSAGE(vault::luhn_valid(c), c);
        CHECK(vault::luhn_valid("79927398713"));
        CHECK_FALSE(vault::luhn_valid("79927398710"));
        CHECK_FALSE(vault::luhn_valid("4111111111111112"));
        CHECK_FALSE(vault::luhn_valid(""));
        CHECK_FALSE(vault::luhn_valid("4111-1111-1111-1111"));
    }

    TEST_CASE("base58 matches the Bitcoin alphabet encoding") {
        CHECK(vault::base58_encode("hello world") == "StV1DL6CwTryKyV");
        CHECK(vault::base58_encode(std::string("\x00\x00\x01", 3)) == "112");
        CHECK(vault::base58_encode("") == "");
        CHECK(vault::base58_encode("a", 5) == "1112g");
    }

    TEST_CASE("alias environments") {
        CHECK(vault::valid_alias_env("sandbox"));
        CHECK(vault::valid_alias_env("live-eu-1"));
        CHECK_FALSE(vault::valid_alias_env(""));
        CHECK_FALSE(vault::valid_alias_env("Live"));
        CHECK_FALSE(vault::valid_alias_env("a_b"));
        CHECK_FALSE(vault::valid_alias_env(std::string(33, 'a')));
    }

    TEST_CASE("UUID aliases are tok_<env>_ and 22 base58 characters") {
        auto a = alias_of("John Doe", AliasFormat::uuid);
        CHECK(is_uuid_alias(a));
        CHECK(is_uuid_alias(alias_of("John Doe", AliasFormat::uuid, 0, "live"), "live"));
        // The same bytes of randomness, whatever the env.
        CHECK(alias_of("John Doe", AliasFormat::uuid, 0, "live").substr(9) == a.substr(12));
        CHECK(is_uuid_alias(alias_of("", AliasFormat::uuid)));
    }

    TEST_CASE("RAW_UUID aliases are version-4 UUID strings") {
        CHECK(is_raw_uuid(alias_of("John Doe", AliasFormat::raw_uuid)));
        CHECK(is_raw_uuid(alias_of("4111111111111111", AliasFormat::raw_uuid)));
    }

    TEST_CASE("generation is deterministic per key, value, format and attempt") {
        for (auto name : vault::alias_format_names()) {
            auto f = *vault::parse_alias_format(name);
            const std::string v = "4111111111111111";
            CAPTURE(name);
            CHECK(alias_of(v, f) == alias_of(v, f));
            CHECK(alias_of(v, f) != alias_of(v, f, 1));
            CHECK(alias_of(v, f) != alias_of(v, f, 0, "sandbox", k_other_key));
            CHECK(alias_of(v, f) != v);
        }
        // Different formats give different aliases even when they produce the same shape.
        CHECK(alias_of("abc", AliasFormat::raw_uuid) !=
              alias_of("abc", AliasFormat::num_length_preserving));
        CHECK(alias_of("4111111111111111", AliasFormat::uuid) !=
              alias_of("4111111111111112", AliasFormat::uuid));
    }

    TEST_CASE("FPE_SIX_T_FOUR keeps the first six and last four digits and is Luhn-valid") {
        for (const auto& card : k_cards) {
            for (std::uint32_t attempt = 0; attempt < 20; ++attempt) {
                auto a = alias_of(card, AliasFormat::fpe_six_t_four, attempt);
                CAPTURE(card);
                CAPTURE(a);
                REQUIRE(a.size() == card.size());
                CHECK(is_digits(a));
                CHECK(a.substr(0, 6) == card.substr(0, 6));
                CHECK(a.substr(a.size() - 4) == card.substr(card.size() - 4));
                CHECK(vault::luhn_valid(a));
                CHECK(a != card);
            }
        }
    }

    TEST_CASE("FPE_T_FOUR keeps the last four digits and is Luhn-valid") {
        for (const auto& card : k_cards) {
            auto a = alias_of(card, AliasFormat::fpe_t_four);
            CAPTURE(card);
            REQUIRE(a.size() == card.size());
            CHECK(is_digits(a));
            CHECK(a.substr(a.size() - 4) == card.substr(card.size() - 4));
            CHECK(vault::luhn_valid(a));
            CHECK(a.substr(0, 6) != card.substr(0, 6));
        }
    }

    TEST_CASE("PFPT is 991, the first two digits, a pad to 19 and the last four, Luhn-valid") {
        for (const auto& card : k_cards) {
            auto a = alias_of(card, AliasFormat::pfpt);
            CAPTURE(card);
            CAPTURE(a);
            CHECK(is_digits(a));
            CHECK(a.size() == (card.size() <= 16 ? 19 : card.size() + 3));
            CHECK(a.substr(0, 5) == "991" + card.substr(0, 2));
            CHECK(a.substr(a.size() - 4) == card.substr(card.size() - 4));
            CHECK(vault::luhn_valid(a));
        }
        // 13 digits are accepted.
        CHECK(alias_of("4222222222222", AliasFormat::pfpt).size() == 19);
    }

    TEST_CASE("NON_LUHN_FPE_ALPHANUMERIC keeps the length and is never Luhn-valid") {
        int n = 0;
        for (std::uint64_t i = 0; i < 300; ++i) {
            std::string v = std::to_string(4000000000000000ULL + i * 7919);
            auto a = alias_of(v, AliasFormat::non_luhn_fpe_alphanumeric);
            CAPTURE(v);
            CHECK(a.size() == v.size());
            CHECK(is_digits(a));
            CHECK_FALSE(vault::luhn_valid(a));
            ++n;
        }
        CHECK(n == 300);
        // 13 digits, Luhn-invalid input too.
        CHECK(alias_of("1234567890123", AliasFormat::non_luhn_fpe_alphanumeric).size() == 13);
    }

    TEST_CASE("NUM_LENGTH_PRESERVING changes every digit and keeps the length") {
        for (std::string v : {"123", "000", "999", "12345678", "4111111111111111",
                              "0123456789012345678901234567890"}) {
            for (std::uint32_t attempt = 0; attempt < 10; ++attempt) {
                auto a = alias_of(v, AliasFormat::num_length_preserving, attempt);
                CAPTURE(v);
                REQUIRE(a.size() == v.size());
                CHECK(is_digits(a));
                for (std::size_t i = 0; i < v.size(); ++i)
                    CHECK(a[i] != v[i]);
            }
        }
    }

    TEST_CASE("inputs a format cannot take fall back as VGS does") {
        // FPE_SIX_T_FOUR falls back to UUID: non-Luhn, too short, not digits.
        CHECK(is_uuid_alias(alias_of("4111111111111112", AliasFormat::fpe_six_t_four)));
        CHECK(is_uuid_alias(alias_of("4111111111117", AliasFormat::fpe_six_t_four)));
        CHECK(is_uuid_alias(alias_of("4111 1111 1111 1111", AliasFormat::fpe_six_t_four)));
        CHECK(vault::effective_format("4111111111111112", AliasFormat::fpe_six_t_four) ==
              AliasFormat::uuid);
        // The others fall back to RAW_UUID.
        CHECK(is_raw_uuid(alias_of("4111111111111112", AliasFormat::fpe_t_four)));
        CHECK(is_raw_uuid(alias_of("4111111111117", AliasFormat::fpe_t_four)));
        CHECK(is_raw_uuid(alias_of("411111111111", AliasFormat::pfpt)));
        CHECK(is_raw_uuid(alias_of("41111111111111111113", AliasFormat::pfpt))); // 20 digits
        CHECK(is_raw_uuid(alias_of("4111111111111112", AliasFormat::pfpt)));     // not Luhn
        CHECK(is_raw_uuid(alias_of("411111111111", AliasFormat::non_luhn_fpe_alphanumeric)));
        CHECK(is_raw_uuid(alias_of("41111111111111111", AliasFormat::non_luhn_fpe_alphanumeric)));
        CHECK(is_raw_uuid(alias_of("12", AliasFormat::num_length_preserving)));
        CHECK(is_raw_uuid(alias_of("1x2", AliasFormat::num_length_preserving)));
        CHECK(is_raw_uuid(alias_of("abc", AliasFormat::num_length_preserving)));
        CHECK(is_raw_uuid(alias_of("", AliasFormat::num_length_preserving)));
        CHECK(vault::effective_format("123", AliasFormat::num_length_preserving) ==
              AliasFormat::num_length_preserving);
        CHECK(vault::effective_format("anything", AliasFormat::raw_uuid) == AliasFormat::raw_uuid);
    }

    TEST_CASE("aliases of many values rarely collide before the store's check") {
        std::set<std::string> seen;
        for (int i = 0; i < 2000; ++i)
            seen.insert(alias_of(std::to_string(4000000000000000LL + i * 10), AliasFormat::uuid));
        CHECK(seen.size() == 2000);
    }
}
