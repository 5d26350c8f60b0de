// SPDX-License-Identifier: Apache-2.0
// The forward proxy's hand-read request head (server::parse_head, parse_authority) and the
// request framer every byte stream to httplib passes through (server::RequestGuard), fed the
// same input: in one piece and split at every 7th byte. A head that parses has a token method
// and header names without ':'; an authority has a port in range and a non-empty host; the
// guard either refuses with a status and code or passes bytes on, and splitting the input never
// changes what it passes or whether it refuses.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/server/connect_head.hpp"
#include "core/server/request_guard.hpp"
#include "fuzz/fuzz.hpp"

using namespace vaultfwd;

namespace {

struct Fed {
    std::string out;
    bool refused = false;
    int status = 0;
};

Fed feed(std::string_view input, std::size_t step) {
    server::RequestGuard guard(server::GuardLimits{});
    Fed fed;
    auto took = [&](std::optional<server::Refusal> refusal) {
        if (refusal) {
            FUZZ_EXPECT(refusal->status >= 400 && refusal->status < 600);
            fed.refused = true;
            fed.status = refusal->status;
        }
    };
    for (std::size_t at = 0; at < input.size() && !fed.refused; at += step) {
        took(guard.feed(input.substr(at, step), fed.out));
        // Every request is answered at once: what the guard held back for pipelining goes on.
        while (!fed.refused && guard.held() > 0)
            took(guard.answered(fed.out));
    }
    return fed;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    if (auto head = server::parse_head(input)) {
        FUZZ_EXPECT(http::is_token(head->method));
        for (const auto& h : head->headers)
            FUZZ_EXPECT(!h.name.empty() && h.name.find(':') == std::string::npos);
        if (auto authority = server::parse_authority(head->target)) {
            FUZZ_EXPECT(!authority->first.empty());
            FUZZ_EXPECT(authority->second >= 1 && authority->second <= 65535);
        }
    }
    auto whole = feed(input, input.size() + 1);
    auto split = feed(input, 7);
    FUZZ_EXPECT(whole.refused == split.refused);
    FUZZ_EXPECT(whole.status == split.status);
    if (!whole.refused)
        FUZZ_EXPECT(whole.out == split.out);
    return 0;
}
