// SPDX-License-Identifier: Apache-2.0
#include "core/dialect/vgs/json_spans.hpp"

#include <algorithm>

#include "core/jsonpath/jsonpath.hpp"
#include "core/util/utf8.hpp"

namespace vaultfwd::dialect::vgs {

namespace {

constexpr int k_max_depth = 1000;

unsigned hex4(std::string_view s, std::size_t at) {
    unsigned v = 0;
    for (std::size_t k = 0; k < 4 && at + k < s.size(); ++k) {
        char c = s[at + k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= static_cast<unsigned>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= static_cast<unsigned>(c - 'A' + 10);
    }
    return v;
}

// Walks text that a JSON parser has already accepted, so it checks nothing and only tracks
// where each value starts and ends.
class Scanner {
  public:
    Scanner(std::string_view text, const std::set<std::string>& wanted,
            std::map<std::string, Span>& out)
        : m_t(text), m_wanted(wanted), m_out(out) {}

    bool run() {
        std::string path = "$";
        return value(path, 0);
    }

  private:
    void ws() {
        while (m_i < m_t.size() &&
               (m_t[m_i] == ' ' || m_t[m_i] == '\t' || m_t[m_i] == '\n' || m_t[m_i] == '\r'))
            ++m_i;
    }

    // Reads a string starting at its opening quote; returns its decoded content.
    std::string string_value() {
        std::string out;
        ++m_i; // opening quote
        while (m_i < m_t.size() && m_t[m_i] != '"') {
            char c = m_t[m_i];
            if (c != '\\') {
                out += c;
                ++m_i;
                continue;
            }
            char e = m_i + 1 < m_t.size() ? m_t[m_i + 1] : '"';
            m_i += 2;
            switch (e) {
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned cp = hex4(m_t, m_i);
                m_i += 4;
                if (cp >= 0xD800 && cp < 0xDC00 && m_i + 6 <= m_t.size() && m_t[m_i] == '\\' &&
                    m_t[m_i + 1] == 'u') {
                    unsigned lo = hex4(m_t, m_i + 2);
                    m_i += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                util::append_utf8(out, cp);
                break;
            }
            default: out += e; break; // \" \\ \/
            }
        }
        ++m_i; // closing quote
        return out;
    }

    void skip_string() {
        ++m_i;
        while (m_i < m_t.size() && m_t[m_i] != '"')
            m_i += m_t[m_i] == '\\' ? 2 : 1;
        ++m_i;
    }

    bool value(std::string& path, int depth) {
        if (depth > k_max_depth)
            return false;
        ws();
        std::size_t begin = m_i;
        if (m_i >= m_t.size())
            return true;
        char c = m_t[m_i];
        if (c == '{') {
            ++m_i;
            ws();
            if (m_i < m_t.size() && m_t[m_i] == '}') {
                ++m_i;
            } else {
                while (m_i < m_t.size()) {
                    ws();
                    std::string name = string_value();
                    ws();
                    ++m_i; // ':'
                    std::size_t len = path.size();
                    path += "[" + jsonpath::normalized_name(name) + "]";
                    if (!value(path, depth + 1))
                        return false;
                    path.resize(len);
                    ws();
                    if (m_i < m_t.size() && m_t[m_i] == ',') {
                        ++m_i;
                        continue;
                    }
                    ++m_i; // '}'
                    break;
                }
            }
        } else if (c == '[') {
            ++m_i;
            ws();
            if (m_i < m_t.size() && m_t[m_i] == ']') {
                ++m_i;
            } else {
                for (std::size_t index = 0; m_i < m_t.size(); ++index) {
                    std::size_t len = path.size();
                    path += "[" + std::to_string(index) + "]";
                    if (!value(path, depth + 1))
                        return false;
                    path.resize(len);
                    ws();
                    if (m_i < m_t.size() && m_t[m_i] == ',') {
                        ++m_i;
                        continue;
                    }
                    ++m_i; // ']'
                    break;
                }
            }
        } else if (c == '"') {
            skip_string();
        } else {
            while (m_i < m_t.size() && std::string_view(",]} \t\r\n").find(m_t[m_i]) == std::string_view::npos)
                ++m_i;
        }
        if (m_wanted.count(path))
            m_out[path] = Span{begin, m_i};
        return true;
    }

    std::string_view m_t;
    std::size_t m_i = 0;
    const std::set<std::string>& m_wanted;
    std::map<std::string, Span>& m_out;
};

} // namespace

Result<std::map<std::string, Span>> locate_json_values(std::string_view text,
                                                       const std::set<std::string>& paths) {
    std::map<std::string, Span> out;
    if (paths.empty())
        return out;
    Scanner scanner(text, paths, out);
    if (!scanner.run())
        return make_error("vgs.json_too_deep", "the JSON body is nested more than " +
                                                   std::to_string(k_max_depth) + " levels deep");
    return out;
}

std::string splice(std::string_view text, std::vector<std::pair<Span, std::string>> replacements) {
    std::sort(replacements.begin(), replacements.end(),
              [](const auto& a, const auto& b) { return a.first.begin < b.first.begin; });
    std::string out;
    out.reserve(text.size() + 64 * replacements.size());
    std::size_t pos = 0;
    for (const auto& [span, repl] : replacements) {
        if (span.begin < pos)
            continue; // overlapping: callers never pass these
        out.append(text.substr(pos, span.begin - pos));
        out += repl;
        pos = span.end;
    }
    out.append(text.substr(pos));
    return out;
}

} // namespace vaultfwd::dialect::vgs
