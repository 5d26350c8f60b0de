// SPDX-License-Identifier: Apache-2.0
#include "core/replay/diff.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace vaultfwd::replay {

namespace {

constexpr std::size_t k_max_table = 4'000'000;

struct Line {
    std::string_view text;
    bool newline = true; // false only for a last line without one
    bool operator==(const Line& o) const { return text == o.text && newline == o.newline; }
};

std::vector<Line> split_lines(std::string_view s) {
    std::vector<Line> out;
    std::size_t pos = 0;
    while (pos < s.size()) {
        auto nl = s.find('\n', pos);
        if (nl == std::string_view::npos) {
            out.push_back({s.substr(pos), false});
            break;
        }
        out.push_back({s.substr(pos, nl - pos), true});
        pos = nl + 1;
    }
    return out;
}

struct Op {
    char kind;     // ' ', '-', '+'
    std::size_t a; // index into `from` (for ' ' and '-')
    std::size_t b; // index into `to` (for ' ' and '+')
};

// The edit script of a[a0, a1) against b[b0, b1), by the LCS table.
void middle_ops(const std::vector<Line>& a, std::size_t a0, std::size_t a1,
                const std::vector<Line>& b, std::size_t b0, std::size_t b1, std::vector<Op>& ops) {
    const std::size_t n = a1 - a0, m = b1 - b0;
    if (n == 0 || m == 0 || n * m > k_max_table) {
        for (std::size_t i = a0; i < a1; ++i)
            ops.push_back({'-', i, b0});
        for (std::size_t j = b0; j < b1; ++j)
            ops.push_back({'+', a1, j});
        return;
    }
    // lcs[i][j]: LCS length of a[a0+i, a1) and b[b0+j, b1).
    std::vector<std::uint32_t> lcs((n + 1) * (m + 1), 0);
    auto at = [&](std::size_t i, std::size_t j) -> std::uint32_t& { return lcs[i * (m + 1) + j]; };
    for (std::size_t i = n; i-- > 0;)
        for (std::size_t j = m; j-- > 0;)
            at(i, j) = a[a0 + i] == b[b0 + j] ? at(i + 1, j + 1) + 1
                                              : std::max(at(i + 1, j), at(i, j + 1));
    std::size_t i = 0, j = 0;
    while (i < n || j < m) {
        if (i < n && j < m && a[a0 + i] == b[b0 + j]) {
            ops.push_back({' ', a0 + i, b0 + j});
            ++i;
            ++j;
        } else if (j == m || (i < n && at(i + 1, j) >= at(i, j + 1))) {
            // Removals before additions within a change, as diff -u prints them.
            ops.push_back({'-', a0 + i, b0 + j});
            ++i;
        } else {
            ops.push_back({'+', a0 + i, b0 + j});
            ++j;
        }
    }
}

std::string range(std::size_t start, std::size_t len) {
    // Like GNU diff: an empty range names the line before it; a single line has no length.
    if (len == 0)
        return std::to_string(start) + ",0";
    if (len == 1)
        return std::to_string(start + 1);
    return std::to_string(start + 1) + "," + std::to_string(len);
}

} // namespace

std::string unified_diff(std::string_view from, std::string_view to, const std::string& from_label,
                         const std::string& to_label, int context) {
    if (from == to)
        return {};
    auto a = split_lines(from);
    auto b = split_lines(to);
    std::size_t prefix = 0;
    while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix])
        ++prefix;
    std::size_t suffix = 0;
    while (suffix < a.size() - prefix && suffix < b.size() - prefix &&
           a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix])
        ++suffix;

    std::vector<Op> ops;
    for (std::size_t i = 0; i < prefix; ++i)
        ops.push_back({' ', i, i});
    middle_ops(a, prefix, a.size() - suffix, b, prefix, b.size() - suffix, ops);
    for (std::size_t k = suffix; k > 0; --k)
        ops.push_back({' ', a.size() - k, b.size() - k});

    const std::size_t ctx = context < 0 ? 0 : static_cast<std::size_t>(context);
    std::string out = "--- " + from_label + "\n+++ " + to_label + "\n";
    std::size_t k = 0;
    while (k < ops.size()) {
        while (k < ops.size() && ops[k].kind == ' ')
            ++k;
        if (k == ops.size())
            break;
        std::size_t start = k > ctx ? k - ctx : 0;
        // Extend over changes closer together than two contexts.
        std::size_t end = k;
        while (true) {
            while (end < ops.size() && ops[end].kind != ' ')
                ++end;
            std::size_t next = end;
            while (next < ops.size() && ops[next].kind == ' ')
                ++next;
            if (next < ops.size() && next - end <= 2 * ctx) {
                end = next;
                continue;
            }
            end = std::min(ops.size(), end + ctx);
            break;
        }
        std::size_t a_len = 0, b_len = 0;
        for (std::size_t q = start; q < end; ++q) {
            a_len += ops[q].kind != '+';
            b_len += ops[q].kind != '-';
        }
        // Where the hunk starts in each text: its first line's index there.
        std::size_t a_start = ops[start].a;
        std::size_t b_start = ops[start].b;
        out += "@@ -" + range(a_start, a_len) + " +" + range(b_start, b_len) + " @@\n";
        for (std::size_t q = start; q < end; ++q) {
            const Line& line = ops[q].kind == '+' ? b[ops[q].b] : a[ops[q].a];
            out += ops[q].kind;
            out.append(line.text);
            out += '\n';
            if (!line.newline)
                out += "\\ No newline at end of file\n";
        }
        k = end;
    }
    return out;
}

} // namespace vaultfwd::replay
