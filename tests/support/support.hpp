// SPDX-License-Identifier: Apache-2.0
#pragma once
// Test helpers: temp folders, the built binary as a subprocess, paths CMake passes in.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace vaultfwd::test {

// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return m_path; }
    std::filesystem::path operator/(const std::string& name) const { return m_path / name; }

  private:
    std::filesystem::path m_path;
};

struct RunResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

// Runs the built vaultfwd binary with `args`, feeding `input` on stdin, and waits for it.
RunResult run_vaultfwd(const std::vector<std::string>& args, const std::string& input = {},
                       const std::map<std::string, std::string>& env = {});
// Runs any program (looked up on PATH) the same way.
RunResult run_program(const std::vector<std::string>& argv, const std::string& input = {},
                      const std::map<std::string, std::string>& env = {});

// A started subprocess whose stdout is read line by line (for servers that print their port).
class Process {
  public:
    Process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
    ~Process(); // SIGTERM, then SIGKILL after 3 s, and reaps
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    // The next line of stdout (without '\n'), waiting up to `timeout_ms`; empty on EOF/timeout.
    std::string read_line(int timeout_ms = 10000);
    int pid() const { return m_pid; }
    // Sends `sig` and waits for exit; returns the exit status (128+signal when killed).
    int stop(int sig);

  private:
    int m_pid = -1;
    int m_out = -1;
    std::string m_buffer;
    int m_status = -1;
};

// The addresses `vaultfwd serve` prints first ("api listening on http://HOST:PORT", "proxy
// listening on http://HOST:PORT", "inbound listening on http://HOST:PORT"), read from its stdout; empty when it printed none in time.
// Every line read is appended to `lines` when given.
struct Listeners {
    std::string api;   // "HOST:PORT"
    std::string proxy; // "HOST:PORT"
    std::string inbound; // "HOST:PORT"
    int api_port() const;
    int proxy_port() const;
    int inbound_port() const;
};
Listeners read_listeners(Process& serve, std::vector<std::string>* lines = nullptr);

std::string binary_path();

// The answers shown in the Footprint seed's Playground section, in order: the text between the
// empty line that follows each `$ curl` line and the closing fence.
std::vector<std::string> footprint_seed_answers();

// A profile route (TOML) for hosts matching `host_regex`: request-phase reveal of the JSONPath
// `reveal`, response-phase redact of the JSONPath `redact` into FPE_SIX_T_FOUR aliases.
std::string reveal_redact_route(const std::string& id, const std::string& host_regex,
                                const std::string& reveal, const std::string& redact);

// The TCP ports process `pid` listens on (from /proc: its socket inodes in /proc/PID/net/tcp).
std::vector<int> listening_ports(int pid);
std::filesystem::path source_dir();
std::filesystem::path shared_dir();
std::filesystem::path report_dir();
std::string read_text(const std::filesystem::path& p);
void write_text(const std::filesystem::path& p, const std::string& text);

} // namespace vaultfwd::test
