// SPDX-License-Identifier: Apache-2.0
#pragma once
// JsonLogic (jsonlogic.com) as json-logic-js 2.0 evaluates it, JS coercions and quirks included,
// plus the custom operators of VTEX's Secure Proxy: replaceTokens, base64, hmac-sha256, md5,
// sha1, sha256, sha384 and sha512.

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "core/util/result.hpp"

namespace vaultfwd::jsonlogic {

struct Options {
    // Resolves the VTEX tokens in a string for `replaceTokens`; without it that operator fails
    // with "jsonlogic.no_token_source". Its errors are returned unchanged.
    std::function<Result<std::string>(const std::string&)> replace_tokens;
    // Receives what `log` is given. Values may be secrets, so nothing is printed without it.
    std::function<void(const nlohmann::json&)> log;
    // Deepest nesting accepted in logic, data and reduce accumulators ("jsonlogic.too_deep").
    int max_depth = 256;
    // Work allowed for one evaluation: one unit per operator applied and per json node or 8 string
    // bytes built, so runaway logic (a doubling reduce) fails with "jsonlogic.too_costly".
    std::size_t max_work = 2'000'000;
};

// Applies `logic` to `data` as json-logic-js's apply() does and returns what JSON.stringify then
// JSON.parse would make of its answer: undefined, NaN and ±Infinity become null, integral numbers
// become integers. Two arrays or objects are never equal (in JS they would be two objects), and
// `log` goes to Options::log. Errors (never thrown): "jsonlogic.unknown_operator",
// "jsonlogic.too_deep", "jsonlogic.too_costly", "jsonlogic.type_error" (where JS would throw, and
// for a custom operator given a non-string), "jsonlogic.arity", "jsonlogic.bad_format",
// "jsonlogic.bad_key", "jsonlogic.no_token_source", or the replace_tokens callback's own.
Result<nlohmann::json> evaluate(const nlohmann::json& logic, const nlohmann::json& data,
                                const Options& options = {});

// JsonLogic truthiness: JS's, except that an empty array is false ("0" and [0] are true).
bool truthy(const nlohmann::json& value);

// JS String(value), which is how a result reads once put into text: true → "true", 1 → "1",
// 0.5 → "0.5", 1e21 → "1e+21", [1,[2,3]] → "1,2,3", null → "null", {} → "[object Object]".
std::string to_js_string(const nlohmann::json& value);

} // namespace vaultfwd::jsonlogic
