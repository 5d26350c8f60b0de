// SPDX-License-Identifier: Apache-2.0
#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/context.hpp"
#include "core/profile/init.hpp"
#include "core/util/redact.hpp"

namespace vaultfwd::cli {

void register_init(CLI::App& app) {
    auto* cmd = app.add_subcommand("init", "Create a profile with generated secrets and a local CA");
    static bool force = false;
    cmd->add_flag("--force", force, "Regenerate the secrets and the CA of an existing profile");
    set_examples(cmd, "  vaultfwd init\n"
                      "  vaultfwd --profile ci init\n"
                      "  vaultfwd --home ./.vaultfwd init --force\n");
    cmd->callback([] {
        auto home = home_dir();
        auto report = unwrap(profile::init_profile(
            home, globals().profile, force ? profile::Overwrite::force : profile::Overwrite::never));
        auto loaded = load_profile();
        if (globals().json) {
            print_json({{"profile", loaded.name},
                        {"file", report.profile_file.string()},
                        {"ca_cert", report.ca_cert.string()},
                        {"created", report.created},
                        {"notes", report.notes}});
            return;
        }
        for (const auto& note : report.notes)
            std::cout << note << "\n";
        if (report.created) {
            std::cout << "\nAPI key:        " << util::mask_secret(loaded.api_keys.front().key)
                      << "   (full value in " << report.profile_file.string() << ")\n"
                      << "API listener:   http://" << loaded.listen.api << "\n"
                      << "Forward proxy:  http://" << loaded.listen.proxy << "\n"
                      << "Inbound port:   http://" << loaded.listen.inbound << "\n"
                      << "Trust the CA:   --cacert " << report.ca_cert.string() << "\n";
        }
    });
}

} // namespace vaultfwd::cli
