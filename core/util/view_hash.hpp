// SPDX-License-Identifier: Apache-2.0
#pragma once
// abseil hash tables keyed by std::string_view. Debian's abseil is built with its own
// absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW is 0), so absl::Hash<std::string_view>
// falls back to std::hash and mixes its result again: measured, that made a table of views
// slower than one of std::string. ViewHash hashes the bytes as abseil hashes a std::string key.

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>
#include <absl/strings/string_view.h>
#include <cstddef>
#include <string_view>

namespace vaultfwd::util {

struct ViewHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const {
        return absl::Hash<absl::string_view>{}(absl::string_view(s.data(), s.size()));
    }
};

struct ViewEq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

// The views must outlive the table (they point into the caller's storage).
template <class V> using ViewMap = absl::flat_hash_map<std::string_view, V, ViewHash, ViewEq>;
using ViewSet = absl::flat_hash_set<std::string_view, ViewHash, ViewEq>;

} // namespace vaultfwd::util
