// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shell completion scripts generated from the CLI11 command tree itself, so they can never list
// a subcommand or an option the binary does not have (completions/ holds the generated files and
// a test compares them with the binary's output).

#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace vaultfwd::cli {

// How the value of an option (or a positional argument) is completed.
struct ValueKind {
    // profile: the names of the profiles in the home folder (--home, $VAULTFWD_HOME, …).
    enum Kind { none, file, dir, choices, profile } kind = none;
    std::vector<std::string> words; // choices
};

// Declares what the values of `opt` complete to where its CLI11 type name does not say (a
// choice CLI11 does not enforce, such as --via's "reflect" beside a URL; a profile name).
// Returns `opt`, to chain.
CLI::Option* complete_as(CLI::Option* opt, ValueKind kind);

struct CompletionOption {
    std::vector<std::string> names; // "-y", "--yes"
    std::string description;
    bool takes_value = false;
    ValueKind value;
};

struct CompletionCommand {
    std::string path;                                             // "vaultfwd cert pin"
    std::vector<std::pair<std::string, std::string>> subcommands; // name, description
    // Its own options, then those its parents take when it falls through to them (--json, …).
    std::vector<CompletionOption> options;
    // What its positional arguments take: files, choices, or nothing to propose (none).
    ValueKind positional{ValueKind::none, {}};
};

// Every command of the tree under `root`, depth first, root first; hidden subcommands and
// options (empty group) left out.
std::vector<CompletionCommand> collect_commands(const CLI::App& root);

// The value kind CLI11's type name implies: "{a,b}" choices (CLI::IsMember), FILE/PATH files,
// DIR folders, anything else (TEXT, INT, …) nothing: a value that is a file must say so.
ValueKind value_kind(const std::string& type_name);

// Complete scripts: bash (`complete -F _vaultfwd vaultfwd`), zsh (#compdef, works autoloaded
// from $fpath or sourced), fish.
std::string bash_completion(const CLI::App& root);
std::string zsh_completion(const CLI::App& root);
std::string fish_completion(const CLI::App& root);

} // namespace vaultfwd::cli
