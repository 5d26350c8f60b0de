// SPDX-License-Identifier: Apache-2.0
// The profile loader on arbitrary text: validate() and parse() agree, and every error points at
// a line of the text.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/profile/profile.hpp"
#include "fuzz/fuzz.hpp"

using namespace vaultfwd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    const std::filesystem::path home = "/nonexistent/vaultfwd-fuzz-home";
    const std::filesystem::path file = home / "default.toml";
    auto problems = profile::validate(text, file);
    auto parsed = profile::parse(text, file, home, "default");
    FUZZ_EXPECT(parsed.ok() == problems.empty());
    int lines = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
    for (const auto& e : problems) {
        FUZZ_EXPECT(e.code.rfind("profile.", 0) == 0);
        FUZZ_EXPECT(e.line >= 0 && e.line <= lines + 1);
        (void)e.describe(file.string());
    }
    if (parsed) {
        (void)parsed->vault_key();
        (void)parsed->access_log_path();
        for (const auto& c : parsed->certs)
            (void)parsed->find_cert(c.name);
    }
    return 0;
}
