// SPDX-License-Identifier: Apache-2.0
#include "core/replay/normalize.hpp"

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

#include "core/util/strings.hpp"

namespace vaultfwd::replay {

namespace {

using nlohmann::json;

constexpr std::string_view k_serial_header = "x-ditto-client-cert-serial";

std::string_view strip_relay_prefix(std::string_view name) {
    for (std::string_view prefix : {"x-footprint-proxy-fwd-", "x-vault-forward-header-"})
        if (util::starts_with_icase(name, prefix))
            return name.substr(prefix.size());
    return name;
}

bool is_ignored(std::string_view name, const NormalizeOptions& options) {
    if (is_volatile_header(name))
        return true;
    auto bare = strip_relay_prefix(name);
    for (const auto& n : options.ignore_headers)
        if (util::iequals(n, name) || util::iequals(n, bare))
            return true;
    return false;
}

bool is_serial_header(std::string_view name) {
    return util::iequals(strip_relay_prefix(name), k_serial_header);
}

using Lines = std::vector<std::pair<std::string, std::string>>;

void sort_headers(Lines& lines) {
    std::stable_sort(lines.begin(), lines.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
}

// A body that `ditto --format json` made: {"method", "path", "query", "headers", "body"…}.
bool is_echo(const json& j) {
    return j.is_object() && j.contains("method") && j["method"].is_string() && j.contains("path") &&
           j["path"].is_string() && j.contains("headers") && j["headers"].is_object() &&
           j.contains("body") &&
           (j["body"].is_string() || (j["body"].is_null() && j.contains("body_base64")));
}

std::string render_echo(const json& j, const NormalizeOptions& options) {
    std::string out = "> " + j["method"].get<std::string>() + " " + j["path"].get<std::string>();
    if (j.contains("query") && j["query"].is_string() && !j["query"].get<std::string>().empty())
        out += "?" + j["query"].get<std::string>();
    out += "\n";
    Lines headers;
    for (const auto& [name, value] : j["headers"].items())
        if (!is_ignored(name, options))
            headers.emplace_back(util::to_lower(name),
                                 value.is_string() ? value.get<std::string>() : value.dump());
    sort_headers(headers);
    for (const auto& [name, value] : headers)
        out += "> " + name + ": " + value + "\n";
    if (j.contains("client_cert") && j["client_cert"].is_object()) {
        const auto& c = j["client_cert"];
        // The serial is left out: certificates made for a test get a new one every time.
        out += "> [client certificate] subject: " + c.value("subject", std::string()) +
               "; issuer: " + c.value("issuer", std::string()) + "\n";
    }
    out += ">\n";
    if (j["body"].is_string())
        out += j["body"].get<std::string>();
    else
        out += "[base64] " + j["body_base64"].get<std::string>() + "\n";
    return out;
}

// "x-ditto-client-cert-serial: 1234" (a text echo) → "…: <serial>".
std::string mask_serials(std::string text) {
    const std::string needle = std::string(k_serial_header) + ": ";
    std::size_t at = 0;
    while ((at = text.find(needle, at)) != std::string::npos) {
        auto start = at + needle.size();
        auto end = start;
        while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end])))
            ++end;
        if (end > start)
            text.replace(start, end - start, "<serial>");
        at = start;
    }
    return text;
}

} // namespace

bool is_volatile_header(std::string_view name) {
    static constexpr std::array<std::string_view, 11> k_names = {
        "date", "server",  "content-length", "connection",       "keep-alive", "transfer-encoding",
        "te",   "trailer", "upgrade",        "proxy-connection", "age"};
    auto bare = strip_relay_prefix(name);
    return std::any_of(k_names.begin(), k_names.end(),
                       [&](std::string_view n) { return util::iequals(n, bare); });
}

std::string mask_support_ids(std::string_view body) {
    const std::string_view key = "\"support_id\"";
    std::string out;
    std::size_t pos = 0;
    while (true) {
        auto at = body.find(key, pos);
        if (at == std::string_view::npos)
            break;
        auto p = at + key.size();
        auto skip_space = [&] {
            while (p < body.size() &&
                   (body[p] == ' ' || body[p] == '\t' || body[p] == '\n' || body[p] == '\r'))
                ++p;
        };
        skip_space();
        if (p < body.size() && body[p] == ':') {
            ++p;
            skip_space();
            if (p < body.size() && body[p] == '"') {
                auto end = p + 1;
                while (end < body.size() && body[end] != '"')
                    end += body[end] == '\\' ? 2 : 1;
                if (end < body.size()) {
                    out.append(body.substr(pos, p + 1 - pos));
                    out.append("<support-id>");
                    pos = end;
                    continue;
                }
            }
        }
        out.append(body.substr(pos, p - pos));
        pos = p;
    }
    out.append(body.substr(pos));
    return out;
}

std::string normalize(const http::Response& response, const NormalizeOptions& options) {
    std::string out = "HTTP/1.1 " + std::to_string(response.status);
    auto reason = http::status_text(response.status);
    if (!reason.empty())
        out += " " + std::string(reason);
    out += "\n";
    Lines headers;
    for (const auto& h : response.headers) {
        if (is_ignored(h.name, options))
            continue;
        headers.emplace_back(util::to_lower(h.name),
                             is_serial_header(h.name) ? "<serial>" : h.value);
    }
    sort_headers(headers);
    for (const auto& [name, value] : headers)
        out += name + ": " + value + "\n";
    out += "\n";

    json echo = json::parse(response.body, nullptr, false);
    if (!echo.is_discarded() && is_echo(echo))
        out += render_echo(echo, options);
    else
        out += mask_serials(mask_support_ids(response.body));
    for (const auto& [from, to] : options.replacements)
        if (!from.empty())
            out = util::replace_all(out, from, to);
    return out;
}

} // namespace vaultfwd::replay
