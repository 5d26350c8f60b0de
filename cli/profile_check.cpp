// SPDX-License-Identifier: Apache-2.0
#include "cli/profile_check.hpp"

#include <ctime>
#include <iostream>

#include "cli/common.hpp"
#include "cli/context.hpp"
#include "core/profile/check.hpp"
#include "core/util/fs.hpp"

namespace vaultfwd::cli {

std::vector<Error> check_profile_file(const std::filesystem::path& file) {
    auto text = util::read_file(file);
    if (!text)
        fail(text.error().message + " (run 'vaultfwd init' to create the profile)");
    return profile::check(*text, file, file.parent_path(), file.stem().string(),
                          static_cast<std::int64_t>(std::time(nullptr)));
}

void fail_on_problems(const std::filesystem::path& file, const std::vector<Error>& problems) {
    if (problems.empty())
        return;
    for (const auto& e : problems)
        std::cerr << "vaultfwd: error: " << e.describe(file.string()) << "\n";
    throw Failure(std::to_string(problems.size()) + " problem(s) in " + file.string());
}

profile::Profile load_or_init_checked_profile() {
    // Checked before it is loaded: loading stops at the first problem, the check lists them all.
    const auto file = profile::profile_path(home_dir(), globals().profile);
    std::error_code ec;
    if (!std::filesystem::exists(file, ec))
        (void)load_or_init_profile();
    fail_on_problems(file, check_profile_file(file));
    return load_profile();
}

} // namespace vaultfwd::cli
