// SPDX-License-Identifier: Apache-2.0
#pragma once
// Loading what a subcommand works on: the chosen profile (and, from it, the vault).

#include "core/profile/profile.hpp"

namespace vaultfwd::cli {

// The profile chosen by --home/--profile; fails with a message naming the file and line.
profile::Profile load_profile();
// Like load_profile(), but first runs `init` when the profile does not exist yet (serve does).
profile::Profile load_or_init_profile();

} // namespace vaultfwd::cli
