// SPDX-License-Identifier: Apache-2.0
// `vaultfwd serve` as a user runs it: the built binary, a fresh home, curl.
#include <doctest/doctest.h>

#include <algorithm>

#include <csignal>

#include "support/support.hpp"

using namespace vaultfwd;

TEST_SUITE("serve-cli") {
    TEST_CASE("serve initialises a zero-config profile, serves both ports and stops on SIGTERM") {
        test::TempDir home;
        test::Process serve({test::binary_path(), "--home", home.path().string(), "serve",
                             "--api-listen", "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0", "--inbound-listen", "127.0.0.1:0"});
        auto listeners = test::read_listeners(serve);
        std::string api = listeners.api, proxy = listeners.proxy;
        REQUIRE_FALSE(api.empty());
        REQUIRE_FALSE(proxy.empty());
        CHECK(std::filesystem::exists(home / "default.toml"));

        auto put = test::run_vaultfwd({"--home", home.path().string(), "vault", "put", "fp_id_test_cli",
                                       "id.first_name=Zoë"});
        REQUIRE_MESSAGE(put.exit_code == 0, put.err);
        auto text = test::read_text(home / "default.toml");
        auto pos = text.find("sk_test_");
        auto key = text.substr(pos, text.find('"', pos) - pos);
        // A value put by the CLI while serve runs is visible to serve at once.
        auto r = test::run_program({"curl", "-s", "-u", key + ":", "-H", "x-fp-id: fp_id_test_cli",
                                    "--data", "Hello {{ id.first_name | to_ascii | to_uppercase }}",
                                    "http://" + api + "/vault_proxy/reflect"});
        CHECK(r.out == "Hello ZOE");
        auto ca = test::run_program({"curl", "-s", "http://" + proxy + "/ca.pem"});
        CHECK(ca.out == test::read_text(home.path() / "default" / "ca.pem"));
        auto denied = test::run_program({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                         "-x", "http://" + proxy, "http://127.0.0.1:1/"});
        CHECK(denied.out == "407");

        CHECK(serve.stop(SIGTERM) == 0);
        auto log = test::read_text(home.path() / "default" / "access.log");
        CHECK(log.find("\"dialect\":\"reflect\"") != std::string::npos);
        CHECK(log.find("Zo") == std::string::npos);
    }

    TEST_CASE("serve listens on the ports it prints and on no other") {
        test::TempDir home;
        test::Process serve({test::binary_path(), "--home", home.path().string(), "serve",
                             "--api-listen", "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0", "--inbound-listen", "127.0.0.1:0"});
        auto listeners = test::read_listeners(serve);
        REQUIRE_FALSE(listeners.api.empty());
        auto text = test::read_text(home / "default.toml");
        auto pos = text.find("sk_test_");
        auto key = text.substr(pos, text.find('"', pos) - pos);
        auto out = test::run_program({"curl", "-s", "-u", key + ":", "-w", " %{http_code}", "--data", "hi",
                                      "http://127.0.0.1:" + std::to_string(listeners.api_port()) + "/vault_proxy/reflect"})
                       .out;
        CHECK(out == "hi 200");
        auto ports = test::listening_ports(serve.pid());
        std::sort(ports.begin(), ports.end());
        std::vector<int> printed{listeners.api_port(), listeners.proxy_port(), listeners.inbound_port()};
        std::sort(printed.begin(), printed.end());
        CHECK(ports == printed); // one HTTP engine: no internal loopback servers
    }

    TEST_CASE("a taken port is a clear error, exit 1") {
        test::TempDir home;
        test::Process first({test::binary_path(), "--home", home.path().string(), "serve",
                             "--api-listen", "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0", "--inbound-listen", "127.0.0.1:0"});
        std::string api = test::read_listeners(first).api;
        REQUIRE_FALSE(api.empty());
        auto second = test::run_vaultfwd({"--home", home.path().string(), "serve", "--api-listen", api,
                                          "--proxy-listen", "127.0.0.1:0", "--inbound-listen", "127.0.0.1:0"});
        CHECK(second.exit_code == 1);
        CHECK(second.err.find("vaultfwd: error: cannot listen on") != std::string::npos);
    }
}
