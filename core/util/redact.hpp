// SPDX-License-Identifier: Apache-2.0
#pragma once
// The one place loggable text passes through before it reaches a log line or a message.

#include <string>
#include <string_view>

namespace vaultfwd::util {

// Masks what may be a secret: long digit runs (card numbers, SSNs), API keys and secrets
// (sk_…, key-like base64/hex runs), Authorization credentials, PEM blocks. Keeps the text's shape
// so a reader can still tell what it was ("4111********1111" keeps the last four).
std::string redact(std::string_view text);
// redact()'s first look: false only when no rule can match, so that redact(text) == text. For a
// caller that can use `text` as it is then, without redact()'s copy (the access log).
bool may_hold_secret(std::string_view text);
// redact() without its first look (whether any rule can match at all): every pass, always.
// Its tests check that the look never skips what a pass would mask; the access log calls it
// after its own call of may_hold_secret().
std::string redact_passes(std::string_view text);
// The pattern passes of redact() alone: PEM blocks, Basic/Bearer credentials, sk_/pk_/key_/secret_
// keys (each pass a linear scan). Exposed for its tests.
std::string mask_patterns(std::string_view text);
// A secret shown in `config show` and friends: its first 4 characters, then "…" (or "****").
std::string mask_secret(std::string_view secret);

} // namespace vaultfwd::util
