// SPDX-License-Identifier: Apache-2.0
#pragma once
// What every subcommand shares: the global options, failure reporting, output helpers.

#include <filesystem>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/util/result.hpp"

namespace vaultfwd::cli {

struct Globals {
    std::string home;               // --home
    std::string profile = "default"; // --profile
    bool json = false;              // --json
    int verbose = 0;                // -v, repeatable
};

Globals& globals();

// Thrown by a subcommand to end with `vaultfwd: error: <message>` and exit code 1 (or `code`).
struct Failure : std::runtime_error {
    explicit Failure(const std::string& message, int code = 1)
        : std::runtime_error(message), exit_code(code) {}
    int exit_code;
};

[[noreturn]] void fail(const std::string& message, int code = 1);

// The value of `r`, or a Failure carrying its error (prefixed with `where` as file:line:col).
template <class T> T unwrap(Result<T> r, const std::string& where = {}) {
    if (!r)
        fail(r.error().describe(where));
    return std::move(r).value();
}
inline void unwrap(Result<void> r, const std::string& where = {}) {
    if (!r)
        fail(r.error().describe(where));
}

// The home folder: --home, else $VAULTFWD_HOME, else $XDG_CONFIG_HOME/vaultfwd, else
// ~/.config/vaultfwd.
std::filesystem::path home_dir();

// Adds an "Examples:" footer to a subcommand's --help.
void set_examples(CLI::App* app, const std::string& examples);

void print_json(const nlohmann::json& j);

// Option checks: CLI11 reports a failed one as a usage error (exit 2) naming the option.
CLI::Validator port_number();    // 0 to 65535 (0: pick a free one)
CLI::Validator listen_address(); // host:port, the port 0 to 65535
CLI::Validator listen_host();    // a name, an IPv4 or an IPv6 address (no brackets)
CLI::Validator http_url();       // an absolute http(s) URL, the port 1 to 65535

} // namespace vaultfwd::cli
