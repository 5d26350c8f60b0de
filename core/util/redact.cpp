// SPDX-License-Identifier: Apache-2.0
#include "core/util/redact.hpp"

#include <algorithm>
#include <cctype>

#include "core/util/strings.hpp"

namespace vaultfwd::util {

namespace {

// ASCII letters and digits (std::isalnum in the "C" locale, which vaultfwd never changes, without
// its call per character: the access log's look at each line was mostly these calls).
constexpr bool is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// Digit runs of 9 or more (spaces and dashes between groups allowed): keep only the last four.
std::string mask_digit_runs(const std::string& in) {
    std::string out;
    std::size_t i = 0;
    while (i < in.size()) {
        if (!std::isdigit(static_cast<unsigned char>(in[i]))) {
            out.push_back(in[i++]);
            continue;
        }
        std::size_t j = i, digits = 0, last_digit = i;
        while (j < in.size()) {
            char c = in[j];
            if (std::isdigit(static_cast<unsigned char>(c))) {
                ++digits;
                last_digit = j;
                ++j;
            } else if ((c == ' ' || c == '-') && j + 1 < in.size() &&
                       std::isdigit(static_cast<unsigned char>(in[j + 1]))) {
                ++j;
            } else {
                break;
            }
        }
        std::string run = in.substr(i, last_digit - i + 1);
        if (digits >= 9) {
            std::size_t keep = 4, seen = 0;
            for (std::size_t k = run.size(); k-- > 0;) {
                if (std::isdigit(static_cast<unsigned char>(run[k]))) {
                    if (seen++ >= keep)
                        run[k] = '*';
                }
            }
        }
        out += run;
        i = last_digit + 1;
    }
    return out;
}

bool is_upper_or_space(char c) { return (c >= 'A' && c <= 'Z') || c == ' '; }

// At `at`: "-----<word> " then [A-Z ]+ then "-----" (a PEM armour line); its end, or npos.
std::size_t armour_end(std::string_view s, std::size_t at, std::string_view word) {
    std::string head = "-----" + std::string(word) + " ";
    if (s.substr(at, head.size()) != head)
        return std::string_view::npos;
    std::size_t i = at + head.size(), label = i;
    while (i < s.size() && is_upper_or_space(s[i]))
        ++i;
    // [A-Z ]+ then "-----": the label may not swallow the dashes, which it cannot (not in the set).
    if (i == label || s.substr(i, 5) != "-----")
        return std::string_view::npos;
    return i + 5;
}

// PEM blocks ("-----BEGIN X-----" … the first "-----END Y-----" after it) become one marker.
std::string mask_pem(std::string_view s) {
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t begin = s.find("-----BEGIN ", i);
        if (begin == std::string_view::npos)
            break;
        std::size_t body = armour_end(s, begin, "BEGIN");
        std::size_t end = std::string_view::npos;
        for (std::size_t e = body; e != std::string_view::npos && end == std::string_view::npos;) {
            e = s.find("-----END ", e);
            if (e != std::string_view::npos) {
                end = armour_end(s, e, "END");
                ++e;
            }
        }
        if (body != std::string_view::npos && end == std::string_view::npos)
            break; // no END after this BEGIN: none after a later one either
        if (body == std::string_view::npos) {
            out.append(s.substr(i, begin + 1 - i));
            i = begin + 1;
            continue;
        }
        out.append(s.substr(i, begin - i));
        out += "[pem redacted]";
        i = end;
    }
    out.append(s.substr(std::min(i, s.size())));
    return out;
}

bool is_credential_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=' ||
           c == '.' || c == '_' || c == '~' || c == '-';
}

// "Basic X" / "Bearer X" (any case, any white space between): the credential X becomes "****".
std::string mask_credentials(std::string_view s) {
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t word = 0;
        if (starts_with_icase(s.substr(i), "basic"))
            word = 5;
        else if (starts_with_icase(s.substr(i), "bearer"))
            word = 6;
        std::size_t j = i + word, k = j;
        while (word && k < s.size() && std::isspace(static_cast<unsigned char>(s[k])))
            ++k;
        std::size_t m = k;
        while (word && k > j && m < s.size() && is_credential_char(s[m]))
            ++m;
        if (!word || k == j || m == k) {
            out += s[i++];
            continue;
        }
        out.append(s.substr(i, k - i));
        out += "****";
        i = m;
    }
    return out;
}

bool is_regex_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::size_t alnum_run(std::string_view s, std::size_t at) {
    std::size_t e = at;
    while (e < s.size() && is_alnum(s[e]))
        ++e;
    return e - at;
}

// Keys: at a word start, sk_/pk_/key_/secret_, then an optional test_/live_, then 4 or more
// letters or digits, which become "****" ("sk_test_abcdef123" -> "sk_test_****").
std::string mask_keys(std::string_view s) {
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
        bool word_start = i == 0 || !is_regex_word(s[i - 1]);
        std::size_t prefix = 0;
        if (word_start) {
            for (std::string_view p : {"sk_", "pk_", "key_", "secret_"})
                if (s.substr(i, p.size()) == p)
                    prefix = p.size();
        }
        std::size_t keep = 0, run = 0;
        if (prefix) {
            for (std::string_view env : {"test_", "live_"}) {
                if (s.substr(i + prefix, env.size()) == env &&
                    alnum_run(s, i + prefix + env.size()) >= 4) {
                    keep = prefix + env.size();
                    run = alnum_run(s, i + keep);
                }
            }
            if (!keep && alnum_run(s, i + prefix) >= 4) {
                keep = prefix;
                run = alnum_run(s, i + keep);
            }
        }
        if (!keep) {
            out += s[i++];
            continue;
        }
        out.append(s.substr(i, keep));
        out += "****";
        i += keep + run;
    }
    return out;
}

} // namespace

// Every pass is a linear scan: std::regex matched these patterns recursively, one stack frame
// per character, and a 30 000-character "Bearer …" in a logged header overflowed a worker's stack.
std::string mask_patterns(std::string_view text) {
    return mask_keys(mask_credentials(mask_pem(text)));
}

// False only when no rule of redact() can match: fewer than 9 digits, no run of 32 word
// characters, no PEM armour, no Basic/Bearer, no key prefix. Most logged text (a method, an API
// path) is like that and is returned as it is, without the passes.
bool may_hold_secret(std::string_view s) {
    std::size_t digits = 0, run = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            ++digits;
        run = is_word(c) || c == '+' || c == '/' || c == '=' ? run + 1 : 0;
        if (digits >= 9 || run >= 32)
            return true;
        char lower = static_cast<char>(c | 0x20);
        if (lower == 'b' && (starts_with_icase(s.substr(i), "basic") || starts_with_icase(s.substr(i), "bearer")))
            return true;
        if (c == '-' && s.substr(i, 5) == "-----")
            return true; // PEM armour
        if (c == '_') {
            std::string_view before = s.substr(0, i);
            for (std::string_view p : {"sk", "pk", "key", "secret"})
                if (before.size() >= p.size() && before.substr(before.size() - p.size()) == p)
                    return true;
        }
    }
    return false;
}

std::string redact(std::string_view text) {
    if (!may_hold_secret(text))
        return std::string(text);
    return redact_passes(text);
}

std::string redact_passes(std::string_view text) {
    std::string s = mask_patterns(text);
    // Long opaque runs (hex keys, base64 blobs) are masked whole.
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
        if (!is_word(s[i]) && s[i] != '+' && s[i] != '/' && s[i] != '=') {
            out.push_back(s[i++]);
            continue;
        }
        std::size_t j = i;
        while (j < s.size() && (is_word(s[j]) || s[j] == '+' || s[j] == '/' || s[j] == '='))
            ++j;
        std::string word = s.substr(i, j - i);
        bool has_digit = false, has_alpha = false;
        for (char c : word) {
            has_digit |= std::isdigit(static_cast<unsigned char>(c)) != 0;
            has_alpha |= std::isalpha(static_cast<unsigned char>(c)) != 0;
        }
        bool tokenish = word.rfind("tok_", 0) == 0 || word.rfind("fp_", 0) == 0;
        if (word.size() >= 32 && has_digit && has_alpha && !tokenish &&
            word.find('/') == std::string::npos)
            out += word.substr(0, 4) + "****";
        else
            out += word;
        i = j;
    }
    return mask_digit_runs(out);
}

std::string mask_secret(std::string_view secret) {
    if (secret.size() <= 8)
        return "****";
    // Keep a recognisable prefix such as "sk_test_", else the first four characters.
    auto underscore = secret.substr(0, 9).rfind('_');
    std::size_t keep = underscore != std::string_view::npos ? underscore + 1 : 4;
    return std::string(secret.substr(0, keep)) + "****";
}

} // namespace vaultfwd::util
