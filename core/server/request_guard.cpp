// SPDX-License-Identifier: Apache-2.0
#include "core/server/request_guard.hpp"

#include <algorithm>
#include <cstdlib>

#include "core/http/message.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::server {

namespace {

constexpr std::size_t k_max_chunk_line = 4096;

Refusal refusal(Refusal::Kind kind, int status, std::string code, std::string message, std::string target = {}) {
    return Refusal{kind, status, std::move(code), std::move(message), std::move(target), false};
}

Refusal malformed(std::string message, std::string target = {}) {
    return refusal(Refusal::Kind::malformed, 400, "request.malformed", std::move(message), std::move(target));
}

bool is_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Bytes a request target may hold: visible ASCII and bytes >= 0x80 (httplib takes UTF-8).
bool is_target(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u > 0x20 && u != 0x7f;
    });
}

// The position just past the empty line that ends a head, or npos.
std::size_t find_end(const std::string& head, std::size_t from) {
    std::size_t crlf = head.find("\n\r\n", from), lf = head.find("\n\n", from);
    std::size_t end = std::string::npos;
    if (crlf != std::string::npos)
        end = crlf + 3;
    if (lf != std::string::npos)
        end = std::min(end, lf + 2);
    return end;
}

} // namespace

bool hidden_from_httplib(std::string_view name) {
    return util::iequals(name, "content-type") || util::iequals(name, "range") ||
           util::iequals(name, "accept-encoding") ||
           util::starts_with_icase(name, k_hidden_prefix);
}

std::string_view unhide_header_name(std::string_view name) {
    if (util::starts_with_icase(name, k_hidden_prefix))
        name.remove_prefix(k_hidden_prefix.size());
    return name;
}

std::optional<Refusal> RequestGuard::answered(std::string& out) {
    m_awaiting = false;
    if (m_held.empty())
        return std::nullopt;
    std::string held;
    held.swap(m_held);
    return feed(held, out);
}

std::vector<bool> RequestGuard::take_passed() {
    std::vector<bool> out;
    out.swap(m_passed);
    return out;
}

Refusal RequestGuard::head_timeout() {
    return refusal(Refusal::Kind::timeout, 408, "request.timeout",
                   "the request head took too long to arrive");
}

std::optional<Refusal> RequestGuard::broken_body(const std::string& message) {
    m_state = State::refused;
    Refusal r = malformed(message);
    r.mid_body = true;
    return r;
}

std::optional<Refusal> RequestGuard::feed(std::string_view in, std::string& out) {
    std::string carry; // bytes read past a head, to frame before the rest of `in`
    while (!in.empty()) {
        switch (m_state) {
        case State::refused:
            return std::nullopt;
        case State::head: {
            if (m_head.empty()) {
                // Stray line ends between requests (RFC 9112 §2.2) are dropped.
                auto first = in.find_first_not_of("\r\n");
                if (first == std::string_view::npos)
                    return std::nullopt;
                in.remove_prefix(first);
                if (m_awaiting) { // a pipelined request: it waits for the answers before it
                    m_held.append(in);
                    return std::nullopt;
                }
            }
            std::size_t before = m_head.size();
            // Takes no more than the limit allows (plus the bytes that may end the head), so a
            // head is never buffered without bound.
            std::size_t room = m_limits.max_header_bytes + 3 - std::min(before, m_limits.max_header_bytes);
            std::size_t take = std::min(in.size(), room);
            m_head.append(in.data(), take);
            in.remove_prefix(take);
            std::size_t end = find_end(m_head, before >= 2 ? before - 2 : 0);
            if (end == std::string::npos) {
                if (m_head.size() > m_limits.max_header_bytes) {
                    m_state = State::refused;
                    return refusal(Refusal::Kind::header_too_large, 431, "request.header_too_large",
                                   "the request head is larger than limits.max_header_bytes (" +
                                       std::to_string(m_limits.max_header_bytes) + " bytes)");
                }
                continue;
            }
            // Bytes past the head belong to the body or the next request: hand them back.
            std::string rest = m_head.substr(end);
            m_head.resize(end);
            if (auto r = end_of_head(end, out))
                return r;
            if (!rest.empty()) {
                rest.append(in);
                carry = std::move(rest);
                in = carry;
            }
            continue;
        }
        case State::body: {
            std::size_t n = std::min(in.size(), m_remaining);
            out.append(in.data(), n);
            in.remove_prefix(n);
            m_remaining -= n;
            if (m_remaining == 0)
                m_state = State::head;
            continue;
        }
        case State::chunk_size:
        case State::trailers: {
            // A chunk or trailer line goes on only once it is whole and valid: httplib must never
            // see a broken one (it would answer it and keep the connection; see feed()).
            auto nl = in.find('\n');
            std::size_t n = nl == std::string_view::npos ? in.size() : nl + 1;
            m_head.append(in.data(), n);
            in.remove_prefix(n);
            if (nl == std::string_view::npos) {
                if (m_head.size() > k_max_chunk_line)
                    return broken_body("a chunk line is too long");
                continue;
            }
            std::string_view line(m_head);
            line.remove_suffix(1);
            if (!line.empty() && line.back() == '\r')
                line.remove_suffix(1);
            if (m_state == State::trailers) {
                m_trailer_bytes += m_head.size();
                if (m_trailer_bytes > m_limits.max_header_bytes)
                    return broken_body("the chunked trailers are too large");
                if (!line.empty() && (line.find(':') == std::string_view::npos || line[0] == ' ' || line[0] == '\t'))
                    return broken_body("a chunked trailer line has no \"name:\"");
                out += m_head;
                m_head.clear();
                if (line.empty())
                    m_state = State::head;
                continue;
            }
            std::string_view size = line.substr(0, line.find(';'));
            while (!size.empty() && (size.back() == ' ' || size.back() == '\t'))
                size.remove_suffix(1);
            if (size.empty() || size.size() > 15 ||
                !std::all_of(size.begin(), size.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }))
                return broken_body("a chunk size is not a hexadecimal number");
            m_remaining = std::stoull(std::string(size), nullptr, 16);
            out += m_head;
            m_head.clear();
            m_trailer_bytes = 0;
            m_state = m_remaining == 0 ? State::trailers : State::chunk_data;
            continue;
        }
        case State::chunk_data: {
            std::size_t n = std::min(in.size(), m_remaining);
            out.append(in.data(), n);
            in.remove_prefix(n);
            m_remaining -= n;
            if (m_remaining == 0)
                m_state = State::chunk_end;
            continue;
        }
        case State::chunk_end: {
            // CRLF (or a lone LF) after the chunk's data.
            char c = in.front();
            if (c == '\r' && m_head.empty()) {
                m_head = "\r";
            } else if (c == '\n') {
                m_head.clear();
                m_state = State::chunk_size;
            } else {
                return broken_body("a chunk is longer than its size says");
            }
            out.push_back(c);
            in.remove_prefix(1);
            continue;
        }
        }
    }
    return std::nullopt;
}

std::optional<Refusal> RequestGuard::end_of_head(std::size_t end, std::string& out) {
    std::string_view text(m_head);
    text = text.substr(0, end);
    auto lines = util::split(text, '\n');
    for (auto& line : lines)
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
    while (!lines.empty() && lines.back().empty())
        lines.pop_back();
    m_state = State::refused; // until the head proves fine
    if (end > m_limits.max_header_bytes + 2)
        return refusal(Refusal::Kind::header_too_large, 431, "request.header_too_large",
                       "the request head is larger than limits.max_header_bytes (" +
                           std::to_string(m_limits.max_header_bytes) + " bytes)");
    if (lines.empty())
        return malformed("the request line is missing");
    auto parts = util::split(lines[0], ' ');
    if (parts.size() != 3 || !http::is_token(parts[0]) || !is_target(parts[1]) ||
        parts[2].size() != 8 || parts[2].rfind("HTTP/1.", 0) != 0 || !std::isdigit(static_cast<unsigned char>(parts[2][7])))
        return malformed("the request line is not METHOD TARGET HTTP/1.x");
    const std::string& method = parts[0];
    const std::string& target = parts[1];

    std::string rewritten = lines[0] + "\r\n";
    int lengths = 0, encodings = 0;
    std::string length, encoding;
    for (std::size_t i = 1; i < lines.size(); ++i) {
        const std::string& line = lines[i];
        if (line.empty() || line[0] == ' ' || line[0] == '\t')
            return malformed("obsolete line folding in the request head is not accepted", target);
        auto colon = line.find(':');
        if (colon == std::string::npos || !http::is_token(std::string_view(line).substr(0, colon)))
            return malformed("a request header line has no \"name:\"", target);
        std::string_view name = std::string_view(line).substr(0, colon);
        std::string_view value = util::trim(std::string_view(line).substr(colon + 1));
        if (util::iequals(name, "content-length")) {
            ++lengths;
            length = std::string(value);
        } else if (util::iequals(name, "transfer-encoding")) {
            ++encodings;
            encoding = std::string(value);
        }
        const std::size_t line_start = rewritten.size();
        if (hidden_from_httplib(name))
            rewritten += k_hidden_prefix;
        rewritten.append(name);
        rewritten += ": ";
        for (char c : value) {
            if (c == '%')
                rewritten += "%25";
            else
                rewritten.push_back(c);
        }
        rewritten += "\r\n";
        if (rewritten.size() - line_start > k_httplib_max_header_line)
            return refusal(Refusal::Kind::header_too_large, 431, "request.header_too_large",
                           "the header line " + std::string(name) + " is longer than " +
                               std::to_string(k_httplib_max_header_line) +
                               " bytes, the most one header line may hold",
                           target);
    }
    rewritten += "\r\n";

    if (lengths > 1)
        return malformed("Content-Length is given more than once", target);
    if (lengths && encodings)
        return malformed("Content-Length and Transfer-Encoding together are not accepted", target);
    if (encodings > 1 || (encodings && !util::iequals(encoding, "chunked")))
        return malformed("the only Transfer-Encoding accepted is a single \"chunked\"", target);
    std::size_t declared = 0;
    if (lengths) {
        if (!is_digits(length) || length.size() > 18) {
            Refusal r = malformed("Content-Length is not a decimal number", target);
            r.kind = Refusal::Kind::bad_content_length;
            return r;
        }
        declared = std::stoull(length);
        if (declared > m_limits.max_body_bytes)
            return refusal(Refusal::Kind::too_large, 413, "request.too_large",
                           "the request body is larger than limits.max_body_bytes (" +
                               std::to_string(m_limits.max_body_bytes) + " bytes)",
                           target);
    } else if (!encodings && (method == "POST" || method == "PUT" || method == "PATCH")) {
        return refusal(Refusal::Kind::length_required, 411, "request.length_required",
                       method + " needs a Content-Length or Transfer-Encoding: chunked", target);
    }

    out += rewritten;
    m_passed.push_back(method == "HEAD");
    m_awaiting = true;
    m_head.clear();
    if (encodings) {
        m_state = State::chunk_size;
    } else if (declared > 0) {
        m_state = State::body;
        m_remaining = declared;
    } else {
        m_state = State::head;
    }
    return std::nullopt;
}

void ResponseCounter::end_of_head() {
    // "HTTP/1.1 200 OK\r\n…": the status, then the two headers that frame the body.
    int status = 0;
    if (m_line.size() >= 12)
        status = std::atoi(m_line.c_str() + 9);
    std::size_t length = 0;
    bool has_length = false, chunked = false;
    for (const auto& raw : util::split(m_line, '\n')) {
        std::string_view line = util::trim(raw);
        auto colon = line.find(':');
        if (colon == std::string_view::npos)
            continue;
        auto name = line.substr(0, colon);
        auto value = util::trim(line.substr(colon + 1));
        if (util::iequals(name, "content-length")) {
            has_length = true;
            length = std::strtoull(std::string(value).c_str(), nullptr, 10);
        } else if (util::iequals(name, "transfer-encoding") && util::iequals(value, "chunked")) {
            chunked = true;
        }
    }
    m_line.clear();
    if (status >= 100 && status < 200)
        return; // an interim answer (100 Continue): the final one follows
    bool head = false;
    if (!m_heads.empty()) {
        head = m_heads.front();
        m_heads.pop_front();
    }
    if (head || status == 204 || status == 304 || (has_length && length == 0 && !chunked)) {
        ++m_done;
    } else if (chunked) {
        m_state = State::chunk_size;
    } else if (has_length) {
        m_state = State::body;
        m_remaining = length;
    } else {
        m_state = State::until_close;
    }
}

void ResponseCounter::feed(std::string_view in) {
    while (!in.empty()) {
        switch (m_state) {
        case State::until_close:
            return;
        case State::head:
        case State::chunk_size:
        case State::trailers: {
            auto nl = in.find('\n');
            std::size_t n = nl == std::string_view::npos ? in.size() : nl + 1;
            m_line.append(in.data(), n);
            in.remove_prefix(n);
            if (nl == std::string_view::npos)
                continue;
            if (m_state == State::head) {
                if (m_line.size() >= 4 && m_line.compare(m_line.size() - 4, 4, "\r\n\r\n") == 0)
                    end_of_head();
                continue;
            }
            std::string line(util::trim(m_line));
            m_line.clear();
            if (m_state == State::trailers) {
                if (line.empty()) {
                    ++m_done;
                    m_state = State::head;
                }
                continue;
            }
            m_remaining = std::strtoull(line.c_str(), nullptr, 16);
            m_state = m_remaining == 0 ? State::trailers : State::chunk_data;
            continue;
        }
        case State::body:
        case State::chunk_data: {
            std::size_t n = std::min(in.size(), m_remaining);
            in.remove_prefix(n);
            m_remaining -= n;
            if (m_remaining > 0)
                continue;
            if (m_state == State::body) {
                ++m_done;
                m_state = State::head;
            } else {
                m_state = State::chunk_end;
            }
            continue;
        }
        case State::chunk_end: {
            char c = in.front();
            in.remove_prefix(1);
            if (c == '\n')
                m_state = State::chunk_size;
            continue;
        }
        }
    }
}

} // namespace vaultfwd::server
