// SPDX-License-Identifier: Apache-2.0
#pragma once
// Footprint proxy tokens (`fp_id.di | filter | …`, or `di | …` with a global fp_id from
// x-fp-id) and ingress rules (`<token> = <jsonpath> | filter | …`), parsed exactly as
// Footprint does, with its error texts (typos included). All errors are "template.syntax".

#include <string>
#include <string_view>
#include <vector>

#include "core/template/filters.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::tmpl {

struct FootprintToken {
    std::string fp_id; // as written in the token, or the global fp_id: the vault record id
    std::string di;    // data identifier, e.g. "id.first_name": the record's field
    std::vector<Filter> filters;
    bool uses_global = false;

    // "fp_id.di" followed by " | name" per filter (no arguments): how Footprint lists a token in
    // "Found invalid or unknown data identifiers: …".
    std::string reference() const;
};

// A parsed token whose fp_id and data identifier are views into the text parsed (or into the
// global fp_id): what a render keeps of each of 100 000 distinct tokens without copying them.
struct FootprintTokenView {
    std::string_view fp_id;
    std::string_view di;
    std::vector<Filter> filters;
    bool uses_global = false;

    FootprintToken owned() const;
};

// True for `fp_id_…`, `fp_bid_…`, `fp_id_test_…`, `fp_bid_test_…` (the first matching prefix
// stripped) whose remainder is non-empty ASCII alphanumeric; a name without a prefix is invalid.
bool is_valid_fp_id(std::string_view fp_id);

// True for a data identifier Footprint knows: `id.<kind>`, `custom.<key>`,
// `card.<alias>.<kind>`, `business.<kind>`, `investor_profile.<kind>`,
// `document.<type>[.<side>].<field>`; charset [A-Za-z0-9_.-], case-sensitive.
bool is_valid_data_identifier(std::string_view di);

// Parses the text between `{{` and `}}` (untrimmed). `global_fp_id` is x-fp-id, empty when
// absent. Errors: "Missing or invalid fp_id in proxy token.", "Cannot mix global footprint
// token with fully-qualified proxy tokens. Please remove the header 'x-fp-id' or remove the
// 'fp_id.' prefix from proxy tokens.", "Cannont parse data identifier: <text>",
// "Invalid filter function: <message>".
Result<FootprintToken> parse_footprint_token(std::string_view text,
                                             std::string_view global_fp_id = {});
// parse_footprint_token() with views into `text` and `global_fp_id`, which must outlive it.
Result<FootprintTokenView> parse_footprint_token_view(std::string_view text,
                                                      std::string_view global_fp_id = {});

// For people (the CLI), not for the API: why the token text between `{{` and `}}` does not
// parse, naming the part at fault (the fp_id, the data identifier, the filter by name) and what
// is valid instead; never an argument of a filter (an hmac key is a secret). Empty when it parses.
std::string explain_footprint_token(std::string_view text, std::string_view global_fp_id = {});
// Why `di` is not a data identifier and what is valid instead (the `id.` kinds, the `custom.`
// and `card.` forms, …), with the nearest valid one when there is one; empty when it is valid.
std::string explain_data_identifier(std::string_view di);

struct IngressRule {
    std::string fp_id;
    std::string di;
    std::string path; // the JSONPath text, trimmed, not evaluated here
    std::vector<Filter> filters; // run on the matched value before it is vaulted
};

// Parses one ingress rule. Errors: "Proxy rule is badly formed: must be one '=' only",
// "Proxy rule is badly formed: filter functions must be on the right side of the target",
// "Proxy rule is badly formed: bad filter function on target: <message>", and the token errors
// of parse_footprint_token.
Result<IngressRule> parse_ingress_rule(std::string_view rule, std::string_view global_fp_id = {});

// Splits an x-fp-proxy-ingress-rule header value into rules on commas that are outside quotes,
// brackets and parentheses (vaultfwd's deliberate difference: JSONPaths and filter arguments
// may hold commas). Pieces are trimmed; empty ones dropped.
std::vector<std::string> split_ingress_rule_header(std::string_view value);

} // namespace vaultfwd::tmpl
