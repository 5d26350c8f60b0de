// SPDX-License-Identifier: Apache-2.0
#pragma once
// The tokenize ledger: what each tokenize run wrote, so that a later run can tell an alias it
// wrote from a real value that happens to look like one (a CVC "631" that is also the alias of
// "314"). For every file written it keeps the file's absolute path and, per normalized JSONPath
// location, the alias written there. Only the path counts: a document's content proves nothing
// (a real fixture can be byte for byte what tokenize wrote for another), so a copy of an output
// under another name, or standard input, is a new document whose values are all real. The file
// is JSON with an HMAC over it under a key derived from the vault key: an edit that would make a
// real value pass for an alias is refused as damage, never trusted. Aliases, paths and JSON
// locations are not secrets (the vault log holds aliases in clear too).

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/util/result.hpp"

namespace vaultfwd::vault {

// Normalized JSONPath location ("$['card']['cvc']") -> the alias text written there.
using WrittenAliases = std::map<std::string, std::string>;

class TokenizeLedger {
  public:
    // Reads the ledger at `file` (absent: empty) with a key derived from the vault key.
    // Errors: "tokenize.ledger_damaged" (does not parse or authenticate: names the file and
    // says how to start over), "fs.read".
    static Result<TokenizeLedger> load(const std::filesystem::path& file,
                                       std::string_view vault_key);

    // The aliases tokenize wrote into the file at `path` (absolute), nullopt when it never
    // wrote that file.
    std::optional<WrittenAliases> written(const std::string& path) const;

    // Notes that the file at `path` (absolute) now holds `aliases`, replacing what it held.
    // Kept in memory until save().
    void record(const std::string& path, WrittenAliases aliases);

    // Merges what was recorded since load (or the last save) into the file, under a lock,
    // atomically and durably (0600). Another process's entries for other files are kept.
    Result<void> save();

  private:
    TokenizeLedger(std::filesystem::path file, std::string mac_key)
        : m_file(std::move(file)), m_mac_key(std::move(mac_key)) {}
    // The entries in the file now (none when it is absent), authenticated.
    Result<void> read_entries(std::map<std::string, WrittenAliases>& out) const;

    std::filesystem::path m_file;
    std::string m_mac_key;
    std::map<std::string, WrittenAliases> m_entries; // by path
    std::map<std::string, WrittenAliases> m_pending; // recorded, not yet saved
};

} // namespace vaultfwd::vault
