// SPDX-License-Identifier: Apache-2.0
#include "core/replay/recording.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "core/http/parser.hpp"
#include "core/util/fs.hpp"
#include "core/util/json_text.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::replay {

namespace {

using nlohmann::json;

// Quoted for a message, cut short: recorded text may be long, and is never a vault value.
std::string quote(std::string_view s) {
    constexpr std::size_t k_max = 60;
    std::string out = "\"";
    for (char c : s.substr(0, k_max))
        out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
    return out + (s.size() > k_max ? "…\"" : "\"");
}

bool is_dropped_header(std::string_view name) {
    return (!name.empty() && name.front() == ':') || util::iequals(name, "content-length") ||
           util::iequals(name, "transfer-encoding");
}

// Names each recording of one file, keeping the names unique within it.
class Namer {
  public:
    explicit Namer(const std::string& file) : m_stem(std::filesystem::path(file).stem().string()) {
        if (m_stem.empty())
            m_stem = "request";
    }
    std::string name(std::size_t index, std::string_view comment) {
        std::string by_index = m_stem + "-" + std::to_string(index);
        std::string s = slug(comment);
        std::string candidate = s.empty() ? by_index : m_stem + "-" + s;
        if (m_used.count(candidate))
            candidate = by_index;
        while (m_used.count(candidate))
            candidate += "-" + std::to_string(index);
        m_used.insert(candidate);
        return candidate;
    }

  private:
    std::string m_stem;
    std::set<std::string> m_used;
};

std::string form_encode(const json& params, const std::string& where, Error& error) {
    std::string body;
    for (std::size_t j = 0; j < params.size(); ++j) {
        const json& p = params[j];
        std::string at = where + ": request.postData.params[" + std::to_string(j) + "]";
        if (!p.is_object() || !p.contains("name") || !p["name"].is_string()) {
            error = make_error("replay.bad_har", at + ": name is missing or not a string");
            return {};
        }
        if (p.contains("fileName")) {
            error = make_error("replay.bad_har",
                               at + ": file uploads cannot be replayed (record the body as text)");
            return {};
        }
        std::string value;
        if (p.contains("value")) {
            if (!p["value"].is_string()) {
                error = make_error("replay.bad_har", at + ": value is not a string");
                return {};
            }
            value = p["value"].get<std::string>();
        }
        if (!body.empty())
            body += '&';
        body +=
            util::percent_encode(p["name"].get<std::string>()) + "=" + util::percent_encode(value);
    }
    return body;
}

std::string entry_where(std::size_t i) {
    return "entry " + std::to_string(i + 1) + " (log.entries[" + std::to_string(i) + "])";
}

// The scheme of an entry's request.url when it is a URL of another scheme than http(s)
// ("data", "blob", "chrome-extension"), else "" (http(s), a path, or malformed: har_entry
// reports those).
std::string other_scheme(const json& entry) {
    if (!entry.is_object() || !entry.contains("request") || !entry["request"].is_object())
        return {};
    const json& req = entry["request"];
    if (!req.contains("url") || !req["url"].is_string())
        return {};
    const auto& url = req["url"].get_ref<const std::string&>();
    // RFC 3986 scheme: a letter, then letters, digits, '+', '-', '.'; up to the first ':'.
    auto colon = url.find(':');
    if (colon == std::string::npos || colon == 0 ||
        !std::isalpha(static_cast<unsigned char>(url[0])))
        return {};
    for (std::size_t k = 0; k < colon; ++k) {
        unsigned char c = static_cast<unsigned char>(url[k]);
        if (!std::isalnum(c) && c != '+' && c != '-' && c != '.')
            return {};
    }
    std::string scheme = util::to_lower(std::string_view(url).substr(0, colon));
    return scheme == "http" || scheme == "https" ? std::string() : scheme;
}

Result<Recording> har_entry(const json& entry, std::size_t i, const std::string& file) {
    const std::string where = entry_where(i);
    auto bad = [&](const std::string& what) {
        return make_error("replay.bad_har", where + ": " + what);
    };
    if (!entry.is_object())
        return bad("is not an object");
    auto req_it = entry.find("request");
    if (req_it == entry.end() || !req_it->is_object())
        return bad("request is missing or not an object");
    const json& req = *req_it;

    Recording rec;
    rec.file = file;
    rec.index = i + 1;
    auto method = req.find("method");
    if (method == req.end() || !method->is_string())
        return bad("request.method is missing or not a string");
    rec.method = method->get<std::string>();
    if (!http::is_token(rec.method))
        return bad("request.method " + quote(rec.method) + " is not an HTTP method");
    auto url = req.find("url");
    if (url == req.end() || !url->is_string())
        return bad("request.url is missing or not a string");
    rec.target = url->get<std::string>();
    auto parts = split_target(rec.target);
    if (!parts)
        return bad("request.url: " + parts.error().message);
    rec.path = parts->first;
    rec.query = parts->second;

    if (auto headers = req.find("headers"); headers != req.end()) {
        if (!headers->is_array())
            return bad("request.headers is not an array");
        for (std::size_t j = 0; j < headers->size(); ++j) {
            const json& h = (*headers)[j];
            std::string at = "request.headers[" + std::to_string(j) + "]";
            if (!h.is_object() || !h.contains("name") || !h.contains("value") ||
                !h["name"].is_string() || !h["value"].is_string())
                return bad(at + ": name and value must be strings");
            std::string name = h["name"].get<std::string>();
            std::string value = h["value"].get<std::string>();
            if (is_dropped_header(name))
                continue;
            if (!http::is_token(name))
                return bad(at + ": " + quote(name) + " is not a valid header name");
            if (!http::is_safe_value(value))
                return bad(at + ": the value of " + name + " holds CR, LF or NUL");
            rec.headers.push_back({std::move(name), std::move(value)});
        }
    }

    if (auto post = req.find("postData"); post != req.end() && !post->is_null()) {
        if (!post->is_object())
            return bad("request.postData is not an object");
        auto text = post->find("text");
        auto params = post->find("params");
        if (text != post->end() && !text->is_string())
            return bad("request.postData.text is not a string");
        if (params != post->end() && !params->is_array())
            return bad("request.postData.params is not an array");
        // Browsers export both for forms; text is the body as sent.
        if (text != post->end() && !(text->get_ref<const std::string&>().empty() &&
                                     params != post->end() && !params->empty())) {
            rec.body = text->get<std::string>();
        } else if (params != post->end()) {
            Error error;
            rec.body = form_encode(*params, where, error);
            if (!error.code.empty())
                return error;
        }
        if (auto mime = post->find("mimeType"); mime != post->end()) {
            if (!mime->is_string())
                return bad("request.postData.mimeType is not a string");
            auto m = mime->get<std::string>();
            if (!m.empty() && !http::find(rec.headers, "content-type")) {
                if (!http::is_safe_value(m))
                    return bad("request.postData.mimeType holds CR, LF or NUL");
                rec.headers.push_back({"Content-Type", m});
            }
        }
    }
    return rec;
}

// ---- raw HTTP/1.1 ----

Error raw_error(int line, const std::string& message) {
    return make_error("replay.bad_raw", message, line);
}

// A raw file read with THE HTTP parser, message after message. Files are typed by people, so
// each head's lines may end in LF: they are made CRLF before the (strict) parser sees the head.
// Bodies are framed by HTTP/1.1 (Content-Length or chunked, whose bytes are taken as they are);
// a request with neither has no body, and what follows is the next request.
class RawReader {
  public:
    RawReader(std::string_view text, const std::string& file) : m_text(text), m_file(file) {
        m_limits.require_length_for_body_methods = false;
        // A local file the user chose: its size is the only bound.
        m_limits.max_head_bytes = m_limits.max_header_line = 2 * text.size() + 8; // LF → CRLF
        m_limits.max_body_bytes = std::numeric_limits<std::uint64_t>::max();
    }

    // Skips blank (whitespace-only) lines; false at the end of the text.
    bool skip_blank_lines() {
        while (m_pos < m_text.size()) {
            auto nl = m_text.find('\n', m_pos);
            auto line = m_text.substr(m_pos, nl == std::string_view::npos ? std::string_view::npos : nl - m_pos);
            if (!util::trim(line).empty())
                return true;
            m_pos = nl == std::string_view::npos ? m_text.size() : nl + 1;
            ++m_line;
        }
        return false;
    }

    Result<Recording> next(std::size_t index) {
        Recording rec;
        rec.file = m_file;
        rec.index = index;
        rec.line = m_line;
        // The head up to its blank line (or the end of the file), line ends made CRLF.
        std::string head;
        int lines = 0;
        while (m_pos < m_text.size()) {
            auto nl = m_text.find('\n', m_pos);
            std::string_view line = m_text.substr(m_pos, nl == std::string_view::npos ? std::string_view::npos : nl - m_pos);
            m_pos = nl == std::string_view::npos ? m_text.size() : nl + 1;
            ++lines;
            if (!line.empty() && line.back() == '\r')
                line.remove_suffix(1);
            head.append(line);
            head += "\r\n";
            if (line.empty())
                break;
        }
        if (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0)
            head += "\r\n"; // the file ends with the head
        http::Parser parser(http::Parser::Kind::request, m_limits);
        std::size_t used = 0;
        if (parser.next(head, used) != http::Parser::Event::head)
            return parse_error(parser.error(), rec.line);
        m_line += lines;
        const http::Head& h = parser.head();
        rec.method = h.method;
        rec.target = h.target;
        auto split = split_target(rec.target);
        if (!split)
            return raw_error(rec.line, split.error().message);
        rec.path = split->first;
        rec.query = split->second;
        for (const auto& field : h.headers)
            if (!is_dropped_header(field.name))
                rec.headers.push_back(field);

        std::string_view rest = m_text.substr(m_pos);
        while (true) {
            auto event = parser.next(rest, used);
            take(rest.substr(0, used));
            rest.remove_prefix(used);
            if (event == http::Parser::Event::body)
                rec.body.append(parser.body_piece());
            else if (event == http::Parser::Event::message_end)
                return rec;
            else if (event == http::Parser::Event::need_more)
                return parser.finish() == http::Parser::Event::message_end ? Result<Recording>(rec) : cut_short(h, rec);
            else if (event == http::Parser::Event::error)
                return raw_error(m_line, parser.error().message + chunk_hint(parser.error()));
        }
    }

  private:
    // Counts the lines of the bytes read from the file.
    void take(std::string_view bytes) {
        m_pos += bytes.size();
        m_line += static_cast<int>(std::count(bytes.begin(), bytes.end(), '\n'));
    }

    Error parse_error(const http::ParseError& e, int first_line) const {
        return raw_error(e.line > 0 ? first_line + e.line - 1 : first_line, e.message);
    }

    static std::string chunk_hint(const http::ParseError& e) {
        return e.message.find("bare LF") != std::string::npos
                   ? " (a chunked body's framing lines need CRLF line ends in a raw file)"
                   : "";
    }

    Error cut_short(const http::Head& h, const Recording& rec) const {
        if (h.body == http::BodyKind::length) {
            int line = rec.line;
            for (std::size_t i = 0; i < h.headers.size(); ++i)
                if (util::iequals(h.headers[i].name, "content-length"))
                    line = rec.line + 1 + static_cast<int>(i);
            return raw_error(line, "Content-Length is " + std::to_string(h.content_length) + " but only " +
                                       std::to_string(rec.body.size()) + " bytes follow the headers");
        }
        return raw_error(m_line, "the chunked body ends before its last (zero-size) chunk");
    }

    std::string_view m_text;
    const std::string& m_file;
    http::ParseLimits m_limits;
    std::size_t m_pos = 0;
    int m_line = 1;
};

} // namespace

std::string slug(std::string_view text) {
    std::string out;
    for (char c : text) {
        bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
        if (keep)
            out += c;
        else if (!out.empty() && out.back() != '-')
            out += '-';
        if (out.size() >= 64)
            break;
    }
    while (!out.empty() && (out.back() == '-' || out.back() == '.'))
        out.pop_back();
    while (!out.empty() && (out.front() == '-' || out.front() == '.'))
        out.erase(out.begin());
    return out;
}

Result<std::pair<std::string, std::string>> split_target(std::string_view target) {
    for (char c : target)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return make_error("replay.bad_target", "the request target " + quote(target) +
                                                       " holds spaces or control characters");
    std::string_view rest;
    if (util::starts_with_icase(target, "http://") || util::starts_with_icase(target, "https://")) {
        auto after = target.substr(target.find("://") + 3);
        auto end = after.find_first_of("/?#");
        if (after.substr(0, end).empty())
            return make_error("replay.bad_target", "the URL " + quote(target) + " has no host");
        rest = end == std::string_view::npos ? std::string_view() : after.substr(end);
    } else if (!target.empty() && target.front() == '/') {
        rest = target;
    } else {
        return make_error("replay.bad_target", "the request target " + quote(target) +
                                                   " must be an absolute http(s) URL or a path "
                                                   "starting with '/'");
    }
    rest = rest.substr(0, rest.find('#'));
    auto q = rest.find('?');
    std::string path(rest.substr(0, q));
    if (path.empty())
        path = "/";
    std::string query =
        q == std::string_view::npos ? std::string() : std::string(rest.substr(q + 1));
    return std::make_pair(path, query);
}

Result<std::vector<Recording>> parse_har(std::string_view text, const std::string& file,
                                         std::vector<Skipped>* skipped) {
    auto parsed = util::parse_json(text, "replay.bad_json");
    if (!parsed)
        return parsed.error();
    const json& doc = *parsed;
    if (!doc.is_object() || !doc.contains("log") || !doc["log"].is_object())
        return make_error("replay.bad_har", "not a HAR file: there is no top-level \"log\" object");
    const json& log = doc["log"];
    if (!log.contains("entries") || !log["entries"].is_array())
        return make_error("replay.bad_har",
                          "not a HAR file: log.entries is missing or not an array");
    const json& entries = log["entries"];
    if (entries.empty())
        return make_error("replay.empty", "log.entries is empty: there is nothing to replay");
    std::vector<Recording> out;
    Namer namer(file);
    std::size_t not_http = 0;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (auto scheme = other_scheme(entries[i]); !scheme.empty()) {
            ++not_http;
            if (skipped)
                skipped->push_back({file, i + 1, entry_where(i), scheme});
            continue;
        }
        auto rec = har_entry(entries[i], i, file);
        if (!rec)
            return rec.error();
        std::string comment;
        if (entries[i].contains("comment") && entries[i]["comment"].is_string())
            comment = entries[i]["comment"].get<std::string>();
        rec->name = namer.name(rec->index, comment);
        out.push_back(std::move(*rec));
    }
    if (out.empty())
        return make_error("replay.empty", "none of the " + std::to_string(not_http) +
                                              " entries of log.entries is an http(s) request: "
                                              "there is nothing to replay");
    return out;
}

Result<std::vector<Recording>> parse_raw(std::string_view text, const std::string& file) {
    if (text.substr(0, 3) == "\xEF\xBB\xBF")
        text.remove_prefix(3);
    RawReader reader(text, file);
    std::vector<Recording> out;
    Namer namer(file);
    while (reader.skip_blank_lines()) {
        auto rec = reader.next(out.size() + 1);
        if (!rec)
            return rec.error();
        rec->name = namer.name(rec->index, {});
        out.push_back(std::move(*rec));
    }
    if (out.empty())
        return make_error("replay.empty", "the file holds no HTTP request");
    return out;
}

Result<std::vector<Recording>> load(const std::filesystem::path& path,
                                    std::vector<Skipped>* skipped) {
    auto text = util::read_file(path);
    if (!text)
        return make_error("replay.read", text.error().message);
    std::string_view t = *text;
    if (t.substr(0, 3) == "\xEF\xBB\xBF")
        t.remove_prefix(3);
    auto first = t.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && t[first] == '{')
        return parse_har(t, path.string(), skipped);
    return parse_raw(*text, path.string());
}

} // namespace vaultfwd::replay
