// SPDX-License-Identifier: Apache-2.0
// THE HTTP parser (core/http) reading requests: the contracts of fuzz/http_fuzz.hpp, with the
// 411 rule on (serve's listeners) and off (replay's raw files) chosen by the first byte.

#include <cstddef>
#include <cstdint>

#include "fuzz/http_fuzz.hpp"

using namespace vaultfwd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    auto limits = fuzz::fuzz_limits();
    limits.require_length_for_body_methods = (data[0] & 1) == 0;
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    fuzz::check_http(http::Parser::Kind::request, input, limits, "");
    return 0;
}
