// SPDX-License-Identifier: Apache-2.0
#include "core/vault/ledger.hpp"

#include <nlohmann/json.hpp>

#include "core/crypto/hash.hpp"
#include "core/util/file_lock.hpp"
#include "core/util/fs.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::vault {

namespace {

using nlohmann::json;

constexpr int k_version = 1;

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Error damaged(const std::filesystem::path& file, const std::string& why) {
    return make_error("tokenize.ledger_damaged",
                      file.string() + " is damaged (" + why +
                          "): tokenize cannot tell which values it wrote; restore it from a "
                          "backup, or delete it and tokenize the real fixtures again");
}

} // namespace

Result<TokenizeLedger> TokenizeLedger::load(const std::filesystem::path& file,
                                            std::string_view vault_key) {
    TokenizeLedger ledger(file, crypto::hmac_sha256(vault_key, "vaultfwd/tokenize/ledger-mac"));
    if (auto r = ledger.read_entries(ledger.m_entries); !r)
        return r.error();
    return ledger;
}

Result<void> TokenizeLedger::read_entries(std::map<std::string, WrittenAliases>& out) const {
    out.clear();
    std::error_code ec;
    if (!std::filesystem::exists(m_file, ec))
        return {};
    auto text = util::read_file(m_file);
    if (!text)
        return text.error();
    json root;
    try {
        root = json::parse(*text);
    } catch (const json::exception&) {
        return damaged(m_file, "not JSON");
    }
    if (!root.is_object() || !root.contains("files") || !root["files"].is_object() ||
        !root.contains("mac") || !root["mac"].is_string() || root.value("version", 0) != k_version)
        return damaged(m_file, "not a ledger of this version");
    const std::string mac = util::to_hex(crypto::hmac_sha256(m_mac_key, dump(root["files"])));
    if (!crypto::constant_time_equal(mac, root["mac"].get<std::string>()))
        return damaged(m_file, "its MAC does not match: edited, or written with another vault key");
    try {
        for (const auto& [path, aliases] : root["files"].items())
            out.emplace(path, aliases.get<WrittenAliases>());
    } catch (const json::exception&) {
        return damaged(m_file, "an entry is malformed");
    }
    return {};
}

std::optional<WrittenAliases> TokenizeLedger::written(const std::string& path) const {
    if (auto p = m_pending.find(path); p != m_pending.end())
        return p->second;
    if (auto e = m_entries.find(path); e != m_entries.end())
        return e->second;
    return std::nullopt;
}

void TokenizeLedger::record(const std::string& path, WrittenAliases aliases) {
    m_pending[path] = std::move(aliases);
}

Result<void> TokenizeLedger::save() {
    if (m_pending.empty())
        return {};
    util::FileLock lock(m_file);
    if (!lock.ok())
        return make_error("fs.write", "cannot lock " + m_file.string());
    // Re-read under the lock: another tokenize may have saved since we loaded.
    std::map<std::string, WrittenAliases> merged;
    if (auto r = read_entries(merged); !r)
        return r.error();
    for (auto& [path, aliases] : m_pending)
        merged[path] = aliases;
    json files = json::object();
    for (const auto& [path, aliases] : merged)
        files[path] = aliases;
    json root = {{"version", k_version},
                 {"mac", util::to_hex(crypto::hmac_sha256(m_mac_key, dump(files)))},
                 {"files", files}};
    if (auto w = util::write_file_atomic(m_file, dump(root) + "\n", 0600); !w)
        return w.error();
    m_entries = std::move(merged);
    m_pending.clear();
    return {};
}

} // namespace vaultfwd::vault
