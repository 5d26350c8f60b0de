// SPDX-License-Identifier: Apache-2.0
#include "core/dialect/vgs/filters.hpp"

#include "core/inspector/secrets.hpp"

#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "core/dialect/vgs/json_spans.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::dialect::vgs {

namespace {

using nlohmann::json;

constexpr std::size_t k_max_listed = 50;

struct Unknowns {
    std::vector<std::string> aliases; // alias-shaped: safe to quote
    std::vector<std::string> places;  // anything else: named by where it is
    std::set<std::string> seen;
    void add_alias(const std::string& a) {
        if (seen.insert(a).second)
            aliases.push_back(a);
    }
    void add_place(const std::string& p) {
        if (seen.insert("\x01" + p).second)
            places.push_back(p);
    }
    bool empty() const { return aliases.empty() && places.empty(); }
};

// Collects the values one filter selected, resolves them against the vault in one go (one
// durable write for all the aliases a redact creates), then hands back what replaces each.
class Resolver {
  public:
    Resolver(vault::Store& store, const CompiledFilter& f, Unknowns& unknowns, Applied& applied,
             inspector::Secrets* secrets)
        : m_store(store), m_filter(f), m_unknowns(unknowns), m_applied(applied), m_secrets(secrets) {}

    std::size_t add(std::string value, std::string place) {
        m_values.push_back(std::move(value));
        m_places.push_back(std::move(place));
        return m_values.size() - 1;
    }

    Result<void> run() {
        m_results.assign(m_values.size(), std::nullopt);
        if (m_filter.operation == Operation::reveal) {
            for (std::size_t i = 0; i < m_values.size(); ++i) {
                const auto& v = m_values[i];
                if (v.empty())
                    continue;
                auto value = m_store.read_alias(v);
                if (!value)
                    return value.error();
                if (*value) {
                    if (m_secrets)
                        m_secrets->add(**value, v);
                    m_results[i] = std::move(**value);
                    ++m_applied.revealed;
                } else if (m_filter.on_unknown == OnUnknown::fail) {
                    if (looks_like_alias(v))
                        m_unknowns.add_alias(v);
                    else
                        m_unknowns.add_place(m_places[i] + " (" + m_filter.where + ")");
                }
            }
            return {};
        }
        std::vector<vault::AliasRequest> requests;
        std::map<std::string, std::size_t> index;
        std::vector<std::size_t> slot(m_values.size(), static_cast<std::size_t>(-1));
        for (std::size_t i = 0; i < m_values.size(); ++i) {
            const auto& v = m_values[i];
            if (v.empty() || m_store.is_alias(v))
                continue;
            auto [it, inserted] = index.emplace(v, requests.size());
            if (inserted)
                requests.push_back({v, m_filter.format});
            slot[i] = it->second;
        }
        if (requests.empty())
            return {};
        auto aliases = m_store.alias_many(requests);
        if (!aliases)
            return aliases.error();
        for (std::size_t i = 0; i < m_values.size(); ++i) {
            if (slot[i] == static_cast<std::size_t>(-1))
                continue;
            m_results[i] = (*aliases)[slot[i]];
            if (m_secrets)
                m_secrets->add(m_values[i], *m_results[i]);
            ++m_applied.redacted;
        }
        return {};
    }

    const std::optional<std::string>& result(std::size_t i) const { return m_results[i]; }
    std::size_t size() const { return m_values.size(); }

  private:
    vault::Store& m_store;
    const CompiledFilter& m_filter;
    Unknowns& m_unknowns;
    Applied& m_applied;
    inspector::Secrets* m_secrets;
    std::vector<std::string> m_values;
    std::vector<std::string> m_places;
    std::vector<std::optional<std::string>> m_results;
};

std::string group_text(const Regex::Match& m, std::size_t g, std::string_view subject) {
    if (g >= m.groups.size() || !m.groups[g].matched())
        return {};
    return std::string(subject.substr(m.groups[g].begin, m.groups[g].end - m.groups[g].begin));
}

// Java's Matcher.appendReplacement() syntax (${name}, $n, \x) plus VGS's %s for the token.
std::string expand(const std::string& repl, const Regex& re, const Regex::Match& m,
                   std::string_view subject, const std::string& token_out) {
    std::string out;
    for (std::size_t i = 0; i < repl.size(); ++i) {
        char c = repl[i];
        if (c == '\\' && i + 1 < repl.size()) {
            out += repl[++i];
        } else if (c == '%' && i + 1 < repl.size() && repl[i + 1] == 's') {
            out += token_out;
            ++i;
        } else if (c == '$' && i + 1 < repl.size() && repl[i + 1] == '{') {
            auto close = repl.find('}', i + 2);
            if (close == std::string::npos) {
                out += c;
                continue;
            }
            int g = re.group_number(std::string_view(repl).substr(i + 2, close - i - 2));
            if (g > 0)
                out += group_text(m, static_cast<std::size_t>(g), subject);
            i = close;
        } else if (c == '$' && i + 1 < repl.size() && std::isdigit(static_cast<unsigned char>(repl[i + 1]))) {
            // Like Java: take further digits only while they still name an existing group.
            std::size_t g = static_cast<std::size_t>(repl[++i] - '0');
            while (i + 1 < repl.size() && std::isdigit(static_cast<unsigned char>(repl[i + 1]))) {
                std::size_t next = g * 10 + static_cast<std::size_t>(repl[i + 1] - '0');
                if (next > static_cast<std::size_t>(re.group_count()))
                    break;
                g = next;
                ++i;
            }
            out += group_text(m, g, subject);
        } else {
            out += c;
        }
    }
    return out;
}

// The regex transformer over one subject (the body, or one header value).
Result<std::string> transform_regex(const CompiledFilter& f, std::string_view subject,
                                    const std::string& place, vault::Store& store,
                                    Unknowns& unknowns, Applied& applied) {
    const Regex& re = *f.pattern;
    auto matches = re.find_all(subject);
    if (!matches)
        return make_error(matches.error().code, f.where + ": " + matches.error().message);
    if (matches->empty())
        return std::string(subject);
    int token_g = re.group_number("token");
    int prefix_g = re.group_number("prefix");
    int suffix_g = re.group_number("suffix");
    Resolver resolver(store, f, unknowns, applied, applied.secrets);
    struct Parts {
        std::string prefix, token, suffix;
    };
    std::vector<Parts> parts;
    for (const auto& m : *matches) {
        Parts p;
        if (token_g > 0 && m.groups[static_cast<std::size_t>(token_g)].matched()) {
            p.token = group_text(m, static_cast<std::size_t>(token_g), subject);
            if (prefix_g > 0)
                p.prefix = group_text(m, static_cast<std::size_t>(prefix_g), subject);
            if (suffix_g > 0)
                p.suffix = group_text(m, static_cast<std::size_t>(suffix_g), subject);
        } else {
            p.token = group_text(m, 0, subject);
        }
        resolver.add(p.token, place + " match at byte " + std::to_string(m.begin));
        parts.push_back(std::move(p));
    }
    if (auto r = resolver.run(); !r)
        return r.error();
    std::string out;
    std::size_t pos = 0;
    for (std::size_t i = 0; i < matches->size(); ++i) {
        const auto& m = (*matches)[i];
        const auto& p = parts[i];
        out.append(subject.substr(pos, m.begin - pos));
        if (const auto& token = resolver.result(i))
            out += expand(f.replacement, re, m, subject, p.prefix + *token + p.suffix);
        else // nothing to swap (an unknown alias let pass, an alias already): the match stays
            out.append(subject.substr(m.begin, m.end - m.begin));
        pos = m.end;
    }
    out.append(subject.substr(pos));
    return out;
}

bool json_number_text(std::string_view s) {
    if (s.empty())
        return false;
    std::size_t i = s[0] == '-' ? 1 : 0;
    if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i])))
        return false;
    if (s[i] == '0' && i + 1 < s.size())
        return false;
    for (; i < s.size(); ++i)
        if (!std::isdigit(static_cast<unsigned char>(s[i])))
            return false;
    return true;
}

Result<void> apply_json(const CompiledFilter& f, Phase phase, std::string& body,
                        vault::Store& store, Unknowns& unknowns, Applied& applied) {
    if (util::trim(body).empty())
        return {};
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded()) {
        if (phase == Phase::response)
            return {};
        return make_error("vgs.body_not_json",
                          "the request body is not valid JSON, so the JSONPath filter (" +
                              f.where + ") cannot apply");
    }
    struct Selected {
        std::string path;
        bool is_string;
    };
    std::vector<Selected> selected;
    std::set<std::string> paths;
    Resolver resolver(store, f, unknowns, applied, applied.secrets);
    for (const auto& q : f.queries) {
        for (const auto& node : jsonpath::select(q, doc)) {
            const json& v = *node.value;
            if (!(v.is_string() || v.is_number()) || !paths.insert(node.path).second)
                continue;
            resolver.add(v.is_string() ? v.get<std::string>() : v.dump(), node.path);
            selected.push_back({node.path, v.is_string()});
        }
    }
    if (selected.empty())
        return {};
    if (auto r = resolver.run(); !r)
        return r;
    auto spans = locate_json_values(body, paths);
    if (!spans)
        return spans.error();
    std::vector<std::pair<Span, std::string>> replacements;
    for (std::size_t i = 0; i < selected.size(); ++i) {
        const auto& out = resolver.result(i);
        auto it = spans->find(selected[i].path);
        if (!out || it == spans->end())
            continue;
        // A revealed number stays a number when it still is one; aliases are strings, as VGS
        // writes them.
        std::string text = (!selected[i].is_string && f.operation == Operation::reveal &&
                            json_number_text(*out))
                               ? *out
                               : json(*out).dump(-1, ' ', false, json::error_handler_t::replace);
        replacements.emplace_back(it->second, std::move(text));
    }
    body = splice(body, std::move(replacements));
    return {};
}

Result<void> apply_form(const CompiledFilter& f, std::string& body, vault::Store& store,
                        Unknowns& unknowns, Applied& applied) {
    std::set<std::string> targets(f.targets.begin(), f.targets.end());
    Resolver resolver(store, f, unknowns, applied, applied.secrets);
    std::vector<Span> spans;
    std::size_t pos = 0;
    while (pos <= body.size()) {
        std::size_t amp = body.find('&', pos);
        if (amp == std::string::npos)
            amp = body.size();
        std::string_view pair(body.data() + pos, amp - pos);
        auto eq = pair.find('=');
        if (eq != std::string_view::npos) {
            auto name = form_decode(pair.substr(0, eq));
            if (name && targets.count(*name)) {
                std::string_view raw = pair.substr(eq + 1);
                auto value = form_decode(raw);
                resolver.add(value ? *value : std::string(raw), "form field \"" + *name + "\"");
                spans.push_back({pos + eq + 1, amp});
            }
        }
        pos = amp + 1;
    }
    if (spans.empty())
        return {};
    if (auto r = resolver.run(); !r)
        return r;
    std::vector<std::pair<Span, std::string>> replacements;
    for (std::size_t i = 0; i < spans.size(); ++i)
        if (const auto& out = resolver.result(i))
            replacements.emplace_back(spans[i], form_encode(*out));
    body = splice(body, std::move(replacements));
    return {};
}

Result<void> apply_header(const CompiledFilter& f, http::Headers& headers, vault::Store& store,
                          Unknowns& unknowns, Applied& applied) {
    std::vector<std::size_t> hits;
    for (std::size_t i = 0; i < headers.size(); ++i)
        for (const auto& t : f.targets)
            if (util::iequals(headers[i].name, t)) {
                hits.push_back(i);
                break;
            }
    if (hits.empty())
        return {};
    if (f.pattern) {
        for (auto i : hits) {
            auto out = transform_regex(f, headers[i].value, "header \"" + headers[i].name + "\"",
                                       store, unknowns, applied);
            if (!out)
                return out.error();
            headers[i].value = std::move(*out);
        }
        return {};
    }
    Resolver resolver(store, f, unknowns, applied, applied.secrets);
    for (auto i : hits)
        resolver.add(std::string(util::trim(headers[i].value)), "header \"" + headers[i].name + "\"");
    if (auto r = resolver.run(); !r)
        return r;
    for (std::size_t k = 0; k < hits.size(); ++k)
        if (const auto& out = resolver.result(k))
            headers[hits[k]].value = *out;
    return {};
}

std::string list(const std::vector<std::string>& items) {
    std::vector<std::string> shown(items.begin(),
                                   items.begin() + static_cast<long>(std::min(items.size(), k_max_listed)));
    std::string out = util::join(shown, ", ");
    if (items.size() > k_max_listed)
        out += " and " + std::to_string(items.size() - k_max_listed) + " more";
    return out;
}

bool is_base58(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) && c != '0' && c != 'O' && c != 'I' && c != 'l';
}

} // namespace

bool looks_like_alias(std::string_view t) {
    if (t.size() > 4 && t.substr(0, 4) == "tok_") {
        auto us = t.find('_', 4);
        if (us == std::string_view::npos || us == 4 || us + 1 >= t.size())
            return false;
        for (char c : t.substr(4, us - 4))
            if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-'))
                return false;
        for (char c : t.substr(us + 1))
            if (!is_base58(c))
                return false;
        return true;
    }
    if (t.size() == 36) {
        for (std::size_t i = 0; i < t.size(); ++i) {
            bool dash = i == 8 || i == 13 || i == 18 || i == 23;
            if (dash != (t[i] == '-') || (!dash && !std::isxdigit(static_cast<unsigned char>(t[i]))))
                return false;
        }
        return true;
    }
    return false;
}

std::optional<std::string> form_decode(std::string_view text) {
    std::string plus = util::replace_all(text, "+", " ");
    return util::percent_decode(plus);
}

std::string form_encode(std::string_view text) {
    static const char* k_hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size() * 3);
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '*' || c == '-' || c == '.' || c == '_') {
            out += ch;
        } else if (c == ' ') {
            out += '+';
        } else {
            out += '%';
            out += k_hex[c >> 4];
            out += k_hex[c & 15];
        }
    }
    return out;
}

Result<Applied> apply_filters(const std::vector<const CompiledFilter*>& filters, Phase phase,
                              http::Headers& headers, std::string& body, vault::Store& store,
                              inspector::Secrets* secrets) {
    Applied applied;
    applied.secrets = secrets;
    Unknowns unknowns;
    http::Headers h = headers;
    std::string b = body;
    for (const CompiledFilter* f : filters) {
        if (secrets) {
            static const char* k_transformers[] = {"json_path", "form_field", "regex", "header"};
            secrets->add_filter(f->where + ": " + (phase == Phase::request ? "request " : "response ") +
                                (f->operation == Operation::reveal ? "reveal " : "redact ") +
                                k_transformers[static_cast<int>(f->transformer)] +
                                (f->targets.empty() ? std::string() : " " + util::join(f->targets, ", ")));
        }
        Result<void> r;
        switch (f->transformer) {
        case Transformer::json_path:
            r = apply_json(*f, phase, b, store, unknowns, applied);
            break;
        case Transformer::form_field:
            r = apply_form(*f, b, store, unknowns, applied);
            break;
        case Transformer::regex: {
            auto out = transform_regex(*f, b, "body", store, unknowns, applied);
            if (!out)
                return out.error();
            b = std::move(*out);
            break;
        }
        case Transformer::header:
            r = apply_header(*f, h, store, unknowns, applied);
            break;
        }
        if (!r)
            return r.error();
    }
    if (!unknowns.empty()) {
        std::string msg;
        if (!unknowns.aliases.empty())
            msg = "unknown alias" + std::string(unknowns.aliases.size() > 1 ? "es: " : ": ") +
                  list(unknowns.aliases);
        if (!unknowns.places.empty())
            msg += (msg.empty() ? "" : "; ") + std::string("not an alias of this vault: ") +
                   list(unknowns.places);
        msg += ". Create aliases with 'vaultfwd vault alias', or set on_unknown_alias = \"pass\" "
               "on the filter to send such values as they are";
        return make_error("vgs.unknown_alias", msg);
    }
    headers = std::move(h);
    body = std::move(b);
    return applied;
}

} // namespace vaultfwd::dialect::vgs
