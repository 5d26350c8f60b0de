// SPDX-License-Identifier: Apache-2.0
#pragma once
// Finding and substituting tokens in a request body, for every dialect. Rendering is
// fail-closed: every unknown, forbidden, undecryptable or failing token is reported at once,
// with its position, and a body is returned only when every token rendered. Bytes outside
// tokens are copied unchanged.
//
// Problem codes (and the HTTP status a server gives them, see http_status()):
//   template.utf8           body is not UTF-8                                   400
//   template.dialect        auto-detection found tokens of several dialects     400
//   template.syntax         a token that does not parse                         400
//   template.unknown_record the record (fp_id, payment method, payment) is absent 400
//   template.forbidden      the caller may not reveal the data identifier       403
//   template.unknown        the record lacks the field; unknown placeholder     400
//   template.undecryptable  the vault could not read the value                  400
//   template.filter         a filter failed on the value                        400
//   template.internal       unexpected crypto failure ("something went wrong")  500

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/template/vtex.hpp"
#include "core/util/result.hpp"
#include "core/vault/record_source.hpp"

namespace vaultfwd::inspector {
class Secrets;
}

namespace vaultfwd::tmpl {

enum class Dialect { footprint, gr4vy, vtex, automatic };

// "footprint", "gr4vy", "vtex", "auto"; else nullopt.
std::optional<Dialect> dialect_from_name(std::string_view name);
std::string_view dialect_name(Dialect dialect);

enum class RenderMode {
    render, // substitute values
    check,  // parse, check permissions, resolve and run filters; produce no body
};

// Decides whether a value may be revealed. It is asked with: the data identifier for Footprint
// ("id.ssn9"); each record field a Gr4vy placeholder reads ("card.number", "card.exp_month",
// "card.exp_year"); the token name for VTEX ("number", "csc", a custom name).
using RevealPolicy = std::function<bool(std::string_view data_identifier)>;

struct RenderRequest {
    // automatic: gr4vy when a `{{ CARD_… }}` placeholder is present, vtex when a `#vtex#` token
    // is, footprint when any other `{{ }}` is; tokens of more than one is "template.dialect".
    Dialect dialect = Dialect::footprint;
    std::string_view body;
    std::string global_fp_id;                 // x-fp-id / --fp-id; empty when absent
    std::vector<std::string> payment_methods; // x-vault-forward-payment-methods, in order
    std::string vtex_payment;                 // when set, VTEX tokens must carry this hash
    const vault::RecordSource* source = nullptr; // where values come from; required
    RevealPolicy may_reveal;                  // empty: everything may be revealed
    VtexResolver vtex_resolver;               // empty: default_vtex_resolver(*source)
    RenderMode mode = RenderMode::render;
    std::size_t max_problems = 1000;          // problems kept; problem_count counts them all
    // When set (the inspector watches), each distinct rendered value is recorded with the token
    // as written, so that captured messages can be masked.
    inspector::Secrets* secrets = nullptr;
};

struct Problem {
    std::string code;
    std::string message;   // Footprint's exact text for Footprint syntax errors; never a value
    int line = 0;          // 1-based; column counts characters, not bytes
    int column = 0;
    std::size_t offset = 0; // byte offset of the token in the body
    std::string token;     // the token as written (at most 200 bytes)
    std::string reference; // footprint "fp_id.di | filter", gr4vy/vtex the placeholder name
    // For people (the CLI), where `message` keeps the service's wording for the API: the part
    // at fault by name and what is valid instead; never a value. Empty: `message` says it.
    std::string detail;

    Error to_error() const { return make_error(code, message, line, column); }
};

// The problem as the CLI tells it: the token as written, then `detail` (or `message`), with its
// line and column: `{{ id.nickname }}: "id.nickname" is not a data identifier: …`.
Error explain(const Problem& problem);

// A token as found, before resolution.
struct TokenSite {
    Dialect dialect = Dialect::footprint; // footprint, gr4vy or vtex
    std::size_t begin = 0;                // byte offsets of the whole token, delimiters included
    std::size_t end = 0;
    int line = 0;
    int column = 0;
    std::string_view text;  // body.substr(begin, end - begin)
    std::string_view inner; // braces: the untrimmed text between them; vtex: same as text
};

struct ScanResult {
    Dialect dialect = Dialect::footprint; // the dialect scanned (automatic resolved)
    std::vector<TokenSite> tokens;        // in body order
    std::vector<Problem> problems;        // not UTF-8, mixed dialects, malformed vtex tokens
    std::vector<Problem> warnings;        // e.g. a `{{` never closed, kept as text
};

// Finds every token of `dialect` in `body` with its position. No values are read.
ScanResult scan(Dialect dialect, std::string_view body);

struct RenderOutcome {
    bool ok = false;
    Dialect dialect = Dialect::footprint;  // the dialect used (automatic resolved)
    std::string body;                      // the rendered body; empty unless ok and mode==render
    std::vector<Problem> problems;         // in body order, at most max_problems
    std::size_t problem_count = 0;         // all problems, even those not kept
    std::vector<Problem> warnings;
    std::size_t token_count = 0;           // token occurrences found
    std::vector<std::string> record_ids;   // distinct records read, sorted (e.g. for limits)
};

RenderOutcome render(const RenderRequest& request);

// The problem a client should hear about first, following Footprint's order (syntax before
// missing records before permissions before missing fields before filters), or nullptr when ok.
const Problem* primary_problem(const RenderOutcome& outcome);
// 200 when ok; else 500 for template.internal, 403 for template.forbidden, 400 otherwise, taken
// from primary_problem().
int http_status(const RenderOutcome& outcome);
// Footprint's one-line error text for a failed render: the first syntax error's message, or
// "Found invalid or unknown data identifiers: " + references joined by "\", \"", or the primary
// problem's message.
std::string footprint_error_message(const RenderOutcome& outcome);

} // namespace vaultfwd::tmpl
