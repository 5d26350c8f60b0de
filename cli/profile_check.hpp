// SPDX-License-Identifier: Apache-2.0
#pragma once
// The whole check of a profile (core/profile/check.hpp) as config check and serve run it, so
// that both refuse a profile with the same lines.

#include <filesystem>
#include <vector>

#include "core/profile/profile.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::cli {

// Every problem profile::check finds in the profile file `file` (its home is the folder it is
// in); fails when the file cannot be read.
std::vector<Error> check_profile_file(const std::filesystem::path& file);
// Prints `problems` ("vaultfwd: error: FILE:LINE:COL: message", one a line) and fails with
// "N problem(s) in FILE" (exit 1); does nothing when there are none.
void fail_on_problems(const std::filesystem::path& file, const std::vector<Error>& problems);
// What serve starts from: the chosen profile, initialised when missing, refused as above when
// it has any problem.
profile::Profile load_or_init_checked_profile();

} // namespace vaultfwd::cli
