// SPDX-License-Identifier: Apache-2.0
#include "support/curl.hpp"

#include <cstdlib>
#include <filesystem>

#include "core/util/strings.hpp"
#include "support/support.hpp"

namespace vaultfwd::test {

std::string CurlResult::header(const std::string& name) const {
    std::string found;
    for (const auto& line : util::split(headers, '\n')) {
        auto colon = line.find(':');
        if (colon != std::string::npos && util::iequals(line.substr(0, colon), name))
            found = std::string(util::trim(line.substr(colon + 1)));
    }
    return found;
}

CurlResult curl(const std::vector<std::string>& args) {
    TempDir out;
    std::vector<std::string> argv = {"curl", "-q", "-sS", "--max-time", "20", "-o", (out / "body").string(),
                                     "-D", (out / "headers").string(), "-w", "%{http_code} %{http_connect}"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_program(argv, "", {{"no_proxy", ""}, {"NO_PROXY", ""}, {"http_proxy", ""}, {"https_proxy", ""},
                                    {"HTTPS_PROXY", ""}, {"all_proxy", ""}, {"ALL_PROXY", ""}});
    CurlResult c;
    c.exit_code = r.exit_code;
    c.err = r.err;
    auto codes = util::split(std::string(util::trim(r.out)), ' ');
    if (codes.size() == 2) {
        c.status = std::atoi(codes[0].c_str());
        c.connect_status = std::atoi(codes[1].c_str());
    }
    if (std::filesystem::exists(out / "body"))
        c.body = read_text(out / "body");
    if (std::filesystem::exists(out / "headers"))
        c.headers = read_text(out / "headers");
    return c;
}

} // namespace vaultfwd::test
