// SPDX-License-Identifier: Apache-2.0
#include "core/server/access_log.hpp"

#include <chrono>
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
    struct tm tm {};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
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

std::string AccessLog::format(const AccessEntry& e, const std::string& time) {
    nlohmann::json j = {{"time", time},
                        {"dialect", e.dialect},
                        {"method", util::redact(e.method)},
                        {"path", util::redact(e.path)},
                        {"upstream_host", e.upstream_host},
                        {"status", e.status},
                        {"duration_ms", static_cast<double>(static_cast<long long>(e.duration_ms * 100)) / 100},
                        {"tokens", e.tokens},
                        {"access_reason", util::redact(e.access_reason)},
                        {"principal", e.principal}};
    if (!e.error_code.empty())
        j["error"] = e.error_code;
    if (!e.route.empty()) {
        j["route"] = e.route; // a profile id, like principal
        j["redacted"] = e.redacted;
        j["revealed"] = e.revealed;
    }
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AccessLog::write(const AccessEntry& entry) {
    if (m_fd < 0)
        return;
    std::string line = format(entry, now_iso()) + "\n";
    std::lock_guard<std::mutex> lock(m_mutex);
    // O_APPEND makes each whole-line write land after the last, even from other processes.
    [[maybe_unused]] auto n = ::write(m_fd, line.data(), line.size());
}

} // namespace vaultfwd::server
