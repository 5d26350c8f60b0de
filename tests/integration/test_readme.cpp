// SPDX-License-Identifier: Apache-2.0
// The README's tour runs as written: its ```sh blocks, in order, in one bash with HOME in a
// fresh folder and the built vaultfwd first on PATH. Left out: the `serve` section and the lines
// that start or need a server (`vaultfwd ditto`, `curl`), which run until stopped.
#include <doctest/doctest.h>

#include <filesystem>

#include "core/util/strings.hpp"
#include "support/support.hpp"

using namespace vaultfwd;

namespace {

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// The commands of the tour's ```sh blocks, continuation lines joined, servers left out.
std::vector<std::string> tour_commands(const std::string& readme) {
    std::vector<std::string> out;
    bool in_tour = false, skip_section = false, in_block = false;
    std::string pending;
    for (const auto& raw : util::split(readme, '\n')) {
        const std::string line(raw);
        if (!in_block && line.rfind("## ", 0) == 0)
            in_tour = line == "## A tour";
        if (!in_tour)
            continue;
        if (!in_block && line.rfind("### ", 0) == 0)
            skip_section = has(line, "`serve`");
        if (line.rfind("```", 0) == 0) {
            in_block = !in_block && line == "```sh";
            continue;
        }
        if (!in_block || skip_section)
            continue;
        pending += line;
        if (!line.empty() && line.back() == '\\') {
            pending += "\n";
            continue;
        }
        std::string command = std::move(pending);
        pending.clear();
        if (command.empty() || command.rfind("vaultfwd ditto", 0) == 0 ||
            command.rfind("curl", 0) == 0)
            continue;
        out.push_back(std::move(command));
    }
    return out;
}

} // namespace

TEST_SUITE("readme") {
    TEST_CASE("the tour's examples run as written") {
        auto readme = test::read_text(test::source_dir() / "README.md");
        auto commands = tour_commands(readme);
        REQUIRE(commands.size() > 20);

        test::TempDir dir;
        std::filesystem::create_directories(dir / "home");
        std::filesystem::create_directories(dir / "work");
        std::filesystem::create_directory_symlink(test::source_dir() / "fixtures",
                                                  dir / "work" / "fixtures");
        const std::string bin = std::filesystem::path(test::binary_path()).parent_path().string();
        std::string script = "set -euo pipefail -x\nunset VAULTFWD_HOME XDG_CONFIG_HOME\n"
                             "export HOME='" + (dir / "home").string() + "' PATH='" + bin +
                             "':\"$PATH\"\ncd '" + (dir / "work").string() + "'\n";
        bool keytool = false;
        for (auto command : commands) {
            // Files the tour writes to /tmp stay in this test's folder.
            command = util::replace_all(command, "/tmp/", (dir / "tmp").string() + "/");
            if (has(command, "# exit 1")) {
                // The comment ends at the newline, so the condition ends there too.
                script += "if " + command + "\nthen echo 'README: expected exit 1' >&2; exit 99; fi\n";
            } else if (command.rfind("keytool", 0) == 0) {
                // Java is optional; test_cert_cli checks the p12 with keytool already.
#ifndef VAULTFWD_SANITIZED
                keytool = test::run_program({"sh", "-c", "command -v keytool"}).exit_code == 0;
#endif
                if (keytool)
                    script += command + "\n";
            } else {
                script += command + "\n";
            }
        }
        auto r = test::run_program({"bash", "-c", script});
        INFO(script);
        INFO(r.err);
        CHECK(r.exit_code == 0);
        // What the tour says the commands show.
        CHECK(has(r.out, "replay: 2 requests, 2 ok, 0 failed\n"));
        if (keytool)
            CHECK(has(r.out, "trustedCertEntry"));
    }
}
