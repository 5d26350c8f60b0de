// SPDX-License-Identifier: Apache-2.0
#include "core/http/parser.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>

#include "core/util/hex.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::http {

namespace {

// A chunk-size line (size and extensions) longer than this is refused rather than buffered.
constexpr std::size_t k_max_chunk_line = 4096;

// Byte classes, one table lookup per byte.
enum : unsigned char { k_token = 1, k_value = 2, k_target = 4, k_qdtext = 8 };

constexpr std::array<unsigned char, 256> make_classes() {
    std::array<unsigned char, 256> t{};
    for (int c = 0; c < 256; ++c) {
        unsigned char bits = 0;
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool tchar = alnum || (c != 0 && std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                                             std::string_view::npos);
        if (tchar)
            bits |= k_token;
        // field-vchar / SP / HTAB / obs-text: no CTL but HTAB, no DEL.
        if (c == '\t' || (c >= 0x20 && c != 0x7f))
            bits |= k_value;
        // Request targets: visible ASCII only.
        if (c > 0x20 && c < 0x7f)
            bits |= k_target;
        // quoted-string text (RFC 9110 §5.6.4).
        if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80)
            bits |= k_qdtext;
        t[static_cast<std::size_t>(c)] = bits;
    }
    return t;
}

constexpr std::array<unsigned char, 256> k_classes = make_classes();

bool is(char c, unsigned char cls) { return (k_classes[static_cast<unsigned char>(c)] & cls) != 0; }

bool all(std::string_view s, unsigned char cls) {
    for (char c : s)
        if (!is(c, cls))
            return false;
    return true;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && is_ows(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back()))
        s.remove_suffix(1);
    return s;
}

// Calls f(element) for each non-empty element of a comma-separated list, OWS trimmed.
template <typename F> void for_each_element(std::string_view list, F&& f) {
    while (true) {
        auto comma = list.find(',');
        auto element = trim_ows(list.substr(0, comma));
        if (!element.empty())
            f(element);
        if (comma == std::string_view::npos)
            return;
        list.remove_prefix(comma + 1);
    }
}

// The next line of a head whose every line ends in CRLF (gather() made sure), without the CRLF.
std::string_view take_line(std::string_view text, std::size_t& pos) {
    const void* nl = std::memchr(text.data() + pos, '\n', text.size() - pos);
    std::size_t end = static_cast<const char*>(nl) - text.data();
    std::string_view line = text.substr(pos, end - 1 - pos);
    pos = end + 1;
    return line;
}

// The methods llhttp (Node's parser) knows in HTTP mode: RFC 9110's, WebDAV's, CalDAV's and the
// few others registered with IANA that clients send. Any other token is refused: a method
// nothing upstream knows is more likely a smuggling probe or a garbled stream than a request.
bool is_known_method(std::string_view m) {
    static constexpr std::string_view k_methods[] = {
        "GET",       "HEAD",      "POST",     "PUT",         "DELETE",     "CONNECT",  "OPTIONS",
        "TRACE",     "PATCH",     "COPY",     "LOCK",        "MKCOL",      "MOVE",     "PROPFIND",
        "PROPPATCH", "SEARCH",    "UNLOCK",   "BIND",        "REBIND",     "UNBIND",   "ACL",
        "REPORT",    "MKACTIVITY", "CHECKOUT", "MERGE",      "M-SEARCH",   "NOTIFY",   "SUBSCRIBE",
        "UNSUBSCRIBE", "PURGE",   "MKCALENDAR", "LINK",      "UNLINK",     "SOURCE",   "QUERY",
        "PRI"};
    for (auto k : k_methods)
        if (m == k)
            return true;
    return false;
}

std::string too_large_message(std::string_view what, std::string_view limit, std::uint64_t bytes) {
    return "the " + std::string(what) + " is larger than limits." + std::string(limit) + " (" +
           std::to_string(bytes) + " bytes)";
}

} // namespace

ParseError body_too_large(std::uint64_t limit, std::string target) {
    ParseError e;
    e.status = 413;
    e.code = "request.too_large";
    e.message = too_large_message("request body", "max_body_bytes", limit);
    e.target = std::move(target);
    return e;
}

Parser::Parser(Kind kind, ParseLimits limits) : m_kind(kind), m_limits(limits) {}

bool Parser::idle() const { return m_stage == Stage::start && m_line.empty(); }

void Parser::expect_response_to(std::string_view method) {
    m_head_request = method == "HEAD";
    m_connect_request = method == "CONNECT";
}

bool Parser::fail(int request_status, std::string message, std::string header) {
    m_stage = Stage::failed;
    m_error = ParseError{};
    if (m_kind == Kind::request) {
        m_error.status = request_status;
        switch (request_status) {
        case 411: m_error.code = "request.length_required"; break;
        case 413: m_error.code = "request.too_large"; break;
        case 431: m_error.code = "request.header_too_large"; break;
        default: m_error.code = "request.malformed"; break;
        }
        if (m_have_target)
            m_error.target = m_head.target;
    } else {
        m_error.status = 502;
        m_error.code = request_status == 413 || request_status == 431 ? "response.too_large" : "response.malformed";
    }
    m_error.message = std::move(message);
    m_error.header = std::move(header);
    m_error.line = m_line_no;
    return false;
}

Parser::Gather Parser::gather(std::string_view in, std::size_t& consumed, bool until_blank, std::size_t limit,
                              std::string_view& text) {
    // Works on `in` directly while nothing is buffered (the usual case: a whole head in one
    // read), else on m_line with `in` appended, never holding more than `limit` bytes.
    std::string_view buf = in;
    std::size_t base = 0;
    if (!m_line.empty()) {
        base = m_line.size();
        m_line.append(in.data(), std::min(in.size(), limit - std::min(limit, base)));
        buf = m_line;
    }
    std::string_view window = buf.substr(0, std::min(buf.size(), limit));
    std::size_t pos = m_scan;
    while (pos < window.size()) {
        const void* p = std::memchr(window.data() + pos, '\n', window.size() - pos);
        if (!p)
            break;
        std::size_t nl = static_cast<const char*>(p) - window.data();
        if (nl == 0 || window[nl - 1] != '\r') {
            m_line_no = 1 + static_cast<int>(std::count(window.begin(), window.begin() + static_cast<std::ptrdiff_t>(nl), '\n'));
            return Gather::bare_lf;
        }
        bool blank = nl == pos + 1;
        pos = nl + 1;
        if (!until_blank || blank) {
            text = buf.substr(0, pos);
            consumed = pos - base;
            m_scan = 0;
            return Gather::done;
        }
    }
    if (buf.size() >= limit)
        return Gather::too_long;
    m_scan = pos;
    if (m_line.empty())
        m_line.assign(in);
    consumed = in.size();
    return Gather::more;
}

Parser::Event Parser::next(std::string_view in, std::size_t& consumed) {
    consumed = 0;
    m_piece = {};
    auto take = [&](std::size_t n) {
        in.remove_prefix(n);
        consumed += n;
    };
    const std::string_view what = m_kind == Kind::request ? "request" : "response";
    while (true) {
        switch (m_stage) {
        case Stage::failed:
            return Event::error;
        case Stage::start: {
            if (m_line.empty()) {
                // Stray line ends between messages are dropped (RFC 9112 §2.2).
                std::size_t skip = 0;
                while (skip < in.size() && (in[skip] == '\r' || in[skip] == '\n'))
                    ++skip;
                take(skip);
                if (in.empty())
                    return Event::need_more;
                m_have_target = false;
            }
            std::size_t used = 0;
            std::string_view text;
            Gather g = gather(in, used, true, m_limits.max_head_bytes, text);
            take(used);
            if (g == Gather::more)
                return Event::need_more;
            if (g == Gather::bare_lf) {
                fail(400, "a line of the " + std::string(what) + " head ends in a bare LF (lines end in CRLF)");
                return Event::error;
            }
            if (g == Gather::too_long) {
                m_line_no = 0;
                fail(431, too_large_message(std::string(what) + " head", "max_header_bytes", m_limits.max_head_bytes));
                return Event::error;
            }
            bool ok = parse_head(text);
            m_line_no = 0;
            m_line.clear();
            if (!ok)
                return Event::error;
            m_stage = Stage::head_done;
            return Event::head;
        }
        case Stage::head_done:
            switch (m_head.body) {
            case BodyKind::none: m_stage = Stage::ended; break;
            case BodyKind::length:
                m_remaining = m_head.content_length;
                m_stage = m_remaining == 0 ? Stage::ended : Stage::length;
                break;
            case BodyKind::chunked: m_stage = Stage::chunk_line; break;
            case BodyKind::until_close: m_stage = Stage::until_close; break;
            }
            continue;
        case Stage::length:
        case Stage::chunk_data: {
            if (in.empty())
                return Event::need_more;
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), m_remaining));
            m_piece = in.substr(0, n);
            take(n);
            m_remaining -= n;
            if (m_remaining == 0)
                m_stage = m_stage == Stage::length ? Stage::ended : Stage::chunk_cr;
            return Event::body;
        }
        case Stage::until_close: {
            if (in.empty())
                return Event::need_more;
            m_body_total += in.size();
            if (m_body_total > m_limits.max_body_bytes) {
                fail(413, too_large_message(std::string(what) + " body", "max_body_bytes", m_limits.max_body_bytes));
                return Event::error;
            }
            m_piece = in;
            take(in.size());
            return Event::body;
        }
        case Stage::chunk_cr:
        case Stage::chunk_lf: {
            if (in.empty())
                return Event::need_more;
            bool cr = m_stage == Stage::chunk_cr;
            if (in.front() != (cr ? '\r' : '\n')) {
                fail(400, cr ? "a chunk is longer than its size says" : "a chunk's data is not followed by CRLF");
                return Event::error;
            }
            take(1);
            m_stage = cr ? Stage::chunk_lf : Stage::chunk_line;
            continue;
        }
        case Stage::chunk_line:
        case Stage::trailers: {
            if (in.empty())
                return Event::need_more;
            bool trailers = m_stage == Stage::trailers;
            std::size_t used = 0;
            std::string_view text;
            Gather g = gather(in, used, trailers, trailers ? m_limits.max_head_bytes : k_max_chunk_line, text);
            take(used);
            if (g == Gather::more)
                return Event::need_more;
            if (g == Gather::bare_lf) {
                m_line_no = 0;
                fail(400, trailers ? "a chunked trailer line ends in a bare LF (lines end in CRLF)"
                                   : "a chunk-size line ends in a bare LF (lines end in CRLF)");
                return Event::error;
            }
            if (g == Gather::too_long) {
                if (trailers)
                    fail(431, too_large_message("chunked trailer section", "max_header_bytes", m_limits.max_head_bytes));
                else
                    fail(400, "a chunk-size line is longer than " + std::to_string(k_max_chunk_line) + " bytes");
                return Event::error;
            }
            bool ok = trailers ? parse_trailers(text) : parse_chunk_line(text.substr(0, text.size() - 2));
            m_line.clear();
            if (!ok)
                return Event::error;
            continue;
        }
        case Stage::ended: {
            m_stage = Stage::start;
            // An interim (1xx) answer is followed by the final one to the same request.
            if (m_kind == Kind::response && !(m_head.status >= 100 && m_head.status < 200))
                m_head_request = m_connect_request = false;
            return Event::message_end;
        }
        }
    }
}

Parser::Event Parser::finish() {
    switch (m_stage) {
    case Stage::failed:
        return Event::error;
    case Stage::start:
        if (m_line.empty())
            return Event::need_more;
        break;
    case Stage::until_close:
    case Stage::ended:
        m_stage = Stage::ended;
        break;
    case Stage::head_done:
        if (m_head.body == BodyKind::none || m_head.body == BodyKind::until_close ||
            (m_head.body == BodyKind::length && m_head.content_length == 0))
            m_stage = Stage::ended;
        break;
    default:
        break;
    }
    if (m_stage == Stage::ended) {
        std::size_t unused = 0;
        return next({}, unused);
    }
    m_line_no = 0;
    fail(400, std::string("the stream ended before the ") + (m_kind == Kind::request ? "request" : "response") +
                  " was whole");
    return Event::error;
}

bool Parser::parse_request_line(std::string_view line) {
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    const char* k_shape = "the request line must be METHOD TARGET HTTP/1.1 (or HTTP/1.0)";
    if (sp2 == std::string_view::npos)
        return fail(400, k_shape);
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (method.empty() || !all(method, k_token) || target.empty() || !all(target, k_target))
        return fail(400, k_shape);
    m_head.method.assign(method);
    m_head.target.assign(target);
    m_have_target = true;
    if (!is_known_method(method))
        return fail(400, "the request method is not one of the HTTP methods vaultfwd knows");
    if (version == "HTTP/1.1")
        m_head.version_minor = 1;
    else if (version == "HTTP/1.0")
        m_head.version_minor = 0;
    else
        return fail(400, k_shape);
    return true;
}

bool Parser::parse_status_line(std::string_view line) {
    // HTTP/1.x SP 3DIGIT [SP reason]: a missing reason (and its space) is common enough to accept.
    const char* k_shape = "the status line is not HTTP/1.x STATUS REASON";
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ')
        return fail(400, k_shape);
    int status = 0;
    for (std::size_t i = 9; i < 12; ++i) {
        if (line[i] < '0' || line[i] > '9')
            return fail(400, k_shape);
        status = status * 10 + (line[i] - '0');
    }
    if (status < 100)
        return fail(400, k_shape);
    std::string_view reason;
    if (line.size() > 12) {
        if (line[12] != ' ')
            return fail(400, k_shape);
        reason = line.substr(13);
        if (!all(reason, k_value))
            return fail(400, "the reason phrase holds a control character");
    }
    m_head.version_minor = line[7] - '0';
    m_head.status = status;
    m_head.reason.assign(reason);
    return true;
}

bool Parser::parse_head(std::string_view text) {
    const std::string what = m_kind == Kind::request ? "request" : "response";
    m_head = Head{};
    m_trailers.clear();
    m_body_total = 0;
    m_head.head_bytes = text.size();
    std::size_t pos = 0;
    m_line_no = 1;
    std::string_view first = take_line(text, pos);
    if (!(m_kind == Kind::request ? parse_request_line(first) : parse_status_line(first)))
        return false;

    std::string_view length, encoding;
    int lengths = 0, encodings = 0, length_line = 0, encoding_line = 0;
    bool chunked_last = false, close = false, keep_alive = false;
    std::size_t estimate = 0;
    for (std::size_t i = pos; i < text.size(); ++i)
        estimate += text[i] == '\n';
    m_head.headers.reserve(estimate);
    while (true) {
        std::string_view line = take_line(text, pos);
        if (line.empty())
            break;
        ++m_line_no;
        if (is_ows(line.front()))
            return fail(400, "folded header lines (obsolete line folding) are not accepted: join each to the line above");
        auto colon = line.find(':');
        if (colon == std::string_view::npos)
            return fail(400, "a header line has no ':' (a header line is \"Name: value\")");
        std::string_view name = line.substr(0, colon);
        if (name.empty() || !all(name, k_token))
            return fail(400, is_ows(name.empty() ? 'x' : name.back())
                                 ? "a header name is followed by whitespace before its colon"
                                 : "a header name is not a valid token");
        if (line.size() + 2 > m_limits.max_header_line)
            return fail(431,
                        "the header line " + std::string(name) + " is longer than " +
                            std::to_string(m_limits.max_header_line) + " bytes, the most one header line may hold",
                        std::string(name));
        std::string_view value = trim_ows(line.substr(colon + 1));
        if (!all(value, k_value))
            return fail(400, "the value of header " + std::string(name) + " holds a control character",
                        std::string(name));
        if (util::iequals(name, "content-length")) {
            ++lengths;
            length = value;
            length_line = m_line_no;
        } else if (util::iequals(name, "transfer-encoding")) {
            ++encodings;
            encoding = value;
            encoding_line = m_line_no;
            // Responses: the codings of every Transfer-Encoding line form one list; chunked
            // frames the body only as the last (RFC 9112 §6.3), and is never applied twice.
            bool any = false, bad = false;
            for_each_element(value, [&](std::string_view coding) {
                any = true;
                coding = trim_ows(coding.substr(0, coding.find(';')));
                if (chunked_last || !all(coding, k_token) || coding.empty())
                    bad = true;
                chunked_last = util::iequals(coding, "chunked");
            });
            if ((!any || bad) && m_kind == Kind::response)
                return fail(400, "the Transfer-Encoding list is malformed (chunked must come last, once)");
        } else if (util::iequals(name, "connection")) {
            for_each_element(value, [&](std::string_view option) {
                close = close || util::iequals(option, "close");
                keep_alive = keep_alive || util::iequals(option, "keep-alive");
            });
        } else if (m_kind == Kind::request && util::iequals(name, "expect")) {
            m_head.expect_continue = util::iequals(value, "100-continue");
        }
        m_head.headers.push_back(Header{std::string(name), std::string(value)});
    }
    m_head.keep_alive = !close && (m_head.version_minor == 1 || keep_alive);
    return frame_body(length, lengths, length_line, encoding, encodings, encoding_line, chunked_last);
}

bool Parser::frame_body(std::string_view length, int lengths, int length_line, std::string_view encoding,
                        int encodings, int encoding_line, bool chunked_last) {
    const std::string what = m_kind == Kind::request ? "request" : "response";
    m_line_no = length_line;
    if (lengths > 1)
        return fail(400, "Content-Length is given twice or more");
    if (lengths && encodings)
        return fail(400, "both Transfer-Encoding and Content-Length are given: only one may frame the body");
    m_line_no = encoding_line;
    if (m_kind == Kind::request && (encodings > 1 || (encodings && !util::iequals(encoding, "chunked"))))
        return fail(400, "Transfer-Encoding must be only chunked (one header, one coding)");
    m_line_no = length_line;
    if (lengths) {
        std::uint64_t n = 0;
        if (length.empty())
            return fail(400, "Content-Length is not a number (decimal digits only)");
        for (char c : length) {
            if (c < '0' || c > '9')
                return fail(400, "Content-Length is not a number (decimal digits only)");
            auto d = static_cast<std::uint64_t>(c - '0');
            if (n > (std::numeric_limits<std::uint64_t>::max() - d) / 10)
                return fail(413, too_large_message(what + " body", "max_body_bytes", m_limits.max_body_bytes));
            n = n * 10 + d;
        }
        m_head.content_length = n;
    }
    // A CONNECT request has no content (RFC 9110 §9.3.6): what follows its head is the tunnel's.
    if (m_kind == Kind::request && m_head.method == "CONNECT") {
        m_head.body = BodyKind::none;
        return true;
    }
    if (m_kind == Kind::response) {
        int s = m_head.status;
        if ((s >= 100 && s < 200) || s == 204 || s == 304 || m_head_request || (m_connect_request && s >= 200 && s < 300)) {
            m_head.body = BodyKind::none;
            return true;
        }
    }
    if (encodings) {
        m_head.body = chunked_last ? BodyKind::chunked : BodyKind::until_close;
    } else if (lengths) {
        m_head.body = BodyKind::length;
    } else if (m_kind == Kind::response) {
        m_head.body = BodyKind::until_close;
    } else if (m_limits.require_length_for_body_methods &&
               (m_head.method == "POST" || m_head.method == "PUT" || m_head.method == "PATCH")) {
        m_line_no = 1;
        return fail(411, m_head.method + " needs a Content-Length or Transfer-Encoding: chunked");
    }
    if (m_head.body == BodyKind::length && m_head.content_length > m_limits.max_body_bytes)
        return fail(413, too_large_message(what + " body", "max_body_bytes", m_limits.max_body_bytes));
    if (m_head.body == BodyKind::until_close)
        m_head.keep_alive = false; // the end of the body is the end of the connection
    return true;
}

bool Parser::parse_chunk_line(std::string_view line) {
    const std::string what = m_kind == Kind::request ? "request" : "response";
    std::size_t i = 0;
    std::uint64_t size = 0;
    bool over = false;
    for (; i < line.size(); ++i) {
        int h = util::hex_value(line[i]);
        if (h < 0)
            break;
        if (size > (std::numeric_limits<std::uint64_t>::max() >> 4))
            over = true;
        else
            size = size * 16 + static_cast<std::uint64_t>(h);
    }
    if (i == 0)
        return fail(400, "a chunk size is not a hexadecimal number");
    // chunk-ext: *( ";" name [ "=" ( token / quoted-string ) ] ), no whitespace.
    while (i < line.size()) {
        if (line[i] != ';')
            return fail(400, i == 0 ? "a chunk size is not a hexadecimal number" : "a chunk extension is malformed");
        std::size_t start = ++i;
        while (i < line.size() && is(line[i], k_token))
            ++i;
        if (i == start)
            return fail(400, "a chunk extension is malformed");
        if (i < line.size() && line[i] == '=') {
            start = ++i;
            if (i < line.size() && line[i] == '"') {
                ++i;
                bool closed = false;
                while (i < line.size()) {
                    char c = line[i++];
                    if (c == '"') {
                        closed = true;
                        break;
                    }
                    if (c == '\\') {
                        if (i == line.size() || !is(line[i], k_value))
                            break;
                        ++i;
                    } else if (!is(c, k_qdtext)) {
                        break;
                    }
                }
                if (!closed)
                    return fail(400, "a chunk extension is malformed");
            } else {
                while (i < line.size() && is(line[i], k_token))
                    ++i;
                if (i == start)
                    return fail(400, "a chunk extension is malformed");
            }
        }
    }
    if (over || size > m_limits.max_body_bytes - std::min(m_limits.max_body_bytes, m_body_total))
        return fail(413, too_large_message(what + " body", "max_body_bytes", m_limits.max_body_bytes));
    m_body_total += size;
    m_remaining = size;
    m_stage = size == 0 ? Stage::trailers : Stage::chunk_data;
    return true;
}

bool Parser::parse_trailers(std::string_view text) {
    std::size_t pos = 0;
    while (true) {
        std::string_view line = take_line(text, pos);
        if (line.empty())
            break;
        auto colon = line.find(':');
        if (is_ows(line.front()) || colon == std::string_view::npos || colon == 0 ||
            !all(line.substr(0, colon), k_token))
            return fail(400, "a chunked trailer line has no \"name:\"");
        std::string_view name = line.substr(0, colon);
        std::string_view value = trim_ows(line.substr(colon + 1));
        if (!all(value, k_value))
            return fail(400, "the value of trailer " + std::string(name) + " holds a control character",
                        std::string(name));
        m_trailers.push_back(Header{std::string(name), std::string(value)});
    }
    m_stage = Stage::ended;
    return true;
}

namespace {

void write_headers(std::string& out, const Headers& headers) {
    for (const auto& h : headers)
        write_header(out, h.name, h.value);
    end_head(out);
}

} // namespace

void write_header(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
}

void write_status_line(std::string& out, int version_minor, int status, std::string_view reason) {
    out += "HTTP/1.";
    out += static_cast<char>('0' + version_minor);
    out += ' ';
    char digits[16];
    auto r = std::to_chars(digits, digits + sizeof digits, status);
    out.append(digits, r.ptr);
    out += ' ';
    if (!reason.empty())
        out += reason;
    else
        out += status_text(status);
    out += "\r\n";
}

void write_request_head(std::string& out, const Head& head) {
    out += head.method;
    out += ' ';
    out += head.target;
    out += " HTTP/1.";
    out += static_cast<char>('0' + head.version_minor);
    out += "\r\n";
    write_headers(out, head.headers);
}

void write_response_head(std::string& out, const Head& head) {
    write_status_line(out, head.version_minor, head.status, head.reason);
    write_headers(out, head.headers);
}

void write_chunk(std::string& out, std::string_view data) {
    if (data.empty())
        return;
    char size[24];
    int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    out.append(size, static_cast<std::size_t>(n));
    out += data;
    out += "\r\n";
}

void write_last_chunk(std::string& out, const Headers& trailers) {
    out += "0\r\n";
    write_headers(out, trailers);
}

} // namespace vaultfwd::http
