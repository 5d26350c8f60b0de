// SPDX-License-Identifier: Apache-2.0
#pragma once
// Footprint's filter functions: parsing `name(args)` exactly as Footprint does (same error
// texts) and applying them left to right.
//
// Error codes: parse errors are "template.syntax"; a filter that fails on a value is
// "template.filter" (HTTP 400); an unexpected crypto failure is "template.internal" with the
// message "something went wrong" (HTTP 500).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto/seal.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::tmpl {

enum class FilterKind {
    to_lowercase,
    to_uppercase,
    to_ascii,
    prefix,
    suffix,
    replace,
    date_format,
    hmac_sha256,
    encrypt,
};

struct Filter {
    FilterKind kind = FilterKind::to_lowercase;
    std::uint64_t count = 0; // prefix, suffix
    std::string from;        // replace: from; date_format: from_format
    std::string to;          // replace: to; date_format: to_format
    std::string key;         // hmac_sha256: key bytes; encrypt: DER public key bytes
    crypto::SealAlgorithm algorithm = crypto::SealAlgorithm::rsa_pkcs1v15; // encrypt

    // "to_uppercase", "prefix", … as written in templates.
    std::string_view name() const;
    // Footprint's canonical form: double-quoted strings, the hmac key as "<scrubbed>", the
    // encrypt key in hex: `replace("-", "")`, `hmac_sha256("<scrubbed>")`.
    std::string canonical() const;
};

// Parses one filter (the text between two `|`). Messages are Footprint's: "unknown function",
// "invalid parens", "argument could not parse as Integer", "string argument <name> must use
// single or double quotes", "argument '<name>' must be hex-encoded", "argument invalid:
// algorithm is invalid or unsupported", "missing argument: <name>", "unexpected number of
// arguments: <found> but expected: <expected>". Inside a token the caller prefixes
// "Invalid filter function: ".
Result<Filter> parse_filter(std::string_view text);

// Applies one filter. Text filters need UTF-8 ("invalid utf-8 string"); hmac_sha256 and encrypt
// take any bytes and return lowercase hex.
Result<std::string> apply_filter(const Filter& filter, std::string value);
// Applies `filters` left to right; the first failure ends the chain.
Result<std::string> apply_filters(const std::vector<Filter>& filters, std::string value);

} // namespace vaultfwd::tmpl
