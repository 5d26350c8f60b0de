// SPDX-License-Identifier: Apache-2.0
#pragma once
// VGS-style alias formats and their generation. An alias is derived from (key, value, format,
// attempt) with HMAC-SHA256 as a pseudo-random stream, so the same value and format give the
// same alias on every machine that holds the key (and after a vault rebuild), while nobody
// without the key can predict or invert it. Input rules and fallbacks follow VGS (as its local
// simulator, vgs-satellite, implements them):
//   UUID                       tok_<env>_<22 base58 chars>, any value
//   RAW_UUID                   a version-4 UUID string, any value
//   NUM_LENGTH_PRESERVING      3+ digits: same length, every digit changed; else RAW_UUID
//   FPE_SIX_T_FOUR             14+ digits, Luhn-valid: first 6 and last 4 kept, result
//                              Luhn-valid; else UUID
//   FPE_T_FOUR                 14+ digits, Luhn-valid: last 4 kept, Luhn-valid; else RAW_UUID
//   PFPT                       13-19 digits, Luhn-valid: "991" + first 2 + zero pad to 16 +
//                              the rest (19 digits up to 16-digit input), first 5 and last 4
//                              kept, Luhn-valid; else RAW_UUID
//   NON_LUHN_FPE_ALPHANUMERIC  13-16 digits: same length, Luhn-invalid; else RAW_UUID

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vaultfwd::vault {

// Values are stored in the vault file: never renumber.
enum class AliasFormat : std::uint8_t {
    uuid = 1,
    raw_uuid = 2,
    num_length_preserving = 3,
    fpe_six_t_four = 4,
    fpe_t_four = 5,
    pfpt = 6,
    non_luhn_fpe_alphanumeric = 7,
};

// "UUID", "FPE_SIX_T_FOUR", … as VGS spells them.
std::string_view format_name(AliasFormat format);
// A format from its VGS name (case-insensitive), else nullopt.
std::optional<AliasFormat> parse_alias_format(std::string_view name);
// Every supported name, in enum order (for help texts and "did you mean").
std::vector<std::string> alias_format_names();
// A format from its stored number, else nullopt.
std::optional<AliasFormat> alias_format_from_byte(std::uint8_t b);

// True when `digits` is non-empty, all ASCII digits, and passes the Luhn (mod 10) check.
bool luhn_valid(std::string_view digits);
// An alias environment name ("sandbox", "live", "live-eu-1"): 1-32 of [a-z0-9-].
bool valid_alias_env(std::string_view env);
// The format VGS actually produces for `value` when `requested` is asked for: `requested` when
// the value fits its input rule, else its fallback (see the table above).
AliasFormat effective_format(std::string_view value, AliasFormat requested);

// The alias of `value` in `requested` format (after fallback), derived from `key` (any length,
// normally 32 bytes). `attempt` > 0 derives another candidate, for collision retries. `env` goes
// into UUID aliases. Pure and deterministic.
std::string make_alias(std::string_view key, std::string_view value, AliasFormat requested,
                       std::uint32_t attempt, std::string_view env);

// Bitcoin-alphabet base58 of the bytes, left-padded with '1' to `min_length`.
std::string base58_encode(std::string_view bytes, std::size_t min_length = 0);

} // namespace vaultfwd::vault
