// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/jsonlogic/js.hpp"
#include "core/jsonlogic/jsonlogic.hpp"
#include "core/util/strings.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using nlohmann::json;
namespace js = vaultfwd::jsonlogic::js;

namespace {

// The result of `logic` on `data`, serialised, so that number formatting is checked too.
std::string run(const std::string& logic, const std::string& data = "null",
                const jsonlogic::Options& options = {}) {
    auto r = jsonlogic::evaluate(json::parse(logic), json::parse(data), options);
    REQUIRE_MESSAGE(r.ok(), logic << " failed: " << (r ? "" : r.error().message));
    return r->dump();
}

Error failure(const std::string& logic, const std::string& data = "null",
              const jsonlogic::Options& options = {}) {
    auto r = jsonlogic::evaluate(json::parse(logic), json::parse(data), options);
    REQUIRE_MESSAGE(!r.ok(), logic << " gave " << (r ? r->dump() : ""));
    return r.error();
}

jsonlogic::Options with_card_token() {
    jsonlogic::Options options;
    options.replace_tokens = [](const std::string& text) -> Result<std::string> {
        if (text.find("#vtex#") != std::string::npos &&
            text.find("#vtex#number#d799bae#") == std::string::npos)
            return make_error("vtex.unknown_token", "token is unknown");
        return util::replace_all(text, "#vtex#number#d799bae#", "5555444433331111");
    };
    return options;
}

// [[[...[0]...]]] nested `levels` deep.
json nested_array(int levels) {
    json v = 0;
    for (int i = 0; i < levels; ++i)
        v = json::array({std::move(v)});
    return v;
}

} // namespace

TEST_SUITE("jsonlogic") {
    TEST_CASE("conformance: jsonlogic.com tests.json") {
        auto suite = json::parse(
            test::read_text(test::shared_dir() / "conformance" / "jsonlogic" / "tests.json"));
        int total = 0;
        int passed = 0;
        std::string failures;
        for (const auto& entry : suite) {
            if (entry.is_string())
                continue; // a section comment
            ++total;
            auto r = jsonlogic::evaluate(entry[0], entry[1]);
            if (r && r->dump() == entry[2].dump()) {
                ++passed;
                continue;
            }
            failures += entry.dump() + " gave " +
                        (r ? r->dump() : r.error().code + ": " + r.error().message) + "\n";
        }
        char rate[32];
        std::snprintf(rate, sizeof rate, "%.1f", total ? 100.0 * passed / total : 0.0);
        std::string line = "jsonlogic conformance: " + std::to_string(passed) + "/" +
                           std::to_string(total) + " passed (" + rate + "%)";
        test::write_text(test::report_dir() / "jsonlogic-conformance.txt", line + "\n" + failures);
        MESSAGE(line);
        CHECK_MESSAGE(failures.empty(), failures);
        REQUIRE(total == 277); // the suite's case count (SOURCE.txt), so no case is skipped
        REQUIRE(passed == total);
    }

    TEST_CASE("the seed's custom token examples") {
        CHECK(run(R"({"==":[1,1]})") == "true");
        CHECK(run(R"({"md5":{"replaceTokens":["#vtex#number#d799bae#"]}})", "{}",
                  with_card_token()) == R"("055ea4f6b458fafb45bc70e7c6d3c5f0")");
        CHECK(run(R"({"base64":["string-to-be-encoded"]})") == R"("c3RyaW5nLXRvLWJlLWVuY29kZWQ=")");
        CHECK(run(R"({"replaceTokens":"card #vtex#number#d799bae#, ok"})", "{}",
                  with_card_token()) == R"("card 5555444433331111, ok")");
    }

    TEST_CASE("replaceTokens needs a token source and passes its errors on") {
        auto none = failure(R"({"replaceTokens":["#vtex#number#d799bae#"]})");
        CHECK(none.code == "jsonlogic.no_token_source");
        auto unknown = failure(R"({"replaceTokens":["#vtex#csc#zzz#"]})", "{}", with_card_token());
        CHECK(unknown.code == "vtex.unknown_token");
        CHECK(failure(R"({"replaceTokens":[12]})", "{}", with_card_token()).code ==
              "jsonlogic.type_error");
        // Not evaluated when the branch is not taken, as JsonLogic is lazy there.
        CHECK(run(R"({"if":[false,{"replaceTokens":"x"},"no"]})") == R"("no")");
    }

    TEST_CASE("hash operators: known vectors, hex by default, base64 on request") {
        CHECK(run(R"({"md5":"abc"})") == R"("900150983cd24fb0d6963f7d28e17f72")");
        CHECK(run(R"({"md5":["abc","hex"]})") == R"("900150983cd24fb0d6963f7d28e17f72")");
        CHECK(run(R"({"md5":["abc","BASE64"]})") == R"("kAFQmDzST7DWlj99KOF/cg==")");
        CHECK(run(R"({"sha1":["abc"]})") == R"("a9993e364706816aba3e25717850c26c9cd0d89d")");
        CHECK(run(R"({"sha256":["abc"]})") ==
              R"("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")");
        CHECK(run(R"({"sha256":["abc","Base64"]})") ==
              R"("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")");
        CHECK(
            run(R"({"sha384":["abc"]})") ==
            R"("cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7")");
        CHECK(
            run(R"({"sha512":["abc"]})") ==
            R"("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")");
        // Operands are evaluated first, so hashes compose with the standard operators.
        CHECK(run(R"({"md5":{"cat":["a",{"var":"x"}]}})", R"({"x":"bc"})") ==
              R"("900150983cd24fb0d6963f7d28e17f72")");
        CHECK(run(R"({"base64":"héllo"})") == R"("aMOpbGxv")");
    }

    TEST_CASE("hmac-sha256: RFC 4231 vectors, output and key formats") {
        // Test case 2: key "Jefe".
        const std::string data = "what do ya want for nothing?";
        CHECK(run(R"({"hmac-sha256":["Jefe",")" + data + R"("]})") ==
              R"("W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=")");
        CHECK(run(R"({"hmac-sha256":["Jefe",")" + data + R"(","hex"]})") ==
              R"("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")");
        CHECK(run(R"({"hmac-sha256":["Jefe",")" + data + R"(","base64","plainText"]})") ==
              R"("W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=")");
        CHECK(run(R"({"hmac-sha256":["SmVmZQ==",")" + data + R"(","HEX","base64"]})") ==
              R"("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")");
        // Test case 1: twenty 0x0b bytes, only expressible as hex or base64.
        CHECK(
            run(R"({"hmac-sha256":["0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b","Hi There","hex","hex"]})") ==
            R"("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")");
        CHECK(
            run(R"({"hmac-sha256":["CwsLCwsLCwsLCwsLCwsLCwsLCws=","Hi There","base64","Base64"]})") ==
            R"("sDRMYdjbOFNcqK/OrwvxK4gdwgDJgz2nJuk3bC4yz/c=")");
        // Null optional operands take their defaults.
        CHECK(run(R"({"hmac-sha256":["Jefe",")" + data + R"(",null,null]})") ==
              R"("W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=")");
    }

    TEST_CASE("custom operators reject bad operands without echoing values") {
        CHECK(failure(R"({"md5":["abc","hexa"]})").code == "jsonlogic.bad_format");
        CHECK(failure(R"({"sha1":["abc",7]})").code == "jsonlogic.bad_format");
        CHECK(failure(R"({"md5":["abc","hex","x"]})").code == "jsonlogic.arity");
        CHECK(failure(R"({"md5":[]})").code == "jsonlogic.arity");
        CHECK(failure(R"({"base64":["a","b"]})").code == "jsonlogic.arity");
        auto typed = failure(R"({"sha256":[{"var":"n"}]})", R"({"n":4111111111111111})");
        CHECK(typed.code == "jsonlogic.type_error");
        CHECK(typed.message == "sha256 data must be a string, not a number");
        CHECK(failure(R"({"hmac-sha256":["k"]})").code == "jsonlogic.arity");
        CHECK(failure(R"({"hmac-sha256":["k","d","hex","pem"]})").code == "jsonlogic.bad_format");
        CHECK(failure(R"({"hmac-sha256":["k","d","utf8"]})").code == "jsonlogic.bad_format");
        auto bad_hex = failure(R"({"hmac-sha256":["zz-secret","d","hex","hex"]})");
        CHECK(bad_hex.code == "jsonlogic.bad_key");
        CHECK(bad_hex.message.find("secret") == std::string::npos);
        CHECK(failure(R"({"hmac-sha256":["%%%","d","hex","base64"]})").code == "jsonlogic.bad_key");
    }

    TEST_CASE("unknown operators are errors naming the operator") {
        auto e = failure(R"({"frobnicate":[1,2]})");
        CHECK(e.code == "jsonlogic.unknown_operator");
        CHECK(e.message.find("\"frobnicate\"") != std::string::npos);
        CHECK(failure(R"({"cta":["a","b"]})").message ==
              R"(unknown operator "cta" (did you mean "cat"?))");
        CHECK(failure(R"({"and":[true,{"nope":1}]})").code == "jsonlogic.unknown_operator");
        CHECK(failure(R"({"a.b":[1]})").code == "jsonlogic.unknown_operator");
        // Objects with zero or several keys are data, not logic.
        CHECK(run(R"({"a":{"var":"x"},"b":2})") == R"({"a":{"var":"x"},"b":2})");
        CHECK(run(R"({})") == R"({})");
    }

    TEST_CASE("nesting is bounded") {
        json logic = true;
        for (int i = 0; i < 300; ++i)
            logic = json{{"!", std::move(logic)}};
        auto r = jsonlogic::evaluate(logic, json(nullptr));
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == "jsonlogic.too_deep");

        auto deep_data =
            jsonlogic::evaluate(json::parse(R"({"var":"a"})"), json{{"a", nested_array(2000)}});
        REQUIRE_FALSE(deep_data.ok());
        CHECK(deep_data.error().code == "jsonlogic.too_deep");

        jsonlogic::Options shallow;
        shallow.max_depth = 8;
        CHECK(run(R"({"!":{"!":{"!":true}}})", "null", shallow) == "false");
        CHECK(failure(json(nested_array(9)).dump(), "null", shallow).code == "jsonlogic.too_deep");

        // A reduce that wraps its accumulator once per element.
        json items = json::array();
        for (int i = 0; i < 300; ++i)
            items.push_back(i);
        auto wrapped = jsonlogic::evaluate(
            json::parse(R"({"reduce":[{"var":"items"},[{"var":"accumulator"}],0]})"),
            json{{"items", items}});
        REQUIRE_FALSE(wrapped.ok());
        CHECK(wrapped.error().code == "jsonlogic.too_deep");
    }

    TEST_CASE("runaway logic runs out of work, not memory") {
        jsonlogic::Options small;
        small.max_work = 100000;
        json items = json::array();
        for (int i = 0; i < 64; ++i)
            items.push_back(i);
        json data{{"items", items}};
        auto doubling_text = jsonlogic::evaluate(
            json::parse(
                R"({"reduce":[{"var":"items"},{"cat":[{"var":"accumulator"},{"var":"accumulator"}]},"ab"]})"),
            data, small);
        REQUIRE_FALSE(doubling_text.ok());
        CHECK(doubling_text.error().code == "jsonlogic.too_costly");
        auto doubling_list = jsonlogic::evaluate(
            json::parse(
                R"({"reduce":[{"var":"items"},{"merge":[{"var":"accumulator"},{"var":"accumulator"}]},[1]]})"),
            data);
        REQUIRE_FALSE(doubling_list.ok());
        CHECK(doubling_list.error().code == "jsonlogic.too_costly");
        // The same logic over a short list is fine.
        CHECK(
            run(R"({"reduce":[[1,2,3],{"cat":[{"var":"accumulator"},{"var":"accumulator"}]},"ab"]})",
                "null", small) == R"("abababababababab")");
    }

    TEST_CASE("numbers print as JavaScript prints them") {
        CHECK(run(R"({"+":[1,2]})") == "3");
        CHECK(run(R"({"*":[1.5,2]})") == "3");
        CHECK(run(R"({"/":[1,3]})") == "0.3333333333333333");
        CHECK(run(R"({"+":[0.1,0.2]})") == "0.30000000000000004");
        CHECK(run(R"({"var":"x"})", R"({"x":2.0})") == "2");
        CHECK(
            run(R"({"cat":[1,"|",1.0,"|",0.5,"|",-0.25,"|",1e21,"|",1.5e-7,"|",0.000001,"|",123456789012]})") ==
            R"("1|1|0.5|-0.25|1e+21|1.5e-7|0.000001|123456789012")");
        CHECK(run(R"({"cat":[1e300,"|",-1e-300,"|",100,"|",2e20]})") ==
              R"("1e+300|-1e-300|100|200000000000000000000")");
        CHECK(run(R"({"cat":[{"/":[1,0]},"|",{"/":[-1,0]},"|",{"/":[0,0]},"|",{"-":0}]})") ==
              R"("Infinity|-Infinity|NaN|0")");
        // NaN and Infinity have no JSON form; JSON.stringify writes null.
        CHECK(run(R"({"/":[1,0]})") == "null");
        CHECK(run(R"({"+":["abc"]})") == "null");
        CHECK(run(R"({"-":0})") == "0");
        // -0 survives inside a computation: 1 / -0 is -Infinity.
        CHECK(run(R"({"<":[{"/":[1,{"-":0}]},0]})") == "true");
        CHECK(jsonlogic::to_js_string(json::parse("[1,[2,null,3],true,0.5]")) == "1,2,,3,true,0.5");
        CHECK(jsonlogic::to_js_string(json::parse(R"({"a":1})")) == "[object Object]");
        CHECK(jsonlogic::to_js_string(json(nullptr)) == "null");
        CHECK(jsonlogic::to_js_string(json(true)) == "true");
    }

    TEST_CASE("arithmetic coerces as JavaScript does") {
        CHECK(run(R"({"+":["3.5","1e2"," 4 ","12abc"]})") == "119.5"); // parseFloat
        CHECK(run(R"({"+":[]})") == "0");
        CHECK(run(R"({"+":"0"})") == "0");
        CHECK(run(R"({"+":[true]})") == "null"); // parseFloat("true") is NaN
        CHECK(run(R"({"*":["2","3"]})") == "6");
        CHECK(run(R"({"*":["7"]})") == R"("7")"); // a lone operand comes back untouched
        CHECK(failure(R"({"*":[]})").code == "jsonlogic.type_error");
        CHECK(run(R"({"-":["5"]})") == "-5");
        CHECK(run(R"({"-":[{"var":"x"}]})", R"({"x":"2"})") == "-2");
        CHECK(run(R"({"-":["0x10",1]})") == "15"); // ToNumber reads hex, parseFloat does not
        CHECK(run(R"({"+":["0x10",1]})") == "1");
        CHECK(run(R"({"-":[" \n 7\t",[2]]})") == "5");
        CHECK(run(R"({"-":["",null]})") == "0");
        CHECK(run(R"({"-":["1,2",1]})") == "null");
        CHECK(run(R"({"%":[-7,3]})") == "-1");
        CHECK(run(R"({"%":[7.5,2]})") == "1.5");
        CHECK(run(R"({"%":[1,0]})") == "null");
        CHECK(run(R"({"/":["9","3"]})") == "3");
        CHECK(run(R"({"max":["3",10,"20"]})") == "20");
        CHECK(run(R"({"min":[3,true,"2"]})") == "1");
        CHECK(run(R"({"max":[1,"x"]})") == "null");
        CHECK(run(R"({"min":[]})") == "null");
        CHECK(run(R"({"+":["1e400"]})") == "null"); // Infinity
        CHECK(run(R"({"-":["1e-400",0]})") == "0");
        CHECK(run(R"({"-":["Infinity",0]})") == "null");
        CHECK(run(R"({"-":["-.5e1",0]})") == "-5");
    }

    TEST_CASE("equality and comparison coerce as JavaScript does") {
        CHECK(run(R"({"==":[null,{"var":"nope"}]})") == "true");
        CHECK(run(R"({"==":[null,0]})") == "false");
        CHECK(run(R"({"==":[[],false]})") == "true");
        CHECK(run(R"({"==":[[1,2],"1,2"]})") == "true");
        CHECK(run(R"({"==":[[2],2]})") == "true");
        CHECK(run(R"({"==":["",0]})") == "true");
        CHECK(run(R"({"==":["1",true]})") == "true");
        CHECK(run(R"({"==":["true",true]})") == "false");
        CHECK(run(R"({"==":[{"/":[0,0]},{"/":[0,0]}]})") == "false"); // NaN
        CHECK(run(R"({"==":[[1],[1]]})") == "false");                 // two distinct objects
        CHECK(run(R"({"===":[1,1.0]})") == "true");
        CHECK(run(R"({"===":[null,{"and":[]}]})") == "false"); // null !== undefined
        CHECK(run(R"({"==":[null,{"and":[]}]})") == "true");
        CHECK(run(R"({"!=":["1",1]})") == "false");
        CHECK(run(R"({"!==":["1",1]})") == "true");
        CHECK(run(R"({"<":["10","9"]})") == "true"); // two strings compare as text
        CHECK(run(R"({"<":["10",9]})") == "false");
        CHECK(run(R"({"<":[null,1]})") == "true");
        CHECK(run(R"({"<":[1,"x"]})") == "false");
        CHECK(run(R"({">=":[1,"x"]})") == "false");
        CHECK(run(R"({">":["b","a"]})") == "true");
        CHECK(run(R"({">":[[10],[9]]})") == "false");     // "10" < "9"
        CHECK(run(R"({"<":["\uffff","😀"]})") == "false"); // UTF-16 code units, not code points
        CHECK(run(R"({"<=":[1,1,1]})") == "true");
        CHECK(run(R"({"<":[1,2,2]})") == "false");
        CHECK(run(R"({"<":[1,2,null]})") == "false"); // null is a third operand (0), not absent
        CHECK(run(R"({"<=":["1",{"var":"n"},3]})", R"({"n":"2"})") == "true");
    }

    TEST_CASE("truthiness and the logical operators") {
        CHECK(jsonlogic::truthy(json::parse("[0]")));
        CHECK(jsonlogic::truthy(json("0")));
        CHECK(jsonlogic::truthy(json::object()));
        CHECK_FALSE(jsonlogic::truthy(json::array()));
        CHECK_FALSE(jsonlogic::truthy(json(0.0)));
        CHECK_FALSE(jsonlogic::truthy(json("")));
        CHECK_FALSE(jsonlogic::truthy(json(nullptr)));
        CHECK(run(R"({"and":[]})") == "null");
        CHECK(run(R"({"or":[0,"",[]]})") == "[]");
        CHECK(run(R"({"and":[1,"a",[0]]})") == "[0]");
        CHECK(run(R"({"!":[]})") == "true");
        CHECK(run(R"({"!!":[[0]]})") == "true");
        CHECK(run(R"({"!!":{"/":[0,0]}})") == "false");
        // and/or/if stop evaluating as soon as the answer is known.
        CHECK(run(R"({"or":[1,{"nope":1}]})") == "1");
        CHECK(run(R"({"and":[0,{"nope":1}]})") == "0");
        CHECK(run(R"({"?:":[false,{"nope":1},"b"]})") == R"("b")");
    }

    TEST_CASE("var reads paths, indexes, lengths and defaults") {
        const std::string data = R"({"a":[{"b":5}],"s":"héllo😀","n":null,"e":"","1":{"5":"x"}})";
        CHECK(run(R"({"var":"a.0.b"})", data) == "5");
        CHECK(run(R"({"var":"a.length"})", data) == "1");
        CHECK(run(R"({"var":"s.length"})", data) == "7"); // UTF-16 code units
        CHECK(run(R"({"var":"s.1"})", data) == R"("é")");
        CHECK(run(R"({"var":"s.9"})", data) == "null");
        CHECK(run(R"({"var":"a.01"})", data) == "null");       // not an array index
        CHECK(run(R"({"var":["n","dflt"]})", data) == "null"); // found, and null
        CHECK(run(R"({"var":["n.x","dflt"]})", data) == R"("dflt")");
        CHECK(run(R"({"var":["e","dflt"]})", data) == R"("")");
        CHECK(run(R"({"var":1.5})", data) == R"("x")"); // String(1.5) is "1.5"
        CHECK(run(R"({"var":{"cat":["a",".0",".b"]}})", data) == "5");
        CHECK(run(R"({"var":["zz",{"+":[1,1]}]})", data) == "2");
        CHECK(run(R"({"var":"x"})", "5") == "null");
        CHECK(run(R"({"var":""})", R"([1,2])") == "[1,2]");
    }

    TEST_CASE("missing and missing_some") {
        CHECK(run(R"({"missing":["a","b","c"]})", R"({"a":"","b":0,"c":null})") == R"(["a","c"])");
        CHECK(run(R"({"missing":[["x.y","z"],"ignored"]})", R"({"x":{"y":false}})") == R"(["z"])");
        CHECK(run(R"({"missing":[0,1,2]})", R"(["a","b"])") == "[2]");
        CHECK(run(R"({"missing_some":[1,["a","b"]]})", R"({"a":""})") == R"(["a","b"])");
        CHECK(run(R"({"missing_some":[0,["a","b"]]})", "{}") == "[]");
        CHECK(run(R"({"missing_some":["2",["a","b","c"]]})", R"({"a":1,"c":3})") == "[]");
        CHECK(failure(R"({"missing_some":[1]})", "{}").code == "jsonlogic.type_error");
    }

    TEST_CASE("strings: cat, substr and in") {
        CHECK(run(R"({"cat":[null,true,[1,[2,3]],{"a":1,"b":2},"x"]})") ==
              R"("true1,2,3[object Object]x")");
        CHECK(run(R"({"substr":["héllo😀",-2]})") == R"("😀")");
        CHECK(run(R"({"substr":["héllo",1,2]})") == R"("él")");
        CHECK(run(R"({"substr":["héllo",-10,2]})") == R"("hé")");
        CHECK(run(R"({"substr":["héllo",10]})") == R"("")");
        CHECK(run(R"({"substr":["héllo",1,-10]})") == R"("")");
        CHECK(run(R"({"substr":[12345,"1","2"]})") == R"("23")");
        CHECK(run(R"({"substr":[null,1]})") == R"("ull")");
        // JS quirk kept: "-1" is negative to `<`, then `+` concatenates it ("4-1" → NaN → 0).
        CHECK(run(R"({"substr":["abcde",1,"-1"]})") == R"("")");
        CHECK(run(R"({"in":[1,"a1b"]})") == "true");
        CHECK(run(R"({"in":["1",[1]]})") == "false"); // indexOf is strict
        CHECK(run(R"({"in":[1,[1.0]]})") == "true");
        CHECK(run(R"({"in":["a",null]})") == "false");
        CHECK(run(R"({"in":["",""]})") == "false");
        CHECK(run(R"({"in":["","abc"]})") == "true");
        CHECK(run(R"({"in":["x",{"a":1,"b":"x"}]})") == "false");
        CHECK(run(R"({"in":["x",12]})") == "false");
        CHECK(failure(R"({"in":["x",{"var":"o"}]})", R"({"o":{"indexOf":1}})").code ==
              "jsonlogic.type_error");
    }

    TEST_CASE("arrays: merge, map, filter, reduce, all, none, some") {
        CHECK(run(R"({"merge":[[1,[2]],3,null]})") == "[1,[2],3,null]");
        CHECK(run(R"({"map":[[1,2,3],{"+":[{"var":""},1]}]})") == "[2,3,4]");
        CHECK(run(R"({"map":[{"var":"x"},{"var":"y"}]})", R"({"x":[{"y":1},{"z":2}]})") ==
              "[1,null]");
        CHECK(run(R"({"map":[[1,2]]})") == "[null,null]"); // no logic: undefined, stringified null
        CHECK(run(R"({"map":["abc",{"var":""}]})") == "[]");
        CHECK(run(R"({"filter":[["a","",0,[],"b"],{"var":""}]})") == R"(["a","b"])");
        // The scope of map/filter is the element: outer data is out of reach.
        CHECK(run(R"({"map":[[1],{"var":"outer"}]})", R"({"outer":5})") == "[null]");
        CHECK(run(R"({"reduce":[[1,2,3],{"+":[{"var":"accumulator"},{"var":"current"}]},10]})") ==
              "16");
        // Without an initial value the accumulator starts as null, and parseFloat(null) is NaN.
        CHECK(run(R"({"reduce":[[1,2,3],{"+":[{"var":"accumulator"},{"var":"current"}]}]})") ==
              "null");
        // json-logic-js does not evaluate the initial value.
        CHECK(run(R"({"reduce":[[],{"var":"accumulator"},{"var":"x"}]})", R"({"x":1})") ==
              R"({"var":"x"})");
        CHECK(run(R"({"reduce":["nope",{"var":"accumulator"},7]})") == "7");
        CHECK(run(R"({"all":[[1,2],{">":[{"var":""},0]}]})") == "true");
        CHECK(run(R"({"all":[5,true]})") == "false");
        CHECK(run(R"({"none":[5,true]})") == "true");
        CHECK(run(R"({"some":[[0,"",null,"x"],{"var":""}]})") == "true");
        CHECK(run(R"({"some":[{"var":"xs"},{"var":"a.0"}]})", R"({"xs":[{"a":[]},{"a":[1]}]})") ==
              "true");
        // A one-key object in the logic is logic, even inside an array literal.
        CHECK(failure(R"({"some":[[{"a":[1]}],{"var":"a.0"}]})").code ==
              "jsonlogic.unknown_operator");
    }

    TEST_CASE("log hands its value to the callback and passes it on") {
        std::vector<json> seen;
        jsonlogic::Options options;
        options.log = [&](const json& v) { seen.push_back(v); };
        CHECK(run(R"({"+":[{"log":{"var":"a"}},1]})", R"({"a":2})", options) == "3");
        REQUIRE(seen.size() == 1);
        CHECK(seen[0] == json(2));
        CHECK(run(R"({"log":"quiet"})") == R"("quiet")"); // no callback: nothing printed
    }

    TEST_CASE("js helpers") {
        CHECK(js::number_to_string(0.1) == "0.1");
        CHECK(js::number_to_string(-1e-7) == "-1e-7");
        CHECK(js::number_to_string(123e-20) == "1.23e-18");
        CHECK(js::number_to_string(1e21) == "1e+21");
        CHECK(js::number_to_string(999999999999999900000.0) == "999999999999999900000");
        CHECK(js::number_to_string(5e-324) == "5e-324");
        CHECK(js::to_number(json(" 0b101 ")) == 5);
        CHECK(js::to_number(json("0o17")) == 15);
        CHECK(std::isnan(js::to_number(json("0x"))));
        CHECK(std::isnan(js::to_number(json("-0x10"))));
        CHECK(std::isnan(js::to_number(json("1_000"))));
        CHECK(js::to_number(json("\u00a0 42 \u3000")) == 42);
        CHECK(js::to_number(json(".5")) == 0.5);
        CHECK(js::to_number(json("5.")) == 5);
        CHECK(std::isnan(js::to_number(json("."))));
        CHECK(js::parse_float(json("  -12.5e1xyz")) == -125);
        CHECK(js::parse_float(json("1e")) == 1);
        CHECK(std::isnan(js::parse_float(json("e5"))));
        CHECK(js::parse_float(json("-Infinityx")) == -std::numeric_limits<double>::infinity());
        CHECK(js::to_utf8(js::to_utf16("a\xff"
                                       "b")) == "a\xef\xbf\xbd"
                                                "b");
        CHECK(js::to_utf8(js::to_utf16("\xf8\x90\x80\x80")) ==
              "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    }
}
