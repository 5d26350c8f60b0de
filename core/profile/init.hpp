// SPDX-License-Identifier: Apache-2.0
#pragma once
// `vaultfwd init`: a new profile with generated secrets and its local CA.

#include <filesystem>
#include <string>
#include <vector>

#include "core/util/result.hpp"

namespace vaultfwd::profile {

enum class Overwrite { never, force };

struct InitReport {
    std::filesystem::path profile_file;
    std::filesystem::path ca_cert;
    bool created = false;        // false: everything already existed and nothing changed
    std::vector<std::string> notes; // what was kept or regenerated, for the user
};

// Creates <home>/<name>.toml (0600) with an API key, a proxy username/password and a vault key,
// and <home>/<name>/ca.pem + ca.key (key 0600). An existing profile or CA is left untouched
// unless `overwrite` is force; even then an existing non-empty vault keeps its key, since a new
// key would make every stored value unreadable.
Result<InitReport> init_profile(const std::filesystem::path& home, const std::string& name,
                                Overwrite overwrite);

// The profile text `init` writes, commented for a reader (secrets given).
std::string default_profile_text(const std::string& name, const std::string& api_key,
                                 const std::string& proxy_user, const std::string& proxy_password,
                                 const std::string& vault_key_hex);

} // namespace vaultfwd::profile
