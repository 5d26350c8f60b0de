// SPDX-License-Identifier: Apache-2.0
#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/completions.hpp"

namespace vaultfwd::cli {

void register_completions(CLI::App& app) {
    auto* cmd = app.add_subcommand("completions", "Print the shell completion script for bash, "
                                                  "zsh or fish");
    static std::string shell;
    cmd->add_option("shell", shell, "bash, zsh or fish")
        ->required()
        ->check(CLI::IsMember({"bash", "zsh", "fish"}));
    set_examples(cmd, "  source <(vaultfwd completions bash)\n"
                      "  vaultfwd completions zsh > \"${fpath[1]}/_vaultfwd\"\n"
                      "  vaultfwd completions fish > ~/.config/fish/completions/vaultfwd.fish\n");
    // The tree is walked when the command runs, so it sees every subcommand registered after it.
    cmd->callback([&app] {
        const CLI::App& root = app;
        std::cout << (shell == "bash"  ? bash_completion(root)
                      : shell == "zsh" ? zsh_completion(root)
                                       : fish_completion(root));
        std::cout.flush();
    });
}

} // namespace vaultfwd::cli
