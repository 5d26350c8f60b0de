// SPDX-License-Identifier: Apache-2.0
#pragma once
// Read access to vaulted record fields: what templates render from. The file-backed store
// implements it; MemorySource serves tests and offline checks.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.hpp"
#include "core/util/view_hash.hpp"

namespace vaultfwd::vault {

// Record ids: Footprint users ("fp_id_test_abc"), Gr4vy payment methods (their id, fields
// "card.number", "card.exp_month" (MM), "card.exp_year" (YYYY)), VTEX payments ("vtex_<hash>",
// fields "number", "holder", "csc"). Fields are dotted ("id.first_name", "card.primary.number").
class RecordSource {
  public:
    // One field of one record, as read_fields() is asked for it.
    struct FieldQuery {
        std::string_view id;
        std::string_view field;
    };

    virtual ~RecordSource() = default;
    // The value of `field` in record `id`, or nullopt when the record or the field is absent.
    virtual std::optional<std::string> field(const std::string& id,
                                             const std::string& field) const = 0;
    // As field(), with a value that cannot be read (a damaged vault record) as an error rather
    // than an exception. Sources whose reads cannot fail keep this default.
    virtual Result<std::optional<std::string>> read_field(const std::string& id,
                                                          const std::string& field) const {
        return this->field(id, field);
    }
    // read_field() of every query, in order, as one read: a source may look for other writers
    // once for all of them and overlap the lookups (a render of 100 000 distinct tokens asks
    // once). The default asks read_field() one by one.
    virtual std::vector<Result<std::optional<std::string>>>
    read_fields(const std::vector<FieldQuery>& queries) const {
        std::vector<Result<std::optional<std::string>>> out;
        out.reserve(queries.size());
        for (const auto& q : queries)
            out.push_back(read_field(std::string(q.id), std::string(q.field)));
        return out;
    }
    virtual bool has_record(const std::string& id) const = 0;
};

class MemorySource : public RecordSource {
  public:
    void set(const std::string& id, const std::string& field, const std::string& value) {
        m_records[id][field] = value;
    }
    std::optional<std::string> field(const std::string& id, const std::string& f) const override {
        const std::string* v = find(id, f);
        if (!v)
            return std::nullopt;
        return *v;
    }
    std::vector<Result<std::optional<std::string>>>
    read_fields(const std::vector<FieldQuery>& queries) const override {
        std::vector<Result<std::optional<std::string>>> out;
        out.reserve(queries.size());
        for (std::size_t i = 0; i < queries.size(); ++i) {
            // The table is read at random: fetch a record a few queries on while this one is
            // looked up.
            if (i + 8 < queries.size())
                m_records.prefetch(queries[i + 8].id);
            const std::string* v = find(queries[i].id, queries[i].field);
            out.push_back(v ? std::optional<std::string>(*v) : std::nullopt);
        }
        return out;
    }
    bool has_record(const std::string& id) const override { return m_records.contains(id); }

  private:
    const std::string* find(std::string_view id, std::string_view f) const {
        auto r = m_records.find(id);
        if (r == m_records.end())
            return nullptr;
        auto v = r->second.find(f);
        return v == r->second.end() ? nullptr : &v->second;
    }

    absl::flat_hash_map<std::string, std::map<std::string, std::string, std::less<>>,
                        util::ViewHash, util::ViewEq>
        m_records;
};

} // namespace vaultfwd::vault
