// SPDX-License-Identifier: Apache-2.0
#include "core/template/footprint.hpp"

#include <algorithm>
#include <array>

#include "core/template/text.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::tmpl {

namespace {

Error syntax(std::string message) { return make_error("template.syntax", std::move(message)); }

template <std::size_t N> bool one_of(std::string_view s, const std::array<std::string_view, N>& set) {
    return std::find(set.begin(), set.end(), s) != set.end();
}

// Tried in this order, as Footprint does: the first that matches is stripped.
constexpr std::array<std::string_view, 4> k_fp_id_prefixes = {"fp_bid_test_", "fp_id_test_", "fp_bid_",
                                                              "fp_id_"};

constexpr std::array<std::string_view, 25> k_id_kinds = {
    "first_name",         "middle_name",
    "last_name",          "dob",
    "ssn4",               "ssn9",
    "address_line1",      "address_line2",
    "city",               "state",
    "zip",                "country",
    "email",              "verified_email",
    "phone_number",       "verified_phone_number",
    "us_legal_status",    "visa_kind",
    "visa_expiration_date", "nationality",
    "citizenships",       "drivers_license_number",
    "drivers_license_state", "itin",
    "us_tax_id",
};

constexpr std::array<std::string_view, 10> k_card_kinds = {
    "number",          "expiration",      "cvc",
    "name",            "billing_address.zip", "billing_address.country",
    "expiration_month", "expiration_year", "number_last4",
    "issuer",
};

constexpr std::array<std::string_view, 16> k_business_kinds = {
    "name",          "dba",          "website",         "phone_number",
    "tin",           "corporation_type", "beneficial_owners", "kyced_beneficial_owners",
    "address_line1", "address_line2", "city",            "state",
    "zip",           "country",      "formation_state", "formation_date",
};

constexpr std::array<std::string_view, 13> k_investor_kinds = {
    "employment_status",   "occupation",         "employer",
    "annual_income",       "net_worth",          "investment_goals",
    "risk_tolerance",      "declarations",       "senior_executive_symbols",
    "family_member_names", "political_organization", "brokerage_firm_employer",
    "funding_sources",
};

constexpr std::array<std::string_view, 8> k_document_types = {
    "passport", "drivers_license", "id_card",  "residence_document",
    "visa",     "permit",          "voter_identification", "passport_card",
};

constexpr std::array<std::string_view, 3> k_document_sides = {"front", "back", "selfie"};
constexpr std::array<std::string_view, 2> k_document_side_fields = {"image", "mime_type"};

constexpr std::array<std::string_view, 16> k_document_fields = {
    "full_name",     "dob",         "gender",        "full_address",
    "document_number", "expires_at", "issued_at",     "issuing_state",
    "issuing_country", "ref_number", "nationality",   "classified_document_type",
    "curp",          "clave_de_elector", "curp_validation_response",
    "samba_activity_history_response",
};

bool is_di_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

bool is_document(std::string_view rest) {
    if (rest == "finra_compliance_letter" || rest == "ssn_card.image" ||
        rest == "proof_of_address.image")
        return true;
    if (rest.substr(0, 7) == "custom.")
        return rest.size() > 7;
    auto dot = rest.find('.');
    if (dot == std::string_view::npos || !one_of(rest.substr(0, dot), k_document_types))
        return false;
    std::string_view field = rest.substr(dot + 1);
    if (one_of(field, k_document_fields))
        return true;
    auto side_dot = field.find('.');
    return side_dot != std::string_view::npos && one_of(field.substr(0, side_dot), k_document_sides) &&
           one_of(field.substr(side_dot + 1), k_document_side_fields);
}

bool is_card(std::string_view rest) {
    auto dot = rest.find('.');
    if (dot == 0 || dot == std::string_view::npos)
        return false;
    return one_of(rest.substr(dot + 1), k_card_kinds);
}

// Footprint splits on every `sep` (no escaping) and trims each piece.
std::vector<std::string_view> split_trimmed(std::string_view text, char sep) {
    std::vector<std::string_view> pieces;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || text[i] == sep) {
            pieces.push_back(trim_unicode(text.substr(start, i - start)));
            start = i + 1;
        }
    }
    return pieces;
}

std::vector<std::string_view> split_pipes(std::string_view text) {
    return split_trimmed(trim_unicode(text), '|');
}

template <std::size_t N>
std::string kinds_list(std::string_view prefix, const std::array<std::string_view, N>& kinds) {
    std::string out;
    for (auto k : kinds)
        out += (out.empty() ? "" : ", ") + std::string(prefix) + std::string(k);
    return out;
}

template <std::size_t N>
std::string did_you_mean(std::string_view prefix, std::string_view rest,
                         const std::array<std::string_view, N>& kinds) {
    auto near = util::nearest(rest, std::vector<std::string>(kinds.begin(), kinds.end()));
    return near.empty() ? "" : " (did you mean " + std::string(prefix) + near + "?)";
}

// What a person wrote, quoted, cut short so a message stays one readable line.
std::string quoted(std::string_view text) {
    constexpr std::size_t k_max = 60;
    if (text.size() <= k_max)
        return "\"" + std::string(text) + "\"";
    std::size_t cut = k_max;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
        --cut;
    return "\"" + std::string(text.substr(0, cut)) + "…\"";
}

constexpr const char* k_filter_forms =
    "to_lowercase, to_uppercase, to_ascii, prefix(n), suffix(n), replace(from, to), "
    "date_format(from_format, to_format), hmac_sha256(key), encrypt(algorithm, public_key)";
constexpr const char* k_fp_id_forms = "fp_id_…, fp_id_test_…, fp_bid_…, fp_bid_test_…";

} // namespace

std::string explain_data_identifier(std::string_view di) {
    if (is_valid_data_identifier(di))
        return {};
    const std::string forms = "id.<kind>, custom.<key>, card.<alias>.<kind>, business.<kind>, "
                              "investor_profile.<kind> or document.<type>[.<side>].<field>";
    if (di.empty())
        return "the data identifier is missing: write one of " + forms;
    if (!std::all_of(di.begin(), di.end(), is_di_char))
        return quoted(di) + " is not a data identifier: only letters, digits, '-', '_' and '.' may appear in one";
    auto dot = di.find('.');
    std::string_view prefix = di.substr(0, dot);
    std::string_view rest = dot == std::string_view::npos ? std::string_view() : di.substr(dot + 1);
    std::string head = quoted(di) + " is not a data identifier: ";
    if (prefix == "id")
        return head + "the id. kinds are " + kinds_list("id.", k_id_kinds) + did_you_mean("id.", rest, k_id_kinds);
    if (prefix == "custom")
        return head + "write custom.<key>, the key made of letters, digits, '-', '_' and '.'";
    if (prefix == "card") {
        auto kind_dot = rest.find('.');
        std::string_view kind = kind_dot == std::string_view::npos ? std::string_view() : rest.substr(kind_dot + 1);
        return head + "write card.<alias>.<kind>, the kind one of " + kinds_list("", k_card_kinds) +
               (kind.empty() ? "" : did_you_mean("", kind, k_card_kinds));
    }
    if (prefix == "business")
        return head + "the business. kinds are " + kinds_list("business.", k_business_kinds) +
               did_you_mean("business.", rest, k_business_kinds);
    if (prefix == "investor_profile")
        return head + "the investor_profile. kinds are " + kinds_list("investor_profile.", k_investor_kinds) +
               did_you_mean("investor_profile.", rest, k_investor_kinds);
    if (prefix == "document")
        return head + "write document.<type>[.<side>].<field>, the type one of " + kinds_list("", k_document_types) +
               ", the side one of " + kinds_list("", k_document_sides);
    return head + "it starts with id., custom., card., business., investor_profile. or document. (" +
           forms + ")";
}

std::string explain_footprint_token(std::string_view text, std::string_view global_fp_id) {
    std::vector<std::string_view> pieces = split_pipes(text);
    std::string_view head = pieces.front();
    std::string problem;
    bool global_di = !global_fp_id.empty() && is_valid_data_identifier(head);
    if (!global_di) {
        auto dot = head.find('.');
        std::string_view fp_id = head.substr(0, dot);
        std::string_view di = dot == std::string_view::npos ? std::string_view() : head.substr(dot + 1);
        bool looks_like_fp_id = fp_id.substr(0, 3) == "fp_";
        if (!is_valid_fp_id(fp_id)) {
            if (head.empty())
                problem = "the token is empty: write {{ <fp_id>.<data identifier> }}";
            else if (looks_like_fp_id)
                problem = quoted(fp_id) + " is not an fp_id: it starts with " + k_fp_id_forms +
                          " and goes on with letters and digits only";
            else if (!global_fp_id.empty())
                problem = explain_data_identifier(head);
            else if (is_valid_data_identifier(head))
                problem = "no fp_id: write {{ <fp_id>." + std::string(head) +
                          " }} or give the fp_id once with --fp-id (x-fp-id)";
            else
                problem = "no fp_id (" + std::string(k_fp_id_forms) + ") and " + explain_data_identifier(head);
        } else if (!global_fp_id.empty() && fp_id != global_fp_id) {
            problem = "the token names fp_id " + quoted(fp_id) + " while the global fp_id (--fp-id, x-fp-id) is " +
                      quoted(global_fp_id) + ": drop the " + quoted(std::string(fp_id) + ".") +
                      " prefix, or the global fp_id";
        } else if (!is_valid_data_identifier(di)) {
            problem = explain_data_identifier(di);
        }
    }
    if (!problem.empty())
        return problem;
    for (std::size_t i = 1; i < pieces.size(); ++i) {
        auto f = parse_filter(pieces[i]);
        if (f)
            continue;
        std::string_view piece = pieces[i];
        if (piece.empty())
            return "an empty filter after '|' (filters: " + std::string(k_filter_forms) + ")";
        // The name only: arguments may hold an hmac key, which is a secret.
        std::string_view name = trim_unicode(piece.substr(0, piece.find('(')));
        if (f.error().message == "unknown function") {
            std::vector<std::string> names = {"to_lowercase", "to_uppercase", "to_ascii", "prefix", "suffix",
                                              "replace", "date_format", "hmac_sha256", "encrypt"};
            auto near = util::nearest(name, names);
            if (std::find(names.begin(), names.end(), name) != names.end())
                return "filter " + quoted(name) + " is written with a space before its '(' (write " +
                       std::string(name) + "(…))";
            return "unknown filter " + quoted(name) + (near.empty() ? "" : " (did you mean " + near + "?)") +
                   "; the filters are " + k_filter_forms;
        }
        return "filter " + quoted(name) + ": " + f.error().message;
    }
    return {};
}

std::string FootprintToken::reference() const {
    std::string out = fp_id + "." + di;
    for (const auto& f : filters) {
        out += " | ";
        out += f.name();
    }
    return out;
}

bool is_valid_fp_id(std::string_view fp_id) {
    bool prefixed = false;
    for (std::string_view prefix : k_fp_id_prefixes) {
        if (fp_id.substr(0, prefix.size()) == prefix) {
            fp_id.remove_prefix(prefix.size());
            prefixed = true;
            break;
        }
    }
    // Footprint requires one of the prefixes: with x-fp-id set, `{{ id.nope }}` is then an
    // invalid fp_id before it is a mix of global and qualified tokens.
    return prefixed && !fp_id.empty() && std::all_of(fp_id.begin(), fp_id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    });
}

bool is_valid_data_identifier(std::string_view di) {
    if (di.empty() || !std::all_of(di.begin(), di.end(), is_di_char))
        return false;
    auto dot = di.find('.');
    if (dot == std::string_view::npos)
        return false;
    std::string_view prefix = di.substr(0, dot);
    std::string_view rest = di.substr(dot + 1);
    if (prefix == "id")
        return one_of(rest, k_id_kinds);
    if (prefix == "custom")
        return !rest.empty();
    if (prefix == "card")
        return is_card(rest);
    if (prefix == "business")
        return one_of(rest, k_business_kinds);
    if (prefix == "investor_profile")
        return one_of(rest, k_investor_kinds);
    if (prefix == "document")
        return is_document(rest);
    return false;
}

FootprintToken FootprintTokenView::owned() const {
    return FootprintToken{std::string(fp_id), std::string(di), filters, uses_global};
}

Result<FootprintToken> parse_footprint_token(std::string_view text, std::string_view global_fp_id) {
    auto token = parse_footprint_token_view(text, global_fp_id);
    if (!token)
        return token.error();
    return FootprintToken{std::string(token->fp_id), std::string(token->di),
                          std::move(token->filters), token->uses_global};
}

Result<FootprintTokenView> parse_footprint_token_view(std::string_view text,
                                                      std::string_view global_fp_id) {
    // The pieces split_pipes() gives, one at a time: a render parses every distinct token, and
    // a vector for its pieces cost more than the rest of the parse.
    text = trim_unicode(text);
    std::size_t bar = text.find('|');
    FootprintTokenView token;
    std::string_view head = trim_unicode(text.substr(0, bar));
    if (!global_fp_id.empty() && is_valid_data_identifier(head)) {
        token.fp_id = global_fp_id;
        token.di = head;
        token.uses_global = true;
    } else {
        auto dot = head.find('.');
        std::string_view fp_id = head.substr(0, dot);
        std::string_view di = dot == std::string_view::npos ? std::string_view() : head.substr(dot + 1);
        if (!is_valid_fp_id(fp_id))
            return syntax("Missing or invalid fp_id in proxy token.");
        if (!global_fp_id.empty() && fp_id != global_fp_id)
            return syntax("Cannot mix global footprint token with fully-qualified proxy tokens. "
                          "Please remove the header 'x-fp-id' or remove the 'fp_id.' prefix from "
                          "proxy tokens.");
        if (!is_valid_data_identifier(di))
            return syntax("Cannont parse data identifier: " + std::string(di));
        token.fp_id = fp_id;
        token.di = di;
    }
    while (bar != std::string_view::npos) {
        const std::size_t start = bar + 1;
        bar = text.find('|', start);
        auto f = parse_filter(trim_unicode(
            text.substr(start, bar == std::string_view::npos ? bar : bar - start)));
        if (!f)
            return syntax("Invalid filter function: " + f.error().message);
        token.filters.push_back(std::move(*f));
    }
    return token;
}

Result<IngressRule> parse_ingress_rule(std::string_view rule, std::string_view global_fp_id) {
    std::vector<std::string_view> sides = split_trimmed(rule, '=');
    if (sides.size() != 2)
        return syntax("Proxy rule is badly formed: must be one '=' only");
    if (sides[0].find('|') != std::string_view::npos)
        return syntax("Proxy rule is badly formed: filter functions must be on the right side of "
                      "the target");
    auto token = parse_footprint_token(sides[0], global_fp_id);
    if (!token)
        return token.error();

    IngressRule out;
    out.fp_id = std::move(token->fp_id);
    out.di = std::move(token->di);
    std::vector<std::string_view> target = split_trimmed(sides[1], '|');
    out.path = std::string(target.front());
    for (std::size_t i = 1; i < target.size(); ++i) {
        auto f = parse_filter(target[i]);
        if (!f)
            return syntax("Proxy rule is badly formed: bad filter function on target: " +
                          f.error().message);
        out.filters.push_back(std::move(*f));
    }
    return out;
}

std::vector<std::string> split_ingress_rule_header(std::string_view value) {
    std::vector<std::string> out;
    char quote = 0;
    int depth = 0;
    std::size_t start = 0;
    auto flush = [&](std::size_t end) {
        auto piece = trim_unicode(value.substr(start, end - start));
        if (!piece.empty())
            out.emplace_back(piece);
        start = end + 1;
    };
    for (std::size_t i = 0; i < value.size(); ++i) {
        char c = value[i];
        if (quote) {
            if (c == '\\')
                ++i;
            else if (c == quote)
                quote = 0;
            continue;
        }
        if (c == '\\') {
            ++i;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '[' || c == '(') {
            ++depth;
        } else if ((c == ']' || c == ')') && depth > 0) {
            --depth;
        } else if (c == ',' && depth == 0) {
            flush(i);
        }
    }
    flush(value.size());
    return out;
}

} // namespace vaultfwd::tmpl
