// SPDX-License-Identifier: Apache-2.0
#include "core/vault/tokenize.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <tuple>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "core/util/json_text.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::vault {

namespace {

using nlohmann::json;

constexpr int k_max_depth = 2000;

Error format_error(std::string_view name, int line = 0, int column = 0) {
    std::string msg = "unknown alias format \"" + std::string(name) + "\"";
    auto names = alias_format_names();
    std::vector<std::string> lower;
    for (const auto& n : names)
        lower.push_back(util::to_lower(n));
    auto near = util::nearest(util::to_lower(name), lower);
    for (std::size_t i = 0; i < lower.size(); ++i)
        if (!near.empty() && lower[i] == near)
            msg += " (did you mean " + names[i] + "?)";
    return make_error("tokenize.bad_format", msg + "; formats: " + util::join(names, ", "), line,
                      column);
}

// Text after '=' that was meant as a format name rather than part of a JSONPath.
bool looks_like_format_name(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
    });
}

enum class Kind { string, number, other };
enum class Action { tokenize, already, skip };

// One selected node of a document.
struct Claim {
    std::size_t rule = 0;
    Kind kind = Kind::other;
    std::string value;
    std::vector<std::pair<std::size_t, std::size_t>> ranges; // where its literal sits
    Action action = Action::skip;
    std::size_t request = 0; // index into the batch's alias requests
};

struct Doc {
    std::string_view text;
    std::unordered_map<std::string, Claim> claims; // by normalized path
    TokenizeStats stats;
    std::optional<Error> error;
};

// Walks JSON text (already known to be valid) keeping the normalized path of each value, and
// records where the literals of the claimed paths are.
class Scanner {
  public:
    Scanner(std::string_view s, std::unordered_map<std::string, Claim>& claims)
        : m_s(s), m_claims(claims) {}

    Result<void> run() {
        std::string path = "$";
        if (m_s.substr(0, 3) == "\xEF\xBB\xBF") // a BOM, which the parser skipped too
            m_i = 3;
        if (!value(path, 0))
            return make_error("tokenize.too_deep", "the document nests deeper than " +
                                                       std::to_string(k_max_depth) + " levels");
        return {};
    }

  private:
    void ws() {
        while (m_i < m_s.size() &&
               (m_s[m_i] == ' ' || m_s[m_i] == '\t' || m_s[m_i] == '\n' || m_s[m_i] == '\r'))
            ++m_i;
    }
    // Skips a string literal starting at the opening quote.
    void skip_string() {
        ++m_i;
        while (m_i < m_s.size() && m_s[m_i] != '"')
            m_i += m_s[m_i] == '\\' ? 2 : 1;
        ++m_i;
    }
    void record(const std::string& path, std::size_t b, std::size_t e) {
        if (auto it = m_claims.find(path); it != m_claims.end())
            it->second.ranges.emplace_back(b, e);
    }
    bool value(std::string& path, int depth) {
        if (depth > k_max_depth)
            return false;
        ws();
        if (m_i >= m_s.size())
            return true;
        const char c = m_s[m_i];
        if (c == '{') {
            ++m_i;
            ws();
            if (m_i < m_s.size() && m_s[m_i] == '}') {
                ++m_i;
                return true;
            }
            while (m_i < m_s.size()) {
                ws();
                const std::size_t kb = m_i;
                skip_string();
                std::string_view lit = m_s.substr(kb, m_i - kb);
                std::string name = lit.find('\\') == std::string_view::npos
                                       ? std::string(lit.substr(1, lit.size() - 2))
                                       : json::parse(lit).get<std::string>();
                ws();
                ++m_i; // ':'
                const std::size_t len = path.size();
                path += '[';
                path += jsonpath::normalized_name(name);
                path += ']';
                if (!value(path, depth + 1))
                    return false;
                path.resize(len);
                ws();
                if (m_i < m_s.size() && m_s[m_i++] == '}')
                    break;
            }
            return true;
        }
        if (c == '[') {
            ++m_i;
            ws();
            if (m_i < m_s.size() && m_s[m_i] == ']') {
                ++m_i;
                return true;
            }
            for (std::size_t index = 0; m_i < m_s.size(); ++index) {
                const std::size_t len = path.size();
                path += '[' + std::to_string(index) + ']';
                if (!value(path, depth + 1))
                    return false;
                path.resize(len);
                ws();
                if (m_i < m_s.size() && m_s[m_i++] == ']')
                    break;
            }
            return true;
        }
        const std::size_t b = m_i;
        if (c == '"') {
            skip_string();
        } else {
            while (m_i < m_s.size() && m_s[m_i] != ',' && m_s[m_i] != ']' && m_s[m_i] != '}' &&
                   m_s[m_i] != ' ' && m_s[m_i] != '\t' && m_s[m_i] != '\n' && m_s[m_i] != '\r')
                ++m_i;
        }
        record(path, b, m_i);
        return true;
    }

    std::string_view m_s;
    std::unordered_map<std::string, Claim>& m_claims;
    std::size_t m_i = 0;
};

bool plain_integer(const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos &&
           (s.size() == 1 || s[0] != '0');
}

// Decides whether a selected value is an alias an earlier run wrote (Action::already) or a
// real value to vault (Action::tokenize), from the ledger's record of the document only.
Result<void> settle(const std::string& path, Claim& claim, const WrittenAliases* written,
                    const Store& store, std::string_view text) {
    claim.action = Action::tokenize;
    if (!written)
        return {};
    auto it = written->find(path);
    if (it == written->end())
        return {}; // every location tokenize writes is recorded: this one holds a real value
    const bool is_alias = store.is_alias(claim.value);
    if (it->second == claim.value) {
        if (is_alias) {
            claim.action = Action::already;
            return {};
        }
        const auto [line, column] = util::line_column(text, claim.ranges.front().first);
        return make_error("tokenize.undecidable",
                          path + ": tokenize wrote an alias here that the vault no longer holds "
                                 "(removed with vault rm?); put the real value back and tokenize "
                                 "again",
                          line, column);
    }
    if (!is_alias)
        return {}; // changed since tokenize wrote it, and not an alias: a real value
    const auto [line, column] = util::line_column(text, claim.ranges.front().first);
    return make_error("tokenize.undecidable",
                      path + ": this value replaced the alias tokenize wrote here and is an "
                             "alias in the vault too, so it cannot be told from a real value; "
                             "put back the alias tokenize wrote (vault alias VALUE --format F "
                             "gives it again), or tokenize the real fixture into a new file",
                      line, column);
}

} // namespace

void TokenizeStats::add(const TokenizeStats& other) {
    tokenized += other.tokenized;
    already += other.already;
    skipped += other.skipped;
    if (per_rule.size() < other.per_rule.size())
        per_rule.resize(other.per_rule.size());
    for (std::size_t i = 0; i < other.per_rule.size(); ++i)
        per_rule[i] += other.per_rule[i];
}

Result<TokenizeRule> parse_rule(std::string_view text) {
    const std::string_view t = util::trim(text);
    TokenizeRule rule;
    rule.path = std::string(t);
    if (auto eq = t.rfind('='); eq != std::string_view::npos) {
        std::string_view lhs = util::trim(t.substr(0, eq)), rhs = util::trim(t.substr(eq + 1));
        const bool in_comparison = !lhs.empty() && (lhs.back() == '=' || lhs.back() == '!' ||
                                                    lhs.back() == '<' || lhs.back() == '>');
        if (auto f = parse_alias_format(rhs); f && !in_comparison) {
            rule.path = std::string(lhs);
            rule.format = *f;
        } else if (!in_comparison && looks_like_format_name(rhs)) {
            return format_error(rhs);
        }
    }
    if (rule.path.empty())
        return make_error("tokenize.bad_rule",
                          "a rule needs a JSONPath, as in $.card.number=FPE_SIX_T_FOUR");
    return rule;
}

Result<std::vector<TokenizeRule>> parse_rules_file(std::string_view toml_text,
                                                   const std::string& file_name) {
    toml::table root;
    try {
        root = toml::parse(toml_text, file_name);
    } catch (const toml::parse_error& e) {
        return make_error("tokenize.syntax", std::string(e.description()),
                          static_cast<int>(e.source().begin.line),
                          static_cast<int>(e.source().begin.column));
    }
    auto at = [](const toml::node& n) {
        return std::pair<int, int>{static_cast<int>(n.source().begin.line),
                                   static_cast<int>(n.source().begin.column)};
    };
    auto unknown = [&](const toml::key& key, const std::vector<std::string>& valid) -> Error {
        const int l = static_cast<int>(key.source().begin.line);
        const int c = static_cast<int>(key.source().begin.column);
        std::string msg = "unknown key \"" + std::string(key.str()) + "\"";
        if (auto near = util::nearest(key.str(), valid); !near.empty())
            msg += " (did you mean \"" + near + "\"?)";
        return make_error("tokenize.unknown_key", msg, l, c);
    };
    std::vector<TokenizeRule> rules;
    for (const auto& [key, node] : root) {
        if (key.str() != "rule")
            return unknown(key, {"rule"});
        const auto* arr = node.as_array();
        if (!arr) {
            auto [l, c] = at(node);
            return make_error("tokenize.bad_rule", "rule must be an array of tables ([[rule]])", l,
                              c);
        }
        for (const auto& item : *arr) {
            const auto* t = item.as_table();
            auto [l, c] = at(item);
            if (!t)
                return make_error("tokenize.bad_rule", "rule must be an array of tables ([[rule]])",
                                  l, c);
            TokenizeRule rule;
            rule.line = l;
            for (const auto& [k, v] : *t) {
                if (k.str() == "path" || k.str() == "format") {
                    auto s = v.value<std::string>();
                    auto [vl, vc] = at(v);
                    if (!s)
                        return make_error("tokenize.bad_rule",
                                          "rule." + std::string(k.str()) + " must be a string", vl,
                                          vc);
                    if (k.str() == "path") {
                        rule.path = *s;
                    } else if (auto f = parse_alias_format(*s)) {
                        rule.format = *f;
                    } else {
                        return format_error(*s, vl, vc);
                    }
                } else {
                    return unknown(k, {"path", "format"});
                }
            }
            if (rule.path.empty())
                return make_error("tokenize.bad_rule", "this rule has no path", l, c);
            rules.push_back(std::move(rule));
        }
    }
    return rules;
}

Result<Tokenizer> Tokenizer::make(const std::vector<TokenizeRule>& rules) {
    if (rules.empty())
        return make_error("tokenize.no_rules", "no rules: give --rule PATH=FORMAT or --rules FILE");
    std::vector<Compiled> compiled;
    for (const auto& r : rules) {
        auto q = jsonpath::compile(r.path);
        if (!q) {
            return make_error("tokenize.bad_path",
                              "rule " + r.path + ": column " + std::to_string(q.error().column) +
                                  ": " + q.error().message,
                              r.line, 0);
        }
        compiled.push_back(Compiled{std::move(*q), r.format});
    }
    return Tokenizer(std::move(compiled));
}

Result<TokenizeResult> Tokenizer::apply(std::string_view json_text, Store& store,
                                        const WrittenAliases* written) const {
    auto all = apply_many({TokenizeInput{json_text, written}}, store);
    if (!all)
        return all.error();
    return std::move(all->front());
}

Result<std::vector<Result<TokenizeResult>>>
Tokenizer::apply_many(const std::vector<TokenizeInput>& inputs, Store& store) const {
    std::vector<Doc> docs(inputs.size());
    std::vector<AliasRequest> requests;
    std::unordered_map<std::string, std::size_t> request_index; // format byte + value

    for (std::size_t d = 0; d < inputs.size(); ++d) {
        Doc& doc = docs[d];
        doc.text = inputs[d].text;
        doc.stats.per_rule.assign(m_rules.size(), 0);
        auto parsed_or = util::parse_json(doc.text, "tokenize.bad_json");
        if (!parsed_or) {
            doc.error = parsed_or.error();
            continue;
        }
        json parsed = std::move(*parsed_or);
        for (std::size_t r = 0; r < m_rules.size(); ++r) {
            for (const auto& node : jsonpath::select(m_rules[r].query, parsed)) {
                if (doc.claims.count(node.path))
                    continue; // an earlier rule (or this one) has it
                Claim claim;
                claim.rule = r;
                if (node.value->is_string()) {
                    claim.kind = Kind::string;
                    claim.value = node.value->get<std::string>();
                } else if (node.value->is_number()) {
                    claim.kind = Kind::number;
                }
                doc.claims.emplace(node.path, std::move(claim));
                ++doc.stats.per_rule[r];
            }
        }
        if (doc.claims.empty())
            continue;
        Scanner scanner(doc.text, doc.claims);
        if (auto s = scanner.run(); !s) {
            doc.error = s.error();
            continue;
        }
        std::size_t error_at = 0;
        for (auto& [path, claim] : doc.claims) {
            if (claim.ranges.empty()) {
                claim.action = Action::skip;
            } else if (claim.kind == Kind::number) {
                const auto [b, e] = claim.ranges.back();
                claim.value = std::string(doc.text.substr(b, e - b));
            }
            if (claim.ranges.empty() || claim.kind == Kind::other || claim.value.empty()) {
                claim.action = Action::skip;
                ++doc.stats.skipped;
                continue;
            }
            // The first undecidable value in the text is the one reported, whatever the order
            // of the claims.
            auto decided = settle(path, claim, inputs[d].written, store, doc.text);
            if (!decided && (!doc.error || claim.ranges.front().first < error_at)) {
                doc.error = decided.error();
                error_at = claim.ranges.front().first;
            }
            ++(claim.action == Action::already ? doc.stats.already : doc.stats.tokenized);
        }
        if (doc.error)
            continue; // nothing of a refused document goes into the vault
        for (auto& [path, claim] : doc.claims) {
            if (claim.action != Action::tokenize)
                continue;
            const AliasFormat format = m_rules[claim.rule].format;
            std::string key(1, static_cast<char>(format));
            key += claim.value;
            auto [it, fresh] = request_index.emplace(std::move(key), requests.size());
            if (fresh)
                requests.push_back(AliasRequest{claim.value, format});
            claim.request = it->second;
        }
    }

    std::vector<std::string> aliases;
    if (!requests.empty()) {
        auto made = store.alias_many(requests);
        if (!made)
            return made.error();
        aliases = std::move(*made);
    }

    std::vector<Result<TokenizeResult>> out;
    out.reserve(docs.size());
    for (auto& doc : docs) {
        if (doc.error) {
            out.emplace_back(*doc.error);
            continue;
        }
        TokenizeResult result;
        // (begin, end, replacement literal), spliced in text order.
        std::vector<std::tuple<std::size_t, std::size_t, std::string>> edits;
        for (const auto& [path, claim] : doc.claims) {
            if (claim.action == Action::already)
                result.aliases.emplace(path, claim.value);
            if (claim.action != Action::tokenize)
                continue;
            const std::string& alias = aliases[claim.request];
            result.aliases.emplace(path, alias);
            std::string literal =
                claim.kind == Kind::number && plain_integer(alias) ? alias : json(alias).dump();
            for (const auto& [b, e] : claim.ranges)
                edits.emplace_back(b, e, literal);
        }
        std::sort(edits.begin(), edits.end());
        result.stats = doc.stats;
        std::size_t pos = 0;
        for (const auto& [b, e, literal] : edits) {
            result.text.append(doc.text.substr(pos, b - pos));
            result.text += literal;
            pos = e;
        }
        result.text.append(doc.text.substr(pos));
        out.emplace_back(std::move(result));
    }
    return out;
}

} // namespace vaultfwd::vault
