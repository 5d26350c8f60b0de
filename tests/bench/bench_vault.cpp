// SPDX-License-Identifier: Apache-2.0
// Vault throughput: put and get rates with 100 000 records, alias rates, and the time to open
// a vault of that size. Durable single writes are dominated by fdatasync, so they are measured
// on a smaller count and reported beside the batched rate.
//
//   bench_vault [--records N] [--single N] [--dir DIR] [--keep] [--json]
//   bench_vault --open-only --dir DIR [--json]
//
// --keep leaves DIR/vault and its key (DIR/key.hex) in place; --open-only then times only the
// open and the first reads of that vault in a fresh process, so that two builds can be compared
// on the same file (run them interleaved, several times).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "core/util/random.hpp"
#include "core/util/strings.hpp"
#include "core/vault/store.hpp"

using namespace vaultfwd;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Process CPU time: beside wall time, it shows what a shared, loaded machine hides.
double cpu_now() {
    return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
}

std::string card_for(std::size_t i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "4%015zu", i);
    return buf;
}

struct Figure {
    std::string name;
    double value; // by wall time
    std::string unit;
    double cpu_value; // the same figure by CPU time
};

[[noreturn]] void usage() {
    std::cerr << "usage: bench_vault [--records N] [--single N] [--dir DIR] [--keep] [--json]\n"
                 "       bench_vault --open-only --dir DIR [--json]\n";
    std::exit(2);
}

} // namespace

int main(int argc, char** argv) {
    std::size_t records = 100000, single = 1000;
    fs::path dir;
    bool json = false, keep = false, open_only = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc)
                usage();
            return argv[++i];
        };
        if (a == "--records")
            records = std::stoul(next());
        else if (a == "--single")
            single = std::stoul(next());
        else if (a == "--dir")
            dir = next();
        else if (a == "--json")
            json = true;
        else if (a == "--keep")
            keep = true;
        else if (a == "--open-only")
            open_only = true;
        else
            usage();
    }
    if ((keep || open_only) && dir.empty()) {
        std::cerr << "bench_vault: --keep and --open-only need --dir\n";
        return 2;
    }
    const bool own_dir = dir.empty();
    if (own_dir)
        dir = fs::temp_directory_path() / ("vaultfwd-bench-" + util::random_hex(6));
    const fs::path vdir = dir / "vault";
    const fs::path key_file = dir / "key.hex";
    std::string key;
    if (open_only) {
        std::ifstream in(key_file);
        std::string hex;
        in >> hex;
        auto raw = util::from_hex(hex);
        if (!raw || !fs::exists(vdir / "vault.log")) {
            std::cerr << "bench_vault: no vault kept in " << dir.string()
                      << " (make one with --keep --dir " << dir.string() << ")\n";
            return 2;
        }
        key = std::move(*raw);
    } else {
        fs::remove_all(vdir);
        key = util::random_bytes(32);
        if (keep) {
            fs::create_directories(dir);
            std::ofstream(key_file) << util::to_hex(key) << "\n";
        }
    }
    std::vector<Figure> figures;
    auto fail = [](const Error& e) {
        std::cerr << "bench_vault: " << e.code << ": " << e.message << "\n";
        std::exit(1);
    };
    std::mt19937 rng(42);
    std::size_t found = 0;
    auto t0 = Clock::now();
    double c0 = cpu_now();
    if (!open_only) {
        auto opened = vault::Store::open(vdir, key);
        if (!opened)
            fail(opened.error());
        auto store = std::move(*opened);

        // Durable single puts: one write and one fdatasync each.
        t0 = Clock::now();
        c0 = cpu_now();
        for (std::size_t i = 0; i < single; ++i)
            if (auto r = store->put("single_" + std::to_string(i), {{"card.number", card_for(i)}});
                !r)
                fail(r.error());
        figures.push_back({"put, one durable write each", single / seconds_since(t0), "records/s",
                           single / (cpu_now() - c0)});

        // Batched puts: 1000 records per write and fdatasync.
        t0 = Clock::now();
        c0 = cpu_now();
        for (std::size_t base = 0; base < records; base += 1000) {
            std::vector<std::pair<std::string, vault::Fields>> batch;
            for (std::size_t i = base; i < std::min(records, base + 1000); ++i)
                batch.push_back({"pm_" + std::to_string(i),
                                 {{"card.number", card_for(i)},
                                  {"card.exp_month", "12"},
                                  {"card.exp_year", "2030"}}});
            if (auto r = store->put_many(batch); !r)
                fail(r.error());
        }
        figures.push_back({"put, batches of 1000", records / seconds_since(t0), "records/s",
                           records / (cpu_now() - c0)});

        t0 = Clock::now();
        c0 = cpu_now();
        for (std::size_t i = 0; i < records; ++i)
            found +=
                store->field("pm_" + std::to_string(rng() % records), "card.number").has_value();
        figures.push_back(
            {"get (field)", records / seconds_since(t0), "lookups/s", records / (cpu_now() - c0)});
        if (found != records) {
            std::cerr << "bench_vault: " << records - found << " lookups failed\n";
            return 1;
        }

        t0 = Clock::now();
        c0 = cpu_now();
        for (std::size_t i = 0; i < single; ++i)
            if (auto r = store->alias(card_for(i), vault::AliasFormat::fpe_six_t_four); !r)
                fail(r.error());
        figures.push_back({"alias, new, one durable write each", single / seconds_since(t0),
                           "aliases/s", single / (cpu_now() - c0)});

        std::vector<vault::AliasRequest> reqs;
        for (std::size_t i = 0; i < records; ++i)
            reqs.push_back({card_for(i), vault::AliasFormat::uuid});
        t0 = Clock::now();
        c0 = cpu_now();
        for (std::size_t base = 0; base < records; base += 1000) {
            std::vector<vault::AliasRequest> part(
                reqs.begin() + static_cast<long>(base),
                reqs.begin() + static_cast<long>(std::min(records, base + 1000)));
            if (auto r = store->alias_many(part); !r)
                fail(r.error());
        }
        figures.push_back({"alias, new, batches of 1000", records / seconds_since(t0), "aliases/s",
                           records / (cpu_now() - c0)});

        t0 = Clock::now();
        c0 = cpu_now();
        for (std::size_t i = 0; i < records; ++i)
            if (auto r = store->alias(card_for(rng() % records), vault::AliasFormat::uuid); !r)
                fail(r.error());
        figures.push_back({"alias, existing", records / seconds_since(t0), "aliases/s",
                           records / (cpu_now() - c0)});

        store.reset();
    }
    const auto bytes = fs::file_size(vdir / "vault.log");
    t0 = Clock::now();
    c0 = cpu_now();
    auto reopened = vault::Store::open(vdir, key);
    const double open_s = seconds_since(t0), open_cpu = cpu_now() - c0;
    if (!reopened)
        fail(reopened.error());
    figures.push_back({"open (" + std::to_string((*reopened)->record_count()) + " records, " +
                           std::to_string((*reopened)->alias_count()) + " aliases, " +
                           std::to_string(bytes / (1024 * 1024)) + " MiB)",
                       open_s * 1000, "ms", open_cpu * 1000});

    // Open keeps only the index: the first read of each record reads it from the log and
    // authenticates it; this row shows what that costs.
    t0 = Clock::now();
    c0 = cpu_now();
    found = 0;
    for (std::size_t i = 0; i < records; ++i)
        found +=
            (*reopened)->field("pm_" + std::to_string(rng() % records), "card.number").has_value();
    figures.push_back({"get (field) after open, first reads from the log",
                       records / seconds_since(t0), "lookups/s", records / (cpu_now() - c0)});
    if (found != records) {
        std::cerr << "bench_vault: " << records - found << " lookups after open failed\n";
        return 1;
    }

    if (json) {
        std::cout << "{";
        for (std::size_t i = 0; i < figures.size(); ++i)
            std::cout << (i ? ", " : "") << "\"" << figures[i].name
                      << "\": {\"value\": " << figures[i].value
                      << ", \"cpu_value\": " << figures[i].cpu_value << ", \"unit\": \""
                      << figures[i].unit << "\"}";
        std::cout << "}\n";
    } else {
        for (const auto& f : figures) {
            char line[200];
            std::snprintf(line, sizeof line, "%-52s %11.1f %-10s (by CPU time: %.1f)",
                          f.name.c_str(), f.value, f.unit.c_str(), f.cpu_value);
            std::cout << line << "\n";
        }
        if (!open_only)
            std::cout << "(batched/single put ratio "
                      << static_cast<long>(figures[1].value / figures[0].value) << "x)\n";
    }
    reopened->reset();
    if (own_dir)
        fs::remove_all(dir);
    return 0;
}
