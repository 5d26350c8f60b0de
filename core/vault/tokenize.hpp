// SPDX-License-Identifier: Apache-2.0
#pragma once
// Tokenizing JSON fixtures: the values that JSONPath rules select are vaulted as aliases and
// replaced by them. Only the selected values change; every other byte of the document (key
// order, spacing, escapes) is kept, so tokenized fixtures diff cleanly.
//
// Fail closed: a selected value is left as it is only when the ledger (ledger.hpp) says
// tokenize itself wrote exactly that alias at that location of that file. Looking like an
// alias proves nothing (a real CVC "631" can be the alias of "314"), so every other selected
// value is vaulted, even one that is also an alias. Where the ledger and the document disagree
// in a way that leaves the value's nature open, the document is refused with the location
// ("tokenize.undecidable"), never guessed. Aliases are derived, so the same input and vault
// give the same output, and a run over its own output changes nothing.
//
// Selected strings become string aliases. Selected numbers (a card number or CVV written as a
// JSON number) are aliased from their literal text and stay numbers when the alias is a plain
// integer (numeric formats), else they become strings. Other selected values (objects, arrays,
// booleans, null, empty strings) are counted as skipped.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/jsonpath/jsonpath.hpp"
#include "core/util/result.hpp"
#include "core/vault/alias.hpp"
#include "core/vault/ledger.hpp"
#include "core/vault/store.hpp"

namespace vaultfwd::vault {

struct TokenizeRule {
    std::string path; // RFC 9535 JSONPath
    AliasFormat format = AliasFormat::uuid;
    int line = 0; // in the rules file, when it came from one
};

// "PATH=FORMAT" or just "PATH" (UUID): "$.card.number=FPE_SIX_T_FOUR". The format is taken
// after the last '=' when that names a format, so filters with == stay in the path. Errors:
// "tokenize.bad_format" (with a suggestion), "tokenize.bad_rule" (empty path).
Result<TokenizeRule> parse_rule(std::string_view text);

// A rules file in TOML, one [[rule]] table per rule with `path` and optional `format`:
//   [[rule]]
//   path = "$.card.number"
//   format = "FPE_SIX_T_FOUR"
// Errors carry the line and column: "tokenize.syntax", "tokenize.unknown_key" (with the
// nearest valid key), "tokenize.bad_rule", "tokenize.bad_format".
Result<std::vector<TokenizeRule>> parse_rules_file(std::string_view toml_text,
                                                   const std::string& file_name);

struct TokenizeStats {
    std::size_t tokenized = 0;         // values replaced by an alias
    std::size_t already = 0;           // aliases this document got from an earlier run
    std::size_t skipped = 0;           // selected values that cannot be aliased
    std::vector<std::size_t> per_rule; // values each rule selected (first rule wins a node)

    void add(const TokenizeStats& other);
};

struct TokenizeResult {
    std::string text; // the tokenized document
    TokenizeStats stats;
    WrittenAliases aliases; // every alias the text holds at a selected location, for the ledger
};

struct TokenizeInput {
    std::string_view text;
    // What tokenize wrote into this file before (TokenizeLedger::written), or null for a
    // document it never wrote: then every selected value is a real one.
    const WrittenAliases* written = nullptr;
};

class Tokenizer {
  public:
    // Compiles the rules' JSONPaths. Error "tokenize.bad_path" naming the rule, its line (from
    // a rules file) and the column inside the path; "tokenize.no_rules" when empty.
    static Result<Tokenizer> make(const std::vector<TokenizeRule>& rules);

    // Tokenizes one JSON document. Errors: "tokenize.bad_json" with line and column;
    // "tokenize.undecidable" at the line and column of the value, naming its JSONPath, when
    // `written` records an alias at a selected location and the document now holds either
    // another value that is an alias too, or that alias after the vault lost it; store errors
    // pass through.
    Result<TokenizeResult> apply(std::string_view json_text, Store& store,
                                 const WrittenAliases* written = nullptr) const;
    // Tokenizes several documents with a single durable vault write. The outer error is a
    // vault failure (nothing was written); inner errors belong to single documents.
    Result<std::vector<Result<TokenizeResult>>> apply_many(const std::vector<TokenizeInput>& inputs,
                                                           Store& store) const;

    std::size_t rule_count() const { return m_rules.size(); }

  private:
    struct Compiled {
        jsonpath::Query query;
        AliasFormat format;
    };
    explicit Tokenizer(std::vector<Compiled> rules) : m_rules(std::move(rules)) {}
    std::vector<Compiled> m_rules;
};

} // namespace vaultfwd::vault
