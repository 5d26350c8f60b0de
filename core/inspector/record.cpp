// SPDX-License-Identifier: Apache-2.0
#include "core/inspector/record.hpp"

#include <algorithm>
#include <ctime>
#include <set>

#include "core/util/redact.hpp"
#include "core/util/strings.hpp"
#include "core/util/utf8.hpp"

namespace vaultfwd::inspector {

using nlohmann::json;

namespace {

bool is_utf8(std::string_view s) {
    std::size_t pos = 0;
    char32_t cp = 0;
    while (pos < s.size())
        if (!util::decode_utf8(s, pos, cp))
            return false;
    return true;
}

// The longest prefix of `s` of at most `n` bytes that does not end inside a UTF-8 sequence.
std::size_t utf8_cut(std::string_view s, std::size_t n) {
    if (n >= s.size())
        return s.size();
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
        --n;
    return n;
}

bool is_credential(std::string_view name) {
    return util::iequals(name, "authorization") || util::iequals(name, "proxy-authorization") ||
           util::iequals(name, "cookie") || util::iequals(name, "set-cookie");
}

constexpr const char* k_hidden = "[hidden]";

// Headers that say how a message is framed or typed, shown even for a refused request.
bool is_plain_header(std::string_view name) {
    for (std::string_view plain : {"host", "content-type", "content-length", "accept", "user-agent",
                                   "transfer-encoding", "connection", "expect"})
        if (util::iequals(name, plain))
            return true;
    return false;
}

// 32 or more lowercase hex digits: an identifier (VTEX's transaction and payment ids, its payment
// hash), no card, SSN or name; kept as it is, so that a replay or re-send finds its payment.
bool is_identifier(std::string_view value) {
    return value.size() >= 32 && std::all_of(value.begin(), value.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
    });
}

// A path through util::redact segment by segment, identifiers kept.
std::string redact_path(std::string_view path) {
    std::string out;
    bool first = true;
    for (const auto& segment : util::split(path, '/')) {
        if (!first)
            out += '/';
        first = false;
        out += is_identifier(segment) ? segment : util::redact(segment);
    }
    return out;
}

// A request target or status line as shown: the recorded values masked; then, for what a client
// may have put in clear without any token, the path through util::redact (as the access log
// has it) and each query parameter's value as "*" (names kept; long hex identifiers stay).
std::string show_start(const std::string& start, const Masker& masker) {
    std::string masked = masker.mask(start);
    auto sp = masked.find(' ');
    auto sp2 = masked.rfind(' ');
    if (sp == std::string::npos || sp2 <= sp || masked.rfind("HTTP/", 0) == 0)
        return util::redact(masked); // a status line
    std::string target = masked.substr(sp + 1, sp2 - sp - 1);
    auto qm = target.find('?');
    std::string out = redact_path(target.substr(0, qm));
    if (qm != std::string::npos) {
        out += '?';
        bool first = true;
        for (const auto& part : util::split(target.substr(qm + 1), '&')) {
            if (!first)
                out += '&';
            first = false;
            auto eq = part.find('=');
            out += util::redact(part.substr(0, eq));
            if (eq != std::string::npos) {
                std::string value = part.substr(eq + 1);
                out += "=" + (is_identifier(value) || value.empty() ? value : std::string("*"));
            }
        }
    }
    return masked.substr(0, sp + 1) + out + masked.substr(sp2);
}

// An absolute URL as shown: its origin, then its target as show_start() has it.
std::string show_url(const std::string& url, const Masker& masker) {
    auto scheme_end = url.find("://");
    if (scheme_end == std::string::npos)
        return util::redact(masker.mask(url));
    auto path_start = url.find('/', scheme_end + 3);
    if (path_start == std::string::npos)
        return util::redact(masker.mask(url));
    std::string line = show_start("GET " + url.substr(path_start) + " HTTP/1.1", masker);
    return util::redact(masker.mask(url.substr(0, path_start))) + line.substr(4, line.size() - 4 - 9);
}

Shown show(const Message& m, const Masker& masker, std::size_t max_body_bytes, bool& withheld,
           const std::string& refused = {}) {
    Shown s;
    s.present = m.present;
    if (!m.present)
        return s;
    s.start = show_start(m.start, masker);
    for (const auto& h : m.headers) {
        if (is_credential(h.name))
            s.headers.push_back({h.name, k_hidden});
        else if (!refused.empty() && !is_plain_header(h.name))
            s.headers.push_back({h.name, "[not shown: the request was refused]"});
        else
            s.headers.push_back({h.name, util::redact(masker.mask(h.value))});
    }
    s.body_bytes = m.body_bytes;
    if (!refused.empty() && m.withheld.empty() && !m.body.empty()) {
        s.note = "not shown: vaultfwd refused the request (" + refused +
                 ") before revealing anything, so no token stands for what its body may hold";
        withheld = true;
        return s;
    }
    if (!m.withheld.empty()) {
        s.note = m.withheld;
        withheld = true;
        return s;
    }
    if (m.streamed && !m.ended) {
        // Read partly (an early answer, a client gone): a cut may fall inside a value.
        s.note = "not kept: the body was not read to its end";
        withheld = true;
        return s;
    }
    if (m.body.empty())
        return s;
    // A body that cannot be scanned for values is not shown at all (fail closed).
    if (auto enc = http::find(m.headers, "content-encoding"); enc && util::to_lower(util::trim(*enc)) != "identity") {
        s.note = "not shown: a " + std::string(util::trim(*enc)) + "-encoded body cannot be scanned for vault values (" +
                 std::to_string(m.body.size()) + " bytes)";
        withheld = true;
        return s;
    }
    if (!is_utf8(m.body)) {
        s.note = "not shown: the body is not UTF-8 text (" + std::to_string(m.body.size()) + " bytes)";
        withheld = true;
        return s;
    }
    // Masked whole, then cut: a cut never splits a value.
    std::string masked = masker.mask(m.body);
    if (masked.size() > max_body_bytes) {
        std::size_t keep = utf8_cut(masked, max_body_bytes);
        s.note = "cut: the first " + std::to_string(keep) + " of " + std::to_string(masked.size()) +
                 " bytes (inspector.max_body_bytes)";
        masked.resize(keep);
    }
    s.body = std::move(masked);
    return s;
}

std::string iso_time(std::int64_t ms) {
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[64];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
    return out;
}

json headers_json(const http::Headers& headers) {
    json out = json::array();
    for (const auto& h : headers)
        out.push_back(json::array({h.name, h.value}));
    return out;
}

json message_json(const Shown& m) {
    if (!m.present)
        return nullptr;
    return json{{"start", m.start},
                {"headers", headers_json(m.headers)},
                {"body", m.body},
                {"body_bytes", m.body_bytes},
                {"note", m.note}};
}

json fields_json(const Fields& f) {
    return json{{"json", f.json_paths}, {"form", f.form_fields}, {"headers", f.headers}};
}

void json_leaves(const json& j, const std::string& path, std::vector<std::string>& out) {
    if (out.size() >= 500)
        return;
    if (j.is_object()) {
        for (auto it = j.begin(); it != j.end(); ++it) {
            const std::string& k = it.key();
            bool plain = !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
            }) && !std::isdigit(static_cast<unsigned char>(k[0]));
            json_leaves(*it, plain ? path + "." + k : path + "[" + json(k).dump() + "]", out);
        }
    } else if (j.is_array()) {
        for (std::size_t i = 0; i < j.size(); ++i)
            json_leaves(j[i], path + "[" + std::to_string(i) + "]", out);
    } else {
        out.push_back(path);
    }
}

std::string status_line_text(int status) { return std::string(http::status_text(status)); }

} // namespace

Record make_record(Capture& capture, const Facts& f, std::size_t max_body_bytes) {
    Masker masker(capture.secrets->pairs());
    Record r;
    r.time_ms = f.time_ms;
    r.listener = f.listener;
    r.dialect = f.dialect;
    r.method = f.method;
    r.route = f.route;
    r.error_code = f.error_code;
    r.principal = f.principal;
    r.access_reason = util::redact(masker.mask(f.access_reason));
    r.status = f.status;
    r.duration_ms = f.duration_ms;
    r.tokens = f.tokens;
    r.revealed = f.revealed;
    r.redacted = f.redacted;
    r.path = redact_path(masker.mask(f.path));
    r.host = masker.mask(f.upstream_host);
    if (r.host.empty() && !f.tunnel_host.empty())
        r.host = f.tunnel_host + ":" + std::to_string(f.tunnel_port);
    if (r.host.empty())
        if (auto h = http::find(capture.client_request.headers, "host"))
            r.host = masker.mask(*h);
    r.host = util::redact(r.host);
    r.upstream_url = show_url(capture.upstream_url, masker);
    r.upstream_error = capture.upstream_error;
    std::lock_guard lock(capture.mutex);
    // Refused by vaultfwd before any upstream call: the body may hold values in clear that no
    // phase recorded (a token that failed next to them): withheld.
    const std::string refused =
        !f.error_code.empty() && !capture.upstream_request.present ? f.error_code : std::string();
    r.client_request = show(capture.client_request, masker, max_body_bytes, r.withheld, refused);
    if (std::string why = capture.secrets->request_body_withheld(); !why.empty() && r.client_request.note.empty() &&
        !r.client_request.body.empty()) {
        r.client_request.body.clear();
        r.client_request.note = "not shown: " + why;
        r.withheld = true;
    }
    r.upstream_request = show(capture.upstream_request, masker, max_body_bytes, r.withheld);
    r.upstream_response = show(capture.upstream_response, masker, max_body_bytes, r.withheld);
    r.client_response = show(capture.client_response, masker, max_body_bytes, r.withheld);
    if (capture.upstream_response.present) {
        // "HTTP/1.1 200 OK": the status the upstream gave.
        const auto& st = capture.upstream_response.start;
        auto sp = st.find(' ');
        if (sp != std::string::npos)
            r.upstream_status = std::atoi(st.c_str() + sp + 1);
    }
    std::set<std::string> masks;
    for (const auto& [value, token] : capture.secrets->pairs())
        masks.insert(token);
    r.masks.assign(masks.begin(), masks.end());
    r.filters = capture.secrets->filters();

    // The re-send: the client's request masked, its credentials as they were.
    const Message& cr = capture.client_request;
    if (cr.present) {
        auto sp = cr.start.find(' ');
        auto sp2 = cr.start.rfind(' ');
        r.resend.method = cr.start.substr(0, sp);
        if (sp != std::string::npos && sp2 > sp)
            r.resend.target = masker.mask(cr.start.substr(sp + 1, sp2 - sp - 1));
        for (const auto& h : cr.headers)
            r.resend.headers.push_back({h.name, is_credential(h.name) ? h.value : masker.mask(h.value)});
        r.resend.body_kept = cr.withheld.empty() && r.client_request.note.empty();
        r.resend.body = r.resend.body_kept ? r.client_request.body : std::string();
        r.resend.shown_target = r.client_request.start.substr(0, r.client_request.start.rfind(' '));
        r.resend.shown_target = r.resend.shown_target.substr(r.resend.shown_target.find(' ') + 1);
    }
    r.resend.tunnel_host = f.tunnel_host;
    r.resend.tunnel_port = f.tunnel_port;
    r.resend.tunnel_tls = f.tunnel_tls;
    r.resend.tunnel_principal = f.tunnel_principal;
    return r;
}

json row_json(const Record& r) {
    return json{{"id", r.id},
                {"time", iso_time(r.time_ms)},
                {"time_ms", r.time_ms},
                {"listener", r.listener},
                {"dialect", r.dialect},
                {"method", r.method},
                {"host", r.host},
                {"path", r.path},
                {"route", r.route},
                {"status", r.status},
                {"upstream_status", r.upstream_status},
                {"error_code", r.error_code},
                {"duration_ms", r.duration_ms},
                {"tokens", r.tokens},
                {"revealed", r.revealed},
                {"redacted", r.redacted},
                {"masks", r.masks},
                {"filters", r.filters},
                {"withheld", r.withheld},
                {"principal", r.principal},
                {"access_reason", r.access_reason}};
}

json detail_json(const Record& r) {
    json j = row_json(r);
    j["upstream_url"] = r.upstream_url;
    j["upstream_error"] = r.upstream_error;
    j["client_request"] = message_json(r.client_request);
    j["upstream_request"] = message_json(r.upstream_request);
    j["upstream_response"] = message_json(r.upstream_response);
    j["client_response"] = message_json(r.client_response);
    j["can_make_route"] = r.listener == "proxy" || r.listener == "inbound";
    j["can_resend"] = r.resend.body_kept && !r.resend.method.empty();
    j["fields"] = json{{"request", fields_json(fields_of(r.client_request))},
                       {"response", fields_json(fields_of(r.upstream_response))}};
    return j;
}

Fields fields_of(const Shown& m) {
    Fields f;
    if (!m.present)
        return f;
    for (const auto& h : m.headers) {
        std::string lower = util::to_lower(h.name);
        if (std::find(f.headers.begin(), f.headers.end(), lower) == f.headers.end() && !is_credential(lower) &&
            !http::is_hop_by_hop(lower))
            f.headers.push_back(lower);
    }
    if (m.body.empty() || !m.note.empty())
        return f;
    std::string type = util::to_lower(http::find(m.headers, "content-type").value_or(""));
    if (type.find("json") != std::string::npos || (!m.body.empty() && (m.body[0] == '{' || m.body[0] == '['))) {
        json doc = json::parse(m.body, nullptr, false);
        if (!doc.is_discarded())
            json_leaves(doc, "$", f.json_paths);
    } else if (type.find("x-www-form-urlencoded") != std::string::npos) {
        for (const auto& part : util::split(m.body, '&')) {
            std::string name = part.substr(0, part.find('='));
            if (!name.empty() && std::find(f.form_fields.begin(), f.form_fields.end(), name) == f.form_fields.end())
                f.form_fields.push_back(name);
        }
    }
    return f;
}

json har(const std::vector<const Record*>& records, const std::string& origin_api) {
    json entries = json::array();
    for (const Record* r : records) {
        const Shown& req = r->client_request;
        const Shown& res = r->client_response;
        if (!req.present)
            continue;
        std::string url = r->resend.shown_target;
        if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
            if (r->listener == "api")
                url = origin_api + url;
            else if (!r->resend.tunnel_host.empty())
                url = std::string(r->resend.tunnel_tls ? "https://" : "http://") + r->resend.tunnel_host + ":" +
                      std::to_string(r->resend.tunnel_port) + url;
            else
                url = "http://" + http::find(req.headers, "host").value_or("localhost") + url;
        }
        json request{{"method", r->resend.method},
                     {"url", url},
                     {"httpVersion", "HTTP/1.1"},
                     {"headers", json::array()},
                     {"queryString", json::array()},
                     {"cookies", json::array()},
                     {"headersSize", -1},
                     {"bodySize", req.body_bytes}};
        for (const auto& h : req.headers)
            request["headers"].push_back({{"name", h.name}, {"value", h.value}});
        if (!req.body.empty() || req.body_bytes == 0) {
            if (req.body_bytes > 0)
                request["postData"] = {{"mimeType", http::find(req.headers, "content-type").value_or("")},
                                       {"text", req.body}};
        }
        if (!req.note.empty())
            request["comment"] = "body " + req.note;
        json response{{"status", res.present ? r->status : 0},
                      {"statusText", res.present ? status_line_text(r->status) : ""},
                      {"httpVersion", "HTTP/1.1"},
                      {"headers", json::array()},
                      {"cookies", json::array()},
                      {"content",
                       {{"size", res.body_bytes},
                        {"mimeType", http::find(res.headers, "content-type").value_or("")},
                        {"text", res.body}}},
                      {"redirectURL", ""},
                      {"headersSize", -1},
                      {"bodySize", res.body_bytes}};
        for (const auto& h : res.headers)
            response["headers"].push_back({{"name", h.name}, {"value", h.value}});
        if (!res.note.empty())
            response["comment"] = "body " + res.note;
        entries.push_back({{"startedDateTime", iso_time(r->time_ms - static_cast<std::int64_t>(r->duration_ms))},
                           {"time", r->duration_ms},
                           {"request", std::move(request)},
                           {"response", std::move(response)},
                           {"cache", json::object()},
                           {"timings", {{"send", 0}, {"wait", r->duration_ms}, {"receive", 0}}},
                           {"comment", r->dialect + " exchange " + std::to_string(r->id) + " via the " +
                                           r->listener + " listener, values masked"}});
    }
    return json{{"log",
                 {{"version", "1.2"},
                  {"creator", {{"name", "vaultfwd inspector"}, {"version", "1"}}},
                  {"entries", std::move(entries)}}}};
}

} // namespace vaultfwd::inspector
