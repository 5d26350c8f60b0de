// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <regex>
#include <set>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/server/access_log.hpp"
#include "support/support.hpp"
#include "core/util/redact.hpp"

using namespace vaultfwd;

namespace {

// The line as nlohmann builds it from an object (the access log's format before it was written
// directly): same keys, same order, same numbers, same escapes.
std::string reference(const server::AccessEntry& e, const std::string& time) {
    nlohmann::json j = {{"time", time},
                        {"dialect", e.dialect},
                        {"method", util::redact(e.method)},
                        {"path", util::redact(e.path)},
                        {"upstream_host", e.upstream_host},
                        {"status", e.status},
                        {"duration_ms", static_cast<double>(static_cast<long long>(e.duration_ms * 100)) / 100},
                        {"tokens", e.tokens},
                        {"access_reason", util::redact(e.access_reason)},
                        {"principal", e.principal}};
    if (!e.error_code.empty())
        j["error"] = e.error_code;
    if (!e.route.empty()) {
        j["route"] = e.route;
        j["redacted"] = e.redacted;
        j["revealed"] = e.revealed;
    }
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace

TEST_SUITE("access log") {
    TEST_CASE("a line is the JSON object nlohmann would write, byte for byte") {
        server::AccessEntry e;
        e.dialect = "footprint";
        e.method = "POST";
        e.path = "/vault_proxy/jit";
        e.upstream_host = "127.0.0.1:8443";
        e.status = 200;
        e.tokens = 5;
        e.principal = "key_1";
        for (double ms : {0.0, 0.004, 0.37, 1.0, 12.5, 1234.567, 99999.999, 3e7, 1e-5, 2.5e15}) {
            e.duration_ms = ms;
            CHECK(server::AccessLog::format(e, "2026-12-03T01:02:03.004Z") == reference(e, "2026-12-03T01:02:03.004Z"));
        }
        // Every optional field, and strings that need escapes or are not UTF-8.
        e.error_code = "upstream.timeout";
        e.route = "route \"one\"";
        e.redacted = 2;
        e.revealed = 3;
        e.access_reason = "tab\there, a quote \" and a backslash \\, \x01 and é";
        e.path = std::string("/bad\xff\xfe/utf8?q=\x7f");
        e.method = "";
        e.status = 502;
        std::string line = server::AccessLog::format(e, "t");
        CHECK(line == reference(e, "t"));
        auto j = nlohmann::json::parse(line);
        CHECK(j["route"] == "route \"one\"");
        CHECK(j["redacted"] == 2);
        CHECK(j["error"] == "upstream.timeout");
        // Values never reach the line: a card number in the path is masked as before.
        e.path = "/cards/4111111111111111";
        line = server::AccessLog::format(e, "t");
        CHECK(line == reference(e, "t"));
        CHECK(line.find("4111111111111111") == std::string::npos);
    }

    TEST_CASE("lines written from many threads at once land whole, each with the time it was written") {
        test::TempDir dir;
        auto opened = server::AccessLog::open(dir / "access.log");
        REQUIRE(opened);
        auto& log = **opened;
        constexpr int k_threads = 4, k_lines = 2000;
        auto before = std::chrono::system_clock::now();
        std::vector<std::thread> threads;
        for (int t = 0; t < k_threads; ++t)
            threads.emplace_back([&log, t] {
                server::AccessEntry e;
                e.dialect = "footprint";
                e.method = "POST";
                e.principal = "thread-" + std::to_string(t);
                for (int i = 0; i < k_lines; ++i) {
                    e.path = "/vault_proxy/jit/" + std::to_string(i);
                    for (int k = 0; k < i % 150; ++k) // lines of many lengths
                        e.path += "/x";
                    log.write(e);
                }
            });
        for (auto& th : threads)
            th.join();
        auto after = std::chrono::system_clock::now();
        auto to_secs = [](std::chrono::system_clock::time_point p) { return std::chrono::system_clock::to_time_t(p); };
        std::ifstream in(dir / "access.log");
        std::string line;
        std::set<std::string> seen;
        const std::regex iso(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
        int n = 0;
        while (std::getline(in, line)) {
            ++n;
            auto j = nlohmann::json::parse(line, nullptr, false);
            REQUIRE_MESSAGE(!j.is_discarded(), line);
            std::string time = j["time"];
            REQUIRE_MESSAGE(std::regex_match(time, iso), time);
            struct tm tm {};
            REQUIRE(strptime(time.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) != nullptr);
            std::time_t at = timegm(&tm);
            CHECK(at >= to_secs(before));
            CHECK(at <= to_secs(after));
            seen.insert(j["principal"].get<std::string>() + " " + j["path"].get<std::string>());
        }
        CHECK(n == k_threads * k_lines);
        CHECK(seen.size() == static_cast<std::size_t>(k_threads * k_lines));
    }
}
