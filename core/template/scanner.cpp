// SPDX-License-Identifier: Apache-2.0
#include "core/template/scanner.hpp"

#include <cstring>

namespace vaultfwd::tmpl {

BraceScan scan_braces(std::string_view body) {
    BraceScan out;
    const char* s = body.data();
    const std::size_t n = body.size();
    std::size_t i = 0;
    bool open = false;
    std::size_t open_at = 0, inner_begin = 0;
    // Footprint looks at (current, next) pairs, so a pair can only start before the last byte.
    while (i + 1 < n) {
        if (!open) {
            // Token-sparse bodies spend nearly all their time here: let memchr skip the text.
            const void* hit = std::memchr(s + i, '{', n - 1 - i);
            if (!hit)
                break;
            std::size_t j = static_cast<std::size_t>(static_cast<const char*>(hit) - s);
            if (s[j + 1] != '{') {
                i = j + 1;
                continue;
            }
            i = j + 2;
            while (i < n && s[i] == '{')
                ++i;
            open = true;
            open_at = i - 2;
            inner_begin = i;
            continue;
        }
        std::size_t j = i;
        while (j + 1 < n && s[j] != '{' && s[j] != '}')
            ++j;
        if (j + 1 >= n)
            break;
        if (s[j] == '{' && s[j + 1] == '{') {
            // The open token was not real: it stays text and this `{{` starts over.
            out.unclosed.push_back(open_at);
            open = false;
            i = j;
            continue;
        }
        if (s[j] == '}' && s[j + 1] == '}') {
            out.spans.push_back(BraceSpan{open_at, j + 2, body.substr(inner_begin, j - inner_begin)});
            open = false;
            i = j + 2;
            continue;
        }
        i = j + 1;
    }
    if (open)
        out.unclosed.push_back(open_at);
    return out;
}

} // namespace vaultfwd::tmpl
