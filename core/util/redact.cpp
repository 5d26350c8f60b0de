// SPDX-License-Identifier: Apache-2.0
#include "core/util/redact.hpp"

#include <cctype>
#include <regex>

namespace vaultfwd::util {

namespace {

bool is_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

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

} // namespace

std::string redact(std::string_view text) {
    std::string s(text);
    static const std::regex pem("-----BEGIN [A-Z ]+-----[\\s\\S]*?-----END [A-Z ]+-----");
    s = std::regex_replace(s, pem, "[pem redacted]");
    static const std::regex auth("((?:Basic|Bearer)\\s+)[A-Za-z0-9+/=._~-]+",
                                 std::regex::icase);
    s = std::regex_replace(s, auth, "$1****");
    static const std::regex keys("\\b((?:sk|pk|key|secret)_(?:test_|live_)?)[A-Za-z0-9]{4,}");
    s = std::regex_replace(s, keys, "$1****");
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
