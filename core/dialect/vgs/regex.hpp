// SPDX-License-Identifier: Apache-2.0
#pragma once
// Regular expressions as VGS writes them (Java syntax: named groups (?<token>…), \d, \Q…\E,
// lookarounds), compiled with PCRE2 in UTF mode. PCRE2 reads Java's named groups natively, so
// route and filter patterns from a VGS export work unchanged. Matching is bounded: a pattern
// that backtracks catastrophically fails with an error instead of hanging a worker.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.hpp"

namespace vaultfwd::dialect::vgs {

class Regex {
  public:
    enum class Case { sensitive, insensitive };

    struct Group {
        std::size_t begin = npos; // npos when the group did not take part in the match
        std::size_t end = npos;
        bool matched() const { return begin != npos; }
    };
    struct Match {
        std::size_t begin = 0;
        std::size_t end = 0;
        std::vector<Group> groups; // groups[0] is the whole match
    };
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    // Compiles `pattern`. Error "vgs.bad_regex" naming the problem and the 1-based column.
    static Result<Regex> compile(std::string_view pattern, Case c = Case::sensitive);

    // True when the whole of `text` matches (Java's Matcher.matches()).
    bool full_match(std::string_view text) const;
    // Every non-overlapping match, left to right (Java's Matcher.find() loop). Error
    // "vgs.regex_limit" when a match exceeds the backtracking limit.
    Result<std::vector<Match>> find_all(std::string_view text) const;
    // The number of a named group, or -1.
    int group_number(std::string_view name) const;
    // The number of capturing groups (not counting the whole match).
    int group_count() const;
    const std::string& pattern() const;

  private:
    struct Impl;
    explicit Regex(std::shared_ptr<const Impl> impl) : m_impl(std::move(impl)) {}
    std::shared_ptr<const Impl> m_impl; // immutable, so a Regex may be used from many threads
};

// `text` with every regex metacharacter escaped, for building patterns from literal strings.
std::string regex_quote(std::string_view text);

} // namespace vaultfwd::dialect::vgs
