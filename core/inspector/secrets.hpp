// SPDX-License-Identifier: Apache-2.0
#pragma once
// The vault values one exchange carried, recorded by the phases that reveal or vault them as
// they do it (a template's rendered text, an alias revealed, a value redacted into an alias,
// a Footprint ingress value), each with the token or alias that stands for it. The inspector
// masks every captured message with them before it keeps anything: masking is by construction,
// not by guessing which bytes look like a card number.

#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vaultfwd::inspector {

class Secrets {
  public:
    // Records that `value` was revealed or vaulted as `token` (empty values are ignored).
    // Thread-safe: the request and response phases may run on different workers.
    void add(std::string_view value, std::string_view token);
    // Every pair recorded so far.
    std::vector<std::pair<std::string, std::string>> pairs() const;
    // A filter (VGS route) that ran on the exchange, described for people: "route \"acme\" filter
    // 1: request reveal json_path $.card.number". Never a value.
    void add_filter(std::string description);
    std::vector<std::string> filters() const;
    // The client's request body goes into the vault as a whole (VTEX custom token definitions):
    // it is never shown; `reason` says why.
    void withhold_request_body(std::string reason);
    std::string request_body_withheld() const;

  private:
    mutable std::mutex m_mutex;
    std::vector<std::pair<std::string, std::string>> m_pairs;
    std::string m_withhold;
    std::vector<std::string> m_filters;
};

// Replaces every occurrence of a recorded value in a text with its token: the value as it is,
// JSON-escaped (inside a JSON string), percent-encoded (upper- and lower-case hex) and
// form-encoded (space as '+'). Matching is leftmost-longest in one pass, so a shorter value
// never cuts into a longer one and a token put in place is never masked again.
class Masker {
  public:
    Masker() = default;
    explicit Masker(const std::vector<std::pair<std::string, std::string>>& pairs);
    // The text with every recorded value (in any of its encodings) replaced by its token.
    std::string mask(std::string_view text) const;
    bool empty() const { return m_patterns.empty(); }

  private:
    struct Pattern {
        std::string from;
        std::string to;
    };
    std::vector<Pattern> m_patterns; // longest first
    bool m_first[256] = {};          // bytes a pattern starts with
};

// The encodings of `value` Masker looks for (the value itself first, duplicates removed).
std::vector<std::string> encodings_of(std::string_view value);

} // namespace vaultfwd::inspector
