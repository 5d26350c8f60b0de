// SPDX-License-Identifier: Apache-2.0
#pragma once
// The whole check of a profile: what reading it finds (profile.hpp's read) and everything serve
// and the other commands will need from it, so that `config check` and `serve` refuse the same
// profiles with the same messages at the same positions: route host/path and filter regexes,
// filter JSONPaths and replacements, Footprint proxy URLs and ingress rules, listen addresses,
// the files of [[certs]], [[pins]], [ca] and upstream.ca_files (present, PEM, key matching).
// Every error carries the line and column of the value at fault; for a regex or JSONPath, the
// column of the character where it goes wrong.

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "core/profile/profile.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::profile {

// Every problem of the profile text `text` read from `file`, earliest first (empty: valid).
// Relative paths resolve against `home`; `now` (seconds since the epoch) is for certificates.
std::vector<Error> check(std::string_view text, const std::filesystem::path& file,
                         const std::filesystem::path& home, const std::string& name,
                         std::int64_t now);

// "host:port" or "[v6]:port", port 0 to 65535 (0: any free port). Error "profile.bad_listen".
Result<void> check_listen(std::string_view text);

// A host to listen on, without brackets: a name, an IPv4 address (four numbers 0 to 255) or an
// IPv6 address. Names are not looked up here. Error "profile.bad_listen".
Result<void> check_listen_host(std::string_view host);

} // namespace vaultfwd::profile
