// SPDX-License-Identifier: Apache-2.0
#include "core/vault/store.hpp"

#include <absl/container/flat_hash_map.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <shared_mutex>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

#include "core/crypto/aead.hpp"
#include "core/crypto/hash.hpp"
#include "core/util/fs.hpp"
#include "core/util/random.hpp"
#include "core/util/strings.hpp"

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
constexpr std::uint32_t k_max_alias_attempts = 2000;
constexpr const char* k_log_name = "vault.log";
constexpr const char* k_lock_name = "vault.lock";

enum class Kind : std::uint8_t { put = 1, remove = 2, alias = 3, alias_remove = 4 };

// Where a record lives in the log.
struct Slot {
    std::uint64_t at = 0;     // byte offset of its frame
    std::uint32_t size = 0;   // frame and body
    std::uint64_t number = 0; // 1-based, for "record N" in messages
};

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

// A record as read at open: its clear part. Its values stay sealed in the log until asked for.
struct Entry {
    Kind kind = Kind::put;
    std::string id;                 // put, remove
    std::vector<std::string> names; // put: field names, in the order of the sealed values
    std::string alias;              // alias, alias_remove
    std::string lookup;             // alias
    AliasFormat requested = AliasFormat::uuid;
    AliasFormat format = AliasFormat::uuid;
};

// Where the current value of one field is: value number `index` of the record at `slot`.
struct FieldRef {
    Slot slot;
    std::uint32_t index = 0;
};
// A record's fields, sorted by name (records have few fields: a sorted vector beats a map).
using FieldRefs = std::vector<std::pair<std::string, FieldRef>>;

const FieldRef* find_ref(const FieldRefs& refs, const std::string& name) {
    auto it = std::lower_bound(refs.begin(), refs.end(), name,
                               [](const auto& e, const std::string& n) { return e.first < n; });
    return it != refs.end() && it->first == name ? &it->second : nullptr;
}

void set_ref(FieldRefs& refs, std::string name, FieldRef ref) {
    auto it = std::lower_bound(refs.begin(), refs.end(), name,
                               [](const auto& e, const std::string& n) { return e.first < n; });
    if (it != refs.end() && it->first == name)
        it->second = ref;
    else
        refs.emplace(it, std::move(name), ref);
}

struct AliasEntry {
    Slot slot; // the value is its record's whole plaintext
    std::string lookup;
    AliasFormat requested = AliasFormat::uuid;
    AliasFormat format = AliasFormat::uuid;
};

using DataIndex = absl::flat_hash_map<std::string, FieldRefs>;   // record id -> its fields
using AliasIndex = absl::flat_hash_map<std::string, AliasEntry>; // alias -> where its value is

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
    // tables that move their entries are fine here: a vault of 100 000 records and 100 000
    // aliases spends most of its open inserting into these, and abseil's flat tables cut that
    // open from about 415 to 335 ms of CPU (fresh process, same file) against node-based
    // std::unordered_map. Values (`opened` below) stay in a node-based map, which never leaves
    // a moved-from copy of a value behind when it grows.
    DataIndex data;
    AliasIndex aliases;
    absl::flat_hash_map<std::string, std::string> by_lookup; // lookup key -> alias
    std::vector<std::string> warns;
    // Checks every record read from the file (one cipher set-up for all of them). Used under
    // write_mutex or at open.
    std::optional<crypto::AeadOpener> checker;
    std::string scratch; // the checker's plaintext, wiped after each record

    mutable std::mutex write_mutex;        // one writer (or refresher) at a time in this process
    mutable std::shared_mutex state_mutex; // the maps above
    // Values read so far, by their record's offset: each record is read from the log and
    // authenticated once, when one of its values is first asked for. Readers fill it under a
    // shared state_mutex, hence its own mutex.
    mutable std::mutex cache_mutex;
    mutable std::unordered_map<std::uint64_t, std::vector<std::string>> opened;

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
        data.clear();
        aliases.clear();
        by_lookup.clear();
        forget_values();
        // Room for what the file probably holds (records are 100 to 200 bytes), so that
        // building the index does not rehash its way up.
        const auto expect = static_cast<std::size_t>(st.st_size) / 256;
        data.reserve(expect);
        aliases.reserve(expect);
        by_lookup.reserve(expect);
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

    // The complete record `bytes` at `slot`, split into its kind, clear part and sealed part,
    // with the additional data its tag covers written to `aad_out`.
    struct Parts {
        std::uint8_t kind = 0;
        std::string_view clear, sealed;
    };
    Result<Parts> split(std::string_view bytes, const Slot& slot, std::string& aad_out) const {
        const std::uint32_t clear_len = get_u32(bytes, k_frame_size + 1);
        const std::size_t clear_at = k_frame_size + 1 + 4;
        if (clear_len > bytes.size() - clear_at - crypto::k_aead_overhead)
            return corrupt(slot.at, slot.number, "the record's layout is invalid");
        const std::size_t sealed_at = clear_at + clear_len;
        aad_into(aad_out, slot.at, bytes.substr(0, sealed_at));
        return Parts{static_cast<std::uint8_t>(bytes[k_frame_size]),
                     bytes.substr(clear_at, clear_len), bytes.substr(sealed_at)};
    }

    // Checks the complete record `bytes` at `slot`: its tag (so a changed, moved or spliced
    // record fails here, at open), its layout, and that its plaintext holds one value per
    // field named in clear. The plaintext is only looked at, then wiped: values are read again
    // when asked for (value_at).
    Result<Entry> check(std::string_view bytes, const Slot& slot, std::string& aad_buf) {
        auto parts = split(bytes, slot, aad_buf);
        if (!parts)
            return parts.error();
        if (!checker->open(parts->sealed, aad_buf, scratch))
            return corrupt(slot.at, slot.number,
                           "the record fails authentication (altered or moved bytes)");
        struct Wipe {
            std::string& s;
            ~Wipe() { crypto::wipe(s); }
        } wipe_scratch{scratch};
        Entry e;
        Reader c(parts->clear);
        Reader p(scratch);
        bool ok = false;
        switch (parts->kind) {
        case static_cast<std::uint8_t>(Kind::put): {
            e.kind = Kind::put;
            std::uint32_t n = 0;
            ok = c.str(e.id) && c.u32(n) && n <= parts->clear.size();
            if (ok)
                e.names.reserve(n);
            for (std::uint32_t i = 0; ok && i < n; ++i) {
                std::string name;
                std::string_view value;
                ok = c.str(name) && p.str(value);
                e.names.push_back(std::move(name));
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
            // The whole plaintext is the value.
            return ok && c.done() ? Result<Entry>(std::move(e))
                                  : Result<Entry>(corrupt(slot.at, slot.number,
                                                          "the alias record is malformed"));
        }
        case static_cast<std::uint8_t>(Kind::alias_remove):
            e.kind = Kind::alias_remove;
            ok = c.str(e.alias);
            break;
        default:
            return corrupt(slot.at, slot.number,
                           "unknown record kind " + std::to_string(parts->kind));
        }
        if (!ok || !c.done() || !p.done())
            return corrupt(slot.at, slot.number, "the record is malformed");
        return e;
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
        auto parts = split(b, slot, aad_buf);
        if (!parts)
            return parts.error();
        auto plain = crypto::aead_open(key, parts->sealed, aad_buf);
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
    Result<std::string> value_at(const Slot& slot, std::uint32_t index) const {
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

    Result<std::optional<std::string>> field_value(const std::string& id,
                                                   const std::string& name) const {
        auto it = data.find(id);
        if (it == data.end())
            return std::optional<std::string>();
        const FieldRef* ref = find_ref(it->second, name);
        if (!ref)
            return std::optional<std::string>();
        auto v = value_at(ref->slot, ref->index);
        if (!v)
            return v.error();
        return std::optional<std::string>(std::move(*v));
    }

    // Adds a checked record to the index.
    void index(Entry&& e, const Slot& slot) {
        switch (e.kind) {
        case Kind::put: {
            auto& refs = data[e.id];
            if (refs.empty())
                refs.reserve(e.names.size());
            for (std::uint32_t i = 0; i < e.names.size(); ++i)
                set_ref(refs, std::move(e.names[i]), FieldRef{slot, i});
            break;
        }
        case Kind::remove:
            data.erase(e.id);
            break;
        case Kind::alias: {
            // One hash of each name: a vault of 100 000 aliases spends its open here.
            auto [it, fresh] = aliases.try_emplace(e.alias);
            if (!fresh && it->second.lookup != e.lookup)
                by_lookup.erase(it->second.lookup);
            by_lookup.insert_or_assign(e.lookup, std::move(e.alias));
            it->second = AliasEntry{slot, std::move(e.lookup), e.requested, e.format};
            break;
        }
        case Kind::alias_remove: {
            auto it = aliases.find(e.alias);
            if (it != aliases.end()) {
                auto l = by_lookup.find(it->second.lookup);
                if (l != by_lookup.end() && l->second == e.alias)
                    by_lookup.erase(l);
                aliases.erase(it);
            }
            break;
        }
        }
    }

    // Adds a record this process just wrote: indexed like any other, and its values kept, since
    // they are at hand.
    void index_written(Rec&& r, const Slot& slot) {
        Entry e;
        e.kind = r.kind;
        e.id = std::move(r.id);
        e.alias = std::move(r.alias);
        e.lookup = std::move(r.lookup);
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
        index(std::move(e), slot);
        if (r.kind == Kind::put || r.kind == Kind::alias) {
            std::lock_guard c(cache_mutex);
            opened[slot.at] = std::move(values);
        }
    }

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
        auto buf = pread_range(log_fd, offset, size);
        if (!buf)
            return buf.error();
        std::string_view b = *buf;
        const std::uint64_t base = offset;
        std::size_t pos = 0;
        std::string torn; // why the tail is incomplete, when it is
        std::string aad_buf;
        while (pos < b.size()) {
            const std::uint64_t at = base + pos;
            std::string_view rest = b.substr(pos);
            if (rest.size() < k_frame_size) {
                torn = "its frame has " + std::to_string(rest.size()) + " of 8 bytes";
                break;
            }
            const std::uint32_t len = get_u32(rest, 0);
            if (len != ~get_u32(rest, 4)) {
                // An interrupted write after a crash can leave zeros; anything else is damage.
                if (std::all_of(rest.begin(), rest.end(), [](char c) { return c == 0; })) {
                    torn = "it is " + std::to_string(rest.size()) + " zero bytes";
                    break;
                }
                return corrupt(at, "the record's length field is damaged");
            }
            if (len < k_min_body || len > k_max_body)
                return corrupt(at, "the record's length " + std::to_string(len) + " is impossible");
            if (rest.size() < k_frame_size + len) {
                torn = "it has " + std::to_string(rest.size()) + " of its " +
                       std::to_string(k_frame_size + len) + " bytes";
                break;
            }
            const Slot slot{at, static_cast<std::uint32_t>(k_frame_size + len), records + 1};
            auto entry = check(rest.substr(0, k_frame_size + len), slot, aad_buf);
            if (!entry)
                return entry.error();
            index(std::move(*entry), slot);
            pos += k_frame_size + len;
            ++records;
            offset = at + k_frame_size + len;
        }
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

    // --- writing --------------------------------------------------------------------------

    // Under the exclusive lock and up to date, asks `build` for the records to append, appends
    // them in one write, syncs, then applies them.
    template <class Build> Result<void> append(Build&& build) {
        std::lock_guard w(write_mutex);
        FileLock fl(lock_fd, LOCK_EX);
        if (!fl.ok())
            return io_error("lock", lock);
        {
            std::unique_lock s(state_mutex);
            if (auto r = catch_up(Scan::write); !r)
                return r;
        }
        // Only this thread changes the state now (readers only read it), so building needs
        // no state lock.
        std::vector<Rec> recs;
        if (auto r = build(recs); !r)
            return r;
        if (recs.empty())
            return {};
        std::string bytes;
        std::vector<Slot> slots;
        for (const auto& r : recs) {
            auto e = encode(r, offset + bytes.size());
            if (!e)
                return e.error();
            slots.push_back(Slot{offset + bytes.size(), static_cast<std::uint32_t>(e->size()),
                                 records + slots.size() + 1});
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
            if (auto it = by_lookup.find(lookup); it != by_lookup.end()) {
                out.push_back(it->second);
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
                if (cand == req.value || aliases.count(cand) || new_aliases.count(cand))
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
            auto current = m_impl->data.find(id);
            auto queued = pending.find(id);
            const bool exists = current != m_impl->data.end() || queued != pending.end();
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
                    current != m_impl->data.end() ? find_ref(current->second, name) : nullptr;
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
    auto it = m_impl->data.find(id);
    if (it == m_impl->data.end())
        return std::optional<Fields>();
    Fields out;
    for (const auto& [name, ref] : it->second) {
        auto v = m_impl->value_at(ref.slot, ref.index);
        if (!v)
            return v.error();
        out.emplace_hint(out.end(), name, std::move(*v));
    }
    return std::optional<Fields>(std::move(out));
}

Result<std::optional<std::string>> Store::read_field(const std::string& id,
                                                     const std::string& f) const {
    m_impl->refresh();
    std::shared_lock s(m_impl->state_mutex);
    return m_impl->field_value(id, f);
}

Result<std::optional<std::string>> Store::read_alias(std::string_view alias) const {
    m_impl->refresh();
    std::shared_lock s(m_impl->state_mutex);
    auto it = m_impl->aliases.find(std::string(alias));
    if (it == m_impl->aliases.end())
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
    return m_impl->data.count(id) > 0;
}

std::vector<RecordInfo> Store::list() const {
    m_impl->refresh();
    std::vector<RecordInfo> out;
    {
        std::shared_lock s(m_impl->state_mutex);
        out.reserve(m_impl->data.size());
        for (const auto& [id, fields] : m_impl->data) {
            RecordInfo info{id, {}};
            for (const auto& f : fields)
                info.fields.push_back(f.first);
            out.push_back(std::move(info));
        }
    }
    std::sort(out.begin(), out.end(),
              [](const RecordInfo& a, const RecordInfo& b) { return a.id < b.id; });
    return out;
}

Result<void> Store::remove(const std::string& id) {
    return m_impl->append([&](std::vector<Rec>& recs) -> Result<void> {
        if (!m_impl->data.count(id))
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
        std::shared_lock s(m_impl->state_mutex);
        std::vector<std::string> out;
        for (const auto& req : requests) {
            auto it = m_impl->by_lookup.find(m_impl->lookup_key(req.value, req.format));
            if (it == m_impl->by_lookup.end())
                break;
            out.push_back(it->second);
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
    });
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
    auto it = m_impl->aliases.find(std::string(alias));
    if (it == m_impl->aliases.end())
        return std::nullopt;
    return AliasInfo{it->first, it->second.requested, it->second.format};
}

std::vector<AliasInfo> Store::list_aliases() const {
    m_impl->refresh();
    std::vector<AliasInfo> out;
    {
        std::shared_lock s(m_impl->state_mutex);
        for (const auto& [a, e] : m_impl->aliases)
            out.push_back(AliasInfo{a, e.requested, e.format});
    }
    std::sort(out.begin(), out.end(),
              [](const AliasInfo& a, const AliasInfo& b) { return a.alias < b.alias; });
    return out;
}

Result<void> Store::remove_alias(std::string_view alias) {
    return m_impl->append([&](std::vector<Rec>& recs) -> Result<void> {
        if (!m_impl->aliases.count(std::string(alias)))
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
    DataIndex new_data;
    AliasIndex new_aliases;
    std::uint64_t number = 0;
    std::vector<std::string> ids;
    for (const auto& kv : m.data)
        ids.push_back(kv.first);
    std::sort(ids.begin(), ids.end());
    for (const auto& id : ids) {
        Rec r;
        r.kind = Kind::put;
        r.id = id;
        for (const auto& [name, ref] : m.data[id]) {
            auto v = m.value_at(ref.slot, ref.index);
            if (!v)
                return v.error();
            r.fields.emplace_hint(r.fields.end(), name, std::move(*v));
        }
        auto e = encode_new(r, out.size());
        for (auto& [name, value] : r.fields)
            crypto::wipe(value);
        if (!e)
            return e.error();
        const Slot slot{out.size(), static_cast<std::uint32_t>(e->size()), ++number};
        auto& refs = new_data[id];
        std::uint32_t i = 0;
        for (const auto& kv : r.fields)
            refs.emplace_back(kv.first, FieldRef{slot, i++});
        out += *e;
        ++stats.records;
    }
    std::vector<std::string> names;
    for (const auto& kv : m.aliases)
        names.push_back(kv.first);
    std::sort(names.begin(), names.end());
    for (const auto& a : names) {
        const auto& entry = m.aliases[a];
        auto value = m.value_at(entry.slot, 0);
        if (!value)
            return value.error();
        Rec r;
        r.kind = Kind::alias;
        r.alias = a;
        r.value = std::move(*value);
        r.lookup = entry.lookup;
        r.requested = entry.requested;
        r.format = entry.format;
        auto e = encode_new(r, out.size());
        crypto::wipe(r.value);
        if (!e)
            return e.error();
        const Slot slot{out.size(), static_cast<std::uint32_t>(e->size()), ++number};
        new_aliases[a] = AliasEntry{slot, entry.lookup, entry.requested, entry.format};
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
    m.data = std::move(new_data);
    m.aliases = std::move(new_aliases);
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
    return m_impl->data.size();
}

std::size_t Store::alias_count() const {
    m_impl->refresh();
    std::shared_lock s(m_impl->state_mutex);
    return m_impl->aliases.size();
}

} // namespace vaultfwd::vault
