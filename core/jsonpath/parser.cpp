// SPDX-License-Identifier: Apache-2.0
#include "core/jsonpath/parser.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>

#include "core/jsonpath/iregexp.hpp"
#include "core/util/hex.hpp"
#include "core/util/utf8.hpp"

namespace vaultfwd::jsonpath::detail {

bool PathExpr::singular() const {
    for (const Segment& segment : segments) {
        if (segment.descendant || segment.selectors.size() != 1)
            return false;
        SelectorKind kind = segment.selectors.front().kind;
        if (kind != SelectorKind::name && kind != SelectorKind::index)
            return false;
    }
    return true;
}

Type result_type(Function f) {
    switch (f) {
    case Function::match:
    case Function::search:
        return Type::logical;
    case Function::length:
    case Function::count:
    case Function::value:
        break;
    }
    return Type::value;
}

namespace {

// RFC 9535 section 2.1: I-JSON's exact integer range, for indexes and slice bounds.
constexpr std::uint64_t k_max_exact_int = 9007199254740991ULL;
// Deep enough for any real filter, shallow enough that the recursive parser cannot exhaust
// the stack on hostile input.
constexpr int k_max_nesting = 64;

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_lower(char c) {
    return c >= 'a' && c <= 'z';
}
// Any non-ASCII byte starts a code point allowed in member-name-shorthand (the text was
// checked to be UTF-8, which excludes surrogates).
bool is_name_first(char c) {
    return is_alpha(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) {
    return is_name_first(c) || is_digit(c);
}

struct FunctionInfo {
    std::string_view name;
    Function id;
    std::vector<Type> params;
};

// RFC 9535 section 2.4: the function extensions and their parameter types.
const std::array<FunctionInfo, 5>& functions() {
    static const std::array<FunctionInfo, 5> k_functions{{
        {"length", Function::length, {Type::value}},
        {"count", Function::count, {Type::nodes}},
        {"match", Function::match, {Type::value, Type::value}},
        {"search", Function::search, {Type::value, Type::value}},
        {"value", Function::value, {Type::nodes}},
    }};
    return k_functions;
}

const FunctionInfo* find_function(std::string_view name) {
    for (const FunctionInfo& f : functions()) {
        if (f.name == name)
            return &f;
    }
    return nullptr;
}

std::string function_name(Function id) {
    for (const FunctionInfo& f : functions()) {
        if (f.id == id)
            return std::string(f.name);
    }
    return "?";
}

std::string ordinal(std::size_t i) {
    static const std::array<const char*, 3> k_words{"first", "second", "third"};
    return i < k_words.size() ? k_words[i] : "argument " + std::to_string(i + 1);
}

class Parser {
  public:
    explicit Parser(std::string_view text) : m_text(text) {}

    Result<CompiledQuery> run() {
        for (std::size_t p = 0; p < m_text.size();) {
            std::size_t before = p;
            char32_t cp = 0;
            if (!util::decode_utf8(m_text, p, cp)) {
                fail(before, "query is not valid UTF-8");
                return error();
            }
        }
        CompiledQuery out;
        out.text = std::string(m_text);
        if (peek() != '$') {
            fail(0, m_text.empty() ? "query is empty; it must start with '$'"
                                   : "query must start with '$', found " + describe(0));
            return error();
        }
        if (!parse_path(out.path))
            return error();
        if (!at_end()) {
            if (is_blank(peek()))
                fail(m_pos, "query cannot end with whitespace");
            else
                fail(m_pos, "expected '.', '..' or '[', found " + describe(m_pos));
            return error();
        }
        return out;
    }

  private:
    bool at_end() const { return m_pos >= m_text.size(); }
    char peek(std::size_t ahead = 0) const {
        return m_pos + ahead < m_text.size() ? m_text[m_pos + ahead] : '\0';
    }
    void skip_blanks() {
        while (!at_end() && is_blank(m_text[m_pos]))
            ++m_pos;
    }

    // How the character at `pos` reads in a message.
    std::string describe(std::size_t pos) const {
        if (pos >= m_text.size())
            return "end of query";
        char c = m_text[pos];
        if (is_blank(c))
            return "whitespace";
        if (static_cast<unsigned char>(c) < 0x20)
            return "a control character";
        std::size_t end = pos;
        char32_t cp = 0;
        if (!util::decode_utf8(m_text, end, cp))
            end = pos + 1;
        return "'" + std::string(m_text.substr(pos, end - pos)) + "'";
    }

    bool fail(std::size_t offset, std::string message) {
        if (!m_failed) {
            m_failed = true;
            m_error_offset = offset;
            m_error = std::move(message);
        }
        return false;
    }

    Error error() const {
        int line = 1;
        int column = 1;
        for (std::size_t i = 0; i < m_error_offset && i < m_text.size(); ++i) {
            unsigned char c = static_cast<unsigned char>(m_text[i]);
            if (c == '\n') {
                ++line;
                column = 1;
            } else if ((c & 0xC0) != 0x80) {
                ++column;
            }
        }
        return make_error("jsonpath.syntax", m_error, line, column);
    }

    // At '$' or '@': the identifier and every segment after it.
    bool parse_path(PathExpr& out) {
        out.absolute = peek() == '$';
        ++m_pos;
        for (;;) {
            std::size_t save = m_pos;
            skip_blanks();
            if (peek() != '.' && peek() != '[') {
                m_pos = save;
                return true;
            }
            Segment segment;
            if (!parse_segment(segment))
                return false;
            out.segments.push_back(std::move(segment));
        }
    }

    bool parse_segment(Segment& out) {
        if (peek() == '[')
            return parse_bracketed(out);
        ++m_pos; // '.'
        if (peek() == '.') {
            ++m_pos;
            out.descendant = true;
            if (peek() == '[')
                return parse_bracketed(out);
            if (!parse_dotted(out))
                return fail(m_pos, "expected a member name, '*' or '[' after '..', found " +
                                       describe(m_pos));
            return true;
        }
        if (!parse_dotted(out))
            return fail(m_pos, "expected a member name or '*' after '.', found " + describe(m_pos));
        return true;
    }

    // The '*' or member-name-shorthand after '.' or '..'; false (without an error) if neither.
    bool parse_dotted(Segment& out) {
        Selector selector;
        if (peek() == '*') {
            ++m_pos;
            selector.kind = SelectorKind::wildcard;
        } else if (is_name_first(peek())) {
            std::size_t start = m_pos;
            while (!at_end() && is_name_char(peek()))
                ++m_pos;
            selector.kind = SelectorKind::name;
            selector.name = std::string(m_text.substr(start, m_pos - start));
        } else {
            return false;
        }
        out.selectors.push_back(std::move(selector));
        return true;
    }

    bool parse_bracketed(Segment& out) {
        ++m_pos; // '['
        for (;;) {
            skip_blanks();
            Selector selector;
            if (!parse_selector(selector))
                return false;
            out.selectors.push_back(std::move(selector));
            skip_blanks();
            if (peek() == ',') {
                ++m_pos;
                continue;
            }
            if (peek() == ']') {
                ++m_pos;
                return true;
            }
            return fail(m_pos, "expected ',' or ']' after a selector, found " + describe(m_pos));
        }
    }

    bool parse_selector(Selector& out) {
        char c = peek();
        if (c == '\'' || c == '"') {
            out.kind = SelectorKind::name;
            return parse_string(out.name);
        }
        if (c == '*') {
            ++m_pos;
            out.kind = SelectorKind::wildcard;
            return true;
        }
        if (c == '?') {
            ++m_pos;
            skip_blanks();
            auto filter = std::make_unique<Expr>();
            if (!parse_or(*filter) || !check_test(*filter))
                return false;
            out.kind = SelectorKind::filter;
            out.filter = std::move(filter);
            return true;
        }
        if (c == '-' || c == ':' || is_digit(c))
            return parse_index_or_slice(out);
        if (c == '@' || c == '$')
            return fail(m_pos, "a query can only appear inside a filter selector, as in [?" +
                                   std::string(1, c) + ".a]");
        return fail(m_pos, "expected a selector (a quoted name, '*', an index, a slice or a "
                           "filter), found " +
                               describe(m_pos));
    }

    bool parse_index_or_slice(Selector& out) {
        std::optional<std::int64_t> start;
        if (peek() != ':') {
            std::int64_t value = 0;
            if (!parse_int(value))
                return false;
            start = value;
        }
        std::size_t save = m_pos;
        skip_blanks();
        if (peek() != ':') {
            m_pos = save;
            out.kind = SelectorKind::index;
            out.index = *start;
            return true;
        }
        ++m_pos;
        out.kind = SelectorKind::slice;
        out.slice.start = start;
        skip_blanks();
        if (peek() == '-' || is_digit(peek())) {
            std::int64_t value = 0;
            if (!parse_int(value))
                return false;
            out.slice.end = value;
            skip_blanks();
        }
        if (peek() == ':') {
            ++m_pos;
            skip_blanks();
            if (peek() == '-' || is_digit(peek())) {
                std::int64_t value = 0;
                if (!parse_int(value))
                    return false;
                out.slice.step = value;
            }
        }
        return true;
    }

    // An index or slice bound: "0" or an optional '-' and digits without leading zeros, within
    // the exact-integer range.
    bool parse_int(std::int64_t& out) {
        std::size_t start = m_pos;
        bool negative = peek() == '-';
        if (negative)
            ++m_pos;
        if (!is_digit(peek()))
            return fail(m_pos, "expected a digit, found " + describe(m_pos));
        if (peek() == '0') {
            if (negative)
                return fail(start, "index cannot be '-0'");
            if (is_digit(peek(1)))
                return fail(start, "integer cannot have leading zeros");
            ++m_pos;
            out = 0;
            return true;
        }
        std::uint64_t value = 0;
        bool too_big = false;
        while (is_digit(peek())) {
            if (value > k_max_exact_int)
                too_big = true;
            else
                value = value * 10 + static_cast<std::uint64_t>(peek() - '0');
            ++m_pos;
        }
        if (too_big || value > k_max_exact_int)
            return fail(start, "integer is out of range; indexes and slice bounds must be "
                               "between -9007199254740991 and 9007199254740991");
        out = negative ? -static_cast<std::int64_t>(value) : static_cast<std::int64_t>(value);
        return true;
    }

    bool parse_hex4(char32_t& out) {
        if (m_pos + 4 > m_text.size())
            return false;
        char32_t value = 0;
        for (std::size_t i = 0; i < 4; ++i) {
            int digit = util::hex_value(m_text[m_pos + i]);
            if (digit < 0)
                return false;
            value = value * 16 + static_cast<char32_t>(digit);
        }
        m_pos += 4;
        out = value;
        return true;
    }

    bool parse_string(std::string& out) {
        char quote = peek();
        std::size_t start = m_pos;
        ++m_pos;
        for (;;) {
            if (at_end())
                return fail(start, "string literal is not closed");
            char c = m_text[m_pos];
            if (c == quote) {
                ++m_pos;
                return true;
            }
            if (static_cast<unsigned char>(c) < 0x20)
                return fail(m_pos, "control characters must be escaped in string literals");
            if (c != '\\') {
                out += c;
                ++m_pos;
                continue;
            }
            std::size_t escape = m_pos;
            ++m_pos;
            if (at_end())
                return fail(start, "string literal is not closed");
            char e = m_text[m_pos];
            ++m_pos;
            switch (e) {
            case 'b':
                out += '\b';
                break;
            case 'f':
                out += '\f';
                break;
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            case 't':
                out += '\t';
                break;
            case '/':
                out += '/';
                break;
            case '\\':
                out += '\\';
                break;
            case '\'':
            case '"':
                if (e != quote)
                    return fail(escape, std::string("escape \\") + e +
                                            " is only allowed in a string in " + e + " quotes");
                out += e;
                break;
            case 'u': {
                char32_t cp = 0;
                if (!parse_hex4(cp))
                    return fail(escape, "\\u must be followed by four hex digits");
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return fail(escape, "\\u escape is a low surrogate without a high one");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    char32_t low = 0;
                    if (peek() != '\\' || peek(1) != 'u')
                        return fail(escape, "\\u escape is a high surrogate without a low one");
                    m_pos += 2;
                    if (!parse_hex4(low))
                        return fail(m_pos - 2, "\\u must be followed by four hex digits");
                    if (low < 0xDC00 || low > 0xDFFF)
                        return fail(escape, "\\u escape is a high surrogate without a low one");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                }
                util::append_utf8(out, cp);
                break;
            }
            default: {
                if (static_cast<unsigned char>(e) < 0x20)
                    return fail(escape, "'\\' cannot be followed by a control character");
                std::size_t end = escape + 1;
                char32_t cp = 0;
                util::decode_utf8(m_text, end, cp);
                return fail(escape, "invalid escape sequence '" +
                                        std::string(m_text.substr(escape, end - escape)) +
                                        "' in string literal");
            }
            }
        }
    }

    // logical-or-expr. The result is left unchecked when it is a single literal, query or
    // function, so function arguments can be checked against their declared types; callers
    // that need a test expression call check_test().
    bool parse_or(Expr& out) { return parse_chain(out, '|', ExprKind::logical_or); }

    bool parse_chain(Expr& out, char op, ExprKind kind) {
        Expr first;
        bool ok = kind == ExprKind::logical_or ? parse_chain(first, '&', ExprKind::logical_and)
                                               : parse_basic(first);
        if (!ok)
            return false;
        std::size_t save = m_pos;
        skip_blanks();
        if (peek() != op || peek(1) != op) {
            m_pos = save;
            out = std::move(first);
            return true;
        }
        if (!check_test(first))
            return false;
        Expr node;
        node.kind = kind;
        node.offset = first.offset;
        node.operands.push_back(std::move(first));
        while (peek() == op && peek(1) == op) {
            m_pos += 2;
            skip_blanks();
            Expr next;
            ok = kind == ExprKind::logical_or ? parse_chain(next, '&', ExprKind::logical_and)
                                              : parse_basic(next);
            if (!ok || !check_test(next))
                return false;
            node.operands.push_back(std::move(next));
            save = m_pos;
            skip_blanks();
        }
        m_pos = save;
        out = std::move(node);
        return true;
    }

    struct DepthGuard {
        int& depth;
        explicit DepthGuard(int& d) : depth(d) { ++depth; }
        ~DepthGuard() { --depth; }
        DepthGuard(const DepthGuard&) = delete;
        DepthGuard& operator=(const DepthGuard&) = delete;
    };

    bool parse_basic(Expr& out) {
        DepthGuard guard(m_depth);
        if (m_depth > k_max_nesting)
            return fail(m_pos, "filter expression is nested too deeply");
        std::size_t start = m_pos;
        if (peek() == '!') {
            ++m_pos;
            skip_blanks();
            Expr inner;
            if (peek() == '(') {
                if (!parse_paren(inner))
                    return false;
            } else {
                if (!parse_primary(inner) || !check_test(inner))
                    return false;
                std::size_t save = m_pos;
                skip_blanks();
                CompareOp op{};
                if (parse_compare_op(op))
                    return fail(start, "'!' cannot negate a comparison without parentheses; "
                                       "write !(... == ...)");
                m_pos = save;
            }
            out.kind = ExprKind::logical_not;
            out.offset = start;
            out.operands.push_back(std::move(inner));
            return true;
        }
        if (peek() == '(')
            return parse_paren(out);

        Expr left;
        if (!parse_primary(left))
            return false;
        std::size_t save = m_pos;
        skip_blanks();
        CompareOp op{};
        if (!parse_compare_op(op)) {
            if (peek() == '=')
                return fail(m_pos, "'=' is not an operator; compare with '=='");
            m_pos = save;
            out = std::move(left);
            return true;
        }
        skip_blanks();
        Expr right;
        if (!parse_primary(right))
            return false;
        if (!check_comparable(left) || !check_comparable(right))
            return false;
        save = m_pos;
        skip_blanks();
        CompareOp next{};
        std::size_t next_pos = m_pos;
        if (parse_compare_op(next))
            return fail(next_pos, "comparisons cannot be chained; join them with && or ||");
        m_pos = save;
        out.kind = ExprKind::comparison;
        out.offset = start;
        out.op = op;
        out.operands.push_back(std::move(left));
        out.operands.push_back(std::move(right));
        return true;
    }

    bool parse_compare_op(CompareOp& op) {
        char c = peek();
        char d = peek(1);
        if (c == '=' && d == '=')
            op = CompareOp::eq;
        else if (c == '!' && d == '=')
            op = CompareOp::ne;
        else if (c == '<' && d == '=')
            op = CompareOp::le;
        else if (c == '>' && d == '=')
            op = CompareOp::ge;
        else if (c == '<' || c == '>') {
            op = c == '<' ? CompareOp::lt : CompareOp::gt;
            ++m_pos;
            return true;
        } else
            return false;
        m_pos += 2;
        return true;
    }

    bool parse_paren(Expr& out) {
        std::size_t open = m_pos;
        ++m_pos; // '('
        skip_blanks();
        if (!parse_or(out) || !check_test(out))
            return false;
        skip_blanks();
        if (at_end())
            return fail(open, "'(' is not closed");
        if (peek() != ')')
            return fail(m_pos, "expected ')', found " + describe(m_pos));
        ++m_pos;
        return true;
    }

    // A literal, a query or a function call.
    bool parse_primary(Expr& out) {
        std::size_t start = m_pos;
        out.offset = start;
        char c = peek();
        if (c == '@' || c == '$') {
            out.kind = ExprKind::query;
            return parse_path(out.query);
        }
        if (c == '\'' || c == '"') {
            std::string text;
            if (!parse_string(text))
                return false;
            out.kind = ExprKind::literal;
            out.literal = std::move(text);
            return true;
        }
        if (c == '-' || is_digit(c))
            return parse_number(out);
        if (is_lower(c)) {
            std::size_t end = m_pos;
            while (end < m_text.size() &&
                   (is_lower(m_text[end]) || is_digit(m_text[end]) || m_text[end] == '_'))
                ++end;
            std::string_view name = m_text.substr(start, end - start);
            if (end < m_text.size() && m_text[end] == '(') {
                m_pos = end;
                return parse_function(out, name, start);
            }
            if (name == "true" || name == "false" || name == "null") {
                m_pos = end;
                out.kind = ExprKind::literal;
                out.literal =
                    name == "null" ? nlohmann::json(nullptr) : nlohmann::json(name == "true");
                return true;
            }
            std::size_t after = end;
            while (after < m_text.size() && is_blank(m_text[after]))
                ++after;
            if (after < m_text.size() && m_text[after] == '(' && after != end)
                return fail(end, "a function name must be followed directly by '('");
            return fail(start, "unknown name '" + std::string(name) +
                                   "'; expected true, false, null or a function call");
        }
        return fail(start,
                    "expected a query, a literal or a function call, found " + describe(start));
    }

    bool parse_number(Expr& out) {
        std::size_t start = m_pos;
        bool integral = true;
        if (peek() == '-')
            ++m_pos;
        if (!is_digit(peek()))
            return fail(m_pos, "expected a digit in number, found " + describe(m_pos));
        if (peek() == '0' && is_digit(peek(1)))
            return fail(start, "number cannot have leading zeros");
        while (is_digit(peek()))
            ++m_pos;
        if (peek() == '.') {
            ++m_pos;
            integral = false;
            if (!is_digit(peek()))
                return fail(m_pos,
                            "expected a digit after the decimal point, found " + describe(m_pos));
            while (is_digit(peek()))
                ++m_pos;
        }
        if (peek() == 'e' || peek() == 'E') {
            ++m_pos;
            integral = false;
            if (peek() == '+' || peek() == '-')
                ++m_pos;
            if (!is_digit(peek()))
                return fail(m_pos, "expected a digit in the exponent, found " + describe(m_pos));
            while (is_digit(peek()))
                ++m_pos;
        }
        const char* first = m_text.data() + start;
        const char* last = m_text.data() + m_pos;
        out.kind = ExprKind::literal;
        if (integral) {
            std::int64_t value = 0;
            auto [ptr, ec] = std::from_chars(first, last, value);
            if (ec == std::errc() && ptr == last) {
                out.literal = value;
                return true;
            }
        }
        double value = 0;
        auto [ptr, ec] = std::from_chars(first, last, value);
        if (ec == std::errc::result_out_of_range) {
            // Beyond double's range: the literal still compares correctly as an infinity or zero.
            std::string_view digits(first, static_cast<std::size_t>(last - first));
            std::size_t exp = digits.find_first_of("eE");
            bool tiny = exp != std::string_view::npos && digits[exp + 1] == '-';
            double magnitude = tiny ? 0.0 : std::numeric_limits<double>::infinity();
            value = *first == '-' ? -magnitude : magnitude;
        } else if (ec != std::errc() || ptr != last) {
            return fail(start, "number cannot be read");
        }
        out.literal = value;
        return true;
    }

    // At the '(' after a function name.
    bool parse_function(Expr& out, std::string_view name, std::size_t start) {
        const FunctionInfo* info = find_function(name);
        if (info == nullptr)
            return fail(start, "unknown function '" + std::string(name) +
                                   "'; the functions are length, count, match, search and value");
        ++m_pos; // '('
        skip_blanks();
        std::vector<Expr> args;
        if (peek() != ')') {
            for (;;) {
                Expr arg;
                if (!parse_or(arg))
                    return false;
                args.push_back(std::move(arg));
                skip_blanks();
                if (peek() == ',') {
                    ++m_pos;
                    skip_blanks();
                    continue;
                }
                if (peek() == ')')
                    break;
                return fail(m_pos, "expected ',' or ')' in the arguments of " + std::string(name) +
                                       "(), found " + describe(m_pos));
            }
        }
        ++m_pos; // ')'
        if (args.size() != info->params.size()) {
            std::size_t n = info->params.size();
            return fail(start, std::string(name) + "() takes " + std::to_string(n) +
                                   (n == 1 ? " argument" : " arguments") + ", not " +
                                   std::to_string(args.size()));
        }
        for (std::size_t i = 0; i < args.size(); ++i) {
            if (!check_argument(args[i], info->params[i], name, i))
                return false;
        }
        out.kind = ExprKind::function;
        out.function = info->id;
        out.operands = std::move(args);
        if ((info->id == Function::match || info->id == Function::search) &&
            out.operands[1].kind == ExprKind::literal && out.operands[1].literal.is_string()) {
            out.regex =
                Regex::compile(out.operands[1].literal.get_ref<const std::string&>(),
                               info->id == Function::match ? RegexMode::full : RegexMode::search);
            out.regex_compiled = true;
        }
        return true;
    }

    // RFC 9535 section 2.4.3: well-typedness of function arguments.
    bool check_argument(const Expr& arg, Type param, std::string_view name, std::size_t index) {
        std::string where = "the " + ordinal(index) + " argument of " + std::string(name) + "()";
        switch (param) {
        case Type::value:
            switch (arg.kind) {
            case ExprKind::literal:
                return true;
            case ExprKind::query:
                if (arg.query.singular())
                    return true;
                return fail(arg.offset, where + " must be a single value, but this query can "
                                                "select several nodes");
            case ExprKind::function:
                if (result_type(arg.function) == Type::value)
                    return true;
                return fail(arg.offset, where + " must be a value, but " +
                                            function_name(arg.function) +
                                            "() returns a logical result");
            default:
                return fail(arg.offset, where + " must be a value, not a logical expression");
            }
        case Type::logical:
            return check_test(arg);
        case Type::nodes:
            if (arg.kind == ExprKind::query ||
                (arg.kind == ExprKind::function && result_type(arg.function) == Type::nodes))
                return true;
            return fail(arg.offset, where + " must be a query");
        }
        return false;
    }

    // A filter, an operand of !, && or ||, or a parenthesized expression: its value must be
    // logical, or a nodelist tested for existence.
    bool check_test(const Expr& e) {
        if (e.kind == ExprKind::literal)
            return fail(e.offset, "a literal cannot be a test on its own; compare it, as in "
                                  "@.a == " +
                                      e.literal.dump());
        if (e.kind == ExprKind::function && result_type(e.function) == Type::value)
            return fail(e.offset, "the result of " + function_name(e.function) +
                                      "() must be compared, as in " + function_name(e.function) +
                                      "(...) == 1");
        return true;
    }

    bool check_comparable(const Expr& e) {
        switch (e.kind) {
        case ExprKind::literal:
            return true;
        case ExprKind::query:
            if (e.query.singular())
                return true;
            return fail(e.offset, "a compared query must be singular (only names and indexes), "
                                  "but this one can select several nodes");
        case ExprKind::function:
            if (result_type(e.function) == Type::value)
                return true;
            return fail(e.offset, "the result of " + function_name(e.function) +
                                      "() cannot be compared; use it as a test on its own");
        default:
            return fail(e.offset, "expected a value to compare");
        }
    }

    std::string_view m_text;
    std::size_t m_pos = 0;
    int m_depth = 0;
    bool m_failed = false;
    std::size_t m_error_offset = 0;
    std::string m_error;
};

} // namespace

Result<CompiledQuery> parse_query(std::string_view text) {
    return Parser(text).run();
}

} // namespace vaultfwd::jsonpath::detail
