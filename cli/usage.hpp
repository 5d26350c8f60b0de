// SPDX-License-Identifier: Apache-2.0
#pragma once
// Usage errors that name the word at fault: CLI11 reports "A subcommand is required" for
// `vaultfwd cert lst` and for `vaultfwd --bogus` alike, so the command line is walked again
// against the command tree to find the unknown command or option and the nearest real one.

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace vaultfwd::cli {

struct UsageError {
    std::string message;   // "unknown command \"lst\" for \"vaultfwd cert\": did you mean …"
    std::string help_path; // the command whose --help applies: "vaultfwd cert"
};

// What is wrong with `args` (argv without the program name), given that CLI11 refused them
// with `error`: an unknown command or option (with the nearest known one, or the list of
// commands), a missing subcommand (with the list), else CLI11's own message.
UsageError explain_usage_error(const CLI::App& root, const std::vector<std::string>& args,
                               const CLI::ParseError& error);

} // namespace vaultfwd::cli
