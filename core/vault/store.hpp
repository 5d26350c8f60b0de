// SPDX-License-Identifier: Apache-2.0
#pragma once
// The vault: records (an id with dotted fields) and VGS-style aliases, in one encrypted,
// append-only log file per profile.
//
// Design (why it is built this way):
// - One file, `vault.log`, that is only ever appended to: a 64-byte header (magic, version, a
//   random file id, and a key check value = HMAC of the header under a key derived from the
//   vault key, so a wrong key is reported as "vault.wrong_key" before anything is decrypted),
//   then records. Each record is framed as u32 length, u32 complement of the length (so a
//   damaged length is told apart from a short write), then a kind byte, a clear part (record
//   id and field names; or the alias, its formats and an HMAC lookup key) and one AES-256-GCM
//   blob holding the values. The GCM tag authenticates the clear part, the frame, the file id
//   and the record's byte offset too, so an altered, moved or spliced record fails with its
//   offset and record number. Values never appear in clear; ids, field names and aliases do.
// - Aliases are found again from (value, format) through HMAC-SHA256(index key, format,
//   value), never a plaintext index, and are themselves derived from the value with HMAC
//   (see alias.hpp), so the same value and format give the same alias even after a rebuild.
// - Durability: every acknowledged write is appended with a single write(2) to an O_APPEND
//   descriptor and fdatasync'd before the call returns. Deletion appends a tombstone.
// - Concurrency across processes: writers hold flock(LOCK_EX) on `vault.lock` (a separate,
//   never-replaced file, so compaction's rename cannot split the lock). Under it a writer first
//   reads what others appended, then truncates a torn tail left by a killed writer, then
//   appends. Readers take no lock: before each read one fstat compares the file's size and
//   mtime with what they have seen (and its link count: compaction's rename leaves the old
//   inode unlinked), and they parse only new, complete records; an incomplete record at the
//   end is left for later (it is either being written or torn). Within a process, one mutex
//   serialises writers (one fsync per write call; put_many/alias_many batch several records
//   into one write and one fsync) and a shared mutex guards the in-memory index.
// - Damage: an incomplete record at the end of the file (a writer killed by kill -9 mid-write)
//   is reported in warnings() at open, with its offset, and everything before it is kept; the
//   next writer truncates it. Anything else that does not parse or authenticate is an error
//   ("vault.corrupt", naming the byte offset and record number): the store refuses to open
//   rather than guess. A cut exactly at a record boundary looks like an older vault and cannot
//   be detected from the file alone.
// - compact() rewrites the live records into a new file (fresh nonces, new file id), fsyncs it
//   and renames it over the log under the exclusive lock; other processes notice the new inode
//   and re-read it.
// - Open reads the file once and checks every record's frame and tag there (so damage is
//   reported at open, as above), but keeps only an index: ids, field names and aliases with
//   the offset of the record that holds each value. Plaintext is looked at only to check it
//   and wiped. A value is read from the log, authenticated again and kept in memory when it is
//   first asked for, so a record damaged after open is still reported (with its offset and
//   record number) on that first read, and a vault of 100 000 records opens in a fraction of
//   the time full decryption into maps took. A log of more than a mebibyte is opened by two
//   threads: one reads it and indexes the records' clear parts, the other checks their tags,
//   a block of the log at a time; the open waits for both and fails as a one-thread open
//   would (the first damaged record by position), so nothing indexed is used unchecked. Lookups are hash-map reads; the optional-returning
//   reads throw DamagedVault where the Result-returning ones (read, read_field, read_alias)
//   return "vault.corrupt".

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/util/result.hpp"
#include "core/vault/alias.hpp"
#include "core/vault/record_source.hpp"

namespace vaultfwd::vault {

using Fields = std::map<std::string, std::string>;

struct Options {
    std::string alias_env = "sandbox"; // tok_<env>_… in UUID aliases
};

struct RecordInfo {
    std::string id;
    std::vector<std::string> fields; // names only, sorted
};

struct AliasInfo {
    std::string alias;
    AliasFormat requested = AliasFormat::uuid; // the format asked for
    AliasFormat format = AliasFormat::uuid;    // the format produced (after VGS's fallbacks)
};

struct AliasRequest {
    std::string value;
    AliasFormat format = AliasFormat::uuid;
};

struct CompactStats {
    std::uint64_t bytes_before = 0;
    std::uint64_t bytes_after = 0;
    std::size_t records = 0;
    std::size_t aliases = 0;
};

// A record whose bytes changed after the vault was opened, found when its value was first
// read by a call that cannot return an error (get, field, reveal). The message names the file,
// the byte offset and the record number, never a value.
class DamagedVault : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class Store : public RecordSource {
  public:
    // Opens (creating when missing, 0700 folder, 0600 files) the vault in `dir` with the raw
    // 32-byte key. Errors: "vault.bad_key" (not 32 bytes), "vault.bad_env", "vault.wrong_key",
    // "vault.corrupt" (with offset and record number), "vault.io". A torn tail is not an error:
    // see warnings().
    static Result<std::unique_ptr<Store>> open(const std::filesystem::path& dir,
                                               std::string_view key32, Options options = {});
    ~Store() override;
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // Sets `fields` of record `id` (other fields of the record are kept), durably; a put that
    // changes nothing writes nothing. Errors:
    // "vault.bad_id" / "vault.bad_field" (empty, or control characters), "vault.io".
    Result<void> put(const std::string& id, const Fields& fields);
    // Several puts in one durable write.
    Result<void> put_many(const std::vector<std::pair<std::string, Fields>>& records);
    // All fields of record `id`, or nullopt. Error "vault.corrupt" (offset and record number)
    // when a record holding one of them no longer authenticates.
    Result<std::optional<Fields>> read(const std::string& id) const;
    Result<std::optional<std::string>> read_field(const std::string& id,
                                                  const std::string& field) const override;
    // read_field() of each query, with one look for other writers for all of them.
    std::vector<Result<std::optional<std::string>>>
    read_fields(const std::vector<FieldQuery>& queries) const override;
    // The same; they throw DamagedVault instead of returning "vault.corrupt".
    std::optional<Fields> get(const std::string& id) const;
    std::optional<std::string> field(const std::string& id,
                                     const std::string& field) const override;
    bool has_record(const std::string& id) const override;
    // Every record id with its field names (never values), sorted by id.
    std::vector<RecordInfo> list() const;
    // Deletes record `id` (a tombstone), durably. Error "vault.not_found" when absent.
    Result<void> remove(const std::string& id);

    // The alias standing for `value` in `format`: the one made before for this value and
    // format, else a new one (collision-checked against every alias in the vault), durably.
    Result<std::string> alias(std::string_view value, AliasFormat format);
    // Aliases for several values in one durable write; same order as `requests`.
    Result<std::vector<std::string>> alias_many(const std::vector<AliasRequest>& requests);
    // The value an alias stands for, or nullopt when it is not an alias in this vault. Error
    // "vault.corrupt" as for read(); reveal throws DamagedVault instead.
    Result<std::optional<std::string>> read_alias(std::string_view alias) const;
    std::optional<std::string> reveal(std::string_view alias) const;
    bool is_alias(std::string_view text) const;
    std::optional<AliasInfo> alias_info(std::string_view alias) const;
    // Every alias (not its value), sorted.
    std::vector<AliasInfo> list_aliases() const;
    // Deletes an alias (a tombstone). Error "vault.not_found" when absent.
    Result<void> remove_alias(std::string_view alias);

    // Rewrites the log with only live entries and swaps it in atomically.
    Result<CompactStats> compact();

    // Problems found and tolerated (a torn tail at open, and its truncation): human lines
    // naming the byte offset and record number, never a value.
    std::vector<std::string> warnings() const;
    std::filesystem::path log_path() const;
    std::size_t record_count() const;
    std::size_t alias_count() const;

    // While one lives on this thread, reads of `store` check its file for other processes'
    // writes once, at the first read, instead of at every read: the reads of one request see
    // one state of the vault for one fstat (a five-token request made five). Writes catch up
    // with the file as always. Scopes nest; each belongs to the thread that made it.
    class ReadScope {
      public:
        explicit ReadScope(const Store& store);
        ~ReadScope();
        ReadScope(const ReadScope&) = delete;
        ReadScope& operator=(const ReadScope&) = delete;

      private:
        friend class Store;
        const void* m_impl;
        ReadScope* m_outer;
        bool m_checked = false;
    };

  private:
    struct Impl;
    explicit Store(std::unique_ptr<Impl> impl);
    // False when this thread's scope for the store has already checked the file.
    static bool check_due(const void* impl);
    std::unique_ptr<Impl> m_impl;
};

} // namespace vaultfwd::vault
