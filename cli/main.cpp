// SPDX-License-Identifier: Apache-2.0
// vaultfwd: a local vault proxy for developers. main() only wires the subcommands together.

#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/completions.hpp"
#include "cli/usage.hpp"

using namespace vaultfwd::cli;

int main(int argc, char** argv) {
    CLI::App app{"vaultfwd: a local vault proxy for building against Footprint, Gr4vy, VTEX and "
                 "VGS-style proxies"};
    app.name("vaultfwd");
    app.require_subcommand(1);
    app.fallthrough();
    auto& g = globals();
    app.add_option("--home", g.home, "Home folder (default $VAULTFWD_HOME or ~/.config/vaultfwd)")
        ->type_name("DIR");
    complete_as(app.add_option("--profile", g.profile, "Profile name (default: default)"),
                {ValueKind::profile, {}});
    app.add_flag("--json", g.json, "Machine-readable JSON output");
    app.add_flag("-v,--verbose", g.verbose, "More output (repeat for more)");
    app.set_version_flag("--version", std::string("vaultfwd ") + VAULTFWD_VERSION);
    set_examples(&app, "  vaultfwd init\n"
                       "  vaultfwd config check\n"
                       "  vaultfwd --home /tmp/vf --profile ci init\n");

    // Subcommands, in the order --help lists them.
    register_init(app);
    register_config(app);
    register_serve(app);
    register_vtex(app);
    register_vault(app);
    register_tokenize(app);
    register_render(app);
    register_decrypt(app);
    register_ditto(app);
    register_replay(app);
    register_cert(app);
    register_ca(app);
    register_routes(app);
    register_completions(app);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0)
            return app.exit(e); // --help, --version
        auto usage = explain_usage_error(app, std::vector<std::string>(argv + 1, argv + argc), e);
        std::cerr << "vaultfwd: error: " << usage.message << "\n"
                  << "run '" << usage.help_path << " --help' for usage\n";
        return 2;
    } catch (const Failure& e) {
        std::cerr << "vaultfwd: error: " << e.what() << "\n";
        return e.exit_code;
    } catch (const std::exception& e) {
        std::cerr << "vaultfwd: error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
