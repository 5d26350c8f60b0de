// SPDX-License-Identifier: Apache-2.0
// Offline render throughput: a 10 MB token-sparse JSON body and bodies with 100 000 tokens,
// each beside a plain memcpy of the same bytes, best of several runs. Prints MB/s and the ratio.
//   bench_render [runs]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "core/template/render.hpp"
#include "core/vault/record_source.hpp"

using namespace vaultfwd;

namespace {

// This process's CPU time: beside wall time, it shows what a shared, loaded machine hides.
double cpu_now() {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Timing {
    double wall = 1e30; // best of the runs, seconds
    double cpu = 1e30;
};

Timing best_seconds(int runs, const std::function<void()>& fn) {
    Timing best;
    for (int i = 0; i < runs; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        double c0 = cpu_now();
        fn();
        double c1 = cpu_now();
        auto t1 = std::chrono::steady_clock::now();
        best.wall = std::min(best.wall, std::chrono::duration<double>(t1 - t0).count());
        best.cpu = std::min(best.cpu, c1 - c0);
    }
    return best;
}

struct Case {
    std::string name;
    std::string body;
    std::string global_fp_id;
};

// JSON-ish filler with braces, quotes and some non-ASCII text, like real request bodies.
const std::string k_filler =
    "{\"merchant\":\"ACME – Zürich\",\"items\":[{\"sku\":\"A-1\",\"qty\":2},"
    "{\"sku\":\"B-2\",\"qty\":1}],\"note\":\"plain text, no tokens\"}\n";

Case sparse_case() {
    Case c{"10 MB, 100 tokens", {}, "fp_id_test_bench"};
    const std::size_t target = 10u << 20;
    c.body.reserve(target + 4096);
    const std::size_t every = target / 100;
    std::size_t next = every;
    while (c.body.size() < target) {
        c.body += k_filler;
        if (c.body.size() >= next) {
            c.body += "{\"name\":\"{{ id.first_name | to_uppercase }}\"}\n";
            next += every;
        }
    }
    return c;
}

Case dense_case(bool distinct) {
    Case c{distinct ? "100 000 distinct tokens" : "100 000 tokens, 10 distinct", {}, {}};
    for (int i = 0; i < 100000; ++i) {
        int record = distinct ? i : i % 10;
        c.body += "{\"n\":\"{{ fp_id_test_r" + std::to_string(record) + ".id.first_name }}\"},\n";
    }
    return c;
}

} // namespace

int main(int argc, char** argv) {
    int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
    vault::MemorySource source;
    source.set("fp_id_test_bench", "id.first_name", "Jane");
    for (int i = 0; i < 100000; ++i)
        source.set("fp_id_test_r" + std::to_string(i), "id.first_name", "Jane");

    std::vector<Case> cases;
    cases.push_back(sparse_case());
    cases.push_back(dense_case(false));
    cases.push_back(dense_case(true));

    std::printf("%-30s %8s %8s %12s %12s %12s %7s %10s\n", "body", "size MB", "tokens",
                "render MB/s", "(CPU time)", "memcpy MB/s", "ratio", "CPU ratio");
    for (const auto& c : cases) {
        tmpl::RenderRequest req;
        req.dialect = tmpl::Dialect::footprint;
        req.body = c.body;
        req.global_fp_id = c.global_fp_id;
        req.source = &source;
        std::size_t tokens = 0;
        std::size_t out_size = 0;
        Timing render_s = best_seconds(runs, [&] {
            auto out = tmpl::render(req);
            if (!out.ok) {
                std::fprintf(stderr, "render failed: %s\n", out.problems.at(0).message.c_str());
                std::exit(1);
            }
            tokens = out.token_count;
            out_size = out.body.size();
        });
        std::string copy;
        Timing copy_s = best_seconds(runs, [&] {
            copy.assign(c.body.size(), '\0');
            std::memcpy(copy.data(), c.body.data(), c.body.size());
        });
        double mb = static_cast<double>(c.body.size()) / (1 << 20);
        std::printf("%-30s %8.1f %8zu %12.0f %12.0f %12.0f %7.3f %10.3f\n", c.name.c_str(), mb,
                    tokens, mb / render_s.wall, mb / render_s.cpu, mb / copy_s.wall,
                    copy_s.wall / render_s.wall, copy_s.cpu / render_s.cpu);
        if (out_size == 0 || copy.size() != c.body.size())
            return 1;
    }
    std::printf("ratio = render throughput / memcpy throughput, by wall and by CPU time (best of "
                "%d runs)\n",
                runs);
    return 0;
}
