// SPDX-License-Identifier: Apache-2.0
#include "core/jsonpath/jsonpath.hpp"

#include <algorithm>
#include <unordered_set>

#include "core/jsonpath/ast.hpp"
#include "core/jsonpath/eval.hpp"
#include "core/jsonpath/parser.hpp"

namespace vaultfwd::jsonpath {

Query::Query(std::shared_ptr<const detail::CompiledQuery> compiled)
    : m_compiled(std::move(compiled)) {}

const std::string& Query::text() const {
    return m_compiled->text;
}

bool Query::is_singular() const {
    return m_compiled->path.singular();
}

Result<Query> compile(std::string_view text) {
    Result<detail::CompiledQuery> parsed = detail::parse_query(text);
    if (!parsed)
        return parsed.error();
    return Query(std::make_shared<const detail::CompiledQuery>(std::move(parsed).value()));
}

std::vector<Node> select(const Query& query, const nlohmann::json& doc) {
    detail::PathTree paths;
    std::vector<detail::Located> located = detail::evaluate(query.compiled(), doc, paths);
    std::vector<Node> out;
    out.reserve(located.size());
    for (const detail::Located& node : located)
        out.push_back(Node{paths.render(node.path), node.value});
    return out;
}

std::size_t replace(const Query& query, nlohmann::json& doc, const Replacer& fn) {
    detail::PathTree paths;
    std::vector<detail::Located> located = detail::evaluate(query.compiled(), doc, paths);
    struct Target {
        detail::Located node;
        std::vector<std::size_t> chain;
    };
    std::unordered_set<const nlohmann::json*> seen;
    std::vector<Target> targets;
    for (const detail::Located& node : located) {
        if (seen.insert(node.value).second)
            targets.push_back(Target{node, paths.chain(node.path)});
    }
    // Document post-order: replacing a node destroys its old subtree, so every selected node
    // inside it must be done first; nodes elsewhere are unaffected.
    std::sort(targets.begin(), targets.end(), [&](const Target& a, const Target& b) {
        std::size_t common = std::min(a.chain.size(), b.chain.size());
        for (std::size_t i = 0; i < common; ++i) {
            if (int c = paths.compare_siblings(a.chain[i], b.chain[i]); c != 0)
                return c < 0;
        }
        return a.chain.size() > b.chain.size();
    });
    std::size_t replaced = 0;
    for (const Target& target : targets) {
        const detail::Located& node = target.node;
        std::optional<nlohmann::json> replacement = fn(*node.value, paths.render(node.path));
        if (!replacement)
            continue;
        // The evaluator reads through const pointers, but every node lies inside `doc`, which
        // the caller handed over as mutable.
        *const_cast<nlohmann::json*>(node.value) = std::move(*replacement);
        ++replaced;
    }
    return replaced;
}

std::string normalized_name(std::string_view name) {
    static const char* const k_hex = "0123456789abcdef";
    std::string out = "'";
    for (char c : name) {
        switch (c) {
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\'':
            out += "\\'";
            break;
        case '\\':
            out += "\\\\";
            break;
        default: {
            auto u = static_cast<unsigned char>(c);
            if (u < 0x20) {
                out += "\\u00";
                out += k_hex[u >> 4];
                out += k_hex[u & 0xF];
            } else {
                out += c;
            }
        }
        }
    }
    out += '\'';
    return out;
}

} // namespace vaultfwd::jsonpath
