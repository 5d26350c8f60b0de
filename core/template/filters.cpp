// SPDX-License-Identifier: Apache-2.0
#include "core/template/filters.hpp"

#include <algorithm>
#include <ctime>
#include <memory>
#include <mutex>
#include <stdexcept>

#include <unicode/locid.h>
#include <unicode/translit.h>
#include <unicode/unistr.h>

#include "core/crypto/hash.hpp"
#include "core/template/text.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::tmpl {

namespace {

Error syntax(std::string message) { return make_error("template.syntax", std::move(message)); }
Error filter_error(std::string message) { return make_error("template.filter", std::move(message)); }

bool escaped_at(std::string_view s, std::size_t i) { return i > 0 && s[i - 1] == '\\'; }

// Footprint splits arguments on unescaped commas (quotes do not protect them), drops one
// trailing empty piece, trims, and unescapes only \( \) \,.
std::vector<std::string> split_args(std::string_view args) {
    std::vector<std::string_view> raw;
    std::size_t start = 0;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == ',' && !escaped_at(args, i)) {
            raw.push_back(args.substr(start, i - start));
            start = i + 1;
        }
    }
    raw.push_back(args.substr(start));
    if (raw.back().empty())
        raw.pop_back();
    std::vector<std::string> out;
    out.reserve(raw.size());
    for (auto piece : raw) {
        piece = trim_unicode(piece);
        std::string unescaped;
        unescaped.reserve(piece.size());
        for (std::size_t i = 0; i < piece.size(); ++i) {
            if (piece[i] == '\\' && i + 1 < piece.size() &&
                (piece[i + 1] == '(' || piece[i + 1] == ')' || piece[i + 1] == ',')) {
                unescaped.push_back(piece[++i]);
                continue;
            }
            unescaped.push_back(piece[i]);
        }
        out.push_back(std::move(unescaped));
    }
    return out;
}

Result<std::uint64_t> integer_arg(const std::string& arg) {
    std::string_view digits = arg;
    if (!digits.empty() && digits[0] == '+')
        digits.remove_prefix(1);
    if (digits.empty())
        return syntax("argument could not parse as Integer");
    std::uint64_t v = 0;
    for (char c : digits) {
        if (c < '0' || c > '9')
            return syntax("argument could not parse as Integer");
        auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (UINT64_MAX - d) / 10)
            return syntax("argument could not parse as Integer");
        v = v * 10 + d;
    }
    return v;
}

Result<std::string> string_arg(const std::string& arg, std::string_view name) {
    if (arg.size() < 2 || (arg.front() != '"' && arg.front() != '\'') || arg.back() != arg.front())
        return syntax("string argument " + std::string(name) + " must use single or double quotes");
    return arg.substr(1, arg.size() - 2);
}

Result<std::string> hex_arg(const std::string& arg, std::string_view name) {
    auto s = string_arg(arg, name);
    if (!s)
        return s.error();
    auto bytes = util::from_hex(*s);
    if (!bytes)
        return syntax("argument '" + std::string(name) + "' must be hex-encoded");
    return *bytes;
}

struct Spec {
    std::string_view name;
    FilterKind kind;
    std::size_t arity;
};

constexpr Spec k_specs[] = {
    {"to_lowercase", FilterKind::to_lowercase, 0}, {"to_uppercase", FilterKind::to_uppercase, 0},
    {"to_ascii", FilterKind::to_ascii, 0},         {"prefix", FilterKind::prefix, 1},
    {"suffix", FilterKind::suffix, 1},             {"hmac_sha256", FilterKind::hmac_sha256, 1},
    {"replace", FilterKind::replace, 2},           {"date_format", FilterKind::date_format, 2},
    {"encrypt", FilterKind::encrypt, 2},
};

// --- filter semantics -------------------------------------------------------------------------

Result<void> need_utf8(const std::string& value) {
    if (find_invalid_utf8(value))
        return filter_error("invalid utf-8 string");
    return {};
}

icu::UnicodeString to_icu(const std::string& s) {
    return icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())));
}

std::string from_icu(const icu::UnicodeString& u) {
    std::string out;
    u.toUTF8String(out);
    return out;
}

// Creating a transliterator parses its rules (milliseconds); make it once and give each thread
// its own clone, since transliterate() is not safe to share across threads.
const icu::Transliterator& ascii_prototype() {
    static std::once_flag once;
    static std::unique_ptr<icu::Transliterator> proto;
    std::call_once(once, [] {
        UErrorCode status = U_ZERO_ERROR;
        proto.reset(icu::Transliterator::createInstance(
            "Any-Latin; Latin-ASCII", UTRANS_FORWARD, status));
        if (U_FAILURE(status) || !proto)
            throw std::runtime_error(std::string("icu transliterator unavailable: ") +
                                     u_errorName(status));
    });
    return *proto;
}

std::string to_ascii(const std::string& value) {
    thread_local std::unique_ptr<icu::Transliterator> t(ascii_prototype().clone());
    icu::UnicodeString u = to_icu(value);
    t->transliterate(u);
    std::string s = from_icu(u);
    // What ICU cannot transliterate stays non-ASCII; deunicode writes "[?]" for those.
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            out.push_back(static_cast<char>(c));
            ++i;
            continue;
        }
        out += "[?]";
        i += c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    }
    return out;
}

std::string replace_all(const std::string& value, const std::string& from, const std::string& to) {
    std::string out;
    if (from.empty()) {
        // Like Rust's str::replace: an empty pattern matches at every character boundary.
        out.reserve(value.size() + (count_code_points(value) + 1) * to.size());
        out += to;
        for (std::size_t i = 0; i < value.size();) {
            std::size_t next = i + 1;
            while (next < value.size() && (static_cast<unsigned char>(value[next]) & 0xC0) == 0x80)
                ++next;
            out.append(value, i, next - i);
            out += to;
            i = next;
        }
        return out;
    }
    std::size_t pos = 0;
    while (true) {
        std::size_t hit = value.find(from, pos);
        if (hit == std::string::npos)
            break;
        out.append(value, pos, hit - pos);
        out += to;
        pos = hit + from.size();
    }
    out.append(value, pos, std::string::npos);
    return out;
}

struct FormatFields {
    bool year = false, month = false, mday = false, yday = false, weekday = false;
};

// Which date fields a strptime format sets (C locale expansions of %c, %x, %D, %F included).
FormatFields fields_of(std::string_view fmt) {
    FormatFields f;
    for (std::size_t i = 0; i + 1 < fmt.size(); ++i) {
        if (fmt[i] != '%')
            continue;
        std::size_t j = i + 1;
        while (j < fmt.size() && (fmt[j] == 'E' || fmt[j] == 'O' || fmt[j] == '-' ||
                                  fmt[j] == '_' || fmt[j] == '0' || fmt[j] == '^' || fmt[j] == '#'))
            ++j;
        if (j >= fmt.size())
            break;
        switch (fmt[j]) {
        case 'Y':
        case 'y':
            f.year = true;
            break;
        case 'm':
        case 'b':
        case 'B':
        case 'h':
            f.month = true;
            break;
        case 'd':
        case 'e':
            f.mday = true;
            break;
        case 'j':
            f.yday = true;
            break;
        case 'a':
        case 'A':
        case 'u':
        case 'w':
            f.weekday = true;
            break;
        case 'D':
        case 'F':
        case 'x':
            f.year = f.month = f.mday = true;
            break;
        case 'c':
            f.year = f.month = f.mday = f.weekday = true;
            break;
        default:
            break;
        }
        i = j;
    }
    return f;
}

Result<std::string> date_format(const std::string& value, const std::string& from,
                                const std::string& to) {
    const Error bad = filter_error("invalid date or date format");
    if (value.find('\0') != std::string::npos)
        return bad;
    FormatFields fields = fields_of(from);
    // Like chrono's NaiveDate: a date needs a year and a month and day (or a day of the year).
    if (!fields.year || !((fields.month && fields.mday) || fields.yday))
        return bad;
    std::tm tm{};
    tm.tm_mday = 1;
    const char* end = ::strptime(value.c_str(), from.c_str(), &tm);
    if (!end || *end != '\0')
        return bad;
    std::tm norm = tm;
    norm.tm_isdst = 0;
    ::timegm(&norm);
    // timegm normalises 30 February into March: a changed date means it did not exist.
    if (norm.tm_year != tm.tm_year || norm.tm_mon != tm.tm_mon || norm.tm_mday != tm.tm_mday)
        return bad;
    if (fields.weekday && norm.tm_wday != tm.tm_wday)
        return bad;
    if (to.empty())
        return std::string();
    std::string out(std::max<std::size_t>(64, to.size() * 8), '\0');
    while (true) {
        std::size_t n = std::strftime(out.data(), out.size(), to.c_str(), &norm);
        if (n > 0) {
            out.resize(n);
            return out;
        }
        if (out.size() >= 65536)
            return std::string();
        out.resize(out.size() * 4);
    }
}

} // namespace

std::string_view Filter::name() const {
    for (const auto& s : k_specs)
        if (s.kind == kind)
            return s.name;
    return "unknown";
}

std::string Filter::canonical() const {
    std::string n(name());
    switch (kind) {
    case FilterKind::prefix:
    case FilterKind::suffix:
        return n + "(" + std::to_string(count) + ")";
    case FilterKind::replace:
    case FilterKind::date_format:
        return n + "(\"" + from + "\", \"" + to + "\")";
    case FilterKind::hmac_sha256:
        return n + "(\"<scrubbed>\")";
    case FilterKind::encrypt:
        return n + "(\"" + std::string(crypto::seal_algorithm_name(algorithm)) + "\", \"" +
               util::to_hex(key) + "\")";
    default:
        return n;
    }
}

Result<Filter> parse_filter(std::string_view raw) {
    std::string_view text = trim_unicode(raw);
    std::size_t open = text.find('(');
    std::size_t close = std::string_view::npos;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == ')' && !escaped_at(text, i)) {
            close = i;
            break;
        }
    }
    std::string_view name = text;
    std::string_view args;
    bool has_args = false;
    if (open != std::string_view::npos && close != std::string_view::npos && open < close) {
        if (close != text.size() - 1)
            return syntax("invalid parens");
        name = text.substr(0, open);
        args = text.substr(open + 1, close - open - 1);
        has_args = true;
    } else if (open != std::string_view::npos || close != std::string_view::npos) {
        return syntax("invalid parens");
    }

    const Spec* spec = nullptr;
    for (const auto& s : k_specs)
        if (s.name == name)
            spec = &s;
    if (!spec)
        return syntax("unknown function");

    std::vector<std::string> list;
    if (has_args)
        list = split_args(args);
    Filter f;
    f.kind = spec->kind;
    auto arg = [&](std::size_t i, std::string_view arg_name) -> Result<std::string> {
        if (i >= list.size())
            return syntax("missing argument: " + std::string(arg_name));
        return list[i];
    };
    switch (spec->kind) {
    case FilterKind::prefix:
    case FilterKind::suffix: {
        auto a = arg(0, "n");
        if (!a)
            return a.error();
        auto n = integer_arg(*a);
        if (!n)
            return n.error();
        f.count = *n;
        break;
    }
    case FilterKind::replace:
    case FilterKind::date_format: {
        bool is_replace = spec->kind == FilterKind::replace;
        std::string_view from_name = is_replace ? "from" : "from_format";
        std::string_view to_name = is_replace ? "to" : "to_format";
        auto a = arg(0, from_name);
        if (!a)
            return a.error();
        auto from = string_arg(*a, from_name);
        if (!from)
            return from.error();
        auto b = arg(1, to_name);
        if (!b)
            return b.error();
        auto to = string_arg(*b, to_name);
        if (!to)
            return to.error();
        f.from = std::move(*from);
        f.to = std::move(*to);
        break;
    }
    case FilterKind::hmac_sha256: {
        auto a = arg(0, "key");
        if (!a)
            return a.error();
        auto key = hex_arg(*a, "key");
        if (!key)
            return key.error();
        f.key = std::move(*key);
        break;
    }
    case FilterKind::encrypt: {
        auto a = arg(0, "algorithm");
        if (!a)
            return a.error();
        auto alg_name = string_arg(*a, "algorithm");
        if (!alg_name)
            return alg_name.error();
        auto alg = crypto::seal_algorithm_from_name(*alg_name);
        if (!alg)
            return syntax("argument invalid: algorithm is invalid or unsupported");
        auto b = arg(1, "public_key");
        if (!b)
            return b.error();
        auto key = hex_arg(*b, "public_key");
        if (!key)
            return key.error();
        f.algorithm = *alg;
        f.key = std::move(*key);
        break;
    }
    default:
        break;
    }
    if (list.size() != spec->arity)
        return syntax("unexpected number of arguments: " + std::to_string(list.size()) +
                      " but expected: " + std::to_string(spec->arity));
    return f;
}

Result<std::string> apply_filter(const Filter& f, std::string value) {
    if (f.kind != FilterKind::hmac_sha256 && f.kind != FilterKind::encrypt) {
        if (auto ok = need_utf8(value); !ok)
            return ok.error();
    }
    switch (f.kind) {
    case FilterKind::to_lowercase:
        return from_icu(to_icu(value).toLower(icu::Locale::getRoot()));
    case FilterKind::to_uppercase:
        return from_icu(to_icu(value).toUpper(icu::Locale::getRoot()));
    case FilterKind::to_ascii:
        return to_ascii(value);
    case FilterKind::prefix:
        value.resize(offset_of_code_point(value, static_cast<std::size_t>(f.count)));
        return value;
    case FilterKind::suffix: {
        std::size_t total = count_code_points(value);
        if (f.count >= total)
            return value;
        return value.substr(offset_of_code_point(value, total - static_cast<std::size_t>(f.count)));
    }
    case FilterKind::replace:
        return replace_all(value, f.from, f.to);
    case FilterKind::date_format:
        return date_format(value, f.from, f.to);
    case FilterKind::hmac_sha256:
        return util::to_hex(crypto::hmac_sha256(f.key, value));
    case FilterKind::encrypt: {
        auto sealed = crypto::seal(f.algorithm, f.key, value);
        if (sealed)
            return util::to_hex(*sealed);
        const auto& e = sealed.error();
        if (e.code == "crypto.public_key" || e.code == "crypto.message_too_long")
            return filter_error("cryptography error: " + e.message);
        return make_error("template.internal", "something went wrong");
    }
    }
    return make_error("template.internal", "something went wrong");
}

Result<std::string> apply_filters(const std::vector<Filter>& filters, std::string value) {
    for (const auto& f : filters) {
        auto next = apply_filter(f, std::move(value));
        if (!next)
            return next.error();
        value = std::move(*next);
    }
    return value;
}

} // namespace vaultfwd::tmpl
