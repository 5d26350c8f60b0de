// SPDX-License-Identifier: Apache-2.0
#pragma once
// Edits a profile as text, so that what a person wrote (comments, order, spacing) survives:
// entries of an array of tables ([[certs]], [[pins]], [[routes]]) are appended at the end or cut
// out line-exactly; nothing else is ever rewritten.

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "core/util/result.hpp"

namespace vaultfwd::profile {

using Fields = std::vector<std::pair<std::string, std::string>>; // key, string value

// Appends "[[array]]" with `fields` (TOML-escaped strings) to the profile file. The new text
// must still be a valid profile, else nothing is written.
Result<void> append_entry(const std::filesystem::path& file, const std::string& array,
                          const Fields& fields);
// Appends one "[[array]]" entry per table in `entries`, in one edit: any TOML value (strings,
// numbers, booleans, arrays, inline tables) and arrays of tables, which become
// "[[array.key]]" sections under their entry. Nothing is written unless the result is a valid
// profile.
Result<void> append_tables(const std::filesystem::path& file, const std::string& array,
                           const std::vector<toml::table>& entries);
// Removes the [[array]] entry whose `key` equals `value`: its header line through its last
// key line (comments right above the next entry stay with that entry). False when absent.
Result<bool> remove_entry(const std::filesystem::path& file, const std::string& array,
                          const std::string& key, const std::string& value);

// The same operations on text, for tests and for callers that batch edits.
std::string append_entry_text(const std::string& text, const std::string& array,
                              const Fields& fields);
std::string append_table_text(const std::string& text, const std::string& array,
                              const toml::table& entry);
Result<std::string> remove_entry_text(const std::string& text, const std::string& array,
                                      const std::string& key, const std::string& value,
                                      bool* found);

} // namespace vaultfwd::profile
