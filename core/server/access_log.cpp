// SPDX-License-Identifier: Apache-2.0
#include "core/server/access_log.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "core/util/redact.hpp"

namespace vaultfwd::server {

namespace {
std::string now_iso() {
    auto now = std::chrono::system_clock::now();
    auto secs = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    // The date and time to the second change once a second: formatted then, per thread.
    thread_local std::time_t formatted_secs = -1;
    thread_local char prefix[40];
    if (secs != formatted_secs) {
        struct tm tm {};
        gmtime_r(&secs, &tm);
        std::strftime(prefix, sizeof prefix, "%Y-%m-%dT%H:%M:%S", &tm);
        formatted_secs = secs;
    }
    std::string out;
    out.reserve(24);
    out += prefix;
    out += '.';
    out += static_cast<char>('0' + ms / 100);
    out += static_cast<char>('0' + ms / 10 % 10);
    out += static_cast<char>('0' + ms % 10);
    out += 'Z';
    return out;
}
} // namespace

Result<std::unique_ptr<AccessLog>> AccessLog::open(const std::filesystem::path& path) {
    std::unique_ptr<AccessLog> log(new AccessLog());
    if (path.empty())
        return log;
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    log->m_fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (log->m_fd < 0)
        return make_error("server.access_log", "cannot open the access log " + path.string() +
                                                   ": " + std::strerror(errno));
    return log;
}

AccessLog::~AccessLog() {
    if (m_fd >= 0)
        ::close(m_fd);
}

namespace {

// A JSON string: printable ASCII without '"' or '\' goes as it is; anything else is written by
// nlohmann's serializer (escapes, and invalid UTF-8 replaced by U+FFFD).
void put_string(std::string& out, std::string_view s) {
    bool plain = std::all_of(s.begin(), s.end(), [](char c) {
        return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f && c != '"' && c != '\\';
    });
    if (!plain) {
        out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        return;
    }
    out += '"';
    out.append(s);
    out += '"';
}

// A logged free-text field, as util::redact() has it: as it is when redact()'s first look finds
// nothing that can match (without redact()'s copy), else through its passes (without a second look).
void put_redacted(std::string& out, std::string_view s) {
    if (util::may_hold_secret(s))
        put_string(out, util::redact_passes(s));
    else
        put_string(out, s);
}

void put_number(std::string& out, std::size_t n) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, r.ptr);
}

// As nlohmann writes a double: the shortest digits that read back as the same value, in fixed
// notation with ".0" when they are an integer (from 1e-5 to 1e15; nlohmann itself writes the rest).
void put_number(std::string& out, double d) {
    if (!(d == 0 || (std::fabs(d) >= 1e-5 && std::fabs(d) < 1e15))) {
        out += nlohmann::json(d).dump();
        return;
    }
    char buf[40];
    auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
    std::string_view text(buf, static_cast<std::size_t>(r.ptr - buf));
    out.append(text);
    if (text.find('.') == std::string_view::npos)
        out += ".0";
}

} // namespace

// The keys in nlohmann's order (sorted by name), as the line was written when nlohmann built it;
// written directly, without a JSON object per request.
std::string AccessLog::format(const AccessEntry& e, const std::string& time) {
    std::string out;
    out.reserve(256 + e.path.size());
    out += "{\"access_reason\":";
    put_redacted(out, e.access_reason);
    out += ",\"dialect\":";
    put_string(out, e.dialect);
    out += ",\"duration_ms\":";
    put_number(out, static_cast<double>(static_cast<long long>(e.duration_ms * 100)) / 100);
    if (!e.error_code.empty()) {
        out += ",\"error\":";
        put_string(out, e.error_code);
    }
    out += ",\"method\":";
    put_redacted(out, e.method);
    out += ",\"path\":";
    put_redacted(out, e.path);
    out += ",\"principal\":";
    put_string(out, e.principal);
    if (!e.route.empty()) {
        out += ",\"redacted\":";
        put_number(out, e.redacted);
        out += ",\"revealed\":";
        put_number(out, e.revealed);
        out += ",\"route\":"; // a profile id, like principal
        put_string(out, e.route);
    }
    out += ",\"status\":";
    out += std::to_string(e.status);
    out += ",\"time\":";
    put_string(out, time);
    out += ",\"tokens\":";
    put_number(out, e.tokens);
    out += ",\"upstream_host\":";
    put_string(out, e.upstream_host);
    out += '}';
    return out;
}

void AccessLog::write(const AccessEntry& entry) {
    if (m_fd < 0)
        return;
    std::string line = format(entry, now_iso());
    line += '\n';
    // O_APPEND makes each whole-line write land after the last, from any thread or process,
    // without a lock of ours (the kernel serialises writes to a file; a lock here made the
    // event loops wait on each other: half a futex call per request at 32 connections).
    [[maybe_unused]] auto n = ::write(m_fd, line.data(), line.size());
}

} // namespace vaultfwd::server
