// SPDX-License-Identifier: Apache-2.0
#pragma once
// Helpers shared by the libFuzzer targets in fuzz/ (built by scripts/fuzz, not by CMake).

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>

namespace vaultfwd::fuzz {

// Splits a fuzz input in two at its first NUL byte (or, when there is none, its first newline),
// so one input carries two texts: a query and a document, logic and data.
inline std::pair<std::string_view, std::string_view> split_two(std::string_view input) {
    auto at = input.find('\0');
    if (at == std::string_view::npos)
        at = input.find('\n');
    if (at == std::string_view::npos)
        return {input, {}};
    return {input.substr(0, at), input.substr(at + 1)};
}

// A broken contract is a finding like a crash: report it and abort so libFuzzer keeps the input.
[[noreturn]] inline void contract_broken(const char* what) {
    std::fprintf(stderr, "fuzz: contract broken: %s\n", what);
    std::abort();
}

} // namespace vaultfwd::fuzz

#define FUZZ_EXPECT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ::vaultfwd::fuzz::contract_broken(#cond);                                              \
    } while (0)
