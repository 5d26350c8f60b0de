// SPDX-License-Identifier: Apache-2.0
#include "core/jsonpath/iregexp.hpp"

#include "core/util/utf8.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <cstdio>
#include <vector>

namespace vaultfwd::jsonpath::detail {

namespace {

constexpr int k_max_group_depth = 100;

// RFC 9485's recursive-descent grammar, emitting PCRE2 syntax as it goes.
class Translator {
  public:
    explicit Translator(std::string_view text) : m_text(text) {}

    std::optional<std::string> run() {
        if (!regexp(0) || m_pos != m_text.size())
            return std::nullopt;
        return std::move(m_out);
    }

  private:
    bool at_end() const { return m_pos >= m_text.size(); }
    char peek() const { return at_end() ? '\0' : m_text[m_pos]; }

    // Every literal goes out as \x{...} (or a plain letter or digit), so no character of the
    // I-Regexp can take on a PCRE2 meaning it does not have in I-Regexp.
    void emit_literal(char32_t cp) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9')) {
            m_out += static_cast<char>(cp);
            return;
        }
        std::array<char, 16> buf{};
        std::snprintf(buf.data(), buf.size(), "\\x{%x}", static_cast<unsigned>(cp));
        m_out += buf.data();
    }

    bool regexp(int depth) {
        if (depth > k_max_group_depth)
            return false;
        if (!branch(depth))
            return false;
        while (peek() == '|') {
            ++m_pos;
            m_out += '|';
            if (!branch(depth))
                return false;
        }
        return true;
    }

    bool branch(int depth) {
        while (!at_end() && peek() != '|' && peek() != ')') {
            if (!piece(depth))
                return false;
        }
        return true;
    }

    bool piece(int depth) {
        bool quantifiable = true;
        if (!atom(depth, quantifiable))
            return false;
        char c = peek();
        if (c == '*' || c == '+' || c == '?') {
            if (!quantifiable)
                return false;
            m_out += c;
            ++m_pos;
        } else if (c == '{') {
            if (!quantifiable)
                return false;
            return range_quantifier();
        }
        return true;
    }

    bool digits(std::string& out) {
        while (peek() >= '0' && peek() <= '9')
            out += m_text[m_pos++];
        return !out.empty();
    }

    bool range_quantifier() {
        ++m_pos; // '{'
        std::string low, high;
        if (!digits(low))
            return false;
        m_out += '{';
        m_out += low;
        if (peek() == ',') {
            ++m_pos;
            m_out += ',';
            if (digits(high))
                m_out += high;
        }
        if (peek() != '}')
            return false;
        ++m_pos;
        m_out += '}';
        return true;
    }

    bool atom(int depth, bool& quantifiable) {
        char c = peek();
        switch (c) {
        case '(':
            ++m_pos;
            m_out += "(?:";
            if (!regexp(depth + 1) || peek() != ')')
                return false;
            ++m_pos;
            m_out += ')';
            return true;
        case '.':
            ++m_pos;
            m_out += "[^\\n\\r]";
            return true;
        case '[':
            return char_class();
        case '\\':
            return escape_atom();
        case '^':
            ++m_pos;
            m_out += "\\A";
            quantifiable = false;
            return true;
        case '$':
            ++m_pos;
            m_out += "\\z";
            quantifiable = false;
            return true;
        case ')':
        case '*':
        case '+':
        case '?':
        case '{':
        case '}':
        case ']':
        case '|':
            return false;
        default: {
            char32_t cp = 0;
            if (!util::decode_utf8(m_text, m_pos, cp))
                return false;
            emit_literal(cp);
            return true;
        }
        }
    }

    static bool is_single_char_escape(char c) {
        return c != '\0' &&
               std::string_view("()*+-.?[\\]^nrt{|}").find(c) != std::string_view::npos;
    }

    static char32_t single_char_value(char c) {
        switch (c) {
        case 'n':
            return '\n';
        case 'r':
            return '\r';
        case 't':
            return '\t';
        default:
            return static_cast<unsigned char>(c);
        }
    }

    // After '\': a category escape \p{..} / \P{..}, written straight to the output.
    bool category(char kind) {
        ++m_pos; // 'p' or 'P'
        if (peek() != '{')
            return false;
        ++m_pos;
        std::string name;
        while (!at_end() && peek() != '}' && name.size() < 3)
            name += m_text[m_pos++];
        if (peek() != '}' || !valid_category(name))
            return false;
        ++m_pos;
        m_out += '\\';
        m_out += kind;
        m_out += '{' + name + '}';
        return true;
    }

    static bool valid_category(const std::string& name) {
        if (name.empty() || name.size() > 2)
            return false;
        std::string_view subs;
        switch (name[0]) {
        case 'L':
            subs = "lmotu";
            break;
        case 'M':
            subs = "cen";
            break;
        case 'N':
            subs = "dlo";
            break;
        case 'P':
            subs = "cdefios";
            break;
        case 'Z':
            subs = "lps";
            break;
        case 'S':
            subs = "ckmo";
            break;
        case 'C':
            subs = "cfno";
            break;
        default:
            return false;
        }
        return name.size() == 1 || subs.find(name[1]) != std::string_view::npos;
    }

    bool escape_atom() {
        ++m_pos; // '\'
        char c = peek();
        if (c == 'p' || c == 'P')
            return category(c);
        if (!is_single_char_escape(c))
            return false;
        ++m_pos;
        emit_literal(single_char_value(c));
        return true;
    }

    // One class character (CCchar or SingleCharEsc); false when the next thing is not one.
    bool class_char(char32_t& cp) {
        char c = peek();
        if (c == '\\') {
            char e = m_pos + 1 < m_text.size() ? m_text[m_pos + 1] : '\0';
            if (!is_single_char_escape(e))
                return false;
            m_pos += 2;
            cp = single_char_value(e);
            return true;
        }
        if (at_end() || c == '-' || c == '[' || c == ']')
            return false;
        return util::decode_utf8(m_text, m_pos, cp);
    }

    bool char_class() {
        ++m_pos; // '['
        m_out += '[';
        if (peek() == '^') {
            ++m_pos;
            m_out += '^';
        }
        bool first = true;
        for (;; first = false) {
            if (at_end())
                return false;
            char c = peek();
            if (c == ']') {
                if (first)
                    return false; // empty class
                ++m_pos;
                m_out += ']';
                return true;
            }
            if (c == '-') {
                // A literal '-' only as the first or the last thing in the class.
                bool last = m_pos + 1 < m_text.size() && m_text[m_pos + 1] == ']';
                if (!first && !last)
                    return false;
                ++m_pos;
                emit_literal('-');
                continue;
            }
            if (c == '\\' && m_pos + 1 < m_text.size() &&
                (m_text[m_pos + 1] == 'p' || m_text[m_pos + 1] == 'P')) {
                ++m_pos;
                if (!category(m_text[m_pos]))
                    return false;
                continue;
            }
            char32_t low = 0;
            if (!class_char(low))
                return false;
            emit_literal(low);
            bool range = peek() == '-' && m_pos + 1 < m_text.size() && m_text[m_pos + 1] != ']';
            if (range) {
                ++m_pos;
                char32_t high = 0;
                if (!class_char(high) || high < low)
                    return false;
                m_out += '-';
                emit_literal(high);
            }
        }
    }

    std::string_view m_text;
    std::size_t m_pos = 0;
    std::string m_out;
};

struct MatchDataDeleter {
    void operator()(pcre2_match_data* md) const { pcre2_match_data_free(md); }
};

} // namespace

std::optional<std::string> iregexp_to_pcre2(std::string_view pattern) {
    return Translator(pattern).run();
}

void Regex::Deleter::operator()(pcre2_real_code_8* code) const {
    pcre2_code_free(code);
}

std::shared_ptr<const Regex> Regex::compile(std::string_view pattern, RegexMode mode) {
    std::optional<std::string> translated = iregexp_to_pcre2(pattern);
    if (!translated)
        return nullptr;
    std::string full = mode == RegexMode::full ? "(?:" + *translated + ")\\z" : *translated;
    std::uint32_t options = PCRE2_UTF | PCRE2_NO_AUTO_CAPTURE;
    if (mode == RegexMode::full)
        options |= PCRE2_ANCHORED;
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(full.data()), full.size(),
                                     options, &error, &error_offset, nullptr);
    if (code == nullptr)
        return nullptr;
    auto regex = std::make_shared<Regex>();
    regex->m_code.reset(code);
    return regex;
}

bool Regex::matches(std::string_view subject) const {
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> data(pcre2_match_data_create(1, nullptr));
    if (!data)
        return false;
    // The DFA matcher keeps all alternatives in step instead of backtracking; it only needs a
    // bigger workspace for patterns with many parallel states.
    std::vector<int> workspace(1024);
    for (;;) {
        int rc = pcre2_dfa_match(m_code.get(), reinterpret_cast<PCRE2_SPTR>(subject.data()),
                                 subject.size(), 0, 0, data.get(), nullptr, workspace.data(),
                                 workspace.size());
        if (rc >= 0)
            return true;
        if (rc != PCRE2_ERROR_DFA_WSSIZE || workspace.size() >= (1u << 20))
            return false;
        workspace.resize(workspace.size() * 4);
    }
}

} // namespace vaultfwd::jsonpath::detail
