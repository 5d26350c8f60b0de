// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "core/jsonpath/jsonpath.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using nlohmann::json;

namespace {

jsonpath::Query must_compile(const std::string& text) {
    Result<jsonpath::Query> q = jsonpath::compile(text);
    INFO("query: " << text);
    REQUIRE_MESSAGE(q.ok(), q.error().describe());
    return *q;
}

std::vector<std::string> paths_of(const std::string& query, const json& doc) {
    std::vector<std::string> out;
    for (const jsonpath::Node& node : jsonpath::select(must_compile(query), doc))
        out.push_back(node.path);
    return out;
}

json values_of(const std::string& query, const json& doc) {
    json out = json::array();
    for (const jsonpath::Node& node : jsonpath::select(must_compile(query), doc))
        out.push_back(*node.value);
    return out;
}

Error compile_error(const std::string& query) {
    Result<jsonpath::Query> q = jsonpath::compile(query);
    INFO("query: " << query);
    REQUIRE_FALSE(q.ok());
    CHECK(q.error().code == "jsonpath.syntax");
    CHECK_FALSE(q.error().message.empty());
    return q.error();
}

// One CTS case; `why` says what went wrong when it fails.
bool run_cts_case(const json& test, std::string& why) {
    const std::string& selector = test.at("selector").get_ref<const std::string&>();
    Result<jsonpath::Query> q = jsonpath::compile(selector);
    if (test.value("invalid_selector", false)) {
        if (q.ok())
            why = "compiled, but the suite says it is invalid";
        return !q.ok();
    }
    if (!q.ok()) {
        why = "rejected: " + q.error().describe();
        return false;
    }
    json values = json::array();
    json paths = json::array();
    for (const jsonpath::Node& node : jsonpath::select(*q, test.at("document"))) {
        values.push_back(*node.value);
        paths.push_back(node.path);
    }
    auto matches = [&](const json& expected, const json* expected_paths) {
        return values == expected && (expected_paths == nullptr || paths == *expected_paths);
    };
    if (test.contains("result")) {
        if (matches(test["result"],
                    test.contains("result_paths") ? &test["result_paths"] : nullptr))
            return true;
    } else {
        const json& alternatives = test.at("results");
        for (std::size_t i = 0; i < alternatives.size(); ++i) {
            const json* alt_paths =
                test.contains("results_paths") ? &test["results_paths"].at(i) : nullptr;
            if (matches(alternatives[i], alt_paths))
                return true;
        }
    }
    why = "selected " + values.dump() + " at " + paths.dump();
    return false;
}

} // namespace

TEST_SUITE("jsonpath") {
    TEST_CASE("RFC 9535 compliance test suite") {
        json cts = json::parse(
            test::read_text(test::shared_dir() / "conformance" / "jsonpath" / "cts.json"));
        // Tests this implementation is known to fail, each with the reason. It is empty: the
        // whole suite passes. A listed test that starts passing fails this test too.
        const std::map<std::string, std::string> k_known_failures = {};

        std::size_t total = 0;
        std::size_t passed = 0;
        std::vector<std::string> unexpected_failures;
        std::vector<std::string> unexpected_passes;
        for (const json& t : cts.at("tests")) {
            const std::string& name = t.at("name").get_ref<const std::string&>();
            std::string why;
            bool ok = run_cts_case(t, why);
            ++total;
            passed += ok ? 1 : 0;
            bool known = k_known_failures.count(name) != 0;
            if (!ok && !known)
                unexpected_failures.push_back(name + " (" + t["selector"].dump() + "): " + why);
            if (ok && known)
                unexpected_passes.push_back(name);
        }

        char line[128];
        std::snprintf(line, sizeof line, "jsonpath CTS: %zu/%zu passed (%.1f%%)", passed, total,
                      total == 0 ? 0.0 : 100.0 * static_cast<double>(passed) / total);
        test::write_text(test::report_dir() / "jsonpath-cts.txt", std::string(line) + "\n");
        MESSAGE(line);

        CHECK(total == 703);
        for (const std::string& failure : unexpected_failures)
            FAIL_CHECK("unexpected failure: " << failure);
        for (const std::string& name : unexpected_passes)
            FAIL_CHECK("known failure now passes; remove it from the list: " << name);
        REQUIRE(unexpected_failures.empty());
        REQUIRE(unexpected_passes.empty());
        REQUIRE(passed + k_known_failures.size() == total);
    }

    TEST_CASE("selection returns normalized paths and pointers into the document") {
        json doc = json::parse(R"({
            "store": {
                "book": [
                    {"title": "A", "price": 8.95, "isbn": "0-553-21311-3"},
                    {"title": "B", "price": 12.99},
                    {"title": "C", "price": 22.99, "isbn": "0-395-19395-8"}
                ],
                "bicycle": {"color": "red", "price": 399}
            },
            "it's": {"tab\there": 1, "ctl\u000b": 2, "back\\slash": 3}
        })");

        SUBCASE("child and descendant segments") {
            auto nodes = jsonpath::select(must_compile("$.store.book[0].title"), doc);
            REQUIRE(nodes.size() == 1);
            CHECK(nodes[0].path == "$['store']['book'][0]['title']");
            CHECK(nodes[0].value == &doc["store"]["book"][0]["title"]);

            CHECK(values_of("$..price", doc) == json({399, 8.95, 12.99, 22.99}));
            CHECK(paths_of("$..book[?@.isbn].title", doc) ==
                  std::vector<std::string>{"$['store']['book'][0]['title']",
                                           "$['store']['book'][2]['title']"});
            CHECK(values_of("$.store.book[?@.price < 10 || @.price > 20].title", doc) ==
                  json({"A", "C"}));
        }

        SUBCASE("indexes and slices") {
            json a = json::array({0, 1, 2, 3, 4, 5});
            CHECK(values_of("$[-1]", a) == json({5}));
            CHECK(values_of("$[-7]", a) == json::array());
            CHECK(values_of("$[1:4]", a) == json({1, 2, 3}));
            CHECK(values_of("$[::2]", a) == json({0, 2, 4}));
            CHECK(values_of("$[::-1]", a) == json({5, 4, 3, 2, 1, 0}));
            CHECK(values_of("$[4:1:-2]", a) == json({4, 2}));
            CHECK(values_of("$[-2:]", a) == json({4, 5}));
            CHECK(values_of("$[::0]", a) == json::array());
            CHECK(values_of("$[0, -1, 0]", a) == json({0, 5, 0}));
            CHECK(paths_of("$[1:3]", a) == std::vector<std::string>{"$[1]", "$[2]"});
        }

        SUBCASE("member names are escaped in normalized paths") {
            CHECK(paths_of("$[\"it's\"].*", doc) ==
                  std::vector<std::string>{"$['it\\'s']['back\\\\slash']",
                                           "$['it\\'s']['ctl\\u000b']",
                                           "$['it\\'s']['tab\\there']"});
            CHECK(jsonpath::normalized_name(std::string("a\x01/\"\x7f", 5)) == "'a\\u0001/\"\x7f'");
        }
    }

    TEST_CASE("comparisons of values, containers and Nothing") {
        json d = json::parse(R"([
            {"v": 1}, {"v": 1.0}, {"v": "1"}, {"v": [1, {"x": 2}]}, {"v": {"x": 2}},
            {"v": null}, {}, {"v": 9007199254740993}, {"v": true}, {"v": "b"}, {"v": "ab"}
        ])");
        CHECK(paths_of("$[?@.v == 1]", d) == std::vector<std::string>{"$[0]", "$[1]"});
        CHECK(paths_of("$[?@.v == $[3].v]", d) == std::vector<std::string>{"$[3]"});
        CHECK(paths_of("$[?@.v == $[4].v]", d) == std::vector<std::string>{"$[4]"});
        CHECK(paths_of("$[?@.v == null]", d) == std::vector<std::string>{"$[5]"});
        // A missing member is Nothing: equal only to Nothing, never ordered.
        CHECK(paths_of("$[?@.v == @.w]", d) == std::vector<std::string>{"$[6]"});
        CHECK(paths_of("$[?@.v <= @.w]", d) == std::vector<std::string>{"$[6]"});
        CHECK(paths_of("$[?@.v < @.w]", d).empty());
        // Large integers compare exactly, not through double.
        CHECK(paths_of("$[?@.v == 9007199254740993]", d) == std::vector<std::string>{"$[7]"});
        CHECK(paths_of("$[?@.v > 9007199254740992]", d) == std::vector<std::string>{"$[7]"});
        // Strings order by code point; objects and arrays are never less than anything.
        CHECK(paths_of("$[?@.v > 'a']", d) == std::vector<std::string>{"$[9]", "$[10]"});
        CHECK(paths_of("$[?@.v < $[4].v || @.v > $[4].v || @.v >= $[3].v]", d) ==
              std::vector<std::string>{"$[3]"});
        CHECK(paths_of("$[?@.v != 1]", d).size() == d.size() - 2);
        CHECK(paths_of("$[?@.v >= 1e0 && @.v <= 10E-1]", d) ==
              std::vector<std::string>{"$[0]", "$[1]"});
    }

    TEST_CASE("function extensions") {
        json d = json::parse(R"([
            "abc", "ABC", "a\nc", "日本語", "x", ["a", "b"], {"k": "v"}, 12
        ])");
        CHECK(values_of("$[?length(@) == 3]", d) == json({"abc", "ABC", "a\nc", "日本語"}));
        CHECK(values_of("$[?length(@) == 2]", d) == json::parse(R"([["a", "b"]])"));
        CHECK(values_of("$[?match(@, '[a-z]+')]", d) == json({"abc", "x"}));
        CHECK(values_of("$[?match(@, 'a.c')]", d) == json({"abc"})); // '.' excludes \n
        CHECK(values_of("$[?search(@, 'B')]", d) == json({"ABC"}));
        CHECK(values_of("$[?search(@, '\\\\p{Han}')]", d) == json::array()); // not I-Regexp
        CHECK(values_of("$[?match(@, '\\\\p{Lo}+')]", d) == json({"日本語"}));
        CHECK(values_of("$[?match(@, '\\\\d+')]", d) == json::array()); // \d is not I-Regexp
        CHECK(values_of("$[?match(@, 'x|abc|ab')]", d) == json({"abc", "x"}));
        CHECK(values_of("$[?match(@, '[^b-z]{1,2}c')]", d) == json({"a\nc"})); // not "abc"
        CHECK(values_of("$[?search(@, '^A|^x')]", d) == json({"ABC", "x"}));
        CHECK(values_of("$[?count(@.*) == 1]", d) == json::parse(R"([{"k": "v"}])"));
        CHECK(values_of("$[?value(@.k) == 'v']", d) == json::parse(R"([{"k": "v"}])"));

        SUBCASE("a pattern read from the document") {
            json doc = json::parse(R"({"re": "a(b|c)+d", "bad": "a(", "vals": ["abcbd", "ad"]})");
            CHECK(values_of("$.vals[?match(@, $.re)]", doc) == json({"abcbd"}));
            CHECK(values_of("$.vals[?search(@, $.bad)]", doc) == json::array());
            CHECK(values_of("$.vals[?!search(@, $.bad)]", doc) == json({"abcbd", "ad"}));
        }

        SUBCASE("a pattern that backtracks exponentially elsewhere stays fast") {
            json doc = json::array({std::string(5000, 'a') + "!"});
            auto start = std::chrono::steady_clock::now();
            CHECK(values_of("$[?match(@, '(a|a?)+(a*)*b')]", doc) == json::array());
            CHECK(values_of("$[?search(@, '(a*)*!')]", doc).size() == 1);
            CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
        }
    }

    TEST_CASE("replace swaps selected values in place") {
        json doc = json::parse(R"({
            "card": {"number": "4111111111111111", "cvc": "123"},
            "cards": [{"number": "5555555555554444"}, {"number": "378282246310005"}],
            "note": "keep"
        })");

        SUBCASE("every selected node once, with its path") {
            std::vector<std::string> seen;
            std::size_t n = jsonpath::replace(
                must_compile("$..number"), doc,
                [&](const json& current, const std::string& path) -> std::optional<json> {
                    seen.push_back(path);
                    const auto& number = current.get_ref<const std::string&>();
                    return "tok_" + number.substr(number.size() - 4);
                });
            CHECK(n == 3);
            CHECK(doc["card"]["number"] == "tok_1111");
            CHECK(doc["cards"][0]["number"] == "tok_4444");
            CHECK(doc["cards"][1]["number"] == "tok_0005");
            CHECK(doc["card"]["cvc"] == "123");
            CHECK(seen == std::vector<std::string>{"$['card']['number']", "$['cards'][0]['number']",
                                                   "$['cards'][1]['number']"});
        }

        SUBCASE("nullopt leaves a node unchanged and is not counted") {
            json before = doc;
            std::size_t n =
                jsonpath::replace(must_compile("$..*"), doc,
                                  [](const json&, const std::string&) -> std::optional<json> {
                                      return std::nullopt;
                                  });
            CHECK(n == 0);
            CHECK(doc == before);
        }

        SUBCASE("a node selected twice is replaced once") {
            int calls = 0;
            std::size_t n = jsonpath::replace(
                must_compile("$['note','note']"), doc,
                [&](const json& current, const std::string&) -> std::optional<json> {
                    ++calls;
                    return current.get<std::string>() + "!";
                });
            CHECK(n == 1);
            CHECK(calls == 1);
            CHECK(doc["note"] == "keep!");
        }

        SUBCASE("document order, with descendants before their ancestors") {
            std::vector<std::string> order;
            std::size_t n = jsonpath::replace(
                must_compile("$.cards..*"), doc,
                [&](const json& current, const std::string& path) -> std::optional<json> {
                    order.push_back(path);
                    if (current.is_string())
                        return "x";
                    return current; // the ancestor sees its already-replaced child
                });
            CHECK(n == 4);
            CHECK(order == std::vector<std::string>{"$['cards'][0]['number']", "$['cards'][0]",
                                                    "$['cards'][1]['number']", "$['cards'][1]"});
            CHECK(doc["cards"] == json::parse(R"([{"number": "x"}, {"number": "x"}])"));
        }

        SUBCASE("the root itself") {
            std::size_t n = jsonpath::replace(
                must_compile("$"), doc,
                [](const json&, const std::string& path) -> std::optional<json> { return path; });
            CHECK(n == 1);
            CHECK(doc == "$");
        }

        SUBCASE("a compiled query is reused across documents") {
            jsonpath::Query q = must_compile("$.cards[*].number");
            for (int i = 0; i < 3; ++i) {
                json copy = doc;
                CHECK(jsonpath::replace(q, copy, [](const json&, const std::string&) {
                          return std::optional<json>(0);
                      }) == 2);
                CHECK(copy["cards"][1]["number"] == 0);
            }
        }
    }

    TEST_CASE("syntax errors point at the offending character") {
        struct Case {
            const char* query;
            int column;
        };
        const std::vector<Case> cases = {
            {"", 1},
            {"a", 1},
            {" $", 1},
            {"$ ", 2},
            {"$.", 3},
            {"$.1", 3},
            {"$[0 2]", 5},
            {"$[]", 3},
            {"$['a'", 6},
            {"$['a", 3},
            {"$[01]", 3},
            {"$[-0]", 3},
            {"$[9007199254740992]", 3},
            {"$[\"\\uD800\"]", 4},
            {"$['\\q']", 4},
            {"$[?@.a==01]", 9},
            {"$[?@.a==1.]", 11},
            {"$[?@.* == 1]", 4},
            {"$[?true]", 4},
            {"$[?length(@.a)]", 4},
            {"$[?match(@.a, 'x') == true]", 4},
            {"$[?length(@.*) < 3]", 11},
            {"$[?count(1) > 0]", 10},
            {"$[?foo(@) == 1]", 4},
            {"$[?count (@.*) == 1]", 9},
            {"$[?value(@.a, @.b) == 1]", 4},
            {"$[?@.a == 1 == 2]", 13},
            {"$.日本.", 6},
        };
        for (const Case& c : cases) {
            Error e = compile_error(c.query);
            INFO("query: " << c.query << " -> " << e.describe());
            CHECK(e.line == 1);
            CHECK(e.column == c.column);
        }

        Error multi = compile_error("$[?@.a &&\n  @.b == 01]");
        CHECK(multi.line == 2);
        CHECK(multi.column == 10);
        CHECK(compile_error("$[?length(@.*) < 3]").message.find("several nodes") !=
              std::string::npos);
        CHECK(compile_error("$[?foo(@) == 1]").message.find("unknown function 'foo'") !=
              std::string::npos);
    }

    TEST_CASE("hostile input is rejected or handled without blowing up") {
        std::string deep_filter = "$[?" + std::string(500, '(') + "@" + std::string(500, ')') + "]";
        CHECK(compile_error(deep_filter).message.find("nested too deeply") != std::string::npos);
        CHECK(jsonpath::compile("$[?" + std::string(20, '(') + "@" + std::string(20, ')') + "]")
                  .ok());
        std::string deep_regex = std::string(10000, '(') + "a" + std::string(10000, ')');
        CHECK(jsonpath::select(must_compile("$[?match(@, $[1])]"), json::array({"a", deep_regex}))
                  .empty());
        compile_error(std::string("$['\xff']"));

        // A document far deeper than the call stack could recurse through.
        json doc;
        json* cur = &doc;
        for (int i = 0; i < 100000; ++i) {
            (*cur)["n"] = json::object();
            cur = &(*cur)["n"];
        }
        (*cur)["leaf"] = true;
        auto nodes = jsonpath::select(must_compile("$..leaf"), doc);
        REQUIRE(nodes.size() == 1);
        CHECK(*nodes[0].value == true);
        CHECK(nodes[0].path.size() == 1 + 100000 * 5 + 8);
        // Deep containers compared for equality (built in place: copying them would recurse).
        json pair = json::array({json::object()});
        json* leaves[2] = {};
        for (int side = 0; side < 2; ++side) {
            json* at = &pair[0][side == 0 ? "a" : "b"];
            for (int i = 0; i < 100000; ++i) {
                *at = json::array({1});
                at = &(*at)[0];
            }
            leaves[side] = at;
        }
        CHECK(jsonpath::select(must_compile("$[?@.a == @.b]"), pair).size() == 1);
        *leaves[1] = 2;
        CHECK(jsonpath::select(must_compile("$[?@.a == @.b]"), pair).empty());

        // Repeated descendant segments and absolute queries in filters stay polynomial.
        json wide = json::array();
        for (int i = 0; i < 2000; ++i)
            wide.push_back({{"a", {{"b", i}}}});
        auto start = std::chrono::steady_clock::now();
        CHECK(jsonpath::select(must_compile("$..a..b"), wide).size() == 2000);
        CHECK(
            jsonpath::select(must_compile("$[?count($..b) == 2000 && @.a.b < 10]"), wide).size() ==
            10);
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    }

    TEST_CASE("queries report their text and whether they are singular") {
        jsonpath::Query q = must_compile("$.a[0]['b']");
        CHECK(q.text() == "$.a[0]['b']");
        CHECK(q.is_singular());
        CHECK_FALSE(must_compile("$.a[*]").is_singular());
        CHECK_FALSE(must_compile("$..a").is_singular());
        jsonpath::Query copy = q;
        CHECK(jsonpath::select(copy, json::parse(R"({"a": [{"b": 7}]})")).size() == 1);
    }
}
