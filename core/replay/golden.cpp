// SPDX-License-Identifier: Apache-2.0
#include "core/replay/golden.hpp"

#include <system_error>

#include "core/replay/diff.hpp"
#include "core/util/fs.hpp"

namespace vaultfwd::replay {

namespace fs = std::filesystem;

fs::path golden_path(const fs::path& dir, const Recording& rec) {
    return dir / (rec.name + ".txt");
}

std::string_view verdict_name(Verdict verdict) {
    switch (verdict) {
    case Verdict::match:
        return "match";
    case Verdict::mismatch:
        return "mismatch";
    case Verdict::missing:
        return "missing";
    case Verdict::written:
        return "written";
    case Verdict::unchanged:
        return "unchanged";
    }
    return "mismatch";
}

Result<Check> compare(const fs::path& golden, const std::string& actual) {
    std::error_code ec;
    if (!fs::exists(golden, ec))
        return Check{Verdict::missing, {}};
    auto expected = util::read_file(golden);
    if (!expected)
        return make_error("replay.golden_read", expected.error().message);
    if (*expected == actual)
        return Check{Verdict::match, {}};
    return Check{Verdict::mismatch, unified_diff(*expected, actual, golden.string(), "actual")};
}

Result<Check> update(const fs::path& golden, const std::string& actual) {
    auto before = compare(golden, actual);
    if (!before)
        return before.error();
    if (before->verdict == Verdict::match)
        return Check{Verdict::unchanged, {}};
    if (auto dir = util::ensure_dir(golden.parent_path(), 0755); !dir)
        return make_error("replay.golden_write", dir.error().message);
    // Golden files are meant to be committed and read: the usual 0644, not a secret's 0600.
    if (auto w = util::write_file_atomic(golden, actual, 0644); !w)
        return make_error("replay.golden_write", w.error().message);
    return Check{Verdict::written, before->diff};
}

} // namespace vaultfwd::replay
