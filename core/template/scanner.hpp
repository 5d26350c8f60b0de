// SPDX-License-Identifier: Apache-2.0
#pragma once
// Finds `{{ … }}` spans exactly as Footprint's production scanner does (one pass, no regex):
// - `{{` is checked first, even inside an open token; an open token it interrupts was not a
//   token and stays text. More `{` right after a `{{` are text: the token starts after the last.
// - `}}` closes an open token; outside a token it is ordinary text.
// - Lone `{` and `}` are ordinary characters, inside a token too.
// - A token still open at the end of the body is text.
// Gr4vy placeholders use the same braces, so the Gr4vy dialect reuses this scanner.

#include <cstddef>
#include <string_view>
#include <vector>

namespace vaultfwd::tmpl {

struct BraceSpan {
    std::size_t begin = 0; // offset of the opening "{{"
    std::size_t end = 0;   // one past the closing "}}"
    std::string_view inner; // the untrimmed text between the braces
};

struct BraceScan {
    std::vector<BraceSpan> spans;     // in body order, never overlapping
    std::vector<std::size_t> unclosed; // offsets of "{{" that never closed (copied as text)
};

BraceScan scan_braces(std::string_view body);

} // namespace vaultfwd::tmpl
