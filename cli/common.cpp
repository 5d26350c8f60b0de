// SPDX-License-Identifier: Apache-2.0
#include "cli/common.hpp"

#include <cstdlib>
#include <iostream>

namespace vaultfwd::cli {

Globals& globals() {
    static Globals g;
    return g;
}

void fail(const std::string& message, int code) { throw Failure(message, code); }

std::filesystem::path home_dir() {
    if (!globals().home.empty())
        return globals().home;
    if (const char* h = std::getenv("VAULTFWD_HOME"); h && *h)
        return h;
    if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x)
        return std::filesystem::path(x) / "vaultfwd";
    if (const char* h = std::getenv("HOME"); h && *h)
        return std::filesystem::path(h) / ".config" / "vaultfwd";
    fail("cannot find a home folder: pass --home DIR or set VAULTFWD_HOME");
}

void set_examples(CLI::App* app, const std::string& examples) {
    app->footer("Examples:\n" + examples);
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << "\n"; }

} // namespace vaultfwd::cli
