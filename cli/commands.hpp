// SPDX-License-Identifier: Apache-2.0
#pragma once
// One register_<name>() per subcommand file (cli/cmd_<name>.cpp); main.cpp calls them in order.

#include <CLI/CLI.hpp>

namespace vaultfwd::cli {

void register_init(CLI::App& app);       // cmd_init.cpp
void register_config(CLI::App& app);     // cmd_config.cpp
void register_serve(CLI::App& app);      // cmd_serve.cpp
void register_vault(CLI::App& app);      // cmd_vault.cpp
void register_tokenize(CLI::App& app);   // cmd_tokenize.cpp
void register_render(CLI::App& app);     // cmd_render.cpp
void register_decrypt(CLI::App& app);    // cmd_decrypt.cpp
void register_vtex(CLI::App& app);       // cmd_vtex.cpp
void register_ditto(CLI::App& app);      // cmd_ditto.cpp
void register_replay(CLI::App& app);     // cmd_replay.cpp
void register_cert(CLI::App& app);       // cmd_cert.cpp
void register_ca(CLI::App& app);         // cmd_ca.cpp
void register_routes(CLI::App& app);     // cmd_routes.cpp
void register_completions(CLI::App& app); // cmd_completions.cpp

} // namespace vaultfwd::cli
