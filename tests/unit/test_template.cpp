// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <doctest/doctest.h>

#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/crypto/seal.hpp"
#include "core/template/filters.hpp"
#include "core/template/footprint.hpp"
#include "core/template/gr4vy.hpp"
#include "core/template/render.hpp"
#include "core/template/scanner.hpp"
#include "core/template/text.hpp"
#include "core/template/vtex.hpp"
#include "core/util/simd.hpp"
#include "core/util/strings.hpp"
#include "core/vault/record_source.hpp"

using namespace vaultfwd;
using namespace vaultfwd::tmpl;

namespace {

const std::string k_fp = "fp_id_test_abc";

vault::MemorySource people() {
    vault::MemorySource s;
    s.set(k_fp, "id.first_name", "Jane");
    s.set(k_fp, "id.last_name", "Doè");
    s.set(k_fp, "id.dob", "1988-12-30");
    s.set(k_fp, "id.ssn9", "123456789");
    s.set(k_fp, "custom.ach_account", "12-1212-1212");
    s.set(k_fp, "card.primary.name", "Jane Doè");
    s.set(k_fp, "card.primary.number", "4242424242424242");
    return s;
}

RenderOutcome run(const std::string& body, const vault::RecordSource& source,
                  const std::string& global = {}, Dialect dialect = Dialect::footprint) {
    RenderRequest req;
    req.dialect = dialect;
    req.body = body;
    req.global_fp_id = global;
    req.source = &source;
    return render(req);
}

// The rendered body, failing the test with the problems when there are any.
std::string rendered(const std::string& body, const vault::RecordSource& source,
                     const std::string& global = {}) {
    auto out = run(body, source, global);
    for (const auto& p : out.problems)
        FAIL_CHECK(p.line << ":" << p.column << ": " << p.code << ": " << p.message);
    REQUIRE(out.ok);
    return out.body;
}

// The one problem of a body with one bad token.
Problem only_problem(const std::string& body, const vault::RecordSource& source,
                     const std::string& global = {}) {
    auto out = run(body, source, global);
    REQUIRE_FALSE(out.ok);
    CHECK(out.body.empty());
    REQUIRE(out.problems.size() == 1);
    return out.problems[0];
}

std::string filter_message(const std::string& text) {
    auto f = parse_filter(text);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().code == "template.syntax");
    return f.error().message;
}

std::string apply(const std::string& filter, const std::string& value) {
    auto f = parse_filter(filter);
    REQUIRE(f.ok());
    auto v = apply_filter(*f, value);
    if (!v)
        FAIL(filter << " failed: " << v.error().message);
    return *v;
}

std::string apply_error(const std::string& filter, const std::string& value) {
    auto f = parse_filter(filter);
    REQUIRE(f.ok());
    auto v = apply_filter(*f, value);
    REQUIRE_FALSE(v.ok());
    return v.error().message;
}

class ThrowingSource : public vault::RecordSource {
  public:
    std::optional<std::string> field(const std::string&, const std::string&) const override {
        throw std::runtime_error("vault record is damaged");
    }
    bool has_record(const std::string&) const override { return true; }
};

} // namespace

TEST_SUITE("template") {
    TEST_CASE("the seed's filter examples give exactly DOE, Friday in December of 88, 1212121212") {
        auto s = people();
        CHECK(rendered("{{ id.last_name | to_ascii | to_uppercase }}", s, k_fp) == "DOE");
        CHECK(rendered("{{ id.dob | date_format(\"%Y-%m-%d\", \"%A in %B of %y\") }}", s, k_fp) ==
              "Friday in December of 88");
        CHECK(rendered("{{ custom.ach_account| replace(\"-\", \"\") }}", s, k_fp) == "1212121212");
    }

    TEST_CASE("the seed's reflect example renders the exact sentence") {
        vault::MemorySource s;
        s.set("fp_id_JHSfbHz7VdxfoPXuaOlZqb", "card.primary.name", "Jane Doè");
        s.set("fp_id_JHSfbHz7VdxfoPXuaOlZqb", "id.dob", "1988-12-30");
        const std::string body =
            "The name on my credit card is {{ card.primary.name | to_ascii | to_uppercase }}. I was "
            "born on a {{ id.dob | date_format(\"%Y-%m-%d\", \"%A in %B of %y\") }}.";
        CHECK(rendered(body, s, "fp_id_JHSfbHz7VdxfoPXuaOlZqb") ==
              "The name on my credit card is JANE DOE. I was born on a Friday in December of 88.");
    }

    TEST_CASE("record_ids are the distinct records read, in byte order, however many share a prefix") {
        vault::MemorySource s;
        // Ids that share long prefixes, are prefixes of one another, differ past eight bytes
        // after their common prefix, and sort differently as numbers and as text.
        std::vector<std::string> ids = {"fp_id_test_a", "fp_id_test_ab", "fp_id_test_aB",
                                        "fp_id_test_b", "fp_id_test_Z", "fp_id_test_a9"};
        for (int i = 0; i < 300; ++i)
            ids.push_back("fp_id_test_r" + std::to_string(i * 7 % 300));
        for (int i = 0; i < 20; ++i)
            ids.push_back("fp_id_test_abcdefghijkl" + std::to_string(i));
        std::string body;
        for (const auto& id : ids) {
            s.set(id, "id.first_name", "J");
            s.set(id, "id.last_name", "D");
            body += "{{ " + id + ".id.first_name }} {{" + id + ".id.last_name}},";
        }
        auto out = run(body, s);
        REQUIRE(out.ok);
        std::vector<std::string> want = ids;
        std::sort(want.begin(), want.end());
        want.erase(std::unique(want.begin(), want.end()), want.end());
        CHECK(out.record_ids == want);
        CHECK(out.token_count == 2 * ids.size());
        // A request's handful of ids (sorted without the radix passes), repeats among them.
        std::string few = "{{ fp_id_test_b.id.first_name }}{{ fp_id_test_a.id.first_name }}{{ fp_id_test_Z.id.last_name }}"
                          "{{ fp_id_test_ab.id.first_name }}{{ fp_id_test_a.id.last_name }}{{ fp_id_test_a9.id.first_name }}";
        auto small = run(few, s);
        REQUIRE(small.ok);
        CHECK(small.record_ids ==
              std::vector<std::string>{"fp_id_test_Z", "fp_id_test_a", "fp_id_test_a9", "fp_id_test_ab", "fp_id_test_b"});
    }

    TEST_CASE("the seed's fully-qualified JSON body renders in place") {
        vault::MemorySource s;
        const std::string id = "fp_id_tctecBEvGc98V7Vx4MhZU";
        s.set(id, "id.first_name", "Jane");
        s.set(id, "id.last_name", "Doe");
        s.set(id, "id.ssn4", "6789");
        s.set(id, "custom.credit_card", "4242424242424242");
        s.set(id, "custom.credit_card_exp", "04/25");
        s.set(id, "custom.credit_card_cvc", "123");
        const std::string body = R"({
        "full_name": "{{ fp_id_tctecBEvGc98V7Vx4MhZU.id.first_name }} {{ fp_id_tctecBEvGc98V7Vx4MhZU.id.last_name }}",
        "last4_ssn": "{{ fp_id_tctecBEvGc98V7Vx4MhZU.id.ssn4 }}",
        "cc": "{{ fp_id_tctecBEvGc98V7Vx4MhZU.custom.credit_card }}",
        "cc_exp": "{{ fp_id_tctecBEvGc98V7Vx4MhZU.custom.credit_card_exp }}",
        "cc_cvc": "{{ fp_id_tctecBEvGc98V7Vx4MhZU.custom.credit_card_cvc }}"
    })";
        auto out = run(body, s);
        REQUIRE(out.ok);
        CHECK(out.token_count == 6);
        CHECK(out.record_ids == std::vector<std::string>{id});
        CHECK(out.body == R"({
        "full_name": "Jane Doe",
        "last4_ssn": "6789",
        "cc": "4242424242424242",
        "cc_exp": "04/25",
        "cc_cvc": "123"
    })");
    }

    TEST_CASE("scanner: braces beyond a pair, lone braces and }} outside tokens are text") {
        auto s = people();
        CHECK(rendered("{{{ id.first_name }}}", s, k_fp) == "{Jane}");
        CHECK(rendered("{{{{id.first_name}}", s, k_fp) == "{{Jane");
        CHECK(rendered("a }} b } c { d", s, k_fp) == "a }} b } c { d");
        CHECK(rendered("{\"a\":{\"b\":\"{{ id.first_name }}\"}}", s, k_fp) == "{\"a\":{\"b\":\"Jane\"}}");
        // A `{{` inside an open token means the first one was not a token.
        CHECK(rendered("x {{ not closed {{ id.first_name }}", s, k_fp) == "x {{ not closed Jane");
        // Lone braces inside a token are part of its text, which then does not parse.
        auto p = only_problem("{{ id.first_name } }}", s, k_fp);
        CHECK(p.code == "template.syntax");
        CHECK(p.token == "{{ id.first_name } }}");
    }

    TEST_CASE("scanner: an unterminated {{ stays text, with a warning at its position") {
        auto s = people();
        auto out = run("ab\ncd {{ id.first_name", s, k_fp);
        REQUIRE(out.ok);
        CHECK(out.body == "ab\ncd {{ id.first_name");
        CHECK(out.token_count == 0);
        REQUIRE(out.warnings.size() == 1);
        CHECK(out.warnings[0].code == "template.unclosed");
        CHECK(out.warnings[0].line == 2);
        CHECK(out.warnings[0].column == 4);
        auto tail = run("{{ id.first_name }} {{", s, k_fp);
        REQUIRE(tail.ok);
        CHECK(tail.body == "Jane {{");
        CHECK(tail.warnings.size() == 1);
        CHECK(run("{{ id.first_name }", s, k_fp).body == "{{ id.first_name }");
        CHECK(run("{", s, k_fp).body == "{");
        CHECK(run("", s, k_fp).body.empty());
    }

    TEST_CASE("scanner: an empty token {{}} fails, with Footprint's message and position") {
        auto s = people();
        auto p = only_problem("hello\n  {{}} world", s);
        CHECK(p.code == "template.syntax");
        CHECK(p.message == "Missing or invalid fp_id in proxy token.");
        CHECK(p.line == 2);
        CHECK(p.column == 3);
        CHECK(p.token == "{{}}");
        CHECK(only_problem("{{   }}", s, k_fp).message == "Missing or invalid fp_id in proxy token.");
    }

    TEST_CASE("scanner: whitespace, tokens at the edges and adjacent tokens") {
        auto s = people();
        CHECK(rendered("{{id.first_name}}", s, k_fp) == "Jane");
        CHECK(rendered("{{ \t id.first_name\n }}", s, k_fp) == "Jane");
        CHECK(rendered("{{\u00a0id.first_name\u3000}}", s, k_fp) == "Jane"); // Unicode spaces trim
        CHECK(rendered("{{ id.first_name }}{{ id.last_name }}", s, k_fp) == "JaneDoè");
        CHECK(rendered("{{ id.first_name }} tail", s, k_fp) == "Jane tail");
        CHECK(rendered("head {{ id.first_name }}", s, k_fp) == "head Jane");
        CHECK(rendered("{{ id.first_name | to_uppercase|to_lowercase }}", s, k_fp) == "jane");
    }

    TEST_CASE("scanner: positions are 1-based lines and character columns across UTF-8") {
        auto s = people();
        const std::string body = "línea uno 😀\n"
                                 "日本語 {{ id.nope }} and {{ fp_id_test_abc.id.first_name }}\r\n"
                                 "\n"
                                 "   é{{ custom. }}";
        auto out = run(body, s);
        REQUIRE_FALSE(out.ok);
        REQUIRE(out.problems.size() == 2);
        CHECK(out.problems[0].line == 2);
        CHECK(out.problems[0].column == 5);
        CHECK(out.problems[0].token == "{{ id.nope }}");
        CHECK(out.problems[1].line == 4);
        CHECK(out.problems[1].column == 5);
        // "custom" has none of the fp_id prefixes: Footprint's fp_id error comes first.
        CHECK(out.problems[1].message == "Missing or invalid fp_id in proxy token.");

        auto sr = scan(Dialect::footprint, body);
        REQUIRE(sr.tokens.size() == 3);
        CHECK(sr.tokens[1].line == 2);
        CHECK(sr.tokens[1].column == 23);
        CHECK(sr.tokens[1].text == "{{ fp_id_test_abc.id.first_name }}");
        CHECK(sr.tokens[1].inner == " fp_id_test_abc.id.first_name ");
        CHECK(body.substr(sr.tokens[1].begin, sr.tokens[1].end - sr.tokens[1].begin) ==
              sr.tokens[1].text);
    }

    TEST_CASE("scanner: multi-line bodies keep every byte outside tokens") {
        auto s = people();
        const std::string body = "<xml>\r\n  <name>{{ id.first_name }}</name>\n\t<x a=\"{{ id.last_name | "
                                 "to_ascii }}\"/>\n</xml>\n";
        CHECK(rendered(body, s, k_fp) ==
              "<xml>\r\n  <name>Jane</name>\n\t<x a=\"Doe\"/>\n</xml>\n");
    }

    TEST_CASE("bodies that are not UTF-8 are refused with the position of the bad byte") {
        auto s = people();
        auto p = only_problem("ok\nab\xff{{ id.first_name }}", s, k_fp);
        CHECK(p.code == "template.utf8");
        CHECK(p.line == 2);
        CHECK(p.column == 3);
        CHECK(find_invalid_utf8("\xed\xa0\x80") == std::optional<std::size_t>(0)); // surrogate
        CHECK(find_invalid_utf8("abcdefgh\xc0\xaf") == std::optional<std::size_t>(8)); // overlong
        CHECK(find_invalid_utf8("abcdefghijklmnop\xf4\x90\x80\x80") == std::optional<std::size_t>(16));
        CHECK_FALSE(find_invalid_utf8("Doè ✓ 😀 plain ascii run of text").has_value());
        CHECK(find_invalid_utf8("abc\xe2\x9c") == std::optional<std::size_t>(3)); // truncated
    }

    TEST_CASE("utf-8 validation of long bodies (AVX2) agrees with the byte-by-byte check") {
        if (!util::has_avx2())
            MESSAGE("this CPU has no AVX2: both sides are the byte-by-byte check");
        // Pieces that straddle the 32-byte blocks at every alignment: valid characters of each
        // length, and each kind of ill-formed sequence.
        const std::vector<std::string> pieces = {
            "a", "plain ascii text ", "\n", "{{", "\xc3\xa9", "\xe2\x80\x93", "\xf0\x9f\x98\x80",
            "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80",
            // ill-formed: overlongs, surrogates, above U+10FFFF, stray and missing continuations
            "\xc0\xaf", "\xc1\xbf", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
            "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xfe", "\x80",
            "\xbf", "\xe2\x9c", "\xf0\x9f\x98", "\xc3", "\xf8\x88\x80\x80\x80"};
        std::mt19937 rng(7);
        int invalid = 0;
        for (int round = 0; round < 20000; ++round) {
            std::string s;
            const std::size_t target = 64 + rng() % 200;
            // Mostly valid text, so an error lands anywhere, including the very end.
            while (s.size() < target)
                s += pieces[rng() % 50 < 45 ? rng() % 12 : rng() % pieces.size()];
            if (rng() % 4 == 0)
                s.back() = static_cast<char>(rng() % 256);
            auto fast = find_invalid_utf8(s), slow = find_invalid_utf8_scalar(s);
            CAPTURE(round);
            REQUIRE(fast == slow);
            invalid += slow.has_value();
        }
        CHECK(invalid > 5000);
        CHECK(invalid < 19000);
    }

    TEST_CASE("scanner: the searches for {{ and for a token's end find the same tokens as a byte-by-byte scan") {
        // Footprint's rules (see scanner.hpp), one byte at a time.
        auto reference = [](std::string_view b) {
            std::vector<std::pair<std::size_t, std::size_t>> spans;
            std::size_t i = 0, open_at = 0;
            bool open = false;
            while (i + 1 < b.size()) {
                if (b[i] == '{' && b[i + 1] == '{') {
                    std::size_t j = i + 2;
                    while (j < b.size() && b[j] == '{')
                        ++j;
                    open = true;
                    open_at = j - 2;
                    i = j;
                } else if (open && b[i] == '}' && b[i + 1] == '}') {
                    spans.emplace_back(open_at, i + 2);
                    open = false;
                    i += 2;
                } else {
                    ++i;
                }
            }
            return spans;
        };
        std::mt19937 rng(11);
        const char alphabet[] = {'{', '}', 'a', ' ', '\n', '{', 'x', '"'};
        for (int round = 0; round < 30000; ++round) {
            std::string s;
            if (round % 3 == 2) {
                // Sparse braces, mostly in pairs: tokens and text longer than a 32-byte step.
                const char* const pieces[] = {"{{", "}}", "{", "}"};
                const std::size_t size = rng() % 400;
                while (s.size() < size)
                    s += rng() % 30 == 0 ? std::string(pieces[rng() % 4])
                                         : std::string(1, "a \nx\""[rng() % 5]);
            } else {
                s.assign(rng() % 120, ' ');
                for (auto& c : s)
                    c = alphabet[rng() % (round % 3 ? 8 : 3)]; // mostly braces
            }
            auto scanned = scan_braces(s);
            std::vector<std::pair<std::size_t, std::size_t>> got;
            for (const auto& span : scanned.spans)
                got.emplace_back(span.begin, span.end);
            CAPTURE(s);
            REQUIRE(got == reference(s));
        }
    }

    TEST_CASE("position counter restarts when asked about an earlier offset") {
        std::string text = "ab\ncdé\nf";
        PositionCounter c(text);
        CHECK(c.at(7).line == 2);
        CHECK(c.at(7).column == 4); // c, d and é come before the newline
        CHECK(c.at(8).line == 3);
        CHECK(c.at(8).column == 1);
        CHECK(c.at(9).column == 2);
        CHECK(c.at(1).line == 1);
        CHECK(c.at(1).column == 2);
    }

    TEST_CASE("footprint tokens: fp_ids, the global fp_id and Footprint's exact errors") {
        auto s = people();
        CHECK(rendered("{{ fp_id_test_abc.id.first_name }}", s) == "Jane");
        // The header's fp_id may also be written out in full.
        CHECK(rendered("{{ fp_id_test_abc.id.first_name }}", s, k_fp) == "Jane");
        CHECK(only_problem("{{ fp_id_test_other.id.first_name }}", s, k_fp).message ==
              "Cannot mix global footprint token with fully-qualified proxy tokens. Please remove the "
              "header 'x-fp-id' or remove the 'fp_id.' prefix from proxy tokens.");
        // Footprint's order under x-fp-id: `id.nope` is no data identifier, so it is read as
        // "<fp_id>.<di>", and "id" has none of the four prefixes: the fp_id error comes first.
        CHECK(only_problem("{{ id.nope }}", s, k_fp).message == "Missing or invalid fp_id in proxy token.");
        CHECK(only_problem("{{ abc.id.first_name }}", s, k_fp).message == "Missing or invalid fp_id in proxy token.");
        CHECK(only_problem("{{ abc.id.first_name }}", s).message == "Missing or invalid fp_id in proxy token.");
        // A valid fp_id other than the global one is the mix error, before its data identifier.
        CHECK(only_problem("{{ fp_id_test_other.id.nope }}", s, k_fp).message.rfind("Cannot mix", 0) == 0);
        CHECK(only_problem("{{ fp_id_test_abc.id.nope }}", s, k_fp).message == "Cannont parse data identifier: id.nope");
        CHECK(only_problem("{{ fp_id_a-b.id.first_name }}", s).message ==
              "Missing or invalid fp_id in proxy token.");
        CHECK(only_problem("{{ fp_id_.id.first_name }}", s).message ==
              "Missing or invalid fp_id in proxy token.");
        CHECK(only_problem("{{ fp_id_test_abc.id.favourite_color }}", s).message ==
              "Cannont parse data identifier: id.favourite_color");
        CHECK(only_problem("{{ fp_id_test_abc }}", s).message == "Cannont parse data identifier: ");
        CHECK(only_problem("{{ fp_id_test_abc.id.first_name | }}", s).message ==
              "Invalid filter function: unknown function");
        CHECK(only_problem("{{ fp_id_test_abc.id.first_name | shout }}", s).message ==
              "Invalid filter function: unknown function");
        CHECK(only_problem("{{ fp_id_test_abc.id.first_name | prefix(x) }}", s).message ==
              "Invalid filter function: argument could not parse as Integer");

        auto unknown = only_problem("{{ fp_id_test_abc.id.middle_name | to_uppercase | prefix(1) }}", s);
        CHECK(unknown.code == "template.unknown");
        CHECK(unknown.message ==
              "Found invalid or unknown data identifiers: fp_id_test_abc.id.middle_name | to_uppercase | prefix");
        auto user = only_problem("{{ fp_id_test_nobody.id.first_name }}", s);
        CHECK(user.code == "template.unknown_record");
        CHECK(user.message == "User fp_id_test_nobody does not exist");

        auto tok = parse_footprint_token(" id.first_name | prefix(2) ", k_fp);
        REQUIRE(tok.ok());
        CHECK(tok->uses_global);
        CHECK(tok->fp_id == k_fp);
        CHECK(tok->di == "id.first_name");
        CHECK(tok->reference() == "fp_id_test_abc.id.first_name | prefix");
    }

    TEST_CASE("fp_ids and data identifiers follow Footprint's grammar") {
        for (const char* ok : {"fp_id_test_abc", "fp_bid_test_X1", "fp_bid_x", "fp_id_tctecBEvGc98V7Vx4MhZU"})
            CHECK_MESSAGE(is_valid_fp_id(ok), ok);
        // No prefix at all is invalid: the prefix is what makes an fp_id.
        for (const char* bad : {"", "fp_id_", "fp_id_test_", "fp_id_a_b", "fp_id_a.b", "fp_id_é", "id",
                                "abc", "fpid_abc", "FP_ID_abc", "bid_abc"})
            CHECK_MESSAGE(!is_valid_fp_id(bad), bad);
        for (const char* ok :
             {"id.first_name", "id.ssn9", "id.us_tax_id", "custom.credit_card", "custom.a.b.",
              "custom.x-y_z", "card.primary.number", "card.primary.billing_address.zip",
              "card.my-card.expiration_month", "business.name", "business.formation_date",
              "investor_profile.occupation", "document.passport.front.image",
              "document.drivers_license.dob", "document.id_card.selfie.mime_type",
              "document.finra_compliance_letter", "document.custom.lease"})
            CHECK_MESSAGE(is_valid_data_identifier(ok), ok);
        for (const char* bad :
             {"", "id", "id.", "id.FIRST_NAME", "ID.first_name", "custom.", "custom.a b", "card.primary",
              "card..number", "card.primary.pin", "business.ceo", "investor_profile.", "document.passport",
              "document.passport.front.dob", "bank.primary.name", "custom.é"})
            CHECK_MESSAGE(!is_valid_data_identifier(bad), bad);
    }

    TEST_CASE("filter parser: names, parens, argument counts and their exact messages") {
        CHECK(filter_message("shout") == "unknown function");
        CHECK(filter_message("") == "unknown function");
        CHECK(filter_message("prefix (2)") == "unknown function"); // the name is not trimmed
        CHECK(filter_message("prefix(2") == "invalid parens");
        CHECK(filter_message("prefix2)") == "invalid parens");
        CHECK(filter_message("prefix(2)x") == "invalid parens");
        CHECK(filter_message(")prefix(2") == "invalid parens");
        CHECK(filter_message("replace(\"(\", \")\")") == "invalid parens");
        CHECK(filter_message("prefix") == "missing argument: n");
        CHECK(filter_message("prefix()") == "missing argument: n");
        CHECK(filter_message("prefix(a)") == "argument could not parse as Integer");
        CHECK(filter_message("prefix(-1)") == "argument could not parse as Integer");
        CHECK(filter_message("prefix(+)") == "argument could not parse as Integer");
        CHECK(filter_message("prefix(99999999999999999999)") == "argument could not parse as Integer");
        CHECK(filter_message("prefix(2,3)") == "unexpected number of arguments: 2 but expected: 1");
        CHECK(filter_message("prefix(2, )") == "unexpected number of arguments: 2 but expected: 1");
        CHECK(filter_message("to_uppercase(1)") == "unexpected number of arguments: 1 but expected: 0");
        CHECK(filter_message("replace(-, \"\")") == "string argument from must use single or double quotes");
        CHECK(filter_message("replace(\"-\", x)") == "string argument to must use single or double quotes");
        CHECK(filter_message("replace(\"a', \"b\")") == "string argument from must use single or double quotes");
        CHECK(filter_message("replace(\",\", \"\")") == "string argument from must use single or double quotes");
        CHECK(filter_message("replace(\"-\")") == "missing argument: to");
        CHECK(filter_message("replace(\"a\", \"b\", \"c\")") == "unexpected number of arguments: 3 but expected: 2");
        CHECK(filter_message("date_format(\"%Y\")") == "missing argument: to_format");
        CHECK(filter_message("date_format(%Y, \"%y\")") ==
              "string argument from_format must use single or double quotes");
        CHECK(filter_message("hmac_sha256") == "missing argument: key");
        CHECK(filter_message("hmac_sha256(abcd)") == "string argument key must use single or double quotes");
        CHECK(filter_message("hmac_sha256(\"xyz1\")") == "argument 'key' must be hex-encoded");
        CHECK(filter_message("hmac_sha256(\"abc\")") == "argument 'key' must be hex-encoded");
        CHECK(filter_message("encrypt(\"aes\", \"00\")") == "argument invalid: algorithm is invalid or unsupported");
        CHECK(filter_message("encrypt(\"RSA_PKCS1V15\", \"00\")") ==
              "argument invalid: algorithm is invalid or unsupported");
        CHECK(filter_message("encrypt(rsa_pkcs1v15, \"00\")") ==
              "string argument algorithm must use single or double quotes");
        CHECK(filter_message("encrypt(\"rsa_pkcs1v15\")") == "missing argument: public_key");
        CHECK(filter_message("encrypt(\"rsa_pkcs1v15\", zz)") ==
              "string argument public_key must use single or double quotes");
        CHECK(filter_message("encrypt(\"rsa_pkcs1v15\", \"zz\")") == "argument 'public_key' must be hex-encoded");
    }

    TEST_CASE("filter parser: what it accepts, and canonical forms") {
        CHECK(parse_filter("  to_ascii  ").ok());
        CHECK(parse_filter("to_uppercase()").ok());
        CHECK(parse_filter("prefix(+2)")->count == 2);
        CHECK(parse_filter("prefix(2,)")->count == 2); // one trailing empty argument is dropped
        auto r = parse_filter("replace('\\,', \"\\(x\\)\")");
        REQUIRE(r.ok());
        CHECK(r->from == ",");
        CHECK(r->to == "(x)");
        CHECK(r->canonical() == "replace(\",\", \"(x)\")");
        auto h = parse_filter("hmac_sha256('4A656665')");
        REQUIRE(h.ok());
        CHECK(h->key == "Jefe");
        CHECK(h->canonical() == "hmac_sha256(\"<scrubbed>\")");
        CHECK(parse_filter("hmac_sha256(\"\")").ok());
        CHECK(parse_filter("prefix(3)")->canonical() == "prefix(3)");
        CHECK(parse_filter("date_format('%Y', '%y')")->canonical() == "date_format(\"%Y\", \"%y\")");
        auto e = parse_filter("encrypt('rsa_pkcs1v15', '00FF')");
        REQUIRE(e.ok());
        CHECK(e->canonical() == "encrypt(\"rsa_pkcs1v15\", \"00ff\")");
        CHECK(e->name() == "encrypt");
    }

    TEST_CASE("case filters use full Unicode case mapping") {
        CHECK(apply("to_uppercase", "straße") == "STRASSE");
        CHECK(apply("to_uppercase", "ǆemal doè") == "ǄEMAL DOÈ");
        CHECK(apply("to_lowercase", "ÀÉÎ ΣΑΣ") == "àéî σας"); // final sigma
        CHECK(apply("to_lowercase", "İ") == "i̇");
        CHECK(apply("to_lowercase", "") == "");
    }

    TEST_CASE("to_ascii transliterates") {
        CHECK(apply("to_ascii", "Doè") == "Doe");
        CHECK(apply("to_ascii", "Ærøskøbing Straße") == "AEroskobing Strasse");
        CHECK(apply("to_ascii", "Привет") == "Privet");
        CHECK(apply("to_ascii", "plain") == "plain");
        std::string emoji = apply("to_ascii", "a😀b");
        CHECK(emoji == "a[?]b");
    }

    TEST_CASE("prefix and suffix count characters, not bytes") {
        CHECK(apply("prefix(2)", "Doè") == "Do");
        CHECK(apply("prefix(3)", "Doè") == "Doè");
        CHECK(apply("prefix(10)", "Doè") == "Doè");
        CHECK(apply("prefix(0)", "Doè") == "");
        CHECK(apply("suffix(2)", "Doè") == "oè");
        CHECK(apply("suffix(1)", "a😀") == "😀");
        CHECK(apply("suffix(10)", "Doè") == "Doè");
        CHECK(apply("suffix(0)", "Doè") == "");
        CHECK(apply("suffix(4)", "4242424242424242") == "4242");
    }

    TEST_CASE("replace replaces every non-overlapping match, left to right") {
        CHECK(apply("replace(\"-\", \"\")", "12-1212-1212") == "1212121212");
        CHECK(apply("replace(\"aa\", \"b\")", "aaaaa") == "bba");
        CHECK(apply("replace(\"x\", \"y\")", "abc") == "abc");
        CHECK(apply("replace(\"\", \"-\")", "aé") == "-a-é-"); // empty pattern: every boundary
        CHECK(apply("replace('è', 'e')", "Doè") == "Doe");
    }

    TEST_CASE("date_format parses the whole input and formats with strftime") {
        CHECK(apply("date_format(\"%Y-%m-%d\", \"%A in %B of %y\")", "1988-12-30") == "Friday in December of 88");
        CHECK(apply("date_format(\"%d/%m/%Y\", \"%Y-%m-%d\")", "07/01/2024") == "2024-01-07");
        CHECK(apply("date_format(\"%Y-%j\", \"%F\")", "1988-365") == "1988-12-30");
        CHECK(apply("date_format(\"%A %Y-%m-%d\", \"%m%y\")", "Friday 1988-12-30") == "1288");
        CHECK(apply("date_format('%Y-%m-%d', '')", "1988-12-30") == "");
        const std::string bad = "invalid date or date format";
        CHECK(apply_error("date_format(\"%Y-%m-%d\", \"%y\")", "1988-12-30x") == bad);  // trailing input
        CHECK(apply_error("date_format(\"%Y-%m-%d\", \"%y\")", "1988-02-30") == bad);   // no such day
        CHECK(apply_error("date_format(\"%Y-%m-%d\", \"%y\")", "30/12/1988") == bad);
        CHECK(apply_error("date_format(\"%Y-%m\", \"%y\")", "1988-12") == bad);         // not a date
        CHECK(apply_error("date_format(\"%A %Y-%m-%d\", \"%y\")", "Monday 1988-12-30") == bad);
        CHECK(apply_error("date_format(\"%Y-%m-%d\", \"%y\")", "") == bad);
        auto f = parse_filter("date_format(\"%Y-%m-%d\", \"%y\")");
        auto r = apply_filter(*f, "1988-12-30");
        CHECK(r.ok());
        CHECK(apply_filter(*f, "1988-13-01").error().code == "template.filter");
    }

    TEST_CASE("hmac_sha256 hashes the bytes with a hex key and prints lowercase hex") {
        // RFC 4231 test case 2.
        CHECK(apply("hmac_sha256(\"4a656665\")", "what do ya want for nothing?") ==
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        CHECK(apply("hmac_sha256(\"4A656665\")", "what do ya want for nothing?") ==
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        CHECK(apply("hmac_sha256(\"\")", "") ==
              "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
        // Bytes, not text: invalid UTF-8 is fine here.
        CHECK(apply("hmac_sha256(\"00\")", "\xff").size() == 64);
    }

    TEST_CASE("text filters refuse values that are not UTF-8") {
        for (const char* f : {"to_uppercase", "to_lowercase", "to_ascii", "prefix(1)", "suffix(1)",
                              "replace(\"a\", \"b\")", "date_format(\"%Y\", \"%Y\")"})
            CHECK_MESSAGE(apply_error(f, "Do\xe8") == "invalid utf-8 string", f);
    }

    TEST_CASE("encrypt seals to RSA and ECIES keys given as hex DER") {
        auto ec = crypto::make_test_key_pair(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm);
        auto rsa = crypto::make_test_key_pair(crypto::SealAlgorithm::rsa_pkcs1v15);
        vault::MemorySource s = people();
        const std::string body = "{\"a\":\"{{ id.ssn9 | encrypt(\"ecies_p256_x963_sha256_aes_gcm\", \"" +
                                 util::to_hex(ec.public_key_der) + "\") }}\",\"b\":\"{{ id.ssn9 | encrypt('rsa_pkcs1v15', '" +
                                 util::to_hex(rsa.public_key_der) + "') }}\"}";
        std::string out = rendered(body, s, k_fp);
        auto a_begin = out.find("\"a\":\"") + 5;
        std::string a = out.substr(a_begin, out.find('"', a_begin) - a_begin);
        auto b_begin = out.find("\"b\":\"") + 5;
        std::string b = out.substr(b_begin, out.find('"', b_begin) - b_begin);
        CHECK(a == util::to_lower(a));
        CHECK(b.size() == 512);
        auto a_bytes = util::from_hex(a);
        REQUIRE(a_bytes);
        CHECK(*crypto::open(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm, ec.private_key_pem, *a_bytes) ==
              "123456789");
        CHECK(*crypto::open(crypto::SealAlgorithm::rsa_pkcs1v15, rsa.private_key_pem, *util::from_hex(b)) ==
              "123456789");

        auto wrong = only_problem("{{ id.ssn9 | encrypt(\"rsa_pkcs1v15\", \"" + util::to_hex(ec.public_key_der) +
                                      "\") }}",
                                  s, k_fp);
        CHECK(wrong.code == "template.filter");
        CHECK(wrong.message == "cryptography error: Invalid der public key");
        CHECK(apply_error("encrypt(\"ecies_p256_x963_sha256_aes_gcm\", \"00\")", "x") ==
              "cryptography error: Invalid der public key");
    }

    TEST_CASE("problems never show an hmac key written in the template") {
        auto s = people();
        auto p = only_problem("{{ id.middle_name | hmac_sha256(\"00112233445566778899\") }}", s, k_fp);
        CHECK(p.token == "{{ id.middle_name | hmac_sha256(\"<scrubbed>\") }}");
        CHECK(p.message.find("0011") == std::string::npos);
    }

    TEST_CASE("identical tokens are resolved once, as Footprint dedupes them") {
        auto ec = crypto::make_test_key_pair(crypto::SealAlgorithm::ecies_p256_x963_sha256_aes_gcm);
        vault::MemorySource s = people();
        const std::string tok =
            "{{ id.ssn9 | encrypt(\"ecies_p256_x963_sha256_aes_gcm\", \"" + util::to_hex(ec.public_key_der) + "\") }}";
        auto out = run(tok + "|" + tok, s, k_fp);
        REQUIRE(out.ok);
        CHECK(out.token_count == 2);
        auto bar = out.body.find('|');
        CHECK(out.body.substr(0, bar) == out.body.substr(bar + 1));
    }

    TEST_CASE("three bad tokens give one failure listing all three, in order, with positions") {
        auto s = people();
        const std::string body = "{\n"
                                 "  \"a\": \"{{ id.middle_name }}\",\n"
                                 "  \"b\": \"{{ id.first_name | shout }}\", \"ok\": \"{{ id.first_name }}\",\n"
                                 "  \"c\": \"{{ id.dob | date_format(\\\"%Y\\\", \\\"%y\\\") }}\"\n"
                                 "}";
        auto out = run(body, s, k_fp);
        CHECK_FALSE(out.ok);
        CHECK(out.body.empty());
        CHECK(out.token_count == 4);
        REQUIRE(out.problems.size() == 3);
        CHECK(out.problem_count == 3);
        CHECK(out.problems[0].code == "template.unknown");
        CHECK(out.problems[0].line == 2);
        CHECK(out.problems[0].column == 9);
        CHECK(out.problems[1].code == "template.syntax");
        CHECK(out.problems[1].message == "Invalid filter function: unknown function");
        CHECK(out.problems[1].line == 3);
        CHECK(out.problems[1].column == 9);
        CHECK(out.problems[2].line == 4);
        CHECK(out.problems[2].column == 9);
        // Footprint reports a syntax error before anything else.
        CHECK(footprint_error_message(out) == "Invalid filter function: unknown function");
        CHECK(http_status(out) == 400);
    }

    TEST_CASE("unknown identifiers are listed together in Footprint's message") {
        auto s = people();
        auto out = run("{{ id.middle_name }} {{ id.email | to_uppercase }} {{ id.middle_name }}", s, k_fp);
        REQUIRE(out.problems.size() == 3);
        CHECK(footprint_error_message(out) ==
              "Found invalid or unknown data identifiers: fp_id_test_abc.id.middle_name\", \""
              "fp_id_test_abc.id.email | to_uppercase");
    }

    TEST_CASE("forbidden identifiers fail with their own code and a 403") {
        auto s = people();
        RenderRequest req;
        req.body = "{{ id.first_name }} {{ id.ssn9 }} {{ id.dob }}";
        req.global_fp_id = k_fp;
        req.source = &s;
        req.may_reveal = [](std::string_view di) { return di != "id.ssn9" && di != "id.dob"; };
        auto out = render(req);
        CHECK_FALSE(out.ok);
        REQUIRE(out.problems.size() == 2);
        CHECK(out.problems[0].code == "template.forbidden");
        CHECK(out.problems[0].message == "not allowed to reveal id.ssn9");
        CHECK(out.problems[0].column == 21);
        CHECK(http_status(out) == 403);
        req.may_reveal = [](std::string_view) { return true; };
        CHECK(render(req).ok);
    }

    TEST_CASE("a vault that cannot read a value makes the token undecryptable") {
        ThrowingSource s;
        auto out = run("{{ fp_id_test_abc.id.first_name }}", s);
        REQUIRE(out.problems.size() == 1);
        CHECK(out.problems[0].code == "template.undecryptable");
        CHECK(out.problems[0].message.find("damaged") == std::string::npos);
    }

    TEST_CASE("check mode validates and resolves without producing a body") {
        auto s = people();
        RenderRequest req;
        req.body = "{{ id.first_name }} {{ id.dob | date_format('%Y-%m-%d', '%y') }}";
        req.global_fp_id = k_fp;
        req.source = &s;
        req.mode = RenderMode::check;
        auto out = render(req);
        CHECK(out.ok);
        CHECK(out.body.empty());
        CHECK(out.token_count == 2);
        req.body = "{{ id.first_name }} {{ id.dob | date_format('%d', '%y') }} {{ id.nope }}";
        auto bad = render(req);
        CHECK_FALSE(bad.ok);
        CHECK(bad.problems.size() == 2);
    }

    TEST_CASE("problems beyond max_problems are counted but not kept") {
        auto s = people();
        std::string body;
        for (int i = 0; i < 50; ++i)
            body += "{{ id.email }}\n";
        RenderRequest req;
        req.body = body;
        req.global_fp_id = k_fp;
        req.source = &s;
        req.max_problems = 10;
        auto out = render(req);
        CHECK(out.problems.size() == 10);
        CHECK(out.problem_count == 50);
        CHECK(out.problems[9].line == 10);
    }

    TEST_CASE("gr4vy placeholders read the payment methods by 1-based index") {
        vault::MemorySource s;
        s.set("pm_visa", "card.number", "4111111111111111");
        s.set("pm_visa", "card.exp_month", "02");
        s.set("pm_visa", "card.exp_year", "2028");
        s.set("pm_mc", "card.number", "5555444433331111");
        s.set("pm_mc", "card.exp_month", "11");
        s.set("pm_mc", "card.exp_year", "2031");
        RenderRequest req;
        req.dialect = Dialect::gr4vy;
        req.payment_methods = {"pm_visa", "pm_mc"};
        req.source = &s;
        const std::string body =
            "{\"n\":\"{{ CARD_NUMBER_1 }}\",\"e\":\"{{CARD_EXPIRATION_DATE_1}}\",\"m\":\"{{ "
            "CARD_EXPIRATION_DATE_M_1 }}\",\"mm\":\"{{ CARD_EXPIRATION_DATE_MM_1 }}\",\"yy\":\"{{ "
            "CARD_EXPIRATION_DATE_YY_1 }}\",\"yyyy\":\"{{ CARD_EXPIRATION_DATE_YYYY_1 }}\",\"n2\":\"{{ "
            "CARD_NUMBER_2 }}\",\"e2\":\"{{ CARD_EXPIRATION_DATE_2 }}\",\"m2\":\"{{ "
            "CARD_EXPIRATION_DATE_M_2 }}\",\"t\":\"{{ some text }}{{}}\"}";
        req.body = body;
        auto out = render(req);
        for (const auto& p : out.problems)
            FAIL_CHECK(p.message);
        REQUIRE(out.ok);
        CHECK(out.body ==
              "{\"n\":\"4111111111111111\",\"e\":\"02/28\",\"m\":\"2\",\"mm\":\"02\",\"yy\":\"28\","
              "\"yyyy\":\"2028\",\"n2\":\"5555444433331111\",\"e2\":\"11/31\",\"m2\":\"11\",\"t\":\"{{ "
              "some text }}{{}}\"}");
        CHECK(out.token_count == 9);
        CHECK(out.record_ids == std::vector<std::string>{"pm_mc", "pm_visa"});
    }

    TEST_CASE("gr4vy errors: out of range, unknown placeholders and missing payment methods") {
        vault::MemorySource s;
        s.set("pm_visa", "card.number", "4111111111111111");
        s.set("pm_visa", "card.exp_month", "13");
        RenderRequest req;
        req.dialect = Dialect::gr4vy;
        req.payment_methods = {"pm_visa", "pm_gone"};
        req.source = &s;
        req.body = "{{ CARD_NUMBER_3 }} {{ CARD_NUMBR_1 }} {{ CARD_NUMBER_2 }} {{ CARD_EXPIRATION_DATE_MM_1 }} "
                   "{{ CARD_NUMBER_0 }} {{ card_number_1 }}";
        auto out = render(req);
        REQUIRE(out.problems.size() == 6);
        CHECK(out.problems[0].code == "template.unknown");
        CHECK(out.problems[0].message ==
              "placeholder refers to payment method 3 but x-vault-forward-payment-methods lists 2");
        CHECK(out.problems[1].message == "unknown placeholder CARD_NUMBR_1 (did you mean CARD_NUMBER_1?)");
        CHECK(out.problems[1].column == 21);
        CHECK(out.problems[2].code == "template.unknown_record");
        CHECK(out.problems[2].message == "payment method pm_gone is not in the vault");
        CHECK(out.problems[3].code == "template.filter");
        CHECK(out.problems[3].message == "payment method pm_visa has an invalid card.exp_month");
        CHECK(out.problems[4].message == "placeholder index starts at 1");
        CHECK(out.problems[5].message.rfind("unknown placeholder card_number_1", 0) == 0);

        CHECK(parse_gr4vy_placeholder("CARD_EXPIRATION_DATE_YYYY_12")->index == 12);
        CHECK(parse_gr4vy_placeholder("CARD_EXPIRATION_DATE_YYYY_12")->field == Gr4vyField::year_full);
        CHECK_FALSE(parse_gr4vy_placeholder("CARD_NUMBER_").has_value());
        CHECK_FALSE(parse_gr4vy_placeholder("CARD_NUMBER_1a").has_value());
        CHECK(gr4vy_fields(Gr4vyField::expiration_date) ==
              std::vector<std::string>{"card.exp_month", "card.exp_year"});
    }

    TEST_CASE("vtex tokens in both forms, custom resolvers and errors") {
        vault::MemorySource s;
        s.set("vtex_d799bae", "number", "5555444433331111");
        s.set("vtex_d799bae", "holder", "JOHN DOE");
        s.set("vtex_d799bae", "csc", "123");
        RenderRequest req;
        req.dialect = Dialect::vtex;
        req.source = &s;
        req.body = R"({"Holder": "#vtex#token#d799bae#holder#", "CardNumber": "#vtex#token#d799bae#number#",)"
                   R"( "SecurityCode": "#vtex#csc#d799bae#", "ExpirationDate": "02/2028", "x": "#vt#"})";
        auto out = render(req);
        REQUIRE(out.ok);
        CHECK(out.body == R"({"Holder": "JOHN DOE", "CardNumber": "5555444433331111",)"
                          R"( "SecurityCode": "123", "ExpirationDate": "02/2028", "x": "#vt#"})");
        CHECK(out.record_ids == std::vector<std::string>{"vtex_d799bae"});

        req.vtex_resolver = [](const std::string& hash, const std::string& name) -> Result<std::string> {
            if (name == "hashedCardNumber")
                return "md5-of-" + hash;
            return make_error("template.unknown", "unknown custom token " + name);
        };
        req.body = "sig=#vtex#hashedCardNumber#d799bae#&x=#vtex#nope#d799bae#";
        auto custom = render(req);
        REQUIRE(custom.problems.size() == 1);
        CHECK(custom.problems[0].message == "unknown custom token nope");
        CHECK(custom.problems[0].column == 39);
        req.vtex_resolver = nullptr;

        req.body = "#vtex#token#d799bae#pin# #vtex#csc#0000000# #vtex#broken #vtex#number#d799bae#";
        req.vtex_payment = "d799bae";
        auto bad = render(req);
        REQUIRE(bad.problems.size() == 3);
        CHECK(bad.problems[0].code == "template.unknown");
        CHECK(bad.problems[0].message == "vtex payment d799bae has no token named pin");
        CHECK(bad.problems[1].message == "token belongs to payment 0000000, not d799bae");
        CHECK(bad.problems[2].code == "template.syntax");
        CHECK(bad.problems[2].token == "#vtex#broken");
        CHECK(bad.problems[2].column == 45);

        auto scanned = scan_vtex("#vtex#token#abc#def# #vtex#token#abc#");
        REQUIRE(scanned.tokens.size() == 2);
        CHECK(scanned.tokens[0].hash == "abc");
        CHECK(scanned.tokens[0].name == "def");
        CHECK(scanned.tokens[1].name == "token");
        CHECK(vtex_card_token("d799bae", "number") == "#vtex#token#d799bae#number#");
        CHECK(vtex_placeholder("d799bae", "number") == "#vtex#number#d799bae#");
    }

    TEST_CASE("auto dialect follows the tokens present and refuses a mix") {
        vault::MemorySource s = people();
        s.set("pm_1", "card.number", "4111111111111111");
        s.set("vtex_h1", "number", "5555");
        auto detect = [&](const std::string& body) {
            RenderRequest req;
            req.dialect = Dialect::automatic;
            req.body = body;
            req.global_fp_id = k_fp;
            req.payment_methods = {"pm_1"};
            req.source = &s;
            return render(req);
        };
        CHECK(detect("{{ id.first_name }}").dialect == Dialect::footprint);
        CHECK(detect("{{ id.first_name }}").body == "Jane");
        CHECK(detect("{{ CARD_NUMBER_1 }} {{ CARD_NUMBER_1 }}").dialect == Dialect::gr4vy);
        CHECK(detect("{{ CARD_NUMBER_1 }} {{ CARD_NUMBER_1 }}").body == "4111111111111111 4111111111111111");
        // Beside a Gr4vy placeholder, other identifiers are Gr4vy placeholders too (unknown ones).
        CHECK(detect("{{ CARD_NUMBER_1 }} {{ CVV }}").problems.at(0).code == "template.unknown");
        // A Footprint token beside a Gr4vy placeholder is a mix.
        CHECK(detect("{{ CARD_NUMBER_1 }} {{ id.first_name }}").problems.at(0).code == "template.dialect");
        CHECK(detect("#vtex#number#h1#").body == "5555");
        CHECK(detect("no tokens").ok);
        auto mixed = detect("{{ id.first_name }}\n  #vtex#number#h1#");
        CHECK_FALSE(mixed.ok);
        REQUIRE(mixed.problems.size() == 1);
        CHECK(mixed.problems[0].code == "template.dialect");
        CHECK(mixed.problems[0].line == 2);
        CHECK(mixed.problems[0].column == 3);
        CHECK(dialect_from_name("auto") == Dialect::automatic);
        CHECK_FALSE(dialect_from_name("vgs").has_value());
    }

    TEST_CASE("ingress rules parse into fp_id, identifier, JSONPath and filters") {
        auto r = parse_ingress_rule(
            "fp_id_tctecBEvGc98V7Vx4MhZU.card.primary.number = $.card.number | replace(\"-\", \"\")");
        REQUIRE(r.ok());
        CHECK(r->fp_id == "fp_id_tctecBEvGc98V7Vx4MhZU");
        CHECK(r->di == "card.primary.number");
        CHECK(r->path == "$.card.number");
        REQUIRE(r->filters.size() == 1);
        CHECK(*apply_filters(r->filters, "4242-4242-4242-4242") == "4242424242424242");

        auto global = parse_ingress_rule("custom.credit_card_number=$.data.card.number", k_fp);
        REQUIRE(global.ok());
        CHECK(global->fp_id == k_fp);
        CHECK(global->filters.empty());

        auto message = [](const std::string& rule) {
            auto e = parse_ingress_rule(rule);
            REQUIRE_FALSE(e.ok());
            return e.error().message;
        };
        CHECK(message("fp_id_x.custom.a = $.a = b") == "Proxy rule is badly formed: must be one '=' only");
        CHECK(message("fp_id_x.custom.a") == "Proxy rule is badly formed: must be one '=' only");
        CHECK(message("fp_id_x.custom.a | to_uppercase = $.a") ==
              "Proxy rule is badly formed: filter functions must be on the right side of the target");
        CHECK(message("fp_id_x.custom.a = $.a | nope") ==
              "Proxy rule is badly formed: bad filter function on target: unknown function");
        CHECK(message("fp_id_x.custom.a = $.a | prefix(1") ==
              "Proxy rule is badly formed: bad filter function on target: invalid parens");
        CHECK(message("x-y.custom.a = $.a") == "Missing or invalid fp_id in proxy token.");
        CHECK(message("fp_id_x.id.nope = $.a") == "Cannont parse data identifier: id.nope");
    }

    TEST_CASE("explanations for people name the part at fault and what is valid instead") {
        // The API keeps Footprint's words; these are what the CLI prints.
        auto nick = explain_footprint_token(" id.nickname ", k_fp);
        CHECK(nick.rfind("\"id.nickname\" is not a data identifier: the id. kinds are id.first_name, ", 0) == 0);
        CHECK(nick.find("id.us_tax_id") != std::string::npos);
        CHECK(explain_footprint_token("fp_id_test_abc.id.frist_name").find("(did you mean id.first_name?)") !=
              std::string::npos);
        auto card = explain_footprint_token("fp_id_test_abc.card.primary.numbr");
        CHECK(card.find("card.<alias>.<kind>") != std::string::npos);
        CHECK(card.find("did you mean number?") != std::string::npos);
        CHECK(explain_footprint_token("fp_id_test_abc.bank.x").find("it starts with id., custom., card.") !=
              std::string::npos);
        CHECK(explain_footprint_token("custom.ach") ==
              "no fp_id: write {{ <fp_id>.custom.ach }} or give the fp_id once with --fp-id (x-fp-id)");
        CHECK(explain_footprint_token("fp_id_test_other.id.first_name", k_fp).find("drop the \"fp_id_test_other.\" prefix") !=
              std::string::npos);
        CHECK(explain_footprint_token("fp_id_a-b.id.first_name").rfind("\"fp_id_a-b\" is not an fp_id", 0) == 0);
        CHECK(explain_footprint_token("  ") == "the token is empty: write {{ <fp_id>.<data identifier> }}");
        auto shout = explain_footprint_token("id.first_name | to_upercase", k_fp);
        CHECK(shout.rfind("unknown filter \"to_upercase\" (did you mean to_uppercase?); the filters are to_lowercase", 0) == 0);
        CHECK(explain_footprint_token("id.first_name |", k_fp).rfind("an empty filter after '|'", 0) == 0);
        CHECK(explain_footprint_token("id.first_name | prefix (2)", k_fp).find("space before its '('") != std::string::npos);
        // A filter is named without its arguments: an hmac key is a secret.
        auto hmac = explain_footprint_token("id.ssn9 | hmac_sha256(\"s3cr3t-not-hex\")", k_fp);
        CHECK(hmac == "filter \"hmac_sha256\": argument 'key' must be hex-encoded");
        CHECK(explain_footprint_token("id.first_name | to_uppercase", k_fp).empty());

        auto s = people();
        auto out = run("{{ id.first_name | prefix(1) | date_format(\"%Y\", \"%y\") }} {{ id.middle_name }} "
                       "{{ fp_id_test_nobody.id.dob }}",
                       s, k_fp);
        REQUIRE(out.problems.size() == 3);
        CHECK(explain(out.problems[0]).message ==
              "{{ id.first_name | prefix(1) | date_format(\"%Y\", \"%y\") }}: filter \"date_format\" failed: "
              "invalid date or date format");
        CHECK(explain(out.problems[1]).message ==
              "{{ id.middle_name }}: record \"fp_id_test_abc\" has no field \"id.middle_name\"");
        // Under a global fp_id another fp_id is the mix error, told as such.
        CHECK(explain(out.problems[2]).message ==
              "{{ fp_id_test_nobody.id.dob }}: the token names fp_id \"fp_id_test_nobody\" while the global fp_id "
              "(--fp-id, x-fp-id) is \"fp_id_test_abc\": drop the \"fp_id_test_nobody.\" prefix, or the global fp_id");
        CHECK(explain(only_problem("{{ fp_id_test_nobody.id.dob }}", s)).message ==
              "{{ fp_id_test_nobody.id.dob }}: no record \"fp_id_test_nobody\" in the vault ('vaultfwd vault list' "
              "shows the ids)");
        // The service's words stay in `message`.
        CHECK(out.problems[1].message == "Found invalid or unknown data identifiers: fp_id_test_abc.id.middle_name");
        for (const auto& p : out.problems)
            CHECK(explain(p).message.find("Jane") == std::string::npos);
    }

    TEST_CASE("ingress rule headers split on commas outside quotes, brackets and parentheses") {
        CHECK(split_ingress_rule_header("fp_id_a.custom.x=$.a, fp_id_a.custom.y=$['b,c'] | replace(\"\\,\", \"\"),") ==
              std::vector<std::string>{"fp_id_a.custom.x=$.a",
                                       "fp_id_a.custom.y=$['b,c'] | replace(\"\\,\", \"\")"});
        CHECK(split_ingress_rule_header("a=$[1,2],b=$.c") == std::vector<std::string>{"a=$[1,2]", "b=$.c"});
        CHECK(split_ingress_rule_header("").empty());
    }

    TEST_CASE("a large token-sparse body renders byte for byte") {
        auto s = people();
        std::string body;
        body.reserve(1 << 20);
        while (body.size() < (1 << 20))
            body += "{\"k\":\"v – é\",\"n\":[1,2,{}]}\n";
        body += "{{ id.first_name }}";
        auto out = run(body, s, k_fp);
        REQUIRE(out.ok);
        CHECK(out.body.size() == body.size() - std::string("{{ id.first_name }}").size() + 4);
        CHECK(out.body.compare(0, body.size() - 19, body, 0, body.size() - 19) == 0);
        CHECK(out.body.substr(out.body.size() - 4) == "Jane");
    }

    TEST_CASE("unicode trimming and code point helpers") {
        CHECK(trim_unicode("\u2003 a b \t\u00a0") == "a b");
        CHECK(trim_unicode("   ").empty());
        CHECK(count_code_points("aé😀") == 3);
        CHECK(offset_of_code_point("aé😀", 2) == 3);
        CHECK(offset_of_code_point("aé😀", 5) == 7);
        auto braces = scan_braces("{{a}} {{b");
        REQUIRE(braces.spans.size() == 1);
        CHECK(braces.spans[0].inner == "a");
        CHECK(braces.unclosed == std::vector<std::size_t>{6});
    }
}
