// SPDX-License-Identifier: Apache-2.0
#pragma once
// VTEX Secure Proxy tokens: `#vtex#token#<hash>#<name>#` (card tokens in Create Payment) and
// `#vtex#<name>#<hash>#` (the placeholders the tokens URL lists, custom tokens included).

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.hpp"
#include "core/vault/record_source.hpp"

namespace vaultfwd::tmpl {

struct VtexToken {
    std::size_t begin = 0; // offset of "#vtex#"
    std::size_t end = 0;   // one past the closing '#'
    std::string hash;      // the payment's secure hash
    std::string name;      // "number", "holder", "csc" or a custom token's name
};

struct VtexScan {
    std::vector<VtexToken> tokens;
    // "#vtex#" occurrences that are not a well-formed token: [begin, end) covers what was read.
    std::vector<std::pair<std::size_t, std::size_t>> malformed;
};

// Finds every "#vtex#" in `body`. Hash and name are [A-Za-z0-9_.-]+; the `token` form is tried
// first, so `#vtex#token#h#n#` is hash h, name n.
VtexScan scan_vtex(std::string_view body);

// "#vtex#token#<hash>#<name>#": how vaultfwd prints card tokens.
std::string vtex_card_token(std::string_view hash, std::string_view name);
// "#vtex#<name>#<hash>#": the placeholder form the tokens URL returns.
std::string vtex_placeholder(std::string_view hash, std::string_view name);

// Gives a token's value. Custom tokens are JsonLogic evaluated elsewhere, so callers may pass
// their own; errors are reported as they come ("template.unknown" for an unknown token).
using VtexResolver =
    std::function<Result<std::string>(const std::string& hash, const std::string& name)>;

// Reads record "vtex_<hash>", field "<name>". A missing record is "template.unknown_record", a
// missing field "template.unknown". The source must outlive the resolver.
VtexResolver default_vtex_resolver(const vault::RecordSource& source);

} // namespace vaultfwd::tmpl
