// SPDX-License-Identifier: Apache-2.0
// llhttp's request and response test vectors (../shared/conformance/llhttp/) through our parser.
// Each strict case's log says what llhttp made of the input: the messages it completed (method,
// target, status, reason, headers, body) and whether it refused the input. Nothing llhttp refuses
// may be accepted here; what it accepts we accept alike, or refuse by one of the deliberate
// rules below (the README's "Strict HTTP" section states them). The counts go to
// build/reports/http-conformance.txt.

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/http/parser.hpp"
#include "support/http_transcript.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
namespace fs = std::filesystem;

namespace {

struct Expected {
    struct Msg {
        std::string method, url, reason;
        int status = 0;
        http::Headers headers;
        std::string body;
    };
    std::vector<Msg> messages; // completed ones
    std::vector<http::Headers> trailers; // per completed message
    bool refused = false;
    bool stopped = false; // llhttp paused on CONNECT/Upgrade or refused data after Connection: close
};

struct Case {
    std::string file;
    int line = 0;
    std::string name;
    nlohmann::json meta;
    std::string input;
    std::vector<std::string> log;
};

// md-test.ts turns \xHH into a JavaScript character, and the fixture receives the string as
// UTF-8: a value over 0x7f arrives as two bytes.
void append_code_point(std::string& out, unsigned value) {
    if (value < 0x80) {
        out += static_cast<char>(value);
    } else if (value < 0x800) {
        out += static_cast<char>(0xc0 | (value >> 6));
        out += static_cast<char>(0x80 | (value & 0x3f));
    } else {
        out += static_cast<char>(0xe0 | ((value >> 12) & 0x0f));
        out += static_cast<char>(0x80 | ((value >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (value & 0x3f));
    }
}

// The input as llhttp's test/md-test.ts builds it from the ```http block.
std::string build_input(const std::vector<std::string>& lines) {
    std::string raw;
    for (std::size_t i = 0; i < lines.size(); ++i)
        raw += (i ? "\n" : "") + lines[i];
    // Escaped line ends join lines; every other line end becomes CRLF.
    std::string joined;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\\' && i + 1 < raw.size() && raw[i + 1] == '\n') {
            ++i;
            continue;
        }
        if (raw[i] == '\n')
            joined += "\r\n";
        else
            joined += raw[i];
    }
    // The escapes, in md-test.ts's order: \r, \n, \t, \f, \xHH…, octal.
    auto replace = [](std::string s, const std::string& from, char to) {
        std::string out;
        for (std::size_t i = 0; i < s.size();) {
            if (s.compare(i, from.size(), from) == 0) {
                out += to;
                i += from.size();
            } else {
                out += s[i++];
            }
        }
        return out;
    };
    joined = replace(joined, "\\r", '\r');
    joined = replace(joined, "\\n", '\n');
    joined = replace(joined, "\\t", '\t');
    joined = replace(joined, "\\f", '\f');
    std::string out;
    for (std::size_t i = 0; i < joined.size();) {
        if (joined[i] == '\\' && i + 2 < joined.size() && joined[i + 1] == 'x' && std::isxdigit(static_cast<unsigned char>(joined[i + 2]))) {
            std::size_t j = i + 2;
            unsigned value = 0;
            while (j < joined.size() && std::isxdigit(static_cast<unsigned char>(joined[j])))
                value = value * 16 + static_cast<unsigned>(std::stoi(std::string(1, joined[j++]), nullptr, 16));
            append_code_point(out, value);
            i = j;
        } else if (joined[i] == '\\' && i + 1 < joined.size() && joined[i + 1] >= '0' && joined[i + 1] <= '7') {
            std::size_t j = i + 1;
            unsigned value = 0;
            while (j < joined.size() && j < i + 4 && joined[j] >= '0' && joined[j] <= '7')
                value = value * 8 + static_cast<unsigned>(joined[j++] - '0');
            append_code_point(out, value);
            i = j;
        } else {
            out += joined[i++];
        }
    }
    return out;
}

// A span's text as the fixture prints it: quoted bytes with \t \f \r \n escaped and bytes over
// 0x7f as UTF-8 of their Latin-1 reading, or `cr` / `lf` for a one-byte span. `len` is the byte
// count, which tells a printed escape from a backslash in the data.
std::string span_text(std::string_view printed, std::size_t len) {
    if (printed == "cr")
        return "\r";
    if (printed == "lf")
        return "\n";
    if (printed.size() >= 2 && printed.front() == '"' && printed.back() == '"')
        printed = printed.substr(1, printed.size() - 2);
    auto decode = [&](bool escapes, bool latin1) {
        std::string out;
        for (std::size_t i = 0; i < printed.size(); ++i) {
            auto c = static_cast<unsigned char>(printed[i]);
            if (escapes && c == '\\' && i + 1 < printed.size() && std::string_view("tfrn").find(printed[i + 1]) != std::string_view::npos) {
                char e = printed[++i];
                out += e == 't' ? '\t' : e == 'f' ? '\f' : e == 'r' ? '\r' : '\n';
            } else if (latin1 && (c == 0xc2 || c == 0xc3) && i + 1 < printed.size()) {
                out += static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(printed[++i]) & 0x3f));
            } else {
                out += static_cast<char>(c);
            }
        }
        return out;
    };
    // Which reading applies shows in the byte count: the fixture prints non-ASCII bytes either
    // way depending on the span.
    for (bool latin1 : {true, false})
        for (bool escapes : {true, false})
            if (std::string text = decode(escapes, latin1); text.size() == len)
                return text;
    return std::string(printed);
}

std::string trim_ows(std::string s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.pop_back();
    std::size_t i = 0;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t'))
        ++i;
    return s.substr(i);
}

Expected read_log(const Case& c) {
    Expected e;
    Expected::Msg cur;
    http::Headers trailers;
    bool value_started = false, in_body = false;
    for (const std::string& line : c.log) {
        auto span = line.find(" span[");
        if (span != std::string::npos) {
            auto close = line.find("]=", span);
            std::string kind = line.substr(span + 6, close - span - 6);
            auto len_at = line.find(" len=");
            std::size_t len = len_at == std::string::npos ? 0 : std::stoul(line.substr(len_at + 5));
            std::string text = span_text(std::string_view(line).substr(close + 2), len);
            http::Headers& fields = in_body ? trailers : cur.headers;
            if (kind == "method")
                cur.method += text;
            else if (kind == "url")
                cur.url += text;
            else if (kind == "status")
                cur.reason += text;
            else if (kind == "body")
                cur.body += text;
            else if (kind == "header_field") {
                if (fields.empty() || value_started)
                    fields.push_back({});
                value_started = false;
                fields.back().name += text;
            } else if (kind == "header_value") {
                value_started = true;
                fields.back().value += text;
            }
            continue;
        }
        auto complete = [&] {
            for (auto* list : {&cur.headers, &trailers})
                for (auto& h : *list)
                    h.value = trim_ows(h.value);
            e.messages.push_back(cur);
            e.trailers.push_back(trailers);
        };
        if (line.find(" message begin") != std::string::npos) {
            cur = {};
            trailers.clear();
            value_started = in_body = false;
        } else if (line.find(" headers complete") != std::string::npos) {
            if (auto s = line.find(" headers complete status="); s != std::string::npos)
                cur.status = std::stoi(line.substr(s + 25));
            in_body = true;
            value_started = false;
        } else if (line.find(" header_value complete") != std::string::npos) {
            value_started = true;
        } else if (line.find(" message complete") != std::string::npos) {
            complete();
        } else if (line.find("finish=1") != std::string::npos) {
            complete(); // the body ran until the end of the stream: finishing completes it
        } else if (auto err = line.find(" error code="); err != std::string::npos) {
            int code = std::stoi(line.substr(err + 12));
            // 22: paused on CONNECT/Upgrade; 5: data after Connection: close. Neither refuses
            // the messages before.
            if (code == 22 || code == 5)
                e.stopped = true;
            else
                e.refused = true;
            break;
        } else if (line.find("finish=2") != std::string::npos) {
            e.refused = true;
        }
    }
    return e;
}

std::vector<Case> read_cases(const fs::path& file) {
    std::vector<Case> cases;
    std::istringstream in(test::read_text(file));
    std::string line, heading;
    int n = 0;
    Case cur;
    enum { none, http_block, log_block } block = none;
    bool have_meta = false;
    std::vector<std::string> http_lines;
    while (std::getline(in, line)) {
        ++n;
        if (block == none) {
            if (line.rfind("#", 0) == 0) {
                heading = line.substr(line.find(' ') + 1);
            } else if (line.rfind("<!-- meta=", 0) == 0) {
                cur = Case{};
                cur.file = file.parent_path().filename().string() + "/" + file.filename().string();
                cur.line = n;
                cur.name = heading;
                cur.meta = nlohmann::json::parse(line.substr(10, line.rfind("-->") - 10));
                have_meta = true;
                http_lines.clear();
            } else if (line == "```http" && have_meta) {
                block = http_block;
            } else if (line == "```log" && have_meta) {
                block = log_block;
            }
        } else if (line == "```") {
            if (block == http_block) {
                cur.input = build_input(http_lines);
            } else {
                cases.push_back(cur);
                have_meta = false;
            }
            block = none;
        } else if (block == http_block) {
            http_lines.push_back(line);
        } else {
            cur.log.push_back(line);
        }
    }
    return cases;
}

std::string where(const Case& c) { return c.file + ":" + std::to_string(c.line) + " \"" + c.name + "\""; }

// Compares our messages with llhttp's; empty when equal.
std::string compare(const Expected::Msg& want, const http::Headers& want_trailers,
                    const http::testing::Message& got, bool request) {
    const http::Head& h = got.head;
    if (request && (h.method != want.method || h.target != want.url))
        return "request line " + h.method + " " + h.target + " (llhttp: " + want.method + " " + want.url + ")";
    if (!request && (h.status != want.status || h.reason != want.reason))
        return "status " + std::to_string(h.status) + " " + h.reason + " (llhttp: " + std::to_string(want.status) + ")";
    if (!http::testing::same_headers(h.headers, want.headers))
        return std::to_string(h.headers.size()) + " headers (llhttp: " + std::to_string(want.headers.size()) + ")";
    if (!http::testing::same_headers(got.trailers, want_trailers))
        return std::to_string(got.trailers.size()) + " trailers (llhttp: " + std::to_string(want_trailers.size()) + ")";
    if (got.body != want.body)
        return "body of " + std::to_string(got.body.size()) + " bytes (llhttp: " + std::to_string(want.body.size()) + ")";
    return {};
}

} // namespace

TEST_CASE("http parser: llhttp's strict request and response vectors") {
    const fs::path dir = test::shared_dir() / "conformance" / "llhttp";
    REQUIRE_MESSAGE(fs::is_directory(dir), "missing " << dir.string());

    // Cases llhttp accepts that we refuse, each by a deliberate rule (README, "Strict HTTP").
    const std::string k_411 = "POST, PUT and PATCH need Content-Length or chunked (411; serve's listeners, "
                              "not replay's raw files)";
    const std::string k_version = "HTTP/1.0 and HTTP/1.1 only (no HTTP/0.9, RTSP or ICE)";
    const std::string k_request_te = "a request's Transfer-Encoding is exactly \"chunked\"";
    const std::string k_response_te = "chunked is a response's last transfer coding, applied once";
    const std::map<std::string, std::string> k_stricter = {
        {"request/connection.md:8 \"Setting flag\"", k_411},
        {"request/connection.md:36 \"Restarting when keep-alive is explicitly\"", k_411},
        {"request/connection.md:83 \"No restart when keep-alive is off (1.0)\"", k_411},
        {"request/connection.md:238 \"Setting flag on `close`\"", k_411},
        {"request/connection.md:266 \"Setting flag on `close` followed by tab\"", k_411},
        {"request/connection.md:455 \"Sample\"", k_411},
        {"request/connection.md:681 \"Setting a flag and pausing\"", k_411},
        {"request/method.md:374 \"SOURCE request with ICE\"", k_version},
        {"request/method.md:404 \"OPTIONS request with RTSP\"", k_version},
        {"request/method.md:432 \"ANNOUNCE request with RTSP\"", k_version},
        {"request/sample.md:316 \"No HTTP version\"", k_version},
        {"request/transfer-encoding.md:753 \"POST with `chunked` as last transfer-encoding\"", k_request_te},
        {"request/transfer-encoding.md:795 \"POST with `chunked` as last transfer-encoding (multiple headers)\"", k_request_te},
        {"response/sample.md:42 \"RTSP response\"", k_version},
        {"response/sample.md:62 \"ICE response\"", k_version},
        {"response/sample.md:647 \"HTTP version 0.9\"", k_version},
        {"response/transfer-encoding.md:45 \"`chunked` before other transfer-encoding\"", k_response_te},
        {"response/transfer-encoding.md:76 \"multiple transfer-encoding where chunked is not the last one\"", k_response_te},
    };

    struct Counts {
        int cases = 0, agree_accept = 0, agree_refuse = 0, refuse_at_end = 0, stricter = 0, laxer = 0, skipped = 0;
    };
    std::map<std::string, Counts> counts; // "request", "response"
    std::vector<std::string> failures, unlisted_stricter, stale;
    std::set<std::string> seen_stricter;
    std::vector<fs::path> files;
    for (const char* kind : {"request", "response"})
        for (const auto& entry : fs::directory_iterator(dir / kind))
            if (entry.path().extension() == ".md")
                files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
        const bool lenient_file = file.filename().string().rfind("lenient", 0) == 0;
        for (const Case& c : read_cases(file)) {
            std::string type = c.meta.value("type", "");
            bool request = type.rfind("request", 0) == 0;
            Counts& n = counts[request ? "request" : "response"];
            // Strict cases only: llhttp's opt-in lenient modes, its callback pausing and its
            // skip-body callback on requests (no counterpart here) are not HTTP.
            if (lenient_file || type.find("lenient") != std::string::npos || c.meta.contains("pause") ||
                (request && c.meta.contains("skipBody"))) {
                ++n.skipped;
                continue;
            }
            ++n.cases;
            Expected want = read_log(c);
            bool finish = type.find("finish") != std::string::npos;
            http::ParseLimits limits;
            limits.max_body_bytes = std::uint64_t(1) << 62;
            std::string method = c.meta.contains("skipBody") ? "HEAD" : "GET";
            auto got = http::testing::parse_all(request ? http::Parser::Kind::request : http::Parser::Kind::response,
                                                c.input, 0, limits, method, finish);
            auto bytes = http::testing::parse_all(request ? http::Parser::Kind::request : http::Parser::Kind::response,
                                                  c.input, 1, limits, method, finish);
            const std::string id = where(c);
            if (!got.contract.empty() || !http::testing::same(got, bytes)) {
                failures.push_back(id + ": one piece and byte by byte differ, or a contract broke: " + got.contract + bytes.contract);
                continue;
            }
            // Our messages up to llhttp's count must be its messages.
            std::string diff;
            for (std::size_t i = 0; i < std::min(got.messages.size(), want.messages.size()) && diff.empty(); ++i)
                diff = compare(want.messages[i], want.trailers[i], got.messages[i], request);
            if (!diff.empty()) {
                failures.push_back(id + ": message differs: " + diff);
                continue;
            }
            if (want.refused) {
                // llhttp refuses a bad byte as it reads it; we read a head once it is whole.
                // An input cut inside such a head is refused when the stream ends there.
                bool at_end = false;
                if (!got.failed && got.partial && !finish) {
                    got = http::testing::parse_all(request ? http::Parser::Kind::request : http::Parser::Kind::response,
                                                   c.input, 0, limits, method, true);
                    at_end = got.failed;
                }
                if (got.failed) {
                    ++n.agree_refuse;
                    n.refuse_at_end += at_end ? 1 : 0;
                } else {
                    ++n.laxer;
                    failures.push_back(id + ": llhttp refuses it, we " +
                                       (got.partial ? std::string("wait for more") : std::string("accept it")));
                }
                continue;
            }
            bool same_count = got.messages.size() == want.messages.size() ||
                              (want.stopped && got.messages.size() > want.messages.size());
            if (!got.failed || (want.stopped && got.messages.size() >= want.messages.size())) {
                if (same_count)
                    ++n.agree_accept;
                else
                    failures.push_back(id + ": " + std::to_string(got.messages.size()) + " messages (llhttp: " +
                                       std::to_string(want.messages.size()) + ")");
                continue;
            }
            // llhttp accepts, we refuse.
            auto listed = k_stricter.find(id);
            if (listed == k_stricter.end()) {
                unlisted_stricter.push_back(id + ": " + got.error.code + ": " + got.error.message);
            } else {
                ++n.stricter;
                seen_stricter.insert(id);
            }
        }
    }
    for (const auto& [id, rule] : k_stricter)
        if (!seen_stricter.count(id))
            stale.push_back(id);

    std::string report;
    for (const auto& [kind, n] : counts) {
        char line[512];
        std::snprintf(line, sizeof line,
                      "llhttp %s vectors: %d strict cases: %d accepted alike, %d refused alike (%d of them when "
                      "the stream ends inside the head llhttp refuses mid-way), %d refused by a "
                      "deliberate stricter rule, %d accepted (or awaited) that llhttp refuses (%d lenient/pause cases "
                      "skipped)\n",
                      kind.c_str(), n.cases, n.agree_accept, n.agree_refuse, n.refuse_at_end, n.stricter, n.laxer, n.skipped);
        report += line;
    }
    for (const auto& [id, rule] : k_stricter)
        report += "  stricter: " + id + ": " + rule + "\n";
    test::write_text(test::report_dir() / "http-conformance.txt", report);
    MESSAGE(report);
    for (const auto& f : failures)
        FAIL_CHECK(f);
    for (const auto& f : unlisted_stricter)
        FAIL_CHECK("refused but llhttp accepts, and not in k_stricter: " << f);
    for (const auto& f : stale)
        FAIL_CHECK("listed in k_stricter but no longer refused: " << f);
    CHECK(counts["request"].cases > 100);
    CHECK(counts["response"].cases > 50);
}
