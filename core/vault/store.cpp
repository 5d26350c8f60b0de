// SPDX-License-Identifier: Apache-2.0
#include "core/vault/store.hpp"

#include <absl/container/inlined_vector.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <sys/file.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>

#include "core/crypto/aead.hpp"
#include "core/crypto/hash.hpp"
#include "core/util/fs.hpp"
#include "core/util/random.hpp"
#include "core/util/strings.hpp"
#include "core/util/view_hash.hpp"

namespace vaultfwd::vault {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_magic{"VFVAULT\0", 8};
constexpr std::uint32_t k_version = 1;
constexpr std::size_t k_file_id_size = 16;
constexpr std::size_t k_header_size = 8 + 4 + 4 + k_file_id_size + 32;
constexpr std::size_t k_frame_size = 8;
// Smallest body: kind, clear length, nonce and tag.
constexpr std::size_t k_min_body = 1 + 4 + crypto::k_aead_overhead;
constexpr std::size_t k_max_body = 64u << 20;
constexpr std::size_t k_max_name = 1024;
// Opening a log with more than this to read checks tags on a second thread.
constexpr std::uint64_t k_parallel_open = 1u << 20;
constexpr std::uint32_t k_max_alias_attempts = 2000;
constexpr const char* k_log_name = "vault.log";
constexpr const char* k_lock_name = "vault.lock";

enum class Kind : std::uint8_t { put = 1, remove = 2, alias = 3, alias_remove = 4 };

// Where a record lives in the log.
struct Slot {
    std::uint64_t at = 0;     // byte offset of its frame
    std::uint64_t number = 0; // 1-based, for "record N" in messages
    std::uint32_t size = 0;   // frame and body
};
// A put or alias record in the index's table of slots: 4 bytes where a Slot takes 24, in every
// field and alias the index holds.
using SlotId = std::uint32_t;
constexpr std::uint64_t k_max_records = 0xffffffffu;

// A record to be written, values included.
struct Rec {
    Kind kind = Kind::put;
    std::string id;     // put, remove
    Fields fields;      // put
    std::string alias;  // alias, alias_remove
    std::string value;  // alias
    std::string lookup; // alias: HMAC(index key, format, value)
    AliasFormat requested = AliasFormat::uuid;
    AliasFormat format = AliasFormat::uuid;
};

// A record's clear part, as read from the log or as just written: views into those bytes,
// which the index copies what it keeps from. Its values stay sealed in the log until asked for.
struct Entry {
    Kind kind = Kind::put;
    std::string_view id;                 // put, remove
    std::vector<std::string_view> names; // put: field names, in the order of the sealed values
    std::string_view alias;              // alias, alias_remove
    std::string_view lookup;             // alias
    AliasFormat requested = AliasFormat::uuid;
    AliasFormat format = AliasFormat::uuid;
};

// Append-only storage for the names the index keeps (record ids, field names, aliases, lookup
// keys): one allocation per 256 KiB rather than one per name, which is what opening a vault of
// 100 000 records and 100 000 aliases spent most of its time on. Views into it stay valid as
// long as it lives; a name the index drops (a deleted record) stays until the index is rebuilt
// (a compaction, or another process's), like the record it came from stays in the log.
class NameArena {
  public:
    std::string_view add(std::string_view s) {
        if (s.size() > m_left) {
            const std::size_t block = std::max(k_block, s.size());
            m_blocks.emplace_back(new char[block]);
            m_next = m_blocks.back().get();
            m_left = block;
        }
        if (!s.empty())
            std::memcpy(m_next, s.data(), s.size());
        std::string_view out(m_next, s.size());
        m_next += s.size();
        m_left -= s.size();
        return out;
    }

  private:
    static constexpr std::size_t k_block = 256u << 10;
    std::vector<std::unique_ptr<char[]>> m_blocks;
    char* m_next = nullptr;
    std::size_t m_left = 0;
};

// Where the current value of one field is: value number `index` of the record at `slot`.
struct FieldRef {
    std::string_view name;
    SlotId slot = 0;
    std::uint32_t index = 0;
};
// A record's fields, sorted by name (records have few fields: a sorted vector beats a map; up
// to three, as card records have, live in the table's own slot).
using FieldRefs = absl::InlinedVector<FieldRef, 3>;

const FieldRef* find_ref(const FieldRefs& refs, std::string_view name) {
    auto it = std::lower_bound(refs.begin(), refs.end(), name,
                               [](const FieldRef& e, std::string_view n) { return e.name < n; });
    return it != refs.end() && it->name == name ? &*it : nullptr;
}

void set_ref(FieldRefs& refs, const FieldRef& ref) {
    auto it = std::lower_bound(refs.begin(), refs.end(), ref.name,
                               [](const FieldRef& e, std::string_view n) { return e.name < n; });
    if (it != refs.end() && it->name == ref.name)
        *it = ref;
    else
        refs.insert(it, ref);
}

struct AliasEntry {
    std::string_view lookup; // HMAC(index key, format, value)
    SlotId slot = 0;         // the value is its record's whole plaintext
    AliasFormat requested = AliasFormat::uuid;
    AliasFormat format = AliasFormat::uuid;
};

// Names are views into the index's NameArena.
using DataIndex = util::ViewMap<FieldRefs>;   // record id -> its fields
using AliasIndex = util::ViewMap<AliasEntry>; // alias -> its value's slot

// What the store knows of its log without values: built by reading the log (open, catching up
// with other processes' writes) and by this process's writes, and rebuilt whole by compaction.
struct Index {
    NameArena names;
    util::ViewSet field_names; // interned: records share a few names
    std::vector<Slot> slots;                           // by SlotId
    DataIndex data;
    AliasIndex aliases;
    // Lookup key -> alias: only writing aliases needs it (finding the alias a value already
    // has), so it is built on the first such write rather than at open; once built, it is kept
    // up to date with every record indexed.
    util::ViewMap<std::string_view> by_lookup;
    bool lookups_ready = false;

    // Room for about `records` records and as many aliases, so that building does not rehash
    // its way up (untouched room costs address space, not memory).
    void reserve(std::size_t records) {
        slots.reserve(2 * records);
        data.reserve(records);
        aliases.reserve(records);
    }

    std::string_view field_name(std::string_view name) {
        auto it = field_names.find(name);
        if (it == field_names.end())
            it = field_names.insert(names.add(name)).first;
        return *it;
    }

    SlotId add_slot(const Slot& slot) {
        slots.push_back(slot);
        return static_cast<SlotId>(slots.size() - 1);
    }

    // Adds a checked record (kept at or below k_max_records by the callers).
    void add(const Entry& e, const Slot& slot) {
        switch (e.kind) {
        case Kind::put: {
            const SlotId sid = add_slot(slot);
            // One hash of each id: lazy_emplace copies a new id into the arena in place.
            auto it = data.lazy_emplace(e.id, [&](const auto& ctor) {
                ctor(std::piecewise_construct, std::forward_as_tuple(names.add(e.id)),
                     std::forward_as_tuple());
            });
            for (std::uint32_t i = 0; i < e.names.size(); ++i)
                set_ref(it->second, FieldRef{field_name(e.names[i]), sid, i});
            break;
        }
        case Kind::remove:
            data.erase(e.id);
            break;
        case Kind::alias: {
            const SlotId sid = add_slot(slot);
            auto it = aliases.lazy_emplace(
                e.alias, [&](const auto& ctor) { ctor(names.add(e.alias), AliasEntry{}); });
            AliasEntry& entry = it->second;
            if (entry.lookup != e.lookup) {
                if (lookups_ready && !entry.lookup.empty())
                    by_lookup.erase(entry.lookup);
                entry.lookup = names.add(e.lookup);
            }
            entry.slot = sid;
            entry.requested = e.requested;
            entry.format = e.format;
            if (lookups_ready)
                by_lookup.insert_or_assign(entry.lookup, it->first);
            break;
        }
        case Kind::alias_remove: {
            auto it = aliases.find(e.alias);
            if (it != aliases.end()) {
                if (lookups_ready) {
                    auto l = by_lookup.find(it->second.lookup);
                    if (l != by_lookup.end() && l->second == e.alias)
                        by_lookup.erase(l);
                }
                aliases.erase(it);
            }
            break;
        }
        }
    }

    // by_lookup from the aliases, as indexing them one by one in log order would have made it
    // (should two aliases share a lookup key, the later record's wins).
    void build_lookups() {
        if (lookups_ready)
            return;
        by_lookup.clear();
        by_lookup.reserve(aliases.size());
        for (const auto& [alias, entry] : aliases) {
            auto [it, fresh] = by_lookup.try_emplace(entry.lookup, alias);
            if (!fresh && aliases.find(it->second)->second.slot < entry.slot)
                it->second = alias;
        }
        lookups_ready = true;
    }
};

void put_u32(std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
        out.push_back(static_cast<char>((v >> shift) & 0xff));
}
void put_u64(std::string& out, std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8)
        out.push_back(static_cast<char>((v >> shift) & 0xff));
}
void put_str(std::string& out, std::string_view s) {
    put_u32(out, static_cast<std::uint32_t>(s.size()));
    out += s;
}
std::uint32_t get_u32(std::string_view s, std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i)
        v = (v << 8) | static_cast<unsigned char>(s[at + i]);
    return v;
}

// Bounds-checked reading of a clear part or plaintext.
class Reader {
  public:
    explicit Reader(std::string_view s) : m_s(s) {}
    bool u8(std::uint8_t& v) {
        if (m_pos + 1 > m_s.size())
            return false;
        v = static_cast<std::uint8_t>(m_s[m_pos++]);
        return true;
    }
    bool u32(std::uint32_t& v) {
        if (m_pos + 4 > m_s.size())
            return false;
        v = get_u32(m_s, m_pos);
        m_pos += 4;
        return true;
    }
    bool str(std::string& v) {
        std::string_view view;
        if (!str(view))
            return false;
        v.assign(view);
        return true;
    }
    bool str(std::string_view& v) {
        std::uint32_t n = 0;
        if (!u32(n) || n > m_s.size() - m_pos)
            return false;
        v = m_s.substr(m_pos, n);
        m_pos += n;
        return true;
    }
    bool done() const { return m_pos == m_s.size(); }

  private:
    std::string_view m_s;
    std::size_t m_pos = 0;
};

std::string errno_text() {
    return std::strerror(errno);
}

Error io_error(const std::string& what, const fs::path& path) {
    return make_error("vault.io", "cannot " + what + " " + path.string() + ": " + errno_text());
}

bool valid_name(std::string_view s) {
    if (s.empty() || s.size() > k_max_name || !util::is_valid_utf8(s))
        return false;
    return std::none_of(s.begin(), s.end(),
                        [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

Result<void> write_all(int fd, std::string_view data) {
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return make_error("vault.io", "cannot write the vault: " + errno_text());
        }
        off += static_cast<std::size_t>(n);
    }
    return {};
}

Result<std::string> pread_range(int fd, std::uint64_t from, std::uint64_t to) {
    std::string buf(static_cast<std::size_t>(to - from), '\0');
    std::size_t got = 0;
    while (got < buf.size()) {
        ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(from + got));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return make_error("vault.io", "cannot read the vault: " + errno_text());
        }
        if (n == 0)
            break; // shrank while reading: parse what is there
        got += static_cast<std::size_t>(n);
    }
    buf.resize(got);
    return buf;
}

// Buffers of the log for a LogReader that hands them to another thread (see Impl::catch_up):
// at most `limit` exist at once, so the memory a large vault's open touches stays bounded; a
// buffer comes back once the other thread is done with it.
class BufferPool {
  public:
    explicit BufferPool(std::size_t limit) : m_limit(limit) {}

    // A free buffer (its capacity kept from its last use); waits while `limit` are out.
    std::shared_ptr<std::string> take() {
        std::unique_lock l(m_mutex);
        m_returned.wait(l, [&] { return !m_free.empty() || m_made < m_limit; });
        if (m_free.empty()) {
            ++m_made;
            return std::make_shared<std::string>();
        }
        auto b = std::move(m_free.back());
        m_free.pop_back();
        return b;
    }
    void give(std::shared_ptr<std::string> buffer) {
        {
            std::lock_guard l(m_mutex);
            m_free.push_back(std::move(buffer));
        }
        m_returned.notify_one();
    }

  private:
    std::mutex m_mutex;
    std::condition_variable m_returned;
    std::vector<std::shared_ptr<std::string>> m_free;
    std::size_t m_made = 0;
    const std::size_t m_limit;
};

// The log from an offset on, read a block at a time into one reused buffer: reading a large
// vault touches a megabyte of fresh memory rather than the file's size. Reads go forward only.
// With a pool, each block goes into a buffer of its own, and the one left behind is handed to
// `retire` with the file offset of its first byte (views into it stay valid for whoever
// keeps it).
class LogReader {
  public:
    using Retire = std::function<void(std::shared_ptr<std::string>, std::uint64_t)>;

    LogReader(int fd, std::uint64_t from, std::uint64_t end, BufferPool* pool = nullptr,
              Retire retire = {})
        : m_fd(fd), m_base(from), m_end(end), m_pool(pool), m_retire(std::move(retire)),
          m_buf(pool ? pool->take() : std::make_shared<std::string>()) {}

    // The bytes from `at` on: at least `n` of them, fewer only where the file ends (it may have
    // shrunk while being read: then what is there).
    Result<std::string_view> from(std::uint64_t at, std::size_t n) {
        const std::size_t skip = static_cast<std::size_t>(at - m_base);
        if (skip + n > m_len && m_base + m_len < m_end) {
            const std::size_t keep = m_len - skip;
            const std::size_t room = std::max(n, k_block);
            if (m_pool && m_len > 0) {
                auto next = m_pool->take();
                if (next->size() < room)
                    next->resize(room);
                if (keep > 0)
                    std::memcpy(next->data(), m_buf->data() + skip, keep);
                std::swap(next, m_buf);
                m_retire(std::move(next), m_base);
            } else {
                if (m_buf->size() < room)
                    m_buf->resize(room);
                std::memmove(m_buf->data(), m_buf->data() + skip, keep);
            }
            m_len = keep;
            m_base = at;
            const auto want = static_cast<std::size_t>(
                std::min<std::uint64_t>(m_buf->size(), m_end - m_base));
            while (m_len < want) {
                ssize_t got = ::pread(m_fd, m_buf->data() + m_len, want - m_len,
                                      static_cast<off_t>(m_base + m_len));
                if (got < 0) {
                    if (errno == EINTR)
                        continue;
                    return make_error("vault.io", "cannot read the vault: " + errno_text());
                }
                if (got == 0) {
                    m_end = m_base + m_len;
                    break;
                }
                m_len += static_cast<std::size_t>(got);
            }
            return std::string_view(m_buf->data(), m_len);
        }
        return std::string_view(m_buf->data() + skip, m_len - skip);
    }
    std::uint64_t end() const { return m_end; }
    // The buffer read into now, and the file offset of its first byte.
    const std::shared_ptr<std::string>& buffer() const { return m_buf; }
    std::uint64_t base() const { return m_base; }

  private:
    static constexpr std::size_t k_block = 1u << 20;
    int m_fd;
    std::uint64_t m_base; // the file offset of (*m_buf)[0]
    std::uint64_t m_end;
    BufferPool* m_pool;
    Retire m_retire;
    std::shared_ptr<std::string> m_buf;
    std::size_t m_len = 0; // bytes of m_buf read
};

void fsync_dir(const fs::path& dir) {
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

// flock(2) held for a scope; released on destruction.
class FileLock {
  public:
    FileLock(int fd, int op) : m_fd(fd) {
        while (::flock(fd, op) != 0) {
            if (errno != EINTR) {
                m_fd = -1;
                break;
            }
        }
    }
    ~FileLock() {
        if (m_fd >= 0)
            ::flock(m_fd, LOCK_UN);
    }
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;
    bool ok() const { return m_fd >= 0; }

  private:
    int m_fd;
};

std::string record_word(std::uint64_t n) {
    return "record " + std::to_string(n);
}

} // namespace

namespace {
thread_local Store::ReadScope* t_read_scope = nullptr;
} // namespace

struct Store::Impl {
    enum class Scan { open, read, write };

    fs::path dir, log, lock;
    std::string key, check_key, index_key, alias_key;
    Options options;
    int lock_fd = -1;
    int log_fd = -1;

    // What has been consumed from the current log file.
    std::string file_id;
    std::uint64_t offset = 0;  // end of the last complete record applied
    std::uint64_t records = 0; // complete records applied (for "record N" in messages)
    dev_t dev = 0;
    ino_t ino = 0;
    off_t seen_size = -1; // size and mtime at the last scan, to skip rescans of a torn tail
    struct timespec seen_mtime {};

    // The index holds no values (ids, field names, aliases, lookup keys), so open-addressing
    // tables that move their entries are fine here: abseil's flat tables cut the open of a
    // vault of 100 000 records and 100 000 aliases from about 415 to 335 ms of CPU (fresh
    // process, same file) against node-based std::unordered_map; names in one arena instead of
    // a string each, and the lookup table built when first needed, cut it further (see
    // README). Values (`opened` below) stay in a node-based map, which never leaves a
    // moved-from copy of a value behind when it grows.
    Index ix;
    std::vector<std::string> warns;
    // Checks every record read from the file (one cipher set-up for all of them). Used under
    // write_mutex or at open.
    std::optional<crypto::AeadOpener> checker;
    std::string scratch; // the checker's plaintext, wiped after each record
    Entry parsed;        // the record being read (its names' capacity is reused)

    mutable std::mutex write_mutex;        // one writer (or refresher) at a time in this process
    mutable std::shared_mutex state_mutex; // the maps above
    // Values read so far, by their record's offset: each record is read from the log and
    // authenticated once, when one of its values is first asked for. Readers fill it under a
    // shared state_mutex, hence its own mutex.
    mutable std::mutex cache_mutex;
    mutable std::unordered_map<std::uint64_t, std::vector<std::string>> opened;
    // Openers for reading values, one per thread reading at a time (see open_sealed).
    mutable std::mutex openers_mutex;
    mutable std::vector<crypto::AeadOpener> openers;

    ~Impl() {
        if (log_fd >= 0)
            ::close(log_fd);
        if (lock_fd >= 0)
            ::close(lock_fd);
    }

    std::string derive(std::string_view label) const {
        return crypto::hmac_sha256(key, "vaultfwd/vault/" + std::string(label));
    }

    std::string lookup_key(std::string_view value, AliasFormat requested) const {
        std::string in(1, static_cast<char>(requested));
        in += value;
        return crypto::hmac_sha256(index_key, in);
    }

    void warn(std::string message) {
        if (std::find(warns.begin(), warns.end(), message) == warns.end())
            warns.push_back(std::move(message));
    }

    // --- header ---------------------------------------------------------------------------

    std::string make_header(const std::string& id) const {
        std::string h(k_magic);
        put_u32(h, k_version);
        put_u32(h, 0);
        h += id;
        h += crypto::hmac_sha256(check_key, h);
        return h;
    }

    Result<void> create_log() {
        auto tmp = dir / (std::string(k_log_name) + ".new-" + util::random_hex(6));
        auto header = make_header(util::random_bytes(k_file_id_size));
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            return io_error("create", tmp);
        auto w = write_all(fd, header);
        bool synced = w && ::fsync(fd) == 0;
        ::close(fd);
        // link() rather than rename(): never replaces a log another process created meanwhile.
        if (!synced || (::link(tmp.c_str(), log.c_str()) != 0 && errno != EEXIST)) {
            auto e = io_error("create", log);
            ::unlink(tmp.c_str());
            return e;
        }
        ::unlink(tmp.c_str());
        fsync_dir(dir);
        return {};
    }

    // Opens the log file and checks its header against the key; resets the in-memory state.
    Result<void> open_log() {
        int fd = ::open(log.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
        if (fd < 0)
            return io_error("open", log);
        struct stat st;
        if (::fstat(fd, &st) != 0) {
            ::close(fd);
            return io_error("stat", log);
        }
        auto header = pread_range(fd, 0, k_header_size);
        if (!header) {
            ::close(fd);
            return header.error();
        }
        auto bad = [&](const std::string& code, const std::string& msg) -> Result<void> {
            ::close(fd);
            return make_error(code, msg);
        };
        if (header->size() < k_header_size)
            return bad("vault.corrupt", log.string() + " is damaged at byte " +
                                            std::to_string(header->size()) +
                                            ": the header is truncated");
        if (std::string_view(*header).substr(0, 8) != k_magic)
            return bad("vault.corrupt", log.string() + " is not a vaultfwd vault file");
        if (get_u32(*header, 8) != k_version)
            return bad("vault.version", log.string() + " has vault format version " +
                                            std::to_string(get_u32(*header, 8)) +
                                            ", this vaultfwd reads version 1");
        std::string id = header->substr(16, k_file_id_size);
        if (!crypto::constant_time_equal(make_header(id), *header))
            return bad("vault.wrong_key",
                       "the vault key does not open " + log.string() +
                           " (wrong key or wrong profile, or its header was altered)");
        if (log_fd >= 0)
            ::close(log_fd);
        log_fd = fd;
        dev = st.st_dev;
        ino = st.st_ino;
        file_id = std::move(id);
        offset = k_header_size;
        records = 0;
        seen_size = -1;
        ix = Index{};
        forget_values();
        // Room for what the file probably holds (records are 100 to 200 bytes).
        ix.reserve(static_cast<std::size_t>(st.st_size) / 256);
        return {};
    }

    void forget_values() {
        std::lock_guard c(cache_mutex);
        for (auto& [at, values] : opened)
            for (auto& v : values)
                crypto::wipe(v);
        opened.clear();
    }

    // --- records --------------------------------------------------------------------------

    // What a record's tag covers besides its sealed part: the file id, its offset, its frame,
    // kind and clear part.
    void aad_into(std::string& a, std::uint64_t at, std::string_view prefix) const {
        a.assign(file_id);
        put_u64(a, at);
        a += prefix;
    }
    std::string aad(std::uint64_t at, std::string_view prefix) const {
        std::string a;
        aad_into(a, at, prefix);
        return a;
    }

    // The bytes of `r` as a record starting at byte `at` of the log.
    Result<std::string> encode(const Rec& r, std::uint64_t at) const {
        std::string clear, plain;
        switch (r.kind) {
        case Kind::put:
            put_str(clear, r.id);
            put_u32(clear, static_cast<std::uint32_t>(r.fields.size()));
            for (const auto& [name, value] : r.fields) {
                put_str(clear, name);
                put_str(plain, value);
            }
            break;
        case Kind::remove:
            put_str(clear, r.id);
            break;
        case Kind::alias:
            clear.push_back(static_cast<char>(r.requested));
            clear.push_back(static_cast<char>(r.format));
            put_str(clear, r.lookup);
            put_str(clear, r.alias);
            plain = r.value;
            break;
        case Kind::alias_remove:
            put_str(clear, r.alias);
            break;
        }
        const std::size_t body = 1 + 4 + clear.size() + plain.size() + crypto::k_aead_overhead;
        if (body > k_max_body)
            return make_error("vault.too_large", "a vault record may hold at most 64 MiB");
        std::string out;
        put_u32(out, static_cast<std::uint32_t>(body));
        put_u32(out, ~static_cast<std::uint32_t>(body));
        out.push_back(static_cast<char>(r.kind));
        put_u32(out, static_cast<std::uint32_t>(clear.size()));
        out += clear;
        auto sealed = crypto::aead_seal(key, plain, aad(at, out));
        if (!sealed)
            return sealed.error();
        out += *sealed;
        return out;
    }

    Error corrupt(std::uint64_t at, std::uint64_t number, const std::string& why) const {
        return make_error("vault.corrupt", log.string() + " is damaged at byte " +
                                               std::to_string(at) + " (" + record_word(number) +
                                               "): " + why + "; restore it from a backup");
    }
    Error corrupt(std::uint64_t at, const std::string& why) const {
        return corrupt(at, records + 1, why);
    }

    // The complete record `bytes` at `slot`, split into its kind, clear part and sealed part.
    // `head` is what its tag covers besides the file id and offset: frame, kind and clear part.
    struct Parts {
        std::uint8_t kind = 0;
        std::string_view head, clear, sealed;
    };
    Result<Parts> split(std::string_view bytes, const Slot& slot) const {
        const std::uint32_t clear_len = get_u32(bytes, k_frame_size + 1);
        const std::size_t clear_at = k_frame_size + 1 + 4;
        if (clear_len > bytes.size() - clear_at - crypto::k_aead_overhead)
            return corrupt(slot.at, slot.number, "the record's layout is invalid");
        const std::size_t sealed_at = clear_at + clear_len;
        return Parts{static_cast<std::uint8_t>(bytes[k_frame_size]), bytes.substr(0, sealed_at),
                     bytes.substr(clear_at, clear_len), bytes.substr(sealed_at)};
    }

    // Starts fetching the index slot the record with this clear part goes to (its id or alias,
    // read here only for that): checking its tag then takes long enough for the slot to arrive,
    // where the insert would otherwise wait for memory (a random read of a table of megabytes
    // costs hundreds of nanoseconds on the VMs this was measured on).
    static void prefetch_slot(const Index& index, std::uint8_t kind, std::string_view clear) {
        Reader c(clear);
        std::string_view key;
        std::uint8_t formats[2];
        if (kind == static_cast<std::uint8_t>(Kind::put) && c.str(key))
            index.data.prefetch(key);
        else if (kind == static_cast<std::uint8_t>(Kind::alias) && c.u8(formats[0]) &&
                 c.u8(formats[1]) && c.str(key) && c.str(key))
            index.aliases.prefetch(key);
    }

    // The clear part of a record into `e` (views into it), its layout checked.
    Result<void> read_clear(const Parts& parts, const Slot& slot, Entry& e) const {
        e.id = e.alias = e.lookup = {};
        e.names.clear();
        e.requested = e.format = AliasFormat::uuid;
        Reader c(parts.clear);
        bool ok = false;
        switch (parts.kind) {
        case static_cast<std::uint8_t>(Kind::put): {
            e.kind = Kind::put;
            std::uint32_t n = 0;
            ok = c.str(e.id) && c.u32(n) && n <= parts.clear.size();
            if (ok)
                e.names.reserve(n);
            for (std::uint32_t i = 0; ok && i < n; ++i) {
                std::string_view name;
                ok = c.str(name);
                e.names.push_back(name);
            }
            break;
        }
        case static_cast<std::uint8_t>(Kind::remove):
            e.kind = Kind::remove;
            ok = c.str(e.id);
            break;
        case static_cast<std::uint8_t>(Kind::alias): {
            e.kind = Kind::alias;
            std::uint8_t req = 0, fmt = 0;
            ok = c.u8(req) && c.u8(fmt) && c.str(e.lookup) && c.str(e.alias);
            auto rf = alias_format_from_byte(req), ff = alias_format_from_byte(fmt);
            ok = ok && rf && ff;
            if (ok) {
                e.requested = *rf;
                e.format = *ff;
            }
            if (!ok || !c.done())
                return corrupt(slot.at, slot.number, "the alias record is malformed");
            return {};
        }
        case static_cast<std::uint8_t>(Kind::alias_remove):
            e.kind = Kind::alias_remove;
            ok = c.str(e.alias);
            break;
        default:
            return corrupt(slot.at, slot.number,
                           "unknown record kind " + std::to_string(parts.kind));
        }
        if (!ok || !c.done())
            return corrupt(slot.at, slot.number, "the record is malformed");
        return {};
    }

    // Checks the complete record `bytes` at `slot`: its tag (so a changed, moved or spliced
    // record fails here, at open), its layout, and that its plaintext holds one value per
    // field named in clear. The plaintext is only looked at, then wiped: values are read again
    // when asked for (value_at). `e` gets the clear part, as views into `bytes`. `opener`,
    // `plain` and `aad_buf` belong to the calling thread; with `prefetch`, the index slot the
    // record goes to is fetched while its tag is checked (only the thread that writes the
    // index may ask for that).
    Result<void> check(std::string_view bytes, const Slot& slot, crypto::AeadOpener& opener,
                       std::string& plain, std::string& aad_buf, Entry& e,
                       const Index* prefetch) const {
        auto parts = split(bytes, slot);
        if (!parts)
            return parts.error();
        if (prefetch)
            prefetch_slot(*prefetch, parts->kind, parts->clear);
        aad_into(aad_buf, slot.at, parts->head);
        if (!opener.open(parts->sealed, aad_buf, plain))
            return corrupt(slot.at, slot.number,
                           "the record fails authentication (altered or moved bytes)");
        struct Wipe {
            std::string& s;
            ~Wipe() { crypto::wipe(s); }
        } wipe_plain{plain};
        if (auto r = read_clear(*parts, slot, e); !r)
            return r;
        // An alias's whole plaintext is its value; a put holds one value per field name; the
        // removals hold none.
        if (e.kind == Kind::alias)
            return {};
        Reader p(plain);
        bool ok = true;
        if (e.kind == Kind::put)
            for (std::size_t i = 0; ok && i < e.names.size(); ++i) {
                std::string_view value;
                ok = p.str(value);
            }
        if (!ok || !p.done())
            return corrupt(slot.at, slot.number, "the record is malformed");
        return {};
    }

    // aead_open with an opener set up once and kept for the next read: a set-up costs more
    // than opening a small record (a render reading 100 000 values makes 100 000 reads).
    Result<std::string> open_sealed(std::string_view sealed, std::string_view aad_bytes) const {
        std::optional<crypto::AeadOpener> opener;
        {
            std::lock_guard l(openers_mutex);
            if (!openers.empty()) {
                opener.emplace(std::move(openers.back()));
                openers.pop_back();
            }
        }
        if (!opener) {
            auto made = crypto::AeadOpener::make(key);
            if (!made)
                return made.error();
            opener.emplace(std::move(*made));
        }
        std::string plain;
        auto r = opener->open(sealed, aad_bytes, plain);
        {
            std::lock_guard l(openers_mutex);
            openers.push_back(std::move(*opener));
        }
        if (!r)
            return r.error();
        return plain;
    }

    // The values sealed in the record at `slot` (a put's in field order; an alias's one),
    // read from the log and authenticated again: the bytes may have changed since open.
    Result<std::vector<std::string>> unseal(const Slot& slot) const {
        auto bytes = pread_range(log_fd, slot.at, slot.at + slot.size);
        if (!bytes)
            return bytes.error();
        std::string_view b = *bytes;
        if (b.size() < slot.size)
            return corrupt(slot.at, slot.number,
                           "the record is cut short (the file shrank since it was read)");
        if (get_u32(b, 0) != slot.size - k_frame_size || get_u32(b, 4) != ~get_u32(b, 0))
            return corrupt(slot.at, slot.number, "the record's length field is damaged");
        std::string aad_buf;
        auto parts = split(b, slot);
        if (!parts)
            return parts.error();
        aad_into(aad_buf, slot.at, parts->head);
        auto plain = open_sealed(parts->sealed, aad_buf);
        if (!plain)
            return corrupt(slot.at, slot.number,
                           "the record fails authentication (altered or moved bytes)");
        std::vector<std::string> values;
        if (parts->kind == static_cast<std::uint8_t>(Kind::alias)) {
            values.push_back(std::move(*plain));
            return values;
        }
        Reader p(*plain);
        while (!p.done()) {
            std::string v;
            if (parts->kind != static_cast<std::uint8_t>(Kind::put) || !p.str(v)) {
                crypto::wipe(*plain);
                return corrupt(slot.at, slot.number, "the record is malformed");
            }
            values.push_back(std::move(v));
        }
        crypto::wipe(*plain);
        return values;
    }

    // Value number `index` of the record at `slot`: from memory once read, else from the log.
    // Callers hold state_mutex (shared or exclusive) or write_mutex, so the log descriptor and
    // the index stay as they are meanwhile.
    Result<std::string> value_at(SlotId id, std::uint32_t index) const {
        const Slot& slot = ix.slots[id];
        {
            std::lock_guard c(cache_mutex);
            if (auto it = opened.find(slot.at); it != opened.end()) {
                if (index >= it->second.size())
                    return corrupt(slot.at, slot.number, "the record is malformed");
                return it->second[index];
            }
        }
        auto values = unseal(slot);
        if (!values)
            return values.error();
        if (index >= values->size())
            return corrupt(slot.at, slot.number, "the record is malformed");
        std::string v = (*values)[index];
        std::lock_guard c(cache_mutex);
        opened.try_emplace(slot.at, std::move(*values));
        return v;
    }

    Result<std::optional<std::string>> field_value(std::string_view id,
                                                   std::string_view name) const {
        auto it = ix.data.find(id);
        if (it == ix.data.end())
            return std::optional<std::string>();
        const FieldRef* ref = find_ref(it->second, name);
        if (!ref)
            return std::optional<std::string>();
        auto v = value_at(ref->slot, ref->index);
        if (!v)
            return v.error();
        return std::optional<std::string>(std::move(*v));
    }

    // Adds a record this process just wrote: indexed like any other, and its values kept, since
    // they are at hand.
    void index_written(Rec&& r, const Slot& slot) {
        Entry e;
        e.kind = r.kind;
        e.id = r.id;
        e.alias = r.alias;
        e.lookup = r.lookup;
        e.requested = r.requested;
        e.format = r.format;
        std::vector<std::string> values;
        if (r.kind == Kind::put) {
            for (auto& [name, value] : r.fields) {
                e.names.push_back(name);
                values.push_back(std::move(value));
            }
        } else if (r.kind == Kind::alias) {
            values.push_back(std::move(r.value));
        }
        ix.add(e, slot);
        if (r.kind == Kind::put || r.kind == Kind::alias) {
            std::lock_guard c(cache_mutex);
            opened[slot.at] = std::move(values);
        }
    }

    // Tag checks on a second thread, for opening a large vault: the opening thread reads the
    // log and indexes each record from its clear part while this one authenticates the records
    // and their plaintext's layout (most of an open's work), in log order. The open fails when
    // any record does, so an index entry made before its record was checked is never used.
    class TagChecks {
      public:
        TagChecks(const Impl& impl, crypto::AeadOpener opener)
            : m_impl(impl), m_opener(std::move(opener)), m_pool(k_buffers),
              m_thread([this] { run(); }) {}
        ~TagChecks() { stop(); }
        TagChecks(const TagChecks&) = delete;
        TagChecks& operator=(const TagChecks&) = delete;

        BufferPool& pool() { return m_pool; }
        // Checks the records at `slots`, whose bytes are in `buffer` from file offset `base`
        // on; the buffer goes back to the pool after.
        void submit(std::shared_ptr<std::string> buffer, std::uint64_t base,
                    std::vector<Slot> slots) {
            {
                std::lock_guard l(m_mutex);
                m_jobs.push_back(Job{std::move(buffer), base, std::move(slots)});
            }
            m_wake.notify_one();
        }
        // True once a record failed: reading further is wasted.
        bool failed() const { return m_failed.load(std::memory_order_relaxed); }
        // Waits for every record submitted to be checked: the first failure in log order.
        Result<void> finish() {
            stop();
            if (m_failure)
                return *m_failure;
            return {};
        }

      private:
        // Buffers of a mebibyte or so each: what reading ahead of the checks may hold at once.
        static constexpr std::size_t k_buffers = 4;
        struct Job {
            std::shared_ptr<std::string> buffer;
            std::uint64_t base = 0;
            std::vector<Slot> slots;
        };

        void stop() {
            {
                std::lock_guard l(m_mutex);
                m_closing = true;
            }
            m_wake.notify_one();
            if (m_thread.joinable())
                m_thread.join();
        }

        void run() {
            std::string plain, aad_buf;
            Entry e;
            while (true) {
                Job job;
                {
                    std::unique_lock l(m_mutex);
                    m_wake.wait(l, [&] { return !m_jobs.empty() || m_closing; });
                    if (m_jobs.empty())
                        return;
                    job = std::move(m_jobs.front());
                    m_jobs.pop_front();
                }
                const std::string_view bytes(*job.buffer);
                for (const Slot& slot : job.slots) {
                    if (m_failure)
                        break;
                    auto r = m_impl.check(bytes.substr(static_cast<std::size_t>(slot.at - job.base),
                                                       slot.size),
                                          slot, m_opener, plain, aad_buf, e, nullptr);
                    if (!r) {
                        m_failure = r.error();
                        m_failed.store(true, std::memory_order_relaxed);
                    }
                }
                m_pool.give(std::move(job.buffer));
            }
        }

        const Impl& m_impl;
        crypto::AeadOpener m_opener;
        BufferPool m_pool;
        std::mutex m_mutex;
        std::condition_variable m_wake;
        std::deque<Job> m_jobs;
        bool m_closing = false;
        std::optional<Error> m_failure; // the checking thread's until stop() joins it
        std::atomic<bool> m_failed{false};
        std::thread m_thread; // last: it starts once the rest is made
    };

    // --- catching up with the file --------------------------------------------------------

    // True when the log may hold something not yet applied, or was replaced by compaction
    // (the rename leaves our descriptor on an inode with no links). One fstat per read.
    bool changed() const {
        struct stat a;
        if (::fstat(log_fd, &a) != 0)
            return true;
        return a.st_nlink == 0 || a.st_size != seen_size || a.st_mtim.tv_sec != seen_mtime.tv_sec ||
               a.st_mtim.tv_nsec != seen_mtime.tv_nsec;
    }

    // Applies every complete record appended since the last scan. An incomplete record at the
    // end is, by `mode`: left alone (read: it may be being written), reported (open: under the
    // shared lock nobody is writing, so it is torn) or cut off (write: under the exclusive
    // lock).
    Result<void> catch_up(Scan mode) {
        struct stat ps;
        if (::stat(log.c_str(), &ps) != 0)
            return io_error("stat", log);
        if (ps.st_ino != ino || ps.st_dev != dev) {
            // Compacted by another process: read the new file from the start.
            if (auto r = open_log(); !r)
                return r;
        }
        struct stat st;
        if (::fstat(log_fd, &st) != 0)
            return io_error("stat", log);
        const auto size = static_cast<std::uint64_t>(st.st_size);
        if (size < offset)
            return make_error("vault.corrupt",
                              log.string() + " shrank to " + std::to_string(size) +
                                  " bytes below its " + std::to_string(offset) +
                                  " bytes of complete records; restore it from a backup");
        seen_size = st.st_size;
        seen_mtime = st.st_mtim;
        if (size == offset)
            return {};
        // Opening a vault of more than a read block checks tags on a second thread (see
        // TagChecks; a failed open discards everything indexed). Later scans are small, and
        // a store that is open keeps nothing from a record that fails.
        std::optional<TagChecks> background;
        if (mode == Scan::open && size - offset > k_parallel_open &&
            std::thread::hardware_concurrency() > 1) {
            auto opener = crypto::AeadOpener::make(key);
            if (!opener)
                return opener.error();
            background.emplace(*this, std::move(*opener));
        }
        // With background checks, records are indexed a buffer at a time (just before the
        // buffer is handed over), each one's table slot fetched a few records ahead: the
        // inserts would otherwise wait for memory one after the other.
        std::vector<Slot> pending; // records read from the current buffer, not yet handed over
        std::optional<Error> unreadable; // a record whose clear part does not read
        auto index_pending = [&](std::string_view buffer, std::uint64_t base) {
            constexpr std::size_t k_ahead = 8;
            auto bytes_of = [&](const Slot& slot) {
                return buffer.substr(static_cast<std::size_t>(slot.at - base), slot.size);
            };
            for (std::size_t i = 0; i < pending.size() && !unreadable; ++i) {
                if (i + k_ahead < pending.size()) {
                    const Slot& next = pending[i + k_ahead];
                    if (auto parts = split(bytes_of(next), next))
                        prefetch_slot(ix, parts->kind, parts->clear);
                }
                auto parts = split(bytes_of(pending[i]), pending[i]);
                auto r = parts ? read_clear(*parts, pending[i], parsed) : Result<void>(parts.error());
                if (!r) {
                    unreadable = r.error();
                    break;
                }
                ix.add(parsed, pending[i]);
            }
        };
        auto retire = [&](std::shared_ptr<std::string> buffer, std::uint64_t base) {
            if (!unreadable)
                index_pending(*buffer, base);
            background->submit(std::move(buffer), base, std::move(pending));
            pending.clear();
        };
        LogReader reader = background
                               ? LogReader(log_fd, offset, size, &background->pool(), retire)
                               : LogReader(log_fd, offset, size);
        // Hands over what is pending and waits for every check: the first failure in log order
        // (the checks of a record whose clear part does not read fail too, on it or earlier).
        auto checked = [&](bool index) -> Result<void> {
            if (index && !unreadable)
                index_pending(*reader.buffer(), reader.base());
            background->submit(reader.buffer(), reader.base(), std::move(pending));
            pending.clear();
            if (auto r = background->finish(); !r)
                return r;
            if (unreadable)
                return *unreadable;
            return {};
        };
        auto fail = [&](Error e) -> Result<void> {
            if (background)
                if (auto r = checked(false); !r)
                    return r;
            return e;
        };
        std::string torn; // why the tail is incomplete, when it is
        std::string aad_buf;
        while (offset < reader.end() && !(background && (background->failed() || unreadable))) {
            const std::uint64_t at = offset;
            auto head = reader.from(at, k_frame_size);
            if (!head)
                return fail(head.error());
            std::string_view rest = *head;
            if (rest.size() < k_frame_size) {
                torn = "its frame has " + std::to_string(rest.size()) + " of 8 bytes";
                break;
            }
            const std::uint32_t len = get_u32(rest, 0);
            if (len != ~get_u32(rest, 4)) {
                // An interrupted write after a crash can leave zeros; anything else is damage.
                auto tail = reader.from(at, static_cast<std::size_t>(reader.end() - at));
                if (!tail)
                    return fail(tail.error());
                if (std::all_of(tail->begin(), tail->end(), [](char c) { return c == 0; })) {
                    torn = "it is " + std::to_string(tail->size()) + " zero bytes";
                    break;
                }
                return fail(corrupt(at, "the record's length field is damaged"));
            }
            if (len < k_min_body || len > k_max_body)
                return fail(
                    corrupt(at, "the record's length " + std::to_string(len) + " is impossible"));
            auto whole = reader.from(at, k_frame_size + len);
            if (!whole)
                return fail(whole.error());
            rest = *whole;
            if (rest.size() < k_frame_size + len) {
                torn = "it has " + std::to_string(rest.size()) + " of its " +
                       std::to_string(k_frame_size + len) + " bytes";
                break;
            }
            if (records >= k_max_records)
                return fail(corrupt(at, "the vault holds more records than this vaultfwd indexes "
                                        "(4 294 967 295)"));
            const Slot slot{at, records + 1, static_cast<std::uint32_t>(k_frame_size + len)};
            const std::string_view bytes = rest.substr(0, k_frame_size + len);
            if (background) {
                pending.push_back(slot);
            } else {
                if (auto r = check(bytes, slot, *checker, scratch, aad_buf, parsed, &ix); !r)
                    return r.error();
                ix.add(parsed, slot);
            }
            ++records;
            offset = at + k_frame_size + len;
        }
        if (background)
            if (auto r = checked(true); !r)
                return r;
        if (torn.empty() || mode == Scan::read)
            return {};
        const std::uint64_t tail = size - offset;
        if (mode == Scan::open) {
            warn(log.filename().string() + ": the last record (byte " + std::to_string(offset) +
                 ", " + record_word(records + 1) + ") is incomplete (" + torn +
                 "), probably from an interrupted write; the " + std::to_string(records) +
                 " records before it are intact and the next write discards it");
            return {};
        }
        if (::ftruncate(log_fd, static_cast<off_t>(offset)) != 0 || ::fdatasync(log_fd) != 0)
            return io_error("truncate the torn tail of", log);
        warn(log.filename().string() + ": discarded an incomplete record of " +
             std::to_string(tail) + " bytes at byte " + std::to_string(offset) + " (" +
             record_word(records + 1) + ", " + torn + ") left by an interrupted write");
        if (::fstat(log_fd, &st) == 0) {
            seen_size = st.st_size;
            seen_mtime = st.st_mtim;
        }
        return {};
    }

    // Brings a reader up to date with other processes' writes; never fails the read itself.
    void refresh() {
        if (!Store::check_due(this))
            return;
        {
            std::shared_lock s(state_mutex);
            if (!changed())
                return;
        }
        std::lock_guard w(write_mutex);
        std::unique_lock s(state_mutex);
        if (auto r = catch_up(Scan::read); !r)
            warn(r.error().message);
    }

    // Builds ix.by_lookup if it is not yet. Safe beside a writer: one that reads by_lookup
    // built it first under the exclusive state lock (append), and nothing resets it without
    // write_mutex.
    void ensure_lookups() {
        {
            std::shared_lock s(state_mutex);
            if (ix.lookups_ready)
                return;
        }
        std::unique_lock s(state_mutex);
        ix.build_lookups();
    }

    // --- writing --------------------------------------------------------------------------

    // Under the exclusive lock and up to date, asks `build` for the records to append, appends
    // them in one write, syncs, then applies them. `lookups`: `build` reads ix.by_lookup.
    template <class Build> Result<void> append(Build&& build, bool lookups = false) {
        std::lock_guard w(write_mutex);
        FileLock fl(lock_fd, LOCK_EX);
        if (!fl.ok())
            return io_error("lock", lock);
        {
            std::unique_lock s(state_mutex);
            if (auto r = catch_up(Scan::write); !r)
                return r;
            if (lookups)
                ix.build_lookups();
        }
        // Only this thread changes the state now (readers only read it), so building needs
        // no state lock.
        std::vector<Rec> recs;
        if (auto r = build(recs); !r)
            return r;
        if (recs.empty())
            return {};
        if (records + recs.size() > k_max_records)
            return make_error("vault.too_large",
                              "the vault holds as many records as vaultfwd indexes "
                              "(4 294 967 295); 'vaultfwd vault compact' drops the dead ones");
        std::string bytes;
        std::vector<Slot> slots;
        for (const auto& r : recs) {
            auto e = encode(r, offset + bytes.size());
            if (!e)
                return e.error();
            slots.push_back(Slot{offset + bytes.size(), records + slots.size() + 1,
                                 static_cast<std::uint32_t>(e->size())});
            bytes += *e;
        }
        if (auto r = write_all(log_fd, bytes); !r) {
            // Leave no partial record behind for others to trip over.
            if (::ftruncate(log_fd, static_cast<off_t>(offset)) == 0)
                ::fdatasync(log_fd);
            return r;
        }
        if (::fdatasync(log_fd) != 0)
            return io_error("sync", log);
        std::unique_lock s(state_mutex);
        for (std::size_t i = 0; i < recs.size(); ++i) {
            index_written(std::move(recs[i]), slots[i]);
            ++records;
        }
        offset += bytes.size();
        struct stat st;
        if (::fstat(log_fd, &st) == 0) {
            seen_size = st.st_size;
            seen_mtime = st.st_mtim;
        }
        return {};
    }

    // The aliases for `requests`, appending new alias records to `recs`.
    Result<std::vector<std::string>> make_aliases(const std::vector<AliasRequest>& requests,
                                                  std::vector<Rec>& recs) {
        std::vector<std::string> out;
        std::unordered_map<std::string, std::string> new_by_lookup; // within this batch
        std::unordered_map<std::string, std::string> new_aliases;   // alias -> lookup
        for (const auto& req : requests) {
            std::string lookup = lookup_key(req.value, req.format);
            if (auto it = ix.by_lookup.find(lookup); it != ix.by_lookup.end()) {
                out.emplace_back(it->second);
                continue;
            }
            if (auto it = new_by_lookup.find(lookup); it != new_by_lookup.end()) {
                out.push_back(it->second);
                continue;
            }
            std::string chosen;
            for (std::uint32_t attempt = 0; attempt < k_max_alias_attempts; ++attempt) {
                std::string cand =
                    make_alias(alias_key, req.value, req.format, attempt, options.alias_env);
                // A collision with another value's alias (or the value itself): derive again.
                if (cand == req.value || ix.aliases.contains(cand) || new_aliases.count(cand))
                    continue;
                chosen = std::move(cand);
                break;
            }
            if (chosen.empty())
                return make_error("vault.alias_exhausted",
                                  "no free " + std::string(format_name(req.format)) +
                                      " alias is left for a value of this length");
            Rec r;
            r.kind = Kind::alias;
            r.alias = chosen;
            r.value = req.value;
            r.lookup = lookup;
            r.requested = req.format;
            r.format = effective_format(req.value, req.format);
            recs.push_back(std::move(r));
            new_by_lookup[lookup] = chosen;
            new_aliases[chosen] = lookup;
            out.push_back(std::move(chosen));
        }
        return out;
    }
};

Store::Store(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::open(const fs::path& dir, std::string_view key32,
                                           Options options) {
    if (key32.size() != crypto::k_aead_key_size)
        return make_error("vault.bad_key",
                          "the vault key must be 32 bytes (64 hex characters), got " +
                              std::to_string(key32.size()) + " bytes");
    if (!valid_alias_env(options.alias_env))
        return make_error("vault.bad_env", "alias environment \"" + options.alias_env +
                                               "\" may only hold a-z, 0-9 and '-' (1 to 32)");
    auto impl = std::make_unique<Impl>();
    impl->dir = dir;
    impl->log = dir / k_log_name;
    impl->lock = dir / k_lock_name;
    impl->key.assign(key32);
    impl->check_key = impl->derive("key-check");
    impl->index_key = impl->derive("alias-index");
    impl->alias_key = impl->derive("alias-generation");
    impl->options = std::move(options);
    auto checker = crypto::AeadOpener::make(impl->key);
    if (!checker)
        return checker.error();
    impl->checker.emplace(std::move(*checker));

    if (auto r = util::ensure_dir(dir, 0700); !r)
        return make_error("vault.io", r.error().message);
    impl->lock_fd = ::open(impl->lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (impl->lock_fd < 0)
        return io_error("open", impl->lock);

    std::error_code ec;
    const bool missing = !fs::exists(impl->log, ec);
    // Creating needs the exclusive lock; reading the whole file needs writers kept out, so
    // that an incomplete tail is known to be torn rather than in progress.
    FileLock fl(impl->lock_fd, missing ? LOCK_EX : LOCK_SH);
    if (!fl.ok())
        return io_error("lock", impl->lock);
    if (missing && !fs::exists(impl->log, ec))
        if (auto r = impl->create_log(); !r)
            return r.error();
    if (auto r = impl->open_log(); !r)
        return r.error();
    if (auto r = impl->catch_up(Impl::Scan::open); !r)
        return r.error();
    return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Result<void> Store::put(const std::string& id, const Fields& fields) {
    return put_many({{id, fields}});
}

Result<void> Store::put_many(const std::vector<std::pair<std::string, Fields>>& records) {
    for (const auto& [id, fields] : records) {
        if (!valid_name(id))
            return make_error("vault.bad_id", "a record id must be 1 to 1024 characters of "
                                              "UTF-8 text without control characters");
        for (const auto& [name, value] : fields)
            if (!valid_name(name))
                return make_error("vault.bad_field",
                                  "field names of record " + id +
                                      " must be 1 to 1024 characters without control characters");
    }
    return m_impl->append([&](std::vector<Rec>& recs) -> Result<void> {
        // A put that changes nothing is already durable: skip it, so that loading the same
        // fixtures again does not grow the log. Earlier puts of this batch count as state.
        std::unordered_map<std::string, Fields> pending;
        for (const auto& [id, fields] : records) {
            auto current = m_impl->ix.data.find(id);
            auto queued = pending.find(id);
            const bool exists = current != m_impl->ix.data.end() || queued != pending.end();
            bool same = exists;
            for (const auto& [name, value] : fields) {
                if (queued != pending.end())
                    if (auto f = queued->second.find(name); f != queued->second.end()) {
                        same = f->second == value;
                        if (!same)
                            break;
                        continue;
                    }
                const FieldRef* ref =
                    current != m_impl->ix.data.end() ? find_ref(current->second, name) : nullptr;
                if (!ref) {
                    same = false;
                    break;
                }
                auto now = m_impl->value_at(ref->slot, ref->index);
                if (!now)
                    return now.error();
                if (*now != value) {
                    same = false;
                    break;
                }
            }
            if (same)
                continue;
            for (const auto& [name, value] : fields)
                pending[id][name] = value;
            Rec r;
            r.kind = Kind::put;
            r.id = id;
            r.fields = fields;
            recs.push_back(std::move(r));
        }
        return {};
    });
}

Result<std::optional<Fields>> Store::read(const std::string& id) const {
    m_impl->refresh();
    std::shared_lock s(m_impl->state_mutex);
    auto it = m_impl->ix.data.find(id);
    if (it == m_impl->ix.data.end())
        return std::optional<Fields>();
    Fields out;
    for (const auto& ref : it->second) {
        auto v = m_impl->value_at(ref.slot, ref.index);
        if (!v)
            return v.error();
        out.emplace_hint(out.end(), std::string(ref.name), std::move(*v));
    }
    return std::optional<Fields>(std::move(out));
}

Result<std::optional<std::string>> Store::read_field(const std::string& id,
                                                     const std::string& f) const {
    m_impl->refresh();
    std::shared_lock s(m_impl->state_mutex);
    return m_impl->field_value(id, f);
}

std::vector<Result<std::optional<std::string>>>
Store::read_fields(const std::vector<FieldQuery>& queries) const {
    m_impl->refresh();
    std::shared_lock s(m_impl->state_mutex);
    std::vector<Result<std::optional<std::string>>> out;
    out.reserve(queries.size());
    for (std::size_t i = 0; i < queries.size(); ++i) {
        // The index is read at random: fetch a record's slot a few queries on.
        if (i + 8 < queries.size())
            m_impl->ix.data.prefetch(queries[i + 8].id);
        out.push_back(m_impl->field_value(queries[i].id, queries[i].field));
    }
    return out;
}

Result<std::optional<std::string>> Store::read_alias(std::string_view alias) const {
    m_impl->refresh();
    std::shared_lock s(m_impl->state_mutex);
    auto it = m_impl->ix.aliases.find(alias);
    if (it == m_impl->ix.aliases.end())
        return std::optional<std::string>();
    auto v = m_impl->value_at(it->second.slot, 0);
    if (!v)
        return v.error();
    return std::optional<std::string>(std::move(*v));
}

namespace {

template <class T> std::optional<T> or_throw(Result<std::optional<T>>&& r) {
    if (!r)
        throw DamagedVault(r.error().message);
    return std::move(*r);
}

} // namespace

std::optional<Fields> Store::get(const std::string& id) const {
    return or_throw(read(id));
}

std::optional<std::string> Store::field(const std::string& id, const std::string& f) const {
    return or_throw(read_field(id, f));
}

bool Store::has_record(const std::string& id) const {
    m_impl->refresh();
    std::shared_lock s(m_impl->state_mutex);
    return m_impl->ix.data.contains(id);
}

std::vector<RecordInfo> Store::list() const {
    m_impl->refresh();
    std::vector<RecordInfo> out;
    {
        std::shared_lock s(m_impl->state_mutex);
        out.reserve(m_impl->ix.data.size());
        for (const auto& [id, fields] : m_impl->ix.data) {
            RecordInfo info{std::string(id), {}};
            for (const auto& f : fields)
                info.fields.emplace_back(f.name);
            out.push_back(std::move(info));
        }
    }
    std::sort(out.begin(), out.end(),
              [](const RecordInfo& a, const RecordInfo& b) { return a.id < b.id; });
    return out;
}

Result<void> Store::remove(const std::string& id) {
    return m_impl->append([&](std::vector<Rec>& recs) -> Result<void> {
        if (!m_impl->ix.data.contains(id))
            return make_error("vault.not_found", "no record " + id + " in the vault");
        Rec r;
        r.kind = Kind::remove;
        r.id = id;
        recs.push_back(std::move(r));
        return {};
    });
}

Result<std::string> Store::alias(std::string_view value, AliasFormat format) {
    auto r = alias_many({AliasRequest{std::string(value), format}});
    if (!r)
        return r.error();
    return std::move(r->front());
}

Result<std::vector<std::string>> Store::alias_many(const std::vector<AliasRequest>& requests) {
    // Fast path: every alias already exists (tokenizing a fixture again).
    {
        m_impl->refresh();
        m_impl->ensure_lookups();
        std::shared_lock s(m_impl->state_mutex);
        std::vector<std::string> out;
        // (Not ready only when another process's compaction was read meanwhile.)
        for (const auto& req : requests) {
            if (!m_impl->ix.lookups_ready)
                break;
            auto it = m_impl->ix.by_lookup.find(m_impl->lookup_key(req.value, req.format));
            if (it == m_impl->ix.by_lookup.end())
                break;
            out.emplace_back(it->second);
        }
        if (out.size() == requests.size())
            return out;
    }
    std::vector<std::string> out;
    auto r = m_impl->append([&](std::vector<Rec>& recs) -> Result<void> {
        auto made = m_impl->make_aliases(requests, recs);
        if (!made)
            return made.error();
        out = std::move(*made);
        return {};
    }, true);
    if (!r)
        return r.error();
    return out;
}

std::optional<std::string> Store::reveal(std::string_view alias) const {
    return or_throw(read_alias(alias));
}

bool Store::is_alias(std::string_view text) const {
    return alias_info(text).has_value();
}

std::optional<AliasInfo> Store::alias_info(std::string_view alias) const {
    m_impl->refresh();
    std::shared_lock s(m_impl->state_mutex);
    auto it = m_impl->ix.aliases.find(alias);
    if (it == m_impl->ix.aliases.end())
        return std::nullopt;
    return AliasInfo{std::string(it->first), it->second.requested, it->second.format};
}

std::vector<AliasInfo> Store::list_aliases() const {
    m_impl->refresh();
    std::vector<AliasInfo> out;
    {
        std::shared_lock s(m_impl->state_mutex);
        out.reserve(m_impl->ix.aliases.size());
        for (const auto& [a, e] : m_impl->ix.aliases)
            out.push_back(AliasInfo{std::string(a), e.requested, e.format});
    }
    std::sort(out.begin(), out.end(),
              [](const AliasInfo& a, const AliasInfo& b) { return a.alias < b.alias; });
    return out;
}

Result<void> Store::remove_alias(std::string_view alias) {
    return m_impl->append([&](std::vector<Rec>& recs) -> Result<void> {
        if (!m_impl->ix.aliases.contains(alias))
            return make_error("vault.not_found",
                              "no alias " + std::string(alias) + " in the vault");
        Rec r;
        r.kind = Kind::alias_remove;
        r.alias = std::string(alias);
        recs.push_back(std::move(r));
        return {};
    });
}

Result<CompactStats> Store::compact() {
    auto& m = *m_impl;
    std::lock_guard w(m.write_mutex);
    FileLock fl(m.lock_fd, LOCK_EX);
    if (!fl.ok())
        return io_error("lock", m.lock);
    std::unique_lock s(m.state_mutex);
    if (auto r = m.catch_up(Impl::Scan::write); !r)
        return r.error();

    CompactStats stats;
    stats.bytes_before = m.offset;
    // Values are read (and authenticated) from the old file under its id; records are encoded
    // for the new file under the new id, which the store adopts once the file is in place.
    std::string new_id = util::random_bytes(k_file_id_size);
    std::string out = m.make_header(new_id);
    auto encode_new = [&](const Rec& r, std::uint64_t at) {
        std::swap(m.file_id, new_id);
        auto e = m.encode(r, at);
        std::swap(m.file_id, new_id);
        return e;
    };
    // The new file's index is built beside the old one and replaces it once the file is in
    // place; every value is read (and authenticated) from the old file on the way.
    Index next;
    next.reserve(std::max(m.ix.data.size(), m.ix.aliases.size()));
    std::uint64_t number = 0;
    std::vector<std::string_view> ids;
    ids.reserve(m.ix.data.size());
    for (const auto& kv : m.ix.data)
        ids.push_back(kv.first);
    std::sort(ids.begin(), ids.end());
    Entry indexed;
    for (const auto id : ids) {
        Rec r;
        r.kind = Kind::put;
        r.id = std::string(id);
        for (const auto& ref : m.ix.data.find(id)->second) {
            auto v = m.value_at(ref.slot, ref.index);
            if (!v)
                return v.error();
            r.fields.emplace_hint(r.fields.end(), std::string(ref.name), std::move(*v));
        }
        auto e = encode_new(r, out.size());
        for (auto& [name, value] : r.fields)
            crypto::wipe(value);
        if (!e)
            return e.error();
        indexed.kind = Kind::put;
        indexed.id = r.id;
        indexed.names.clear();
        for (const auto& kv : r.fields)
            indexed.names.push_back(kv.first);
        next.add(indexed, Slot{out.size(), ++number, static_cast<std::uint32_t>(e->size())});
        out += *e;
        ++stats.records;
    }
    std::vector<std::string_view> names;
    names.reserve(m.ix.aliases.size());
    for (const auto& kv : m.ix.aliases)
        names.push_back(kv.first);
    std::sort(names.begin(), names.end());
    for (const auto a : names) {
        const auto& entry = m.ix.aliases.find(a)->second;
        auto value = m.value_at(entry.slot, 0);
        if (!value)
            return value.error();
        Rec r;
        r.kind = Kind::alias;
        r.alias = std::string(a);
        r.value = std::move(*value);
        r.lookup = std::string(entry.lookup);
        r.requested = entry.requested;
        r.format = entry.format;
        auto e = encode_new(r, out.size());
        crypto::wipe(r.value);
        if (!e)
            return e.error();
        indexed = Entry{};
        indexed.kind = Kind::alias;
        indexed.alias = a;
        indexed.lookup = entry.lookup;
        indexed.requested = entry.requested;
        indexed.format = entry.format;
        next.add(indexed, Slot{out.size(), ++number, static_cast<std::uint32_t>(e->size())});
        out += *e;
        ++stats.aliases;
    }
    stats.bytes_after = out.size();

    auto tmp = m.dir / (std::string(k_log_name) + ".compact-" + util::random_hex(6));
    int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return io_error("create", tmp);
    auto wr = write_all(fd, out);
    if (!wr || ::fsync(fd) != 0 || ::rename(tmp.c_str(), m.log.c_str()) != 0) {
        Error e = wr ? io_error("replace", m.log) : wr.error();
        ::close(fd);
        ::unlink(tmp.c_str());
        return e;
    }
    fsync_dir(m.dir);
    ::close(fd);
    // Reopen with O_APPEND and adopt the new file and its index.
    int nfd = ::open(m.log.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
    struct stat st;
    if (nfd < 0 || ::fstat(nfd, &st) != 0) {
        if (nfd >= 0)
            ::close(nfd);
        return io_error("reopen", m.log);
    }
    ::close(m.log_fd);
    m.log_fd = nfd;
    m.file_id = std::move(new_id);
    m.ix = std::move(next); // its lookup table is built again when next needed
    m.forget_values();
    m.dev = st.st_dev;
    m.ino = st.st_ino;
    m.offset = out.size();
    m.records = stats.records + stats.aliases;
    m.seen_size = st.st_size;
    m.seen_mtime = st.st_mtim;
    return stats;
}

std::vector<std::string> Store::warnings() const {
    std::shared_lock s(m_impl->state_mutex);
    return m_impl->warns;
}

fs::path Store::log_path() const {
    return m_impl->log;
}

std::size_t Store::record_count() const {
    m_impl->refresh();
    std::shared_lock s(m_impl->state_mutex);
    return m_impl->ix.data.size();
}

std::size_t Store::alias_count() const {
    m_impl->refresh();
    std::shared_lock s(m_impl->state_mutex);
    return m_impl->ix.aliases.size();
}

Store::ReadScope::ReadScope(const Store& store) : m_impl(store.m_impl.get()), m_outer(t_read_scope) {
    t_read_scope = this;
}

Store::ReadScope::~ReadScope() { t_read_scope = m_outer; }

bool Store::check_due(const void* impl) {
    for (ReadScope* scope = t_read_scope; scope; scope = scope->m_outer) {
        if (scope->m_impl != impl)
            continue;
        if (scope->m_checked)
            return false;
        scope->m_checked = true;
        return true;
    }
    return true;
}

} // namespace vaultfwd::vault
