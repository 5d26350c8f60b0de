// SPDX-License-Identifier: Apache-2.0
#include "core/inspector/secrets.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

namespace vaultfwd::inspector {

void Secrets::add(std::string_view value, std::string_view token) {
    if (value.empty())
        return;
    std::lock_guard lock(m_mutex);
    m_pairs.emplace_back(std::string(value), std::string(token));
}

std::vector<std::pair<std::string, std::string>> Secrets::pairs() const {
    std::lock_guard lock(m_mutex);
    return m_pairs;
}

void Secrets::add_filter(std::string description) {
    std::lock_guard lock(m_mutex);
    m_filters.push_back(std::move(description));
}

std::vector<std::string> Secrets::filters() const {
    std::lock_guard lock(m_mutex);
    return m_filters;
}

void Secrets::withhold_request_body(std::string reason) {
    std::lock_guard lock(m_mutex);
    m_withhold = std::move(reason);
}

std::string Secrets::request_body_withheld() const {
    std::lock_guard lock(m_mutex);
    return m_withhold;
}

namespace {

std::string percent_encode(std::string_view text, bool upper, bool form) {
    static const char* k_upper = "0123456789ABCDEF";
    static const char* k_lower = "0123456789abcdef";
    const char* hex = upper ? k_upper : k_lower;
    std::string out;
    out.reserve(text.size() * 3);
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (form && c == '*')) {
            out += static_cast<char>(c);
        } else if (form && c == ' ') {
            out += '+';
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

// Only the characters that must be escaped (RFC 8259): the text between a JSON string's quotes.
std::string json_escaped(std::string_view text, bool ascii) {
    std::string quoted = nlohmann::json(std::string(text)).dump(-1, ' ', ascii, nlohmann::json::error_handler_t::replace);
    return quoted.substr(1, quoted.size() - 2);
}

} // namespace

std::vector<std::string> encodings_of(std::string_view value) {
    std::vector<std::string> out{std::string(value)};
    auto add = [&out](std::string s) {
        if (!s.empty() && std::find(out.begin(), out.end(), s) == out.end())
            out.push_back(std::move(s));
    };
    add(json_escaped(value, false));
    add(json_escaped(value, true)); // \u00e9 for a value with non-ASCII letters
    add(percent_encode(value, true, false));
    add(percent_encode(value, false, false));
    add(percent_encode(value, true, true));
    add(percent_encode(value, false, true));
    // "/" escaped as "\/" (PHP's json_encode, some Java serialisers), with or without \u escapes.
    for (bool ascii : {false, true}) {
        std::string slashes;
        for (char c : json_escaped(value, ascii)) {
            if (c == '/')
                slashes += '\\';
            slashes += c;
        }
        add(std::move(slashes));
    }
    return out;
}

Masker::Masker(const std::vector<std::pair<std::string, std::string>>& pairs) {
    for (const auto& [value, token] : pairs)
        for (auto& from : encodings_of(value))
            m_patterns.push_back({std::move(from), token});
    std::stable_sort(m_patterns.begin(), m_patterns.end(),
                     [](const Pattern& a, const Pattern& b) { return a.from.size() > b.from.size(); });
    for (const auto& p : m_patterns)
        m_first[static_cast<unsigned char>(p.from[0])] = true;
}

std::string Masker::mask(std::string_view text) const {
    if (m_patterns.empty())
        return std::string(text);
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0, copied = 0; // text[copied, i) is still to be copied as it is
    while (i < text.size()) {
        const Pattern* hit = nullptr;
        if (m_first[static_cast<unsigned char>(text[i])]) {
            for (const auto& p : m_patterns) // longest first: the first match is the longest
                if (text.compare(i, p.from.size(), p.from) == 0) {
                    hit = &p;
                    break;
                }
        }
        if (hit) {
            out.append(text.data() + copied, i - copied);
            out += hit->to;
            i += hit->from.size();
            copied = i;
        } else {
            ++i;
        }
    }
    out.append(text.data() + copied, text.size() - copied);
    return out;
}

} // namespace vaultfwd::inspector
