// SPDX-License-Identifier: Apache-2.0
#pragma once
// Where the values of a profile sit in its file, for checks that run after reading (regexes,
// JSONPaths, files) and must still point at a line and column.

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/profile/profile.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::profile {

// Positions by key path: "listen.api", "ca.cert", "certs[2].key",
// "routes[0].filters[1].targets[0]" (entries of arrays by index, from 0).
class SourceMap {
  public:
    struct Pos {
        int line = 0; // 1-based; 0 when unknown
        int column = 0;
    };
    void set(std::string key, Pos pos) { m_pos[std::move(key)] = pos; }
    void set_text(std::string_view text);
    // Where `key`'s value starts ({0, 0} when the profile does not set it).
    Pos at(const std::string& key) const;
    // Where byte `offset` (0-based) of the decoded string value of `key` sits in the file,
    // following the escapes of a TOML basic string; a multi-line string gives its start.
    Pos at(const std::string& key, std::size_t offset) const;

  private:
    std::map<std::string, Pos> m_pos;
    std::vector<std::string> m_lines;
};

// Reads a profile text into `out` and `map` and returns every problem reading finds (syntax,
// types, unknown and missing keys, duplicates, names that point nowhere), earliest line first.
// On a syntax error `out` and `map` stay empty.
std::vector<Error> read(std::string_view text, const std::filesystem::path& file,
                        const std::filesystem::path& home, const std::string& name, Profile& out,
                        SourceMap& map);

} // namespace vaultfwd::profile
