// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <random>
#include <thread>
#include <vector>

#include "core/net/loop.hpp"

using namespace vaultfwd;
using namespace std::chrono_literals;

namespace {

struct Timed final : net::Loop::Handler {
    int id = 0;
    net::Loop::Clock::time_point when{};
    std::vector<std::pair<int, net::Loop::Clock::time_point>>* fired = nullptr;
    void on_events(std::uint32_t) override {}
    void on_deadline() override { fired->emplace_back(id, net::Loop::Clock::now()); }
};

} // namespace

TEST_SUITE("loop") {
    TEST_CASE("deadlines fire once each, in time order, moved ones at their new time, cleared ones never") {
        net::Loop loop;
        std::thread runner([&] { loop.run(); });
        std::vector<std::pair<int, net::Loop::Clock::time_point>> fired;
        std::vector<Timed> handlers(300);
        std::vector<bool> cleared(handlers.size(), false);
        std::promise<void> set;
        loop.post([&] {
            std::mt19937 rng(7);
            const auto start = net::Loop::Clock::now() + 50ms;
            for (std::size_t i = 0; i < handlers.size(); ++i) {
                handlers[i].id = static_cast<int>(i);
                handlers[i].fired = &fired;
                handlers[i].when = start + std::chrono::microseconds(rng() % 200000);
                loop.set_deadline(&handlers[i], handlers[i].when);
            }
            for (std::size_t i = 0; i < handlers.size(); i += 2) { // moved, earlier or later
                handlers[i].when = start + std::chrono::microseconds(rng() % 200000);
                loop.set_deadline(&handlers[i], handlers[i].when);
            }
            for (std::size_t i = 1; i < handlers.size(); i += 7) {
                loop.clear_deadline(&handlers[i]);
                cleared[i] = true;
            }
            loop.clear_deadline(&handlers[1]); // twice: nothing happens
            set.set_value();
        });
        set.get_future().wait();
        std::this_thread::sleep_for(400ms);
        std::promise<void> done;
        loop.post([&] { done.set_value(); });
        done.get_future().wait();
        loop.stop();
        runner.join();

        std::size_t expected = 0;
        for (bool c : cleared)
            expected += c ? 0 : 1;
        REQUIRE(fired.size() == expected);
        std::vector<bool> seen(handlers.size(), false);
        for (std::size_t k = 0; k < fired.size(); ++k) {
            const auto& [id, at] = fired[k];
            CHECK_FALSE(cleared[static_cast<std::size_t>(id)]);
            CHECK_FALSE(seen[static_cast<std::size_t>(id)]);
            seen[static_cast<std::size_t>(id)] = true;
            CHECK(at >= handlers[static_cast<std::size_t>(id)].when); // never early
            if (k > 0) // in the order of their deadlines
                CHECK(handlers[static_cast<std::size_t>(fired[k - 1].first)].when <= handlers[static_cast<std::size_t>(id)].when);
        }
    }
}
