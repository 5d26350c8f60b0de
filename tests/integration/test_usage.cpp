// SPDX-License-Identifier: Apache-2.0
// Usage errors through the built binary: each names the word at fault and the nearest real
// command or option, and exits 2; ports and listen addresses out of range are usage errors too.
#include <doctest/doctest.h>

#include "core/util/strings.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using test::run_vaultfwd;

namespace {

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// Runs `args` against a fresh home and expects a usage error whose message holds `message`,
// followed by the --help line of `help`.
void usage_error(std::vector<std::string> args, const std::string& message,
                 const std::string& help) {
    test::TempDir home;
    args.insert(args.begin(), {"--home", home.path().string()});
    auto r = run_vaultfwd(args);
    INFO(util::join(args, " "), "\n", r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.rfind("vaultfwd: error: ", 0) == 0);
    CHECK(has(r.err, message));
    CHECK(has(r.err, "run '" + help + " --help' for usage\n"));
}

} // namespace

TEST_SUITE("usage") {
    TEST_CASE("an unknown command is named, with the nearest one") {
        usage_error({"cert", "lst"},
                    "unknown command \"lst\" for \"vaultfwd cert\": did you mean \"list\"?",
                    "vaultfwd cert");
        usage_error({"cert", "pin", "ad", "x"},
                    "unknown command \"ad\" for \"vaultfwd cert pin\": did you mean \"add\"?",
                    "vaultfwd cert pin");
        usage_error({"ser"}, "unknown command \"ser\": did you mean \"serve\"?", "vaultfwd");
        usage_error({"replya", "x.har"}, "unknown command \"replya\": did you mean \"replay\"?",
                    "vaultfwd");
        // Nothing near: the commands there are, instead of a wild guess.
        usage_error({"frobnicate"},
                    "unknown command \"frobnicate\" (commands: init, config, serve, vtex, vault, "
                    "tokenize, render, decrypt, ditto, replay, cert, ca, routes, completions)",
                    "vaultfwd");
        // The value of an option is not taken for a command.
        usage_error({"--profile", "ci", "cert", "lst"}, "unknown command \"lst\"", "vaultfwd cert");
    }

    TEST_CASE("an unknown option is named, with the nearest one of that command") {
        usage_error({"--bogus"}, "unknown option \"--bogus\"", "vaultfwd");
        usage_error({"--jsn", "config", "show"}, "unknown option \"--jsn\": did you mean \"--json\"?",
                    "vaultfwd");
        usage_error({"cert", "add", "x", "--crt", "c.pem"},
                    "unknown option \"--crt\" for \"vaultfwd cert add\": did you mean \"--cert\"?",
                    "vaultfwd cert add");
        usage_error({"ca", "export", "--format=p12", "--with-kye"},
                    "unknown option \"--with-kye\" for \"vaultfwd ca export\": did you mean "
                    "\"--with-key\"?",
                    "vaultfwd ca export");
        // An option of the root is known below it (subcommands fall through to it).
        test::TempDir home;
        CHECK(run_vaultfwd({"--home", home.path().string(), "init", "--json"}).exit_code == 0);
    }

    TEST_CASE("a missing command lists the commands; other errors point at the right --help") {
        usage_error({}, "\"vaultfwd\" needs a command: init, config, serve", "vaultfwd");
        usage_error({"cert"}, "\"vaultfwd cert\" needs a command: add, list, rm, issue, pin",
                    "vaultfwd cert");
        usage_error({"cert", "pin"}, "\"vaultfwd cert pin\" needs a command: add, list, rm",
                    "vaultfwd cert pin");
        // CLI11's own message where the words are all known.
        usage_error({"cert", "add", "x"}, "--cert is required", "vaultfwd cert add");
        usage_error({"ca", "export", "--format", "pdf"}, "--format", "vaultfwd ca export");
    }

    TEST_CASE("ports and listen addresses out of range are usage errors, never wrapped") {
        // 99999 used to become 34463 (99999 - 65536) and listen there.
        usage_error({"ditto", "--port", "99999"},
                    "port 99999 is out of range: a port is 0 to 65535", "vaultfwd ditto");
        usage_error({"ditto", "--tls-port", "65536"}, "port 65536 is out of range",
                    "vaultfwd ditto");
        usage_error({"ditto", "--port", "4294967297"}, "is out of range", "vaultfwd ditto");
        usage_error({"ditto", "--port", "-1"}, "port -1 is out of range", "vaultfwd ditto");
        usage_error({"ditto", "--port", "http"},
                    "port \"http\" is not a number: a port is 0 to 65535", "vaultfwd ditto");
        usage_error({"ditto", "--tls-port", ""}, "port \"\" is not a number", "vaultfwd ditto");
        usage_error({"serve", "--api-listen", "127.0.0.1:99999"},
                    "listen port 99999 of \"127.0.0.1:99999\" is out of range", "vaultfwd serve");
        usage_error({"serve", "--proxy-listen", "127.0.0.1:4294967297"}, "is out of range",
                    "vaultfwd serve");
        usage_error({"serve", "--api-listen", "7410"}, "must be host:port", "vaultfwd serve");
        // An address of numbers out of range is not taken for a name to look up.
        usage_error({"serve", "--api-listen", "300.1.1.1:7410"},
                    "--api-listen: listen address \"300.1.1.1:7410\": \"300.1.1.1\" is not an "
                    "IPv4 address: four numbers 0 to 255",
                    "vaultfwd serve");
        usage_error({"ditto", "--host", "127.0.0.256"},
                    "--host: \"127.0.0.256\" is not an IPv4 address", "vaultfwd ditto");
        usage_error({"ditto", "--host", "::g"}, "--host: \"::g\" is not an IPv6 address",
                    "vaultfwd ditto");
        usage_error({"replay", "--via", "https://127.0.0.1:70000", "x.har"},
                    "--via: destination URL is invalid: port \"70000\" is out of range",
                    "vaultfwd replay");
        usage_error({"replay", "--server", "http://127.0.0.1:65536", "x.har"},
                    "port \"65536\" is out of range", "vaultfwd replay");
        usage_error({"vtex", "payment", "--number", "4111111111111111", "--holder", "A B",
                     "--csc", "123", "--exp-month", "1", "--exp-year", "2030", "--api-base",
                     "http://127.0.0.1:99999"},
                    "port \"99999\" is out of range", "vaultfwd vtex payment");
    }
}
