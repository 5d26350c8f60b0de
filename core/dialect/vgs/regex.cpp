// SPDX-License-Identifier: Apache-2.0
#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/dialect/vgs/regex.hpp"

#include <pcre2.h>

namespace vaultfwd::dialect::vgs {

namespace {
// Enough for any sane filter on a 5 MB body, small enough that a pathological pattern gives up
// within a fraction of a second.
constexpr uint32_t k_match_limit = 5'000'000;
constexpr uint32_t k_depth_limit = 100'000;

struct CodeDeleter {
    void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
struct MatchContextDeleter {
    void operator()(pcre2_match_context* c) const { pcre2_match_context_free(c); }
};
struct MatchDataDeleter {
    void operator()(pcre2_match_data* d) const { pcre2_match_data_free(d); }
};

std::size_t next_char(std::string_view s, std::size_t i) {
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80)
        ++i;
    return i;
}
} // namespace

struct Regex::Impl {
    std::string pattern;
    std::unique_ptr<pcre2_code, CodeDeleter> code;
    // The same pattern anchored at both ends when compiled: PCRE2's JIT runs only what was
    // anchored at compile time (anchoring options given to a match send it to the interpreter).
    std::unique_ptr<pcre2_code, CodeDeleter> whole;
    std::unique_ptr<pcre2_match_context, MatchContextDeleter> context;
    int groups = 0;
};

Result<Regex> Regex::compile(std::string_view pattern, Case c) {
    auto impl = std::make_shared<Impl>();
    impl->pattern = std::string(pattern);
    uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    if (c == Case::insensitive)
        options |= PCRE2_CASELESS;
    int errcode = 0;
    PCRE2_SIZE erroffset = 0;
    impl->code.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &errcode, &erroffset, nullptr));
    if (!impl->code) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(errcode, buf, sizeof buf);
        return make_error("vgs.bad_regex",
                          "regular expression \"" + std::string(pattern.substr(0, 200)) +
                              "\" is invalid at column " + std::to_string(erroffset + 1) + ": " +
                              reinterpret_cast<const char*>(buf),
                          1, static_cast<int>(erroffset + 1));
    }
    // JIT is an optimisation only: without it (unsupported CPU) the interpreter runs instead.
    pcre2_jit_compile(impl->code.get(), PCRE2_JIT_COMPLETE);
    impl->whole.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                    options | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &errcode, &erroffset, nullptr));
    if (impl->whole)
        pcre2_jit_compile(impl->whole.get(), PCRE2_JIT_COMPLETE);
    uint32_t count = 0;
    pcre2_pattern_info(impl->code.get(), PCRE2_INFO_CAPTURECOUNT, &count);
    impl->groups = static_cast<int>(count);
    impl->context.reset(pcre2_match_context_create(nullptr));
    pcre2_set_match_limit(impl->context.get(), k_match_limit);
    pcre2_set_depth_limit(impl->context.get(), k_depth_limit);
    return Regex(std::move(impl));
}

bool Regex::full_match(std::string_view text) const {
    // Whether it matches, not where: one pair of offsets, kept per thread (0 from pcre2_match
    // means a match whose groups did not fit).
    thread_local std::unique_ptr<pcre2_match_data, MatchDataDeleter> md(pcre2_match_data_create(1, nullptr));
    if (!md)
        return false;
    int rc = m_impl->whole
                 ? pcre2_match(m_impl->whole.get(), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0,
                               md.get(), m_impl->context.get())
                 : pcre2_match(m_impl->code.get(), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                               PCRE2_ANCHORED | PCRE2_ENDANCHORED, md.get(), m_impl->context.get());
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) // the interpreter, bounded by the depth limit, decides
        rc = pcre2_match(m_impl->whole.get(), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, PCRE2_NO_JIT,
                         md.get(), m_impl->context.get());
    return rc >= 0;
}

Result<std::vector<Regex::Match>> Regex::find_all(std::string_view text) const {
    std::vector<Match> out;
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> md(
        pcre2_match_data_create_from_pattern(m_impl->code.get(), nullptr));
    std::size_t start = 0;
    while (start <= text.size()) {
        int rc = pcre2_match(m_impl->code.get(), reinterpret_cast<PCRE2_SPTR>(text.data()),
                             text.size(), start, 0, md.get(), m_impl->context.get());
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR buf[256];
            pcre2_get_error_message(rc, buf, sizeof buf);
            return make_error("vgs.regex_limit", "regular expression \"" +
                                                     m_impl->pattern.substr(0, 200) +
                                                     "\" could not be matched: " +
                                                     reinterpret_cast<const char*>(buf));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
        Match m;
        m.begin = ov[0];
        m.end = ov[1];
        m.groups.resize(static_cast<std::size_t>(m_impl->groups) + 1);
        for (int g = 0; g <= m_impl->groups && g < rc; ++g) {
            auto gi = static_cast<std::size_t>(g);
            if (ov[2 * gi] != PCRE2_UNSET)
                m.groups[gi] = Group{ov[2 * gi], ov[2 * gi + 1]};
        }
        out.push_back(std::move(m));
        // Like Java's Matcher.find(): after an empty match the next search starts one
        // character further on.
        start = ov[1] > ov[0] ? ov[1] : next_char(text, ov[1]);
    }
    return out;
}

int Regex::group_number(std::string_view name) const {
    std::string n(name);
    int rc = pcre2_substring_number_from_name(m_impl->code.get(),
                                              reinterpret_cast<PCRE2_SPTR>(n.c_str()));
    return rc > 0 ? rc : -1;
}

int Regex::group_count() const { return m_impl->groups; }

const std::string& Regex::pattern() const { return m_impl->pattern; }

std::string regex_quote(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 8);
    for (char c : text) {
        if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos)
            out += '\\';
        out += c;
    }
    return out;
}

} // namespace vaultfwd::dialect::vgs
