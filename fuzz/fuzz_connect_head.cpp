// SPDX-License-Identifier: Apache-2.0
// The target of a CONNECT (server::parse_authority): an authority that parses has a non-empty
// host without brackets and a port in range.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/server/connect_head.hpp"
#include "fuzz/fuzz.hpp"

using namespace vaultfwd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string input(reinterpret_cast<const char*>(data), size);
    auto authority = server::parse_authority(input);
    if (!authority)
        return 0;
    const auto& [host, port] = *authority;
    FUZZ_EXPECT(!host.empty());
    FUZZ_EXPECT(host.front() != '[' && host.back() != ']');
    FUZZ_EXPECT(port >= 1 && port <= 65535);
    return 0;
}
