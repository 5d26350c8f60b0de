// SPDX-License-Identifier: Apache-2.0
#pragma once
// Read access to vaulted record fields: what templates render from. The file-backed store
// implements it; MemorySource serves tests and offline checks.

#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/util/result.hpp"

namespace vaultfwd::vault {

// Record ids: Footprint users ("fp_id_test_abc"), Gr4vy payment methods (their id, fields
// "card.number", "card.exp_month" (MM), "card.exp_year" (YYYY)), VTEX payments ("vtex_<hash>",
// fields "number", "holder", "csc"). Fields are dotted ("id.first_name", "card.primary.number").
class RecordSource {
  public:
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
    virtual bool has_record(const std::string& id) const = 0;
};

class MemorySource : public RecordSource {
  public:
    void set(const std::string& id, const std::string& field, const std::string& value) {
        m_records[id][field] = value;
    }
    std::optional<std::string> field(const std::string& id, const std::string& f) const override {
        auto r = m_records.find(id);
        if (r == m_records.end())
            return std::nullopt;
        auto v = r->second.find(f);
        if (v == r->second.end())
            return std::nullopt;
        return v->second;
    }
    bool has_record(const std::string& id) const override { return m_records.count(id) > 0; }

  private:
    std::unordered_map<std::string, std::map<std::string, std::string>> m_records;
};

} // namespace vaultfwd::vault
