// SPDX-License-Identifier: Apache-2.0
#pragma once
// Gr4vy Vault Forward placeholders: `{{ CARD_NUMBER_X }}`, `{{ CARD_EXPIRATION_DATE_X }}`
// (MM/YY) and `{{ CARD_EXPIRATION_DATE_<M|MM|YY|YYYY>_X }}`, X being the 1-based index into
// x-vault-forward-payment-methods. Values come from the payment method's vault record: fields
// "card.number", "card.exp_month" (MM) and "card.exp_year" (YYYY).

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.hpp"
#include "core/vault/record_source.hpp"

namespace vaultfwd::tmpl {

enum class Gr4vyField {
    number,          // CARD_NUMBER_X
    expiration_date, // CARD_EXPIRATION_DATE_X: "MM/YY"
    month,           // CARD_EXPIRATION_DATE_M_X: "1" … "12"
    month_padded,    // CARD_EXPIRATION_DATE_MM_X: "01" … "12"
    year_short,      // CARD_EXPIRATION_DATE_YY_X: "00" … "99"
    year_full,       // CARD_EXPIRATION_DATE_YYYY_X: "2028"
};

struct Gr4vyPlaceholder {
    Gr4vyField field = Gr4vyField::number;
    std::size_t index = 0; // 1-based as written; 0 when written as _0 (never valid)
};

// True for text shaped like a placeholder name ([A-Za-z][A-Za-z0-9_]*): inside `{{ }}` such text
// is a placeholder in the Gr4vy dialect, known or not; anything else between braces is left as
// text.
bool is_placeholder_name(std::string_view name);

// The placeholder `name` (trimmed, case-sensitive) stands for, or nullopt for an unknown name.
std::optional<Gr4vyPlaceholder> parse_gr4vy_placeholder(std::string_view name);

// The record fields a placeholder reads ("card.number", or "card.exp_month" and
// "card.exp_year"): what a reveal permission is checked against.
std::vector<std::string> gr4vy_fields(Gr4vyField field);

// The placeholder's value for `payment_methods`. Errors: "template.unknown" (index outside
// the list, missing field), "template.unknown_record" (payment method not in the vault),
// "template.filter" (an expiration field that is
// not a month 1–12 or a 2- or 4-digit year). Messages never carry the value.
Result<std::string> resolve_gr4vy(const Gr4vyPlaceholder& placeholder,
                                  const std::vector<std::string>& payment_methods,
                                  const vault::RecordSource& source);

} // namespace vaultfwd::tmpl
