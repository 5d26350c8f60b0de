// SPDX-License-Identifier: Apache-2.0
#include "core/jsonlogic/js.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <utility>
#include <vector>

#include "core/util/utf8.hpp"

namespace vaultfwd::jsonlogic::js {

namespace {

constexpr double k_nan = std::numeric_limits<double>::quiet_NaN();
constexpr double k_infinity = std::numeric_limits<double>::infinity();

// Arrays and objects are both JS objects to the coercion rules.
enum class Kind { undefined, null, boolean, number, string, object };

Kind kind_of(const json& v) {
    switch (v.type()) {
    case json::value_t::null:
        return Kind::null;
    case json::value_t::boolean:
        return Kind::boolean;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
        return Kind::number;
    case json::value_t::string:
        return Kind::string;
    case json::value_t::array:
    case json::value_t::object:
    case json::value_t::binary:
        return Kind::object;
    case json::value_t::discarded:
        return Kind::undefined;
    }
    return Kind::undefined;
}

// StrWhiteSpaceChar: WhiteSpace and LineTerminator, all of them single UTF-16 code units.
bool is_js_space(char16_t c) {
    switch (c) {
    case 0x0009:
    case 0x000A:
    case 0x000B:
    case 0x000C:
    case 0x000D:
    case 0x0020:
    case 0x00A0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0xFEFF:
        return true;
    default:
        return c >= 0x2000 && c <= 0x200A;
    }
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Array.prototype.join(","), iteratively so that deeply nested data cannot exhaust the stack.
std::string join_array(const json& array) {
    std::string out;
    std::vector<std::pair<const json*, std::size_t>> stack{{&array, 0}};
    while (!stack.empty()) {
        auto& [items, next] = stack.back();
        if (next == items->size()) {
            stack.pop_back();
            continue;
        }
        const json& item = (*items)[next];
        if (next > 0)
            out += ',';
        ++next;
        if (item.is_array())
            stack.emplace_back(&item, 0); // invalidates items/next; not used again this round
        else if (!item.is_null() && !item.is_discarded())
            out += to_string(item);
    }
    return out;
}

// Value of a decimal literal whose digits from_chars reports out of range: decide between
// ±Infinity and 0 from the position of the first significant digit.
double out_of_range_value(std::string_view int_digits, std::string_view frac_digits,
                          long long exponent) {
    for (std::size_t k = 0; k < int_digits.size(); ++k)
        if (int_digits[k] != '0')
            return static_cast<long long>(int_digits.size() - 1 - k) + exponent >= 0 ? k_infinity
                                                                                     : 0.0;
    for (std::size_t k = 0; k < frac_digits.size(); ++k)
        if (frac_digits[k] != '0')
            return -static_cast<long long>(k + 1) + exponent >= 0 ? k_infinity : 0.0;
    return 0.0;
}

// Length of the longest prefix of `t` that is a StrDecimalLiteral ([+-] Infinity, or digits with
// an optional fraction and exponent), 0 when there is none; its value goes to `out`.
std::size_t decimal_prefix(std::string_view t, double& out) {
    std::size_t i = 0;
    bool negative = false;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
        negative = t[i] == '-';
        ++i;
    }
    if (t.substr(i).starts_with("Infinity")) {
        out = negative ? -k_infinity : k_infinity;
        return i + 8;
    }
    const std::size_t start = i;
    while (i < t.size() && is_digit(t[i]))
        ++i;
    std::string_view int_digits = t.substr(start, i - start);
    std::string_view frac_digits;
    if (i < t.size() && t[i] == '.') {
        std::size_t j = i + 1;
        while (j < t.size() && is_digit(t[j]))
            ++j;
        if (!int_digits.empty() || j > i + 1) {
            frac_digits = t.substr(i + 1, j - i - 1);
            i = j;
        }
    }
    if (int_digits.empty() && frac_digits.empty())
        return 0;
    long long exponent = 0;
    if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
        std::size_t j = i + 1;
        bool exp_negative = false;
        if (j < t.size() && (t[j] == '+' || t[j] == '-')) {
            exp_negative = t[j] == '-';
            ++j;
        }
        const std::size_t exp_start = j;
        while (j < t.size() && is_digit(t[j])) {
            if (exponent < 1'000'000'000)
                exponent = exponent * 10 + (t[j] - '0');
            ++j;
        }
        if (j > exp_start) {
            i = j;
            if (exp_negative)
                exponent = -exponent;
        } else {
            exponent = 0;
        }
    }
    double value = 0;
    auto [end, ec] = std::from_chars(t.data() + start, t.data() + i, value);
    if (ec == std::errc::result_out_of_range)
        value = out_of_range_value(int_digits, frac_digits, exponent);
    else if (ec != std::errc() || end != t.data() + i)
        return 0;
    out = negative ? -value : value;
    return i;
}

// Leading (and, for StringToNumber, trailing) StrWhiteSpace removed; non-ASCII left in place.
std::string trim_js_space(std::string_view s, bool both_ends) {
    std::u16string u = to_utf16(s);
    std::size_t begin = 0;
    std::size_t end = u.size();
    while (begin < end && is_js_space(u[begin]))
        ++begin;
    while (both_ends && end > begin && is_js_space(u[end - 1]))
        --end;
    return to_utf8(std::u16string_view(u).substr(begin, end - begin));
}

double string_to_number(std::string_view s) {
    std::string t = trim_js_space(s, true);
    if (t.empty())
        return 0;
    if (t.size() >= 2 && t[0] == '0') {
        int base = 0;
        switch (t[1]) {
        case 'x':
        case 'X':
            base = 16;
            break;
        case 'o':
        case 'O':
            base = 8;
            break;
        case 'b':
        case 'B':
            base = 2;
            break;
        default:
            break;
        }
        if (base != 0) {
            if (t.size() == 2)
                return k_nan;
            double value = 0;
            for (std::size_t i = 2; i < t.size(); ++i) {
                char c = t[i];
                int d = is_digit(c)              ? c - '0'
                        : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                        : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                 : 99;
                if (d >= base)
                    return k_nan;
                value = value * base + d;
            }
            return value;
        }
    }
    double value = 0;
    return decimal_prefix(t, value) == t.size() ? value : k_nan;
}

// ToPrimitive: arrays and objects become their string form; primitives stay.
json to_primitive(const json& v) {
    return kind_of(v) == Kind::object ? json(to_string(v)) : v;
}

} // namespace

json undefined() {
    return json(json::value_t::discarded);
}

bool is_undefined(const json& v) {
    return v.is_discarded();
}

json number(double x) {
    if (std::isfinite(x) && x == std::trunc(x) && !(x == 0 && std::signbit(x)) &&
        x >= -9223372036854775808.0 && x < 9223372036854775808.0)
        return json(static_cast<std::int64_t>(x));
    return json(x);
}

bool to_boolean(const json& v) {
    switch (kind_of(v)) {
    case Kind::undefined:
    case Kind::null:
        return false;
    case Kind::boolean:
        return v.get<bool>();
    case Kind::number: {
        double d = v.get<double>();
        return d != 0 && !std::isnan(d);
    }
    case Kind::string:
        return !v.get_ref<const std::string&>().empty();
    case Kind::object:
        return true;
    }
    return false;
}

double to_number(const json& v) {
    switch (kind_of(v)) {
    case Kind::undefined:
        return k_nan;
    case Kind::null:
        return 0;
    case Kind::boolean:
        return v.get<bool>() ? 1 : 0;
    case Kind::number:
        return v.get<double>();
    case Kind::string:
        return string_to_number(v.get_ref<const std::string&>());
    case Kind::object:
        return v.is_array() ? string_to_number(join_array(v)) : k_nan;
    }
    return k_nan;
}

std::string number_to_string(double x) {
    if (std::isnan(x))
        return "NaN";
    if (x == 0)
        return "0";
    if (std::isinf(x))
        return x < 0 ? "-Infinity" : "Infinity";
    std::string sign = x < 0 ? "-" : "";
    char buf[64];
    auto [end, ec] =
        std::to_chars(buf, buf + sizeof buf, std::fabs(x), std::chars_format::scientific);
    std::string_view sci(buf, ec == std::errc() ? static_cast<std::size_t>(end - buf) : 0);
    // Shortest round-trip digits d.ddd and exponent e: x = 0.ddd × 10^n with n = e + 1.
    std::size_t e_pos = sci.find('e');
    std::string digits;
    for (char c : sci.substr(0, e_pos))
        if (c != '.')
            digits += c;
    int n = std::atoi(std::string(sci.substr(e_pos + 1)).c_str()) + 1;
    int k = static_cast<int>(digits.size());
    if (k <= n && n <= 21)
        return sign + digits + std::string(static_cast<std::size_t>(n - k), '0');
    if (0 < n && n <= 21)
        return sign + digits.substr(0, static_cast<std::size_t>(n)) + "." +
               digits.substr(static_cast<std::size_t>(n));
    if (-6 < n && n <= 0)
        return sign + "0." + std::string(static_cast<std::size_t>(-n), '0') + digits;
    int exponent = n - 1;
    std::string mantissa = digits.substr(0, 1);
    if (k > 1)
        mantissa += "." + digits.substr(1);
    return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + std::to_string(std::abs(exponent));
}

std::string to_string(const json& v) {
    switch (v.type()) {
    case json::value_t::discarded:
        return "undefined";
    case json::value_t::null:
        return "null";
    case json::value_t::boolean:
        return v.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
        return number_to_string(v.get<double>());
    case json::value_t::string:
        return v.get<std::string>();
    case json::value_t::array:
        return join_array(v);
    case json::value_t::object:
    case json::value_t::binary:
        return "[object Object]";
    }
    return "undefined";
}

double parse_float(const json& v) {
    if (kind_of(v) == Kind::number) {
        // String(-0) is "0"; every other number survives the round trip through its string.
        double d = v.get<double>();
        return d == 0 ? 0.0 : d;
    }
    std::string t = trim_js_space(to_string(v), false);
    double value = 0;
    return decimal_prefix(t, value) > 0 ? value : k_nan;
}

double to_integer_or_infinity(const json& v) {
    double n = to_number(v);
    if (std::isnan(n))
        return 0;
    if (std::isinf(n))
        return n;
    double t = std::trunc(n);
    return t == 0 ? 0.0 : t;
}

bool strict_equal(const json& a, const json& b) {
    Kind ka = kind_of(a);
    if (ka != kind_of(b))
        return false;
    switch (ka) {
    case Kind::undefined:
    case Kind::null:
        return true;
    case Kind::boolean:
        return a.get<bool>() == b.get<bool>();
    case Kind::number:
        return a.get<double>() == b.get<double>();
    case Kind::string:
        return a.get_ref<const std::string&>() == b.get_ref<const std::string&>();
    case Kind::object:
        return false;
    }
    return false;
}

bool loose_equal(const json& a, const json& b) {
    Kind ka = kind_of(a);
    Kind kb = kind_of(b);
    if (ka == kb)
        return strict_equal(a, b);
    auto nullish = [](Kind k) { return k == Kind::undefined || k == Kind::null; };
    if (nullish(ka) || nullish(kb))
        return nullish(ka) && nullish(kb);
    if (ka == Kind::number && kb == Kind::string)
        return a.get<double>() == to_number(b);
    if (ka == Kind::string && kb == Kind::number)
        return to_number(a) == b.get<double>();
    if (ka == Kind::boolean)
        return loose_equal(json(to_number(a)), b);
    if (kb == Kind::boolean)
        return loose_equal(a, json(to_number(b)));
    if (kb == Kind::object)
        return loose_equal(a, json(to_string(b)));
    if (ka == Kind::object)
        return loose_equal(json(to_string(a)), b);
    return false;
}

Order compare(const json& a, const json& b) {
    json pa = to_primitive(a);
    json pb = to_primitive(b);
    if (pa.is_string() && pb.is_string()) {
        std::u16string ua = to_utf16(pa.get_ref<const std::string&>());
        std::u16string ub = to_utf16(pb.get_ref<const std::string&>());
        int c = ua.compare(ub);
        return c < 0 ? Order::less : c > 0 ? Order::greater : Order::equal;
    }
    double da = to_number(pa);
    double db = to_number(pb);
    if (std::isnan(da) || std::isnan(db))
        return Order::unordered;
    return da < db ? Order::less : da > db ? Order::greater : Order::equal;
}

json add(const json& a, const json& b) {
    json pa = to_primitive(a);
    json pb = to_primitive(b);
    if (pa.is_string() || pb.is_string())
        return json(to_string(pa) + to_string(pb));
    return number(to_number(pa) + to_number(pb));
}

std::u16string to_utf16(std::string_view s) {
    std::u16string out;
    out.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        char32_t cp = 0;
        if (!util::decode_utf8(s, i, cp)) {
            out += u'\uFFFD';
            ++i;
            continue;
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            out += static_cast<char16_t>(0xD800 + (cp >> 10));
            out += static_cast<char16_t>(0xDC00 + (cp & 0x3FF));
        } else {
            out += static_cast<char16_t>(cp);
        }
    }
    return out;
}

std::string to_utf8(std::u16string_view u) {
    std::string out;
    out.reserve(u.size());
    for (std::size_t i = 0; i < u.size(); ++i) {
        char32_t cp = u[i];
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < u.size() && u[i + 1] >= 0xDC00 &&
            u[i + 1] <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (u[i + 1] - 0xDC00);
            ++i;
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD;
        }
        util::append_utf8(out, cp);
    }
    return out;
}

} // namespace vaultfwd::jsonlogic::js
