// SPDX-License-Identifier: Apache-2.0
// Tokenize throughput: the fixtures in fixtures/tokenize (every input document with rules.toml)
// tokenized over and over, in MB/s of fixture text. The first pass vaults new aliases (one
// durable write per batch); the rows after it are the common case of tokenizing fixtures whose
// values are aliased already, where no write happens.
//
//   bench_tokenize [--fixtures DIR] [--rounds N] [--runs N]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/util/random.hpp"
#include "core/vault/store.hpp"
#include "core/vault/tokenize.hpp"

using namespace vaultfwd;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void usage() {
    std::cerr << "usage: bench_tokenize [--fixtures DIR] [--rounds N] [--runs N]\n";
    std::exit(2);
}

[[noreturn]] void fail(const std::string& what) {
    std::cerr << "bench_tokenize: " << what << "\n";
    std::exit(1);
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in)
        fail("cannot read " + p.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

} // namespace

int main(int argc, char** argv) {
    fs::path fixtures = "fixtures/tokenize";
    int rounds = 2000, runs = 5;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc)
                usage();
            return argv[++i];
        };
        if (a == "--fixtures")
            fixtures = next();
        else if (a == "--rounds")
            rounds = std::max(1, std::atoi(next().c_str()));
        else if (a == "--runs")
            runs = std::max(1, std::atoi(next().c_str()));
        else
            usage();
    }
    auto rules = vault::parse_rules_file(slurp(fixtures / "rules.toml"), "rules.toml");
    if (!rules)
        fail(rules.error().describe("rules.toml"));
    auto tokenizer = vault::Tokenizer::make(*rules);
    if (!tokenizer)
        fail(tokenizer.error().message);
    std::vector<std::string> docs;
    for (const auto& e : fs::recursive_directory_iterator(fixtures / "input"))
        if (e.is_regular_file() && e.path().extension() == ".json")
            docs.push_back(slurp(e.path()));
    if (docs.empty())
        fail("no .json fixtures under " + (fixtures / "input").string());
    std::size_t bytes = 0;
    for (const auto& d : docs)
        bytes += d.size();

    const fs::path dir = fs::temp_directory_path() / ("vaultfwd-bench-" + util::random_hex(6));
    auto opened = vault::Store::open(dir, util::random_bytes(32));
    if (!opened)
        fail(opened.error().message);
    auto& store = **opened;
    // The fixtures as tokenize finds them the first time: no ledger of earlier writes.
    std::vector<vault::TokenizeInput> views;
    for (const auto& d : docs)
        views.push_back({d, nullptr});
    std::size_t tokenized = 0;
    auto pass = [&] {
        auto r = tokenizer->apply_many(views, store);
        if (!r)
            fail(r.error().message);
        for (const auto& doc : *r) {
            if (!doc)
                fail(doc.error().message);
            tokenized += doc->stats.tokenized + doc->stats.already;
        }
    };

    auto t0 = Clock::now();
    pass();
    const double first = std::chrono::duration<double>(Clock::now() - t0).count();
    const std::size_t per_pass = tokenized;
    double best = 1e30, best_cpu = 1e30;
    for (int run = 0; run < runs; ++run) {
        t0 = Clock::now();
        const std::clock_t c0 = std::clock();
        for (int i = 0; i < rounds; ++i)
            pass();
        best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
        best_cpu = std::min(best_cpu, static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC);
    }
    const double mb = static_cast<double>(bytes) / (1 << 20);
    std::printf(
        "%-52s %11.1f %-10s\n",
        ("tokenize, " + std::to_string(docs.size()) + " fixtures, first pass (one write)").c_str(),
        first * 1000, "ms");
    std::printf("%-52s %11.2f %-10s (by CPU time: %.2f; %zu values a pass, best of %d runs of "
                "%d passes)\n",
                "tokenize, the same fixtures again (aliases exist)", mb * rounds / best, "MB/s",
                mb * rounds / best_cpu, per_pass, runs, rounds);
    opened->reset();
    fs::remove_all(dir);
    return 0;
}
