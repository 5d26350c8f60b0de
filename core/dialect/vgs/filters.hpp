// SPDX-License-Identifier: Apache-2.0
#pragma once
// Applying a route's filters to one message (headers and body), without sockets. Substitution
// is in place: only the selected values change, every other byte of the body stays as it was.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/dialect/vgs/routes.hpp"
#include "core/http/message.hpp"
#include "core/util/result.hpp"
#include "core/vault/store.hpp"

namespace vaultfwd::inspector {
class Secrets;
}

namespace vaultfwd::dialect::vgs {

struct Applied {
    std::size_t revealed = 0; // aliases replaced by their values
    std::size_t redacted = 0; // values replaced by aliases
    std::size_t tokens() const { return revealed + redacted; }
    // When set, each value revealed or redacted is recorded with its alias (the inspector).
    inspector::Secrets* secrets = nullptr;
};

// Applies `filters` (all for `phase`) in order to `headers` and `body`.
// - reveal: each selected non-empty value that is an alias of `store` becomes its value. Any
//   other selected value is unknown: unless its filter says on_unknown_alias = "pass", the call
//   fails with "vgs.unknown_alias", listing every unknown alias at once (other values only by
//   where they are, never by content), and the message is left unchanged.
// - redact: each selected non-empty value that is not already an alias is stored and replaced
//   by its alias in the filter's format (the same value gives the same alias again).
// A json_path filter on a body that is not JSON fails with "vgs.body_not_json" in the request
// phase and is skipped in the response phase (an upstream error page is passed on as it is).
// Vault errors ("vault.*") are passed on.
Result<Applied> apply_filters(const std::vector<const CompiledFilter*>& filters, Phase phase,
                              http::Headers& headers, std::string& body, vault::Store& store,
                              inspector::Secrets* secrets = nullptr);

// True for text shaped like a vaultfwd/VGS alias that carries no value: tok_<env>_<base58> or
// a RAW_UUID. Such text may be quoted in messages; anything else is described by place only.
bool looks_like_alias(std::string_view text);

// application/x-www-form-urlencoded decoding ('+' is a space); nullopt on a bad escape.
std::optional<std::string> form_decode(std::string_view text);
// The inverse, as browsers encode: letters, digits and "*-._" kept, space as '+', the rest %XX.
std::string form_encode(std::string_view text);

} // namespace vaultfwd::dialect::vgs
