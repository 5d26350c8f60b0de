// SPDX-License-Identifier: Apache-2.0
#pragma once
// One JSON line per request, appended to the profile's access log (0600). Never a value: every
// free-text field passes through util::redact().

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "core/inspector/secrets.hpp"

#include "core/util/result.hpp"

namespace vaultfwd::server {

struct AccessEntry {
    std::string dialect; // footprint, gr4vy, vtex, vgs, reflect, ca, …
    std::string method;
    std::string path;
    std::string upstream_host; // host:port actually dialed, or empty
    int status = 0;
    double duration_ms = 0;
    std::size_t tokens = 0; // tokens revealed or aliases created
    std::string access_reason;
    std::string principal;  // API key id or proxy credential id
    std::string error_code; // vaultfwd's error code when it answered with an error
    std::string route;      // the VGS route whose filters applied (or that answered, inbound), or empty
    std::size_t redacted = 0; // of `tokens`: values replaced by aliases (with `route`)
    std::size_t revealed = 0; // of `tokens`: aliases replaced by their values (with `route`)
    // Not logged: set while the inspector watches, for the phases to record each value they
    // reveal or vault with its token or alias (inspector/secrets.hpp).
    std::shared_ptr<inspector::Secrets> secrets;
};

class AccessLog {
  public:
    // Opens (creating 0600) the log for appending; an empty path logs nowhere.
    static Result<std::unique_ptr<AccessLog>> open(const std::filesystem::path& path);
    ~AccessLog();
    AccessLog(const AccessLog&) = delete;
    AccessLog& operator=(const AccessLog&) = delete;
    void write(const AccessEntry& entry);
    // The JSON line for an entry (with `time` in ISO 8601 UTC, milliseconds).
    static std::string format(const AccessEntry& entry, const std::string& time);

  private:
    AccessLog() = default;
    int m_fd = -1;
};

} // namespace vaultfwd::server
