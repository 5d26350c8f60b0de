// SPDX-License-Identifier: Apache-2.0
#pragma once
// Loading what a subcommand works on: the chosen profile (and, from it, the vault).

#include <memory>

#include "core/profile/profile.hpp"
#include "core/vault/store.hpp"

namespace vaultfwd::cli {

// The profile chosen by --home/--profile; fails with a message naming the file and line.
profile::Profile load_profile();
// Like load_profile(), but first runs `init` when the profile does not exist yet (serve does).
profile::Profile load_or_init_profile();
// Opens the profile's vault, printing its warnings (a torn tail found and kept) on stderr.
std::unique_ptr<vault::Store> open_vault(const profile::Profile& profile);

} // namespace vaultfwd::cli
