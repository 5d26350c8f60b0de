// SPDX-License-Identifier: Apache-2.0
#pragma once
// RFC 9485 I-Regexp, as JSONPath's match() and search() use it, run by PCRE2 (internal).

#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct pcre2_real_code_8;

namespace vaultfwd::jsonpath::detail {

// Translates an I-Regexp into a PCRE2 (UTF mode) pattern with the same meaning: '.' matches
// anything but CR and LF, '^' and '$' anchor at the ends of the string (as the JSONPath
// compliance suite expects), everything else is literal. nullopt when the text is not an
// I-Regexp (for example \d, lazy quantifiers, groups with '?', stray brackets), and for groups
// nested more than 100 deep (PCRE2 could not compile them anyway).
std::optional<std::string> iregexp_to_pcre2(std::string_view pattern);

enum class RegexMode { full, search };

class Regex {
  public:
    // The compiled pattern, or null when it is not a valid I-Regexp. `full` must match the whole
    // subject (match()); `search` any substring (search()).
    static std::shared_ptr<const Regex> compile(std::string_view pattern, RegexMode mode);

    // True when the subject matches. Matching uses PCRE2's DFA matcher, so time is polynomial
    // in the subject's length whatever the pattern; a subject that is not valid UTF-8, or a
    // match that exceeds PCRE2's limits, does not match.
    bool matches(std::string_view subject) const;

    struct Deleter {
        void operator()(pcre2_real_code_8* code) const;
    };

  private:
    std::unique_ptr<pcre2_real_code_8, Deleter> m_code;
};

} // namespace vaultfwd::jsonpath::detail
