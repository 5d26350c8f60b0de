// SPDX-License-Identifier: Apache-2.0
#include "core/template/vtex.hpp"

namespace vaultfwd::tmpl {

namespace {

constexpr std::string_view k_marker = "#vtex#";
constexpr std::size_t k_max_segment = 128;

bool is_segment_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

// Reads one "<segment>#" at `pos`; returns the segment and moves `pos` past the '#'.
bool read_segment(std::string_view body, std::size_t& pos, std::string_view& segment) {
    std::size_t start = pos;
    while (pos < body.size() && pos - start <= k_max_segment && is_segment_char(body[pos]))
        ++pos;
    if (pos == start || pos >= body.size() || body[pos] != '#' || pos - start > k_max_segment)
        return false;
    segment = body.substr(start, pos - start);
    ++pos;
    return true;
}

} // namespace

VtexScan scan_vtex(std::string_view body) {
    VtexScan out;
    std::size_t pos = 0;
    while ((pos = body.find(k_marker, pos)) != std::string_view::npos) {
        const std::size_t begin = pos;
        const std::size_t after = pos + k_marker.size();
        std::string_view a, b, c;
        std::size_t p = after;
        bool first = read_segment(body, p, a);
        std::size_t after_a = p;
        bool second = first && read_segment(body, p, b);
        std::size_t after_b = p;
        if (second && a == "token") {
            std::size_t q = after_b;
            if (read_segment(body, q, c)) {
                out.tokens.push_back(VtexToken{begin, q, std::string(b), std::string(c)});
                pos = q;
                continue;
            }
        }
        if (second) {
            out.tokens.push_back(VtexToken{begin, after_b, std::string(b), std::string(a)});
            pos = after_b;
            continue;
        }
        // Point at what was read, up to the end of the line or a few dozen bytes.
        std::size_t end = first ? after_a : after;
        while (end < body.size() && end - begin < 64 && body[end] != '\n' && body[end] != '"' &&
               body[end] != ' ')
            ++end;
        out.malformed.emplace_back(begin, end);
        pos = after;
    }
    return out;
}

std::string vtex_card_token(std::string_view hash, std::string_view name) {
    return "#vtex#token#" + std::string(hash) + "#" + std::string(name) + "#";
}

std::string vtex_placeholder(std::string_view hash, std::string_view name) {
    return "#vtex#" + std::string(name) + "#" + std::string(hash) + "#";
}

VtexResolver default_vtex_resolver(const vault::RecordSource& source) {
    return [&source](const std::string& hash, const std::string& name) -> Result<std::string> {
        std::string id = "vtex_" + hash;
        if (!source.has_record(id))
            return make_error("template.unknown_record", "no vtex payment has the hash " + hash);
        auto v = source.read_field(id, name);
        if (!v)
            return make_error("template.undecryptable",
                              "the value could not be read from the vault: " + v.error().message);
        if (!*v)
            return make_error("template.unknown",
                              "vtex payment " + hash + " has no token named " + name);
        return std::move(**v);
    };
}

} // namespace vaultfwd::tmpl
