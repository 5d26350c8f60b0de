// SPDX-License-Identifier: Apache-2.0
#pragma once
// A unified line diff (like `diff -u`) of two texts, from a longest common subsequence of their
// lines, so golden-file mismatches read the way developers expect without an external binary.

#include <string>
#include <string_view>

namespace vaultfwd::replay {

// "--- <from_label>\n+++ <to_label>\n@@ -a,b +c,d @@\n …" with `context` unchanged lines around
// each change, and "\ No newline at end of file" where a text does not end with one. Empty when
// the texts are equal. Common leading and trailing lines are set aside first; when what remains
// is too large for the quadratic table (over 4 million line pairs) it is shown as replaced
// wholesale.
std::string unified_diff(std::string_view from, std::string_view to, const std::string& from_label,
                         const std::string& to_label, int context = 3);

} // namespace vaultfwd::replay
