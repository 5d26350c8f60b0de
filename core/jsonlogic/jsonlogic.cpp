// SPDX-License-Identifier: Apache-2.0
#include "core/jsonlogic/jsonlogic.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/crypto/hash.hpp"
#include "core/jsonlogic/js.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::jsonlogic {

namespace {

using json = nlohmann::json;
using Args = std::vector<json>;

const json k_undefined = js::undefined();
constexpr std::size_t k_bytes_per_work_unit = 8;

// The operands as written. JsonLogic lets a lone operand stand for a one-element array, and an
// operand that is not there reads as undefined, as a missing JS argument does.
class Operands {
  public:
    explicit Operands(const json& values) : m_values(values) {}
    std::size_t size() const { return m_values.is_array() ? m_values.size() : 1; }
    const json& operator[](std::size_t i) const {
        if (m_values.is_array())
            return i < m_values.size() ? m_values[i] : k_undefined;
        return i == 0 ? m_values : k_undefined;
    }

  private:
    const json& m_values;
};

const json& arg(const Args& args, std::size_t i) {
    return i < args.size() ? args[i] : k_undefined;
}

bool is_logic(const json& v) {
    return v.is_object() && v.size() == 1;
}

// Nesting depth (a scalar 0, [] 1, [[1]] 2), walked without recursion; stops once past `limit`.
std::size_t depth_of(const json& v, std::size_t limit) {
    if (!v.is_structured())
        return 0;
    std::size_t deepest = 0;
    std::vector<std::pair<const json*, std::size_t>> stack{{&v, 1}};
    while (!stack.empty()) {
        auto [node, depth] = stack.back();
        stack.pop_back();
        deepest = std::max(deepest, depth);
        if (deepest > limit)
            break;
        for (const auto& child : *node)
            if (child.is_structured())
                stack.emplace_back(&child, depth + 1);
    }
    return deepest;
}

// What copying `v` costs in work units; stops counting once past `cap`.
std::size_t weight_of(const json& v, std::size_t cap) {
    if (v.is_string())
        return 1 + v.get_ref<const std::string&>().size() / k_bytes_per_work_unit;
    if (!v.is_structured())
        return 1;
    std::size_t weight = 0;
    std::vector<const json*> stack{&v};
    while (!stack.empty() && weight <= cap) {
        const json* node = stack.back();
        stack.pop_back();
        ++weight;
        if (node->is_string())
            weight += node->get_ref<const std::string&>().size() / k_bytes_per_work_unit;
        else if (node->is_structured())
            for (const auto& child : *node)
                stack.push_back(&child);
    }
    return weight;
}

// What JSON.stringify then JSON.parse make of a JS value: undefined and non-finite numbers become
// null (object members holding undefined disappear), -0 becomes 0, integral numbers integers.
void normalize(json& root) {
    std::vector<json*> stack{&root};
    while (!stack.empty()) {
        json* v = stack.back();
        stack.pop_back();
        if (v->is_discarded()) {
            *v = nullptr;
        } else if (v->is_number_float()) {
            double d = v->get<double>();
            *v = std::isfinite(d) ? js::number(d == 0 ? 0.0 : d) : json(nullptr);
        } else if (v->is_object()) {
            for (auto it = v->begin(); it != v->end();) {
                if (it->is_discarded())
                    it = v->erase(it);
                else
                    stack.push_back(&*it++);
            }
        } else if (v->is_array()) {
            for (auto& child : *v)
                stack.push_back(&child);
        }
    }
}

// An array index as JS reads a property key: the canonical decimal form of an integer below 2^32-1.
std::optional<std::size_t> array_index(std::string_view key) {
    if (key.empty() || key.size() > 10 || (key.size() > 1 && key[0] == '0'))
        return std::nullopt;
    std::uint64_t n = 0;
    for (char c : key) {
        if (c < '0' || c > '9')
            return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (n >= 4294967295u)
        return std::nullopt;
    return static_cast<std::size_t>(n);
}

// `v[key]` as JS reads it for data: own members of objects, indexes and length of arrays and of
// strings (in UTF-16 code units). nullptr for undefined. A string's character or length has no
// node of its own, so it is built in `scratch`, which `v` may itself be.
const json* property(const json& v, const std::string& key, json& scratch) {
    if (v.is_object()) {
        auto it = v.find(key);
        return it == v.end() || it->is_discarded() ? nullptr : &*it;
    }
    if (v.is_array()) {
        if (key == "length") {
            scratch = v.size();
            return &scratch;
        }
        auto index = array_index(key);
        if (!index || *index >= v.size() || v[*index].is_discarded())
            return nullptr;
        return &v[*index];
    }
    if (v.is_string()) {
        std::u16string units = js::to_utf16(v.get_ref<const std::string&>());
        if (key == "length") {
            scratch = units.size();
            return &scratch;
        }
        auto index = array_index(key);
        if (!index || *index >= units.size())
            return nullptr;
        scratch = js::to_utf8(std::u16string_view(units).substr(*index, 1));
        return &scratch;
    }
    return nullptr;
}

// String.prototype.substr(start, length) on UTF-16 code units.
std::u16string js_substr(const std::u16string& s, const json& start, const json& length) {
    const double size = static_cast<double>(s.size());
    double from = js::to_integer_or_infinity(start);
    if (from < 0)
        from = std::max(size + from, 0.0);
    else
        from = std::min(from, size);
    double count = js::is_undefined(length) ? size : js::to_integer_or_infinity(length);
    double to = std::min(from + std::clamp(count, 0.0, size), size);
    if (from >= to)
        return {};
    return s.substr(static_cast<std::size_t>(from), static_cast<std::size_t>(to - from));
}

// A type as a message names it; never the value, which may be a secret.
std::string type_phrase(const json& v) {
    switch (v.type()) {
    case json::value_t::null:
        return "null";
    case json::value_t::boolean:
        return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
        return "a number";
    case json::value_t::string:
        return "a string";
    case json::value_t::array:
        return "an array";
    case json::value_t::object:
    case json::value_t::binary:
        return "an object";
    case json::value_t::discarded:
        return "undefined";
    }
    return "undefined";
}

Error type_error(std::string message) {
    return make_error("jsonlogic.type_error", std::move(message));
}

Result<void> check_arity(const Args& args, std::string_view op, std::size_t least,
                         std::size_t most) {
    if (args.size() >= least && args.size() <= most)
        return {};
    std::string range = least == most       ? std::to_string(least)
                        : most == least + 1 ? std::to_string(least) + " or " + std::to_string(most)
                                            : std::to_string(least) + " to " + std::to_string(most);
    return make_error("jsonlogic.arity", std::string(op) + " takes " + range + " operand" +
                                             (most == 1 ? "" : "s") + ", not " +
                                             std::to_string(args.size()));
}

Result<std::string> string_operand(const Args& args, std::size_t i, std::string_view op,
                                   std::string_view what) {
    const json& v = arg(args, i);
    if (!v.is_string())
        return type_error(std::string(op) + " " + std::string(what) + " must be a string, not " +
                          type_phrase(v));
    return v.get<std::string>();
}

enum class Encoding { hex, base64 };

std::string encode(Encoding encoding, std::string_view bytes) {
    return encoding == Encoding::hex ? util::to_hex(bytes) : util::base64_encode(bytes);
}

// An optional output format operand: absent or null picks `fallback`.
Result<Encoding> encoding_operand(const Args& args, std::size_t i, std::string_view op,
                                  Encoding fallback) {
    const json& v = arg(args, i);
    if (js::is_undefined(v) || v.is_null())
        return fallback;
    if (v.is_string() && util::iequals(v.get_ref<const std::string&>(), "hex"))
        return Encoding::hex;
    if (v.is_string() && util::iequals(v.get_ref<const std::string&>(), "base64"))
        return Encoding::base64;
    return make_error("jsonlogic.bad_format",
                      std::string(op) + " output format must be \"hex\" or \"base64\"");
}

class Evaluator {
  public:
    explicit Evaluator(const Options& options) : m_options(options) {}

    Result<json> apply(const json& logic, const json& data, int depth) {
        if (depth > m_options.max_depth)
            return too_deep("logic");
        if (auto spent = spend(1); !spent)
            return spent.error();
        if (logic.is_array()) {
            json out = json::array();
            for (const auto& item : logic) {
                auto r = apply(item, data, depth + 1);
                if (!r)
                    return r.error();
                out.push_back(std::move(*r));
            }
            return out;
        }
        if (!is_logic(logic)) {
            if (auto spent = spend_on(logic); !spent)
                return spent.error();
            return logic;
        }
        const std::string& op = logic.begin().key();
        Operands operands(logic.begin().value());
        if (auto lazy = lazy_ops().find(op); lazy != lazy_ops().end())
            return (this->*lazy->second)(operands, data, depth);
        // Everything else sees its operands evaluated first, even an operator that turns out
        // to be unknown (so an error inside an operand is the one reported).
        Args args;
        args.reserve(operands.size());
        for (std::size_t i = 0; i < operands.size(); ++i) {
            auto r = apply(operands[i], data, depth + 1);
            if (!r)
                return r.error();
            args.push_back(std::move(*r));
        }
        if (auto eager = eager_ops().find(op); eager != eager_ops().end())
            return (this->*eager->second)(args, data, depth);
        return unknown_operator(op);
    }

  private:
    using Lazy = Result<json> (Evaluator::*)(const Operands&, const json&, int);
    using Eager = Result<json> (Evaluator::*)(Args&, const json&, int);

    static const std::unordered_map<std::string_view, Lazy>& lazy_ops() {
        static const std::unordered_map<std::string_view, Lazy> ops{
            {"if", &Evaluator::op_if},         {"?:", &Evaluator::op_if},
            {"and", &Evaluator::op_and},       {"or", &Evaluator::op_or},
            {"filter", &Evaluator::op_filter}, {"map", &Evaluator::op_map},
            {"reduce", &Evaluator::op_reduce}, {"all", &Evaluator::op_all},
            {"none", &Evaluator::op_none},     {"some", &Evaluator::op_some},
        };
        return ops;
    }

    static const std::unordered_map<std::string_view, Eager>& eager_ops() {
        static const std::unordered_map<std::string_view, Eager> ops{
            {"==", &Evaluator::op_loose_equal},
            {"===", &Evaluator::op_strict_equal},
            {"!=", &Evaluator::op_loose_not_equal},
            {"!==", &Evaluator::op_strict_not_equal},
            {">", &Evaluator::op_greater},
            {">=", &Evaluator::op_greater_equal},
            {"<", &Evaluator::op_less},
            {"<=", &Evaluator::op_less_equal},
            {"!!", &Evaluator::op_truthy},
            {"!", &Evaluator::op_not},
            {"%", &Evaluator::op_modulo},
            {"log", &Evaluator::op_log},
            {"in", &Evaluator::op_in},
            {"cat", &Evaluator::op_cat},
            {"substr", &Evaluator::op_substr},
            {"+", &Evaluator::op_add},
            {"*", &Evaluator::op_multiply},
            {"-", &Evaluator::op_subtract},
            {"/", &Evaluator::op_divide},
            {"min", &Evaluator::op_min},
            {"max", &Evaluator::op_max},
            {"merge", &Evaluator::op_merge},
            {"var", &Evaluator::op_var},
            {"missing", &Evaluator::op_missing},
            {"missing_some", &Evaluator::op_missing_some},
            {"replaceTokens", &Evaluator::op_replace_tokens},
            {"base64", &Evaluator::op_base64},
            {"hmac-sha256", &Evaluator::op_hmac_sha256},
            {"md5", &Evaluator::op_md5},
            {"sha1", &Evaluator::op_sha1},
            {"sha256", &Evaluator::op_sha256},
            {"sha384", &Evaluator::op_sha384},
            {"sha512", &Evaluator::op_sha512},
        };
        return ops;
    }

    Error unknown_operator(const std::string& op) const {
        std::vector<std::string> names;
        for (const auto& entry : lazy_ops())
            names.emplace_back(entry.first);
        for (const auto& entry : eager_ops())
            names.emplace_back(entry.first);
        std::sort(names.begin(), names.end()); // a stable suggestion whatever the hash order
        std::string message = "unknown operator \"" + op + "\"";
        // Below three characters everything is near everything else.
        if (auto near = util::nearest(op, names); !near.empty() && op.size() >= 3)
            message += " (did you mean \"" + near + "\"?)";
        return make_error("jsonlogic.unknown_operator", message);
    }

    Error too_deep(std::string_view what) const {
        return make_error("jsonlogic.too_deep", std::string(what) + " nests deeper than " +
                                                    std::to_string(m_options.max_depth) +
                                                    " levels");
    }

    Result<void> spend(std::size_t units) {
        m_work += units;
        if (m_work > m_options.max_work)
            return make_error("jsonlogic.too_costly", "logic needs more than " +
                                                          std::to_string(m_options.max_work) +
                                                          " steps of work; simplify it");
        return {};
    }

    Result<void> spend_on(const json& value) {
        std::size_t left = m_options.max_work >= m_work ? m_options.max_work - m_work : 0;
        return spend(weight_of(value, left));
    }

    // `value`, once what it weighs is paid for (before copying it, for a copy).
    Result<json> checked(const json& value) {
        if (auto spent = spend_on(value); !spent)
            return spent.error();
        return value;
    }
    Result<json> checked(json&& value) {
        if (auto spent = spend_on(value); !spent)
            return spent.error();
        return std::move(value);
    }

    // --- operators that choose which operands to evaluate, and with which data

    Result<json> op_if(const Operands& ops, const json& data, int depth) {
        std::size_t i = 0;
        for (; i + 1 < ops.size(); i += 2) {
            auto condition = apply(ops[i], data, depth + 1);
            if (!condition)
                return condition.error();
            if (truthy(*condition))
                return apply(ops[i + 1], data, depth + 1);
        }
        if (ops.size() == i + 1)
            return apply(ops[i], data, depth + 1);
        return json(nullptr);
    }

    Result<json> op_and(const Operands& ops, const json& data, int depth) {
        json current = k_undefined;
        for (std::size_t i = 0; i < ops.size(); ++i) {
            auto r = apply(ops[i], data, depth + 1);
            if (!r)
                return r.error();
            current = std::move(*r);
            if (!truthy(current))
                return current;
        }
        return current;
    }

    Result<json> op_or(const Operands& ops, const json& data, int depth) {
        json current = k_undefined;
        for (std::size_t i = 0; i < ops.size(); ++i) {
            auto r = apply(ops[i], data, depth + 1);
            if (!r)
                return r.error();
            current = std::move(*r);
            if (truthy(current))
                return current;
        }
        return current;
    }

    Result<json> op_filter(const Operands& ops, const json& data, int depth) {
        auto items = apply(ops[0], data, depth + 1);
        if (!items)
            return items.error();
        json out = json::array();
        if (!items->is_array())
            return out;
        for (auto& item : *items) {
            auto keep = apply(ops[1], item, depth + 1);
            if (!keep)
                return keep.error();
            if (truthy(*keep))
                out.push_back(std::move(item));
        }
        return out;
    }

    Result<json> op_map(const Operands& ops, const json& data, int depth) {
        auto items = apply(ops[0], data, depth + 1);
        if (!items)
            return items.error();
        json out = json::array();
        if (!items->is_array())
            return out;
        for (const auto& item : *items) {
            auto mapped = apply(ops[1], item, depth + 1);
            if (!mapped)
                return mapped.error();
            out.push_back(std::move(*mapped));
        }
        return out;
    }

    Result<json> op_reduce(const Operands& ops, const json& data, int depth) {
        auto items = apply(ops[0], data, depth + 1);
        if (!items)
            return items.error();
        // json-logic-js takes the initial value as written, without evaluating it.
        auto initial = checked(js::is_undefined(ops[2]) ? json(nullptr) : ops[2]);
        if (!initial)
            return initial.error();
        json accumulator = std::move(*initial);
        if (!items->is_array())
            return accumulator;
        const auto limit = static_cast<std::size_t>(std::max(m_options.max_depth, 0));
        for (auto& item : *items) {
            json scope = json::object();
            scope["current"] = std::move(item);
            scope["accumulator"] = std::move(accumulator);
            auto next = apply(ops[1], scope, depth + 1);
            if (!next)
                return next.error();
            accumulator = std::move(*next);
            // Only reduce feeds results back in, so only it can build ever deeper values.
            if (depth_of(accumulator, limit) > limit)
                return too_deep("reduce accumulator");
        }
        return accumulator;
    }

    // all, none and some: the first element whose logic is `stop_when` answers `stop_answer`;
    // an empty list or a non-list answers `empty_answer`.
    Result<json> quantify(const Operands& ops, const json& data, int depth, bool stop_when,
                          bool stop_answer, bool empty_answer) {
        auto items = apply(ops[0], data, depth + 1);
        if (!items)
            return items.error();
        if (!items->is_array() || items->empty())
            return json(empty_answer);
        for (const auto& item : *items) {
            auto r = apply(ops[1], item, depth + 1);
            if (!r)
                return r.error();
            if (truthy(*r) == stop_when)
                return json(stop_answer);
        }
        return json(!stop_answer);
    }

    Result<json> op_all(const Operands& ops, const json& data, int depth) {
        return quantify(ops, data, depth, false, false, false);
    }
    Result<json> op_none(const Operands& ops, const json& data, int depth) {
        return quantify(ops, data, depth, true, false, true);
    }
    Result<json> op_some(const Operands& ops, const json& data, int depth) {
        return quantify(ops, data, depth, true, true, false);
    }

    // --- operators on evaluated operands

    Result<json> op_loose_equal(Args& args, const json&, int) {
        return json(js::loose_equal(arg(args, 0), arg(args, 1)));
    }
    Result<json> op_strict_equal(Args& args, const json&, int) {
        return json(js::strict_equal(arg(args, 0), arg(args, 1)));
    }
    Result<json> op_loose_not_equal(Args& args, const json&, int) {
        return json(!js::loose_equal(arg(args, 0), arg(args, 1)));
    }
    Result<json> op_strict_not_equal(Args& args, const json&, int) {
        return json(!js::strict_equal(arg(args, 0), arg(args, 1)));
    }

    static bool less(const json& a, const json& b) { return js::compare(a, b) == js::Order::less; }
    static bool less_equal(const json& a, const json& b) {
        auto order = js::compare(a, b);
        return order == js::Order::less || order == js::Order::equal;
    }

    Result<json> op_greater(Args& args, const json&, int) {
        return json(js::compare(arg(args, 0), arg(args, 1)) == js::Order::greater);
    }
    Result<json> op_greater_equal(Args& args, const json&, int) {
        auto order = js::compare(arg(args, 0), arg(args, 1));
        return json(order == js::Order::greater || order == js::Order::equal);
    }
    // With a third operand, < and <= test that the middle one lies between the other two.
    Result<json> op_less(Args& args, const json&, int) {
        if (js::is_undefined(arg(args, 2)))
            return json(less(arg(args, 0), arg(args, 1)));
        return json(less(arg(args, 0), arg(args, 1)) && less(arg(args, 1), arg(args, 2)));
    }
    Result<json> op_less_equal(Args& args, const json&, int) {
        if (js::is_undefined(arg(args, 2)))
            return json(less_equal(arg(args, 0), arg(args, 1)));
        return json(less_equal(arg(args, 0), arg(args, 1)) &&
                    less_equal(arg(args, 1), arg(args, 2)));
    }

    Result<json> op_truthy(Args& args, const json&, int) { return json(truthy(arg(args, 0))); }
    Result<json> op_not(Args& args, const json&, int) { return json(!truthy(arg(args, 0))); }

    Result<json> op_modulo(Args& args, const json&, int) {
        return js::number(std::fmod(js::to_number(arg(args, 0)), js::to_number(arg(args, 1))));
    }

    Result<json> op_log(Args& args, const json&, int) {
        json value = arg(args, 0);
        if (m_options.log) {
            json shown = value;
            normalize(shown);
            m_options.log(shown);
        }
        return value;
    }

    Result<json> op_in(Args& args, const json&, int) {
        const json& needle = arg(args, 0);
        const json& haystack = arg(args, 1);
        if (!js::to_boolean(haystack))
            return json(false);
        if (haystack.is_string())
            return json(haystack.get_ref<const std::string&>().find(js::to_string(needle)) !=
                        std::string::npos);
        if (haystack.is_array())
            return json(std::any_of(haystack.begin(), haystack.end(), [&](const json& item) {
                return js::strict_equal(item, needle);
            }));
        // An object has no indexOf unless data gave it one, which JS then fails to call.
        if (haystack.is_object() && haystack.contains("indexOf"))
            return type_error("in cannot search an object whose indexOf is not a function");
        return json(false);
    }

    Result<json> op_cat(Args& args, const json&, int) {
        std::string out;
        for (const auto& item : args)
            if (!item.is_null() && !js::is_undefined(item))
                out += js::to_string(item);
        return checked(json(std::move(out)));
    }

    Result<json> op_substr(Args& args, const json&, int) {
        std::u16string source = js::to_utf16(js::to_string(arg(args, 0)));
        const json& start = arg(args, 1);
        const json& end = arg(args, 2);
        std::u16string out;
        // json-logic-js reads a negative length as "stop that many from the end" (as PHP does),
        // with JS's `<` and `+`: so "-2" counts as negative and then concatenates.
        if (less(end, json(0))) {
            std::u16string rest = js_substr(source, start, k_undefined);
            out = js_substr(rest, json(0), js::add(json(rest.size()), end));
        } else {
            out = js_substr(source, start, end);
        }
        return checked(json(js::to_utf8(out)));
    }

    Result<json> op_add(Args& args, const json&, int) {
        double sum = 0;
        for (const auto& item : args)
            sum = (sum == 0 ? 0.0 : sum) + js::parse_float(item); // parseFloat(-0) is 0
        return js::number(sum);
    }

    Result<json> op_multiply(Args& args, const json&, int) {
        if (args.empty())
            return type_error("* needs at least one operand");
        // Array.reduce without an initial value hands back a lone element untouched.
        if (args.size() == 1)
            return std::move(args[0]);
        double product = js::parse_float(args[0]);
        for (std::size_t i = 1; i < args.size(); ++i)
            product = (product == 0 ? 0.0 : product) * js::parse_float(args[i]);
        return js::number(product);
    }

    Result<json> op_subtract(Args& args, const json&, int) {
        if (js::is_undefined(arg(args, 1)))
            return js::number(-js::to_number(arg(args, 0)));
        return js::number(js::to_number(arg(args, 0)) - js::to_number(arg(args, 1)));
    }

    Result<json> op_divide(Args& args, const json&, int) {
        return js::number(js::to_number(arg(args, 0)) / js::to_number(arg(args, 1)));
    }

    // Math.min / Math.max: NaN wins, -0 is below +0, no operands give ±Infinity.
    static json extreme(const Args& args, bool want_max) {
        double best = want_max ? -std::numeric_limits<double>::infinity()
                               : std::numeric_limits<double>::infinity();
        bool nan = false;
        for (const auto& item : args) {
            double n = js::to_number(item);
            if (std::isnan(n)) {
                nan = true;
                continue;
            }
            bool better = want_max ? n > best : n < best;
            if (n == 0 && best == 0)
                better = want_max ? std::signbit(best) && !std::signbit(n)
                                  : !std::signbit(best) && std::signbit(n);
            if (better)
                best = n;
        }
        return js::number(nan ? std::numeric_limits<double>::quiet_NaN() : best);
    }

    Result<json> op_min(Args& args, const json&, int) { return extreme(args, false); }
    Result<json> op_max(Args& args, const json&, int) { return extreme(args, true); }

    Result<json> op_merge(Args& args, const json&, int) {
        json out = json::array();
        for (auto& item : args) {
            if (item.is_array())
                for (auto& element : item)
                    out.push_back(std::move(element));
            else
                out.push_back(std::move(item));
        }
        if (auto spent = spend(out.size()); !spent)
            return spent.error();
        return out;
    }

    Result<json> op_var(Args& args, const json& data, int) {
        const json& path = arg(args, 0);
        const json& fallback = arg(args, 1);
        json not_found = js::is_undefined(fallback) ? json(nullptr) : fallback;
        if (js::is_undefined(path) || path.is_null() ||
            (path.is_string() && path.get_ref<const std::string&>().empty()))
            return checked(data);
        json scratch;
        const json* current = &data;
        for (const auto& key : util::split(js::to_string(path), '.')) {
            if (current->is_null() || js::is_undefined(*current))
                return not_found;
            current = property(*current, key, scratch);
            if (current == nullptr)
                return not_found;
        }
        return checked(*current);
    }

    Result<json> op_missing(Args& args, const json& data, int depth) {
        // Keys come as operands, or as one array (the answer of merge or if, typically).
        const json* keys = nullptr;
        json listed;
        if (arg(args, 0).is_array()) {
            keys = &args[0];
        } else {
            listed = json(std::move(args));
            keys = &listed;
        }
        json missing = json::array();
        for (const auto& key : *keys) {
            // {"var": key} goes through apply, as in json-logic-js: a key that is itself logic
            // is evaluated once more.
            json probe = json::object();
            probe["var"] = key;
            auto value = apply(probe, data, depth + 1);
            if (!value)
                return value.error();
            if (value->is_null() ||
                (value->is_string() && value->get_ref<const std::string&>().empty()))
                missing.push_back(key);
        }
        return missing;
    }

    Result<json> op_missing_some(Args& args, const json& data, int depth) {
        const json& need = arg(args, 0);
        const json& keys = arg(args, 1);
        json probe = json::object();
        probe["missing"] = keys;
        auto absent = apply(probe, data, depth + 1);
        if (!absent)
            return absent.error();
        double count = std::numeric_limits<double>::quiet_NaN();
        if (keys.is_array())
            count = static_cast<double>(keys.size());
        else if (keys.is_string())
            count = static_cast<double>(js::to_utf16(keys.get_ref<const std::string&>()).size());
        else if (keys.is_null() || js::is_undefined(keys))
            return type_error("missing_some needs a list of keys as its second operand");
        auto order = js::compare(js::number(count - static_cast<double>(absent->size())), need);
        if (order == js::Order::greater || order == js::Order::equal)
            return json::array();
        return absent;
    }

    // --- VTEX Secure Proxy operators

    Result<json> op_replace_tokens(Args& args, const json&, int) {
        if (auto ok = check_arity(args, "replaceTokens", 1, 1); !ok)
            return ok.error();
        auto text = string_operand(args, 0, "replaceTokens", "text");
        if (!text)
            return text.error();
        if (!m_options.replace_tokens)
            return make_error("jsonlogic.no_token_source",
                              "replaceTokens has no token source to read values from");
        auto replaced = m_options.replace_tokens(*text);
        if (!replaced)
            return replaced.error();
        return checked(json(std::move(*replaced)));
    }

    Result<json> op_base64(Args& args, const json&, int) {
        if (auto ok = check_arity(args, "base64", 1, 1); !ok)
            return ok.error();
        auto text = string_operand(args, 0, "base64", "text");
        if (!text)
            return text.error();
        return checked(json(util::base64_encode(*text)));
    }

    Result<json> hash(Args& args, std::string_view op, crypto::Digest alg) {
        if (auto ok = check_arity(args, op, 1, 2); !ok)
            return ok.error();
        auto text = string_operand(args, 0, op, "data");
        if (!text)
            return text.error();
        auto encoding = encoding_operand(args, 1, op, Encoding::hex);
        if (!encoding)
            return encoding.error();
        if (auto spent = spend(text->size() / k_bytes_per_work_unit); !spent)
            return spent.error();
        return json(encode(*encoding, crypto::digest(alg, *text)));
    }

    Result<json> op_md5(Args& args, const json&, int) {
        return hash(args, "md5", crypto::Digest::md5);
    }
    Result<json> op_sha1(Args& args, const json&, int) {
        return hash(args, "sha1", crypto::Digest::sha1);
    }
    Result<json> op_sha256(Args& args, const json&, int) {
        return hash(args, "sha256", crypto::Digest::sha256);
    }
    Result<json> op_sha384(Args& args, const json&, int) {
        return hash(args, "sha384", crypto::Digest::sha384);
    }
    Result<json> op_sha512(Args& args, const json&, int) {
        return hash(args, "sha512", crypto::Digest::sha512);
    }

    Result<json> op_hmac_sha256(Args& args, const json&, int) {
        constexpr std::string_view op = "hmac-sha256";
        if (auto ok = check_arity(args, op, 2, 4); !ok)
            return ok.error();
        auto key = string_operand(args, 0, op, "key");
        if (!key)
            return key.error();
        auto text = string_operand(args, 1, op, "data");
        if (!text)
            return text.error();
        auto encoding = encoding_operand(args, 2, op, Encoding::base64);
        if (!encoding)
            return encoding.error();
        const json& key_format = arg(args, 3);
        std::string key_bytes;
        if (js::is_undefined(key_format) || key_format.is_null() ||
            (key_format.is_string() &&
             util::iequals(key_format.get_ref<const std::string&>(), "plainText"))) {
            key_bytes = *key;
        } else if (key_format.is_string() &&
                   util::iequals(key_format.get_ref<const std::string&>(), "hex")) {
            auto decoded = util::from_hex(*key);
            if (!decoded)
                return make_error("jsonlogic.bad_key", "hmac-sha256 key is not valid hex");
            key_bytes = std::move(*decoded);
        } else if (key_format.is_string() &&
                   util::iequals(key_format.get_ref<const std::string&>(), "base64")) {
            auto decoded = util::base64_decode(*key);
            if (!decoded)
                return make_error("jsonlogic.bad_key", "hmac-sha256 key is not valid base64");
            key_bytes = std::move(*decoded);
        } else {
            return make_error(
                "jsonlogic.bad_format",
                "hmac-sha256 key format must be \"plainText\", \"hex\" or \"base64\"");
        }
        if (auto spent = spend(text->size() / k_bytes_per_work_unit); !spent)
            return spent.error();
        return json(encode(*encoding, crypto::hmac_sha256(key_bytes, *text)));
    }

    const Options& m_options;
    std::size_t m_work = 0;
};

} // namespace

Result<nlohmann::json> evaluate(const nlohmann::json& logic, const nlohmann::json& data,
                                const Options& options) {
    // Copies and comparisons of json recurse, so nesting is bounded before anything runs.
    const auto limit = static_cast<std::size_t>(std::max(options.max_depth, 0));
    for (auto [value, what] : {std::pair{&logic, "logic"}, std::pair{&data, "data"}})
        if (depth_of(*value, limit) > limit)
            return make_error("jsonlogic.too_deep", std::string(what) + " nests deeper than " +
                                                        std::to_string(options.max_depth) +
                                                        " levels");
    Evaluator evaluator(options);
    auto result = evaluator.apply(logic, data, 0);
    if (!result)
        return result.error();
    normalize(*result);
    return result;
}

bool truthy(const nlohmann::json& value) {
    if (value.is_array() && value.empty())
        return false;
    return js::to_boolean(value);
}

std::string to_js_string(const nlohmann::json& value) {
    return js::to_string(value);
}

} // namespace vaultfwd::jsonlogic
