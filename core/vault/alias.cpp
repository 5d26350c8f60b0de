// SPDX-License-Identifier: Apache-2.0
#include "core/vault/alias.hpp"

#include <algorithm>
#include <array>

#include "core/crypto/hash.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::vault {

namespace {

struct FormatInfo {
    AliasFormat format;
    std::string_view name;
};

constexpr std::array<FormatInfo, 7> k_formats{{
    {AliasFormat::uuid, "UUID"},
    {AliasFormat::raw_uuid, "RAW_UUID"},
    {AliasFormat::num_length_preserving, "NUM_LENGTH_PRESERVING"},
    {AliasFormat::fpe_six_t_four, "FPE_SIX_T_FOUR"},
    {AliasFormat::fpe_t_four, "FPE_T_FOUR"},
    {AliasFormat::pfpt, "PFPT"},
    {AliasFormat::non_luhn_fpe_alphanumeric, "NON_LUHN_FPE_ALPHANUMERIC"},
}};

// Luhn's doubled-digit value: 2d, minus 9 when that has two digits.
constexpr std::array<int, 10> k_doubled{0, 2, 4, 6, 8, 1, 3, 5, 7, 9};

bool all_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool digits_between(std::string_view s, std::size_t lo, std::size_t hi) {
    return all_digits(s) && s.size() >= lo && s.size() <= hi;
}

// The Luhn sum of `digits` mod 10, counting positions from the right (the check digit is 0).
int luhn_mod10(std::string_view digits) {
    int sum = 0;
    const std::size_t n = digits.size();
    for (std::size_t i = 0; i < n; ++i) {
        int d = digits[i] - '0';
        sum += ((n - 1 - i) % 2) ? k_doubled[static_cast<std::size_t>(d)] : d;
    }
    return sum % 10;
}

// An endless pseudo-random byte stream: HMAC-SHA256(key, seed || block counter).
class Stream {
  public:
    Stream(std::string_view key, std::string seed) : m_key(key), m_seed(std::move(seed)) {}

    unsigned char byte() {
        if (m_pos == m_block.size()) {
            std::string input = m_seed;
            for (int shift = 24; shift >= 0; shift -= 8)
                input.push_back(static_cast<char>((m_counter >> shift) & 0xff));
            ++m_counter;
            m_block = crypto::hmac_sha256(m_key, input);
            m_pos = 0;
        }
        return static_cast<unsigned char>(m_block[m_pos++]);
    }
    // Uniform in [0, n) for n <= 256, by rejection.
    int below(int n) {
        const int limit = 256 - (256 % n);
        while (true) {
            int b = byte();
            if (b < limit)
                return b % n;
        }
    }
    std::string bytes(std::size_t n) {
        std::string out;
        for (std::size_t i = 0; i < n; ++i)
            out.push_back(static_cast<char>(byte()));
        return out;
    }

  private:
    std::string_view m_key;
    std::string m_seed;
    std::uint32_t m_counter = 0;
    std::string m_block;
    std::size_t m_pos = 0;
};

// A digit other than `c`, uniformly among the nine.
char other_digit(Stream& s, char c) {
    return static_cast<char>('0' + ((c - '0') + 1 + s.below(9)) % 10);
}

std::string uuid_string(Stream& s) {
    std::string b = s.bytes(16);
    b[6] = static_cast<char>((b[6] & 0x0f) | 0x40); // version 4
    b[8] = static_cast<char>((b[8] & 0x3f) | 0x80); // RFC 4122 variant
    std::string hex = util::to_hex(b);
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
           hex.substr(16, 4) + "-" + hex.substr(20);
}

// Changes every digit outside `keep_front` and `keep_back`, then repairs the Luhn sum by
// choosing the first changed position's digit (VGS fixes the first loose position too).
std::string luhn_valid_variant(Stream& s, std::string digits, std::size_t keep_front,
                               std::size_t keep_back) {
    const std::size_t n = digits.size();
    const std::size_t first = keep_front, last = n - keep_back; // loose range [first, last)
    for (std::size_t i = first; i < last; ++i)
        digits[i] = other_digit(s, digits[i]);
    digits[first] = '0';
    int rest = luhn_mod10(digits);
    int need = (10 - rest) % 10; // what position `first` must contribute
    bool doubled = (n - 1 - first) % 2 == 1;
    int d = need;
    if (doubled)
        d = static_cast<int>(std::find(k_doubled.begin(), k_doubled.end(), need) -
                             k_doubled.begin());
    digits[first] = static_cast<char>('0' + d);
    return digits;
}

} // namespace

std::string_view format_name(AliasFormat format) {
    for (const auto& f : k_formats)
        if (f.format == format)
            return f.name;
    return "UUID";
}

std::optional<AliasFormat> parse_alias_format(std::string_view name) {
    for (const auto& f : k_formats)
        if (util::iequals(f.name, name))
            return f.format;
    return std::nullopt;
}

std::vector<std::string> alias_format_names() {
    std::vector<std::string> out;
    for (const auto& f : k_formats)
        out.emplace_back(f.name);
    return out;
}

std::optional<AliasFormat> alias_format_from_byte(std::uint8_t b) {
    for (const auto& f : k_formats)
        if (static_cast<std::uint8_t>(f.format) == b)
            return f.format;
    return std::nullopt;
}

bool luhn_valid(std::string_view digits) {
    return all_digits(digits) && luhn_mod10(digits) == 0;
}

bool valid_alias_env(std::string_view env) {
    return !env.empty() && env.size() <= 32 && std::all_of(env.begin(), env.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

AliasFormat effective_format(std::string_view value, AliasFormat requested) {
    switch (requested) {
    case AliasFormat::uuid:
    case AliasFormat::raw_uuid:
        return requested;
    case AliasFormat::num_length_preserving:
        return digits_between(value, 3, SIZE_MAX) ? requested : AliasFormat::raw_uuid;
    case AliasFormat::fpe_six_t_four:
        return digits_between(value, 14, SIZE_MAX) && luhn_valid(value) ? requested
                                                                        : AliasFormat::uuid;
    case AliasFormat::fpe_t_four:
        return digits_between(value, 14, SIZE_MAX) && luhn_valid(value) ? requested
                                                                        : AliasFormat::raw_uuid;
    case AliasFormat::pfpt:
        return digits_between(value, 13, 19) && luhn_valid(value) ? requested
                                                                  : AliasFormat::raw_uuid;
    case AliasFormat::non_luhn_fpe_alphanumeric:
        return digits_between(value, 13, 16) ? requested : AliasFormat::raw_uuid;
    }
    return AliasFormat::uuid;
}

std::string make_alias(std::string_view key, std::string_view value, AliasFormat requested,
                       std::uint32_t attempt, std::string_view env) {
    const AliasFormat format = effective_format(value, requested);
    // The seed names the requested format so that, say, a UUID fallback of FPE_SIX_T_FOUR and
    // a plain UUID of the same value are different aliases, as they are different entries.
    std::string seed = "vaultfwd alias v1";
    seed.push_back('\0');
    seed += format_name(requested);
    seed.push_back('\0');
    for (int shift = 24; shift >= 0; shift -= 8)
        seed.push_back(static_cast<char>((attempt >> shift) & 0xff));
    seed += value;
    Stream s(key, std::move(seed));

    switch (format) {
    case AliasFormat::uuid:
        return "tok_" + std::string(env) + "_" + base58_encode(s.bytes(16), 22);
    case AliasFormat::raw_uuid:
        return uuid_string(s);
    case AliasFormat::num_length_preserving: {
        std::string out(value);
        for (char& c : out)
            c = other_digit(s, c);
        return out;
    }
    case AliasFormat::fpe_six_t_four:
        return luhn_valid_variant(s, std::string(value), 6, 4);
    case AliasFormat::fpe_t_four:
        return luhn_valid_variant(s, std::string(value), 0, 4);
    case AliasFormat::pfpt: {
        std::string padded = "991" + std::string(value.substr(0, 2)) +
                             std::string(value.size() < 16 ? 16 - value.size() : 0, '0') +
                             std::string(value.substr(2));
        return luhn_valid_variant(s, padded, 5, 4);
    }
    case AliasFormat::non_luhn_fpe_alphanumeric: {
        std::string out(value.size(), '0');
        for (char& c : out)
            c = static_cast<char>('0' + s.below(10));
        if (luhn_mod10(out) == 0)
            out.back() = static_cast<char>('0' + (out.back() - '0' + 1) % 10);
        return out;
    }
    }
    return uuid_string(s);
}

std::string base58_encode(std::string_view bytes, std::size_t min_length) {
    static constexpr std::string_view k_alphabet =
        "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    std::vector<unsigned char> num(bytes.begin(), bytes.end());
    std::string out;
    std::size_t start = 0;
    while (start < num.size() && num[start] == 0) {
        out.push_back('1');
        ++start;
    }
    std::string digits;
    // Repeated division of the big-endian number by 58.
    while (start < num.size()) {
        int rem = 0;
        for (std::size_t i = start; i < num.size(); ++i) {
            int cur = rem * 256 + num[i];
            num[i] = static_cast<unsigned char>(cur / 58);
            rem = cur % 58;
        }
        digits.push_back(k_alphabet[static_cast<std::size_t>(rem)]);
        while (start < num.size() && num[start] == 0)
            ++start;
    }
    std::reverse(digits.begin(), digits.end());
    out += digits;
    if (out.size() < min_length)
        out.insert(0, min_length - out.size(), '1');
    return out;
}

} // namespace vaultfwd::vault
