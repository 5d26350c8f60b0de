// SPDX-License-Identifier: Apache-2.0
#pragma once
// The JavaScript value semantics json-logic-js inherits from its language, over nlohmann::json:
// a discarded json stands for `undefined`, and every number is an IEEE double whatever its json
// type. Strings are UTF-8 here but measured and cut in UTF-16 code units, as JS does.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace vaultfwd::jsonlogic::js {

using json = nlohmann::json;

// JS `undefined`.
json undefined();
bool is_undefined(const json& v);

// A json number holding `x`: an integer when x is integral (so it prints as JS prints it, "1"
// not "1.0"), a double otherwise (NaN, ±Infinity and -0 included).
json number(double x);

// ToBoolean (`!!v`): false for undefined, null, false, ±0, NaN and ""; every array and object is
// true. (JsonLogic's own truthiness differs for [] only.)
bool to_boolean(const json& v);
// ToNumber (unary `+v`): strings by StringToNumber ("" → 0, " 12 " → 12, "0x1f" → 31, "1e3" →
// 1000, anything else NaN), arrays and objects through their string form.
double to_number(const json& v);
// String(v): "undefined", "null", "true", numbers as Number#toString, arrays joined with ","
// (null and undefined elements empty), objects "[object Object]".
std::string to_string(const json& v);
// Number#toString(10): shortest round-trip digits, "1e+21", "1.5e-7", "0.000001", "-0" → "0".
std::string number_to_string(double x);
// parseFloat(v): the longest decimal prefix of String(v) after leading white space, else NaN.
double parse_float(const json& v);
// ToIntegerOrInfinity: NaN → 0, ±Infinity kept, else truncated toward zero.
double to_integer_or_infinity(const json& v);

// `a == b` (abstract equality, with coercions) and `a === b`. Arrays and objects are JS objects,
// equal only to themselves; two values here never share an identity, so they never compare equal.
bool loose_equal(const json& a, const json& b);
bool strict_equal(const json& a, const json& b);

// The abstract relational comparison behind < > <= >=: two strings compare by UTF-16 code units,
// anything else as numbers; NaN makes every comparison false (unordered).
enum class Order { less, equal, greater, unordered };
Order compare(const json& a, const json& b);

// Binary `a + b`: concatenation when either side is (or turns into) a string, else addition.
json add(const json& a, const json& b);

// UTF-8 ↔ UTF-16. Invalid UTF-8 bytes and lone surrogates become U+FFFD.
std::u16string to_utf16(std::string_view utf8);
std::string to_utf8(std::u16string_view utf16);

} // namespace vaultfwd::jsonlogic::js
