// SPDX-License-Identifier: Apache-2.0
#include "cli/context.hpp"

#include <iostream>

#include "cli/common.hpp"
#include "core/profile/init.hpp"

namespace vaultfwd::cli {

profile::Profile load_profile() {
    auto home = home_dir();
    auto r = profile::load(home, globals().profile);
    if (!r) {
        if (r.error().line > 0)
            fail(r.error().describe(profile::profile_path(home, globals().profile).string()));
        fail(r.error().message);
    }
    return std::move(r).value();
}

std::unique_ptr<vault::Store> open_vault(const profile::Profile& profile) {
    vault::Options options;
    options.alias_env = profile.vault.alias_env;
    auto store = unwrap(vault::Store::open(profile.vault_dir(), profile.vault_key(), options));
    for (const auto& w : store->warnings())
        std::cerr << "vaultfwd: warning: " << w << "\n";
    return store;
}

profile::Profile load_or_init_profile() {
    auto home = home_dir();
    std::error_code ec;
    if (!std::filesystem::exists(profile::profile_path(home, globals().profile), ec)) {
        auto report = unwrap(profile::init_profile(home, globals().profile, profile::Overwrite::never));
        std::cerr << "vaultfwd: initialised profile \"" << globals().profile << "\" in "
                  << report.profile_file.string() << "\n";
    }
    return load_profile();
}

} // namespace vaultfwd::cli
