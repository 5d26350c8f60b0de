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

} // namespace vaultfwd::cli
