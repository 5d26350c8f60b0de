// SPDX-License-Identifier: Apache-2.0
#pragma once
// Golden files for `replay --expect DIR`: one per recorded request, DIR/<Recording::name>.txt,
// holding the normalized result byte for byte.

#include <filesystem>
#include <string>

#include "core/replay/recording.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::replay {

std::filesystem::path golden_path(const std::filesystem::path& dir, const Recording& rec);

enum class Verdict {
    match,     // the golden file holds exactly the result
    mismatch,  // it differs: see Check::diff
    missing,   // there is no golden file yet
    written,   // --update: created or rewritten
    unchanged, // --update: it already held the result
};
std::string_view verdict_name(Verdict verdict);

struct Check {
    Verdict verdict = Verdict::match;
    std::string diff; // mismatch: a unified diff from the golden file to the result
};

// Compares `actual` with the golden file. Error "replay.golden_read" when it exists but cannot
// be read.
Result<Check> compare(const std::filesystem::path& golden, const std::string& actual);

// Writes `actual` to the golden file (creating DIR) unless it already holds it; the diff of
// what changed comes back with Verdict::written. Error "replay.golden_write".
Result<Check> update(const std::filesystem::path& golden, const std::string& actual);

} // namespace vaultfwd::replay
