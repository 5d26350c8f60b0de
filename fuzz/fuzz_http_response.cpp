// SPDX-License-Identifier: Apache-2.0
// THE HTTP parser (core/http) reading responses: the contracts of fuzz/http_fuzz.hpp, answering
// a GET, a HEAD or a CONNECT as the first byte says (their bodies are framed differently).

#include <cstddef>
#include <cstdint>

#include "fuzz/http_fuzz.hpp"

using namespace vaultfwd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    static const char* const k_methods[] = {"GET", "HEAD", "CONNECT"};
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    fuzz::check_http(http::Parser::Kind::response, input, fuzz::fuzz_limits(), k_methods[data[0] % 3]);
    return 0;
}
