// SPDX-License-Identifier: Apache-2.0
#include "core/replay/recording.hpp"

#include <set>

#include <nlohmann/json.hpp>

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

Result<Recording> har_entry(const json& entry, std::size_t i, const std::string& file) {
    const std::string where =
        "entry " + std::to_string(i + 1) + " (log.entries[" + std::to_string(i) + "])";
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

class Reader {
  public:
    explicit Reader(std::string_view text) : m_text(text) {}
    bool at_end() const { return m_pos >= m_text.size(); }
    int line() const { return m_line; }
    std::size_t pos() const { return m_pos; }
    std::string_view rest() const { return m_text.substr(m_pos); }

    // The next line without its line end (LF or CRLF); `ended` tells whether one was there.
    std::string_view next_line(bool* ended = nullptr) {
        auto nl = m_text.find('\n', m_pos);
        std::string_view line;
        if (nl == std::string_view::npos) {
            line = m_text.substr(m_pos);
            m_pos = m_text.size();
        } else {
            line = m_text.substr(m_pos, nl - m_pos);
            m_pos = nl + 1;
        }
        if (ended)
            *ended = nl != std::string_view::npos;
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        ++m_line;
        return line;
    }
    // Takes `n` bytes, counting the lines they span.
    std::string_view take(std::size_t n) {
        auto out = m_text.substr(m_pos, n);
        for (char c : out)
            m_line += c == '\n';
        m_pos += out.size();
        return out;
    }
    // Skips blank (whitespace-only) lines.
    void skip_blank_lines() {
        while (!at_end()) {
            auto nl = m_text.find('\n', m_pos);
            auto line = m_text.substr(m_pos, nl == std::string_view::npos ? std::string_view::npos
                                                                          : nl - m_pos);
            if (!util::trim(line).empty())
                return;
            next_line();
        }
    }

  private:
    std::string_view m_text;
    std::size_t m_pos = 0;
    int m_line = 1;
};

Error raw_error(int line, const std::string& message) {
    return make_error("replay.bad_raw", message, line);
}

bool is_http_version(std::string_view v) {
    if (v.size() < 6 || v.substr(0, 5) != "HTTP/")
        return false;
    v.remove_prefix(5);
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (v.size() == 1)
        return digit(v[0]);
    return v.size() == 3 && digit(v[0]) && v[1] == '.' && digit(v[2]);
}

Result<std::string> chunked_body(Reader& r) {
    std::string body;
    while (true) {
        int at = r.line();
        if (r.at_end())
            return raw_error(at, "the chunked body ends before its last (zero-size) chunk");
        auto size_line = r.next_line();
        auto hex = util::trim(size_line.substr(0, size_line.find(';')));
        if (hex.empty() || hex.size() > 8 ||
            hex.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos)
            return raw_error(at, "chunk size " + quote(size_line) + " is not a hex number");
        std::size_t size = std::stoul(std::string(hex), nullptr, 16);
        if (size == 0) {
            while (!r.at_end() && !r.next_line().empty()) {
                // Trailer fields carry nothing replay uses.
            }
            return body;
        }
        if (r.rest().size() < size)
            return raw_error(at, "chunk of " + std::to_string(size) + " bytes, but only " +
                                     std::to_string(r.rest().size()) + " follow");
        body.append(r.take(size));
        int end_line = r.line();
        bool ended = false;
        if (!r.next_line(&ended).empty() || !ended)
            return raw_error(end_line, "chunk data is not followed by a line end");
    }
}

Result<Recording> raw_message(Reader& r, std::size_t index, const std::string& file, bool& more) {
    Recording rec;
    rec.file = file;
    rec.index = index;
    rec.line = r.line();
    auto request_line = r.next_line();
    std::vector<std::string> parts;
    for (auto& p : util::split(request_line, ' '))
        if (!p.empty())
            parts.push_back(p);
    if (parts.size() != 3 || !is_http_version(parts[2]))
        return raw_error(rec.line, "the request line must be METHOD TARGET HTTP/1.1, got " +
                                       quote(request_line));
    rec.method = parts[0];
    if (!http::is_token(rec.method))
        return raw_error(rec.line, quote(rec.method) + " is not an HTTP method");
    rec.target = parts[1];
    auto split = split_target(rec.target);
    if (!split)
        return raw_error(rec.line, split.error().message);
    rec.path = split->first;
    rec.query = split->second;

    http::Headers all;
    int content_length_line = 0;
    while (!r.at_end()) {
        int at = r.line();
        auto line = r.next_line();
        if (line.empty())
            break;
        if (line.front() == ' ' || line.front() == '\t')
            return raw_error(at, "a header line starts with whitespace (folded header lines are "
                                 "not supported: join it to the line above)");
        if (line.find('\r') != std::string_view::npos || line.find('\0') != std::string_view::npos)
            return raw_error(at, "a header line holds a bare CR or a NUL byte");
        auto colon = line.find(':');
        if (colon == std::string_view::npos)
            return raw_error(at, "a header line has no ':' (expected \"Name: value\", then an "
                                 "empty line before the body)");
        std::string name(line.substr(0, colon));
        if (!http::is_token(name))
            return raw_error(at, "header name " + quote(name) + " is not a valid token");
        if (util::iequals(name, "content-length"))
            content_length_line = at;
        all.push_back({name, std::string(util::trim(line.substr(colon + 1)))});
    }

    auto te = http::find(all, "transfer-encoding");
    auto lengths = http::find_all(all, "content-length");
    more = false;
    if (te && !lengths.empty())
        return raw_error(content_length_line,
                         "both Transfer-Encoding and Content-Length are given: keep one");
    if (te) {
        if (!util::iequals(util::trim(*te), "chunked"))
            return raw_error(rec.line, "Transfer-Encoding " + quote(*te) +
                                           " is not supported (only chunked)");
        auto body = chunked_body(r);
        if (!body)
            return body.error();
        rec.body = std::move(*body);
        more = true;
    } else if (!lengths.empty()) {
        std::string first(util::trim(lengths.front()));
        for (const auto& l : lengths)
            if (util::trim(l) != first)
                return raw_error(content_length_line, "Content-Length is given twice with "
                                                      "different values");
        if (first.empty() || first.size() > 12 ||
            first.find_first_not_of("0123456789") != std::string::npos)
            return raw_error(content_length_line,
                             "Content-Length " + quote(first) + " is not a number");
        std::size_t n = std::stoull(first);
        if (r.rest().size() < n)
            return raw_error(content_length_line,
                             "Content-Length is " + std::to_string(n) + " but only " +
                                 std::to_string(r.rest().size()) + " bytes follow the headers");
        rec.body = std::string(r.take(n));
        more = true;
    } else {
        std::string_view rest = r.rest();
        if (rest.size() >= 2 && rest.substr(rest.size() - 2) == "\r\n")
            rest.remove_suffix(2);
        else if (!rest.empty() && rest.back() == '\n')
            rest.remove_suffix(1);
        rec.body = std::string(rest);
        r.take(r.rest().size());
    }
    for (auto& h : all)
        if (!is_dropped_header(h.name))
            rec.headers.push_back(std::move(h));
    return rec;
}

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

Result<std::vector<Recording>> parse_har(std::string_view text, const std::string& file) {
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
    for (std::size_t i = 0; i < entries.size(); ++i) {
        auto rec = har_entry(entries[i], i, file);
        if (!rec)
            return rec.error();
        std::string comment;
        if (entries[i].contains("comment") && entries[i]["comment"].is_string())
            comment = entries[i]["comment"].get<std::string>();
        rec->name = namer.name(rec->index, comment);
        out.push_back(std::move(*rec));
    }
    return out;
}

Result<std::vector<Recording>> parse_raw(std::string_view text, const std::string& file) {
    if (text.substr(0, 3) == "\xEF\xBB\xBF")
        text.remove_prefix(3);
    Reader r(text);
    std::vector<Recording> out;
    Namer namer(file);
    while (true) {
        r.skip_blank_lines();
        if (r.at_end())
            break;
        bool more = false;
        auto rec = raw_message(r, out.size() + 1, file, more);
        if (!rec)
            return rec.error();
        rec->name = namer.name(rec->index, {});
        out.push_back(std::move(*rec));
        if (!more)
            break;
    }
    if (out.empty())
        return make_error("replay.empty", "the file holds no HTTP request");
    return out;
}

Result<std::vector<Recording>> load(const std::filesystem::path& path) {
    auto text = util::read_file(path);
    if (!text)
        return make_error("replay.read", text.error().message);
    std::string_view t = *text;
    if (t.substr(0, 3) == "\xEF\xBB\xBF")
        t.remove_prefix(3);
    auto first = t.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && t[first] == '{')
        return parse_har(t, path.string());
    return parse_raw(*text, path.string());
}

} // namespace vaultfwd::replay
