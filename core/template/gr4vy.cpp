// SPDX-License-Identifier: Apache-2.0
#include "core/template/gr4vy.hpp"

#include <algorithm>

namespace vaultfwd::tmpl {

namespace {

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::size_t> parse_index(std::string_view s) {
    if (!all_digits(s) || s.size() > 9)
        return std::nullopt;
    std::size_t v = 0;
    for (char c : s)
        v = v * 10 + static_cast<std::size_t>(c - '0');
    return v;
}

Error unknown(std::string message) { return make_error("template.unknown", std::move(message)); }

} // namespace

bool is_placeholder_name(std::string_view name) {
    if (name.empty() || !((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z')))
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

std::optional<Gr4vyPlaceholder> parse_gr4vy_placeholder(std::string_view name) {
    struct Form {
        std::string_view prefix;
        Gr4vyField field;
    };
    // Longest prefixes first: CARD_EXPIRATION_DATE_ is a prefix of the variants.
    static constexpr Form k_forms[] = {
        {"CARD_EXPIRATION_DATE_YYYY_", Gr4vyField::year_full},
        {"CARD_EXPIRATION_DATE_YY_", Gr4vyField::year_short},
        {"CARD_EXPIRATION_DATE_MM_", Gr4vyField::month_padded},
        {"CARD_EXPIRATION_DATE_M_", Gr4vyField::month},
        {"CARD_EXPIRATION_DATE_", Gr4vyField::expiration_date},
        {"CARD_NUMBER_", Gr4vyField::number},
    };
    for (const auto& form : k_forms) {
        if (name.substr(0, form.prefix.size()) != form.prefix)
            continue;
        auto index = parse_index(name.substr(form.prefix.size()));
        if (!index)
            return std::nullopt;
        return Gr4vyPlaceholder{form.field, *index};
    }
    return std::nullopt;
}

std::vector<std::string> gr4vy_fields(Gr4vyField field) {
    if (field == Gr4vyField::number)
        return {"card.number"};
    if (field == Gr4vyField::month || field == Gr4vyField::month_padded)
        return {"card.exp_month"};
    if (field == Gr4vyField::year_short || field == Gr4vyField::year_full)
        return {"card.exp_year"};
    return {"card.exp_month", "card.exp_year"};
}

Result<std::string> resolve_gr4vy(const Gr4vyPlaceholder& p,
                                  const std::vector<std::string>& payment_methods,
                                  const vault::RecordSource& source) {
    if (p.index == 0)
        return unknown("placeholder index starts at 1");
    if (p.index > payment_methods.size())
        return unknown("placeholder refers to payment method " + std::to_string(p.index) +
                       " but x-vault-forward-payment-methods lists " +
                       std::to_string(payment_methods.size()));
    const std::string& id = payment_methods[p.index - 1];
    if (!source.has_record(id))
        return make_error("template.unknown_record",
                          "payment method " + id + " is not in the vault");
    auto read = [&](const char* field) -> Result<std::string> {
        auto v = source.read_field(id, field);
        if (!v)
            return make_error("template.undecryptable",
                              "the value could not be read from the vault: " + v.error().message);
        if (!*v)
            return unknown("payment method " + id + " has no " + field);
        return std::move(**v);
    };
    if (p.field == Gr4vyField::number)
        return read("card.number");

    int month = 0;
    int year = 0;
    if (p.field != Gr4vyField::year_short && p.field != Gr4vyField::year_full) {
        auto m = read("card.exp_month");
        if (!m)
            return m.error();
        if (!all_digits(*m) || m->size() > 2 || std::stoi(*m) < 1 || std::stoi(*m) > 12)
            return make_error("template.filter",
                              "payment method " + id + " has an invalid card.exp_month");
        month = std::stoi(*m);
    }
    if (p.field != Gr4vyField::month && p.field != Gr4vyField::month_padded) {
        auto y = read("card.exp_year");
        if (!y)
            return y.error();
        if (!all_digits(*y) || (y->size() != 4 && y->size() != 2))
            return make_error("template.filter",
                              "payment method " + id + " has an invalid card.exp_year");
        // A two-digit year is taken as 20YY, the only century cards expire in.
        year = std::stoi(*y) + (y->size() == 2 ? 2000 : 0);
    }
    auto two = [](int v) {
        std::string s = std::to_string(v % 100);
        return s.size() == 1 ? "0" + s : s;
    };
    switch (p.field) {
    case Gr4vyField::month:
        return std::to_string(month);
    case Gr4vyField::month_padded:
        return two(month);
    case Gr4vyField::year_short:
        return two(year);
    case Gr4vyField::year_full:
        return std::to_string(year);
    case Gr4vyField::expiration_date:
        return two(month) + "/" + two(year);
    case Gr4vyField::number:
        break;
    }
    return read("card.number");
}

} // namespace vaultfwd::tmpl
