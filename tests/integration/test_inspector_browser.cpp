// SPDX-License-Identifier: Apache-2.0
// The inspector in a real browser: tests/browser/inspector_test.py drives headless Chromium
// (Debian's chromium and chromium-driver, through python3-selenium) against the built binary's
// serve and ditto on loopback ports. It saves a screenshot of the page into the build's reports
// folder (reports/inspector.png; docs/inspector.png in the README is one of them).
#include <doctest/doctest.h>

#include <filesystem>

#include "support/support.hpp"

using namespace vaultfwd;

TEST_SUITE("inspector browser") {

TEST_CASE("the inspector's page in headless Chromium: live rows, masking, route maker, HAR, re-send") {
    REQUIRE_MESSAGE(std::filesystem::exists("/usr/bin/chromium"), "install chromium (scripts/install-deps)");
    REQUIRE_MESSAGE(std::filesystem::exists("/usr/bin/chromedriver"), "install chromium-driver (scripts/install-deps)");
    test::TempDir work;
    const auto screenshot = test::report_dir() / "inspector.png";
    // Debian's python (python3-selenium, python3-requests), whatever python3 is first on PATH.
    auto r = test::run_program({"/usr/bin/python3", (test::source_dir() / "tests/browser/inspector_test.py").string(),
                                "--vaultfwd", test::binary_path(), "--work", work.path().string(), "--screenshot",
                                screenshot.string()});
    INFO(r.out);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("\nok\n") != std::string::npos);
    CHECK(std::filesystem::exists(screenshot));
}

} // TEST_SUITE
