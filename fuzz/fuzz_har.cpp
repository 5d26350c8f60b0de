// SPDX-License-Identifier: Apache-2.0
// Recording loading for `vaultfwd replay`: replay::parse_har and replay::parse_raw on the same
// text (HAR exports and raw HTTP/1.1 files are hand-edited, so anything may arrive). Either an
// error with a code, or recordings whose fields hold what the header promises: a method, a
// target split_target accepts, a golden-file name made only of slug characters.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/replay/recording.hpp"
#include "fuzz/fuzz.hpp"

using namespace vaultfwd;

namespace {

bool slug_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

void check(const Result<std::vector<replay::Recording>>& loaded) {
    if (!loaded) {
        FUZZ_EXPECT(!loaded.error().code.empty());
        return;
    }
    FUZZ_EXPECT(!loaded->empty());
    // 1-based positions in the file, rising; a HAR entry that is not http(s) is skipped and
    // keeps its position, so the next recording's index jumps over it.
    std::size_t last = 0;
    for (const auto& rec : *loaded) {
        FUZZ_EXPECT(rec.index > last);
        last = rec.index;
        FUZZ_EXPECT(!rec.method.empty());
        for (char c : rec.name)
            FUZZ_EXPECT(slug_char(c));
        auto split = replay::split_target(rec.target);
        if (split) {
            FUZZ_EXPECT(split->first == rec.path);
            FUZZ_EXPECT(split->second == rec.query);
        }
        for (const auto& h : rec.headers)
            FUZZ_EXPECT(!h.name.empty() && h.name.front() != ':');
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    check(replay::parse_har(input, "fuzz.har"));
    check(replay::parse_raw(input, "fuzz.http"));
    auto s = replay::slug(input);
    FUZZ_EXPECT(s.size() <= 64);
    return 0;
}
