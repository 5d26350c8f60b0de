// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <unistd.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/completions.hpp"
#include "cli/context.hpp"
#include "core/util/fs.hpp"
#include "core/vault/ledger.hpp"
#include "core/vault/store.hpp"
#include "core/vault/tokenize.hpp"

namespace vaultfwd::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Args {
    std::vector<std::string> inputs;
    std::vector<std::string> rules;
    std::string rules_file;
    std::string output;
    bool in_place = false;
    std::string progress = "auto";
};

// One fixture to tokenize: where it comes from and where it goes ("" = stdout).
struct Job {
    std::string source; // a path, or "-" for stdin
    std::string target;
};

// How the ledger names a file: absolute, symlinks resolved, so that "out/a.json" and
// "./out/../out/a.json" are one file. "" for standard input, which the ledger never knows.
std::string ledger_name(const std::string& file) {
    if (file.empty() || file == "-")
        return {};
    std::error_code ec;
    auto p = fs::weakly_canonical(fs::absolute(file), ec);
    return (ec ? fs::absolute(file).lexically_normal() : p).string();
}

// True when `file` already holds exactly `text`: then it is not rewritten (its mtime stays, so
// make and editors see no change).
bool holds(const std::string& file, std::string_view text) {
    std::error_code ec;
    if (fs::file_size(file, ec) != text.size() || ec)
        return false;
    auto current = util::read_file(file);
    return current && *current == text;
}

std::vector<vault::TokenizeRule> load_rules(const Args& a) {
    std::vector<vault::TokenizeRule> rules;
    if (!a.rules_file.empty()) {
        auto text = unwrap(util::read_file(a.rules_file));
        rules = unwrap(vault::parse_rules_file(text, a.rules_file), a.rules_file);
    }
    for (const auto& r : a.rules) {
        auto rule = vault::parse_rule(r);
        if (!rule)
            fail("--rule " + r + ": " + rule.error().message, 2);
        rules.push_back(std::move(*rule));
    }
    if (rules.empty())
        fail("no rules: give --rule PATH=FORMAT (repeatable) or --rules FILE", 2);
    return rules;
}

// Every *.json file under `dir`, sorted, so runs and outputs are reproducible.
std::vector<fs::path> json_files_under(const fs::path& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
         it.increment(ec))
        if (it->is_regular_file() && it->path().extension() == ".json")
            out.push_back(it->path());
    if (ec)
        fail("cannot read folder " + dir.string() + ": " + ec.message());
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<Job> plan(const Args& a) {
    std::vector<std::pair<std::string, std::string>> files; // source, path relative to output
    bool folder = false;
    for (const auto& in : a.inputs) {
        if (in == "-") {
            files.emplace_back("-", "stdin.json");
            continue;
        }
        std::error_code ec;
        if (fs::is_directory(in, ec)) {
            folder = true;
            for (const auto& f : json_files_under(in))
                files.emplace_back(f.string(), fs::relative(f, in).string());
        } else if (fs::exists(in, ec)) {
            files.emplace_back(in, fs::path(in).filename().string());
        } else {
            fail("no such fixture: " + in);
        }
    }
    if (a.in_place && !a.output.empty())
        fail("--in-place and -o cannot be combined", 2);
    std::vector<Job> jobs;
    const bool one = files.size() == 1 && !folder;
    std::error_code ec;
    const bool output_is_dir =
        !a.output.empty() && (fs::is_directory(a.output, ec) || a.output.back() == '/' || !one);
    if (!one && a.output.empty() && !a.in_place)
        fail("several fixtures need -o DIR (mirrors their layout) or --in-place", 2);
    std::set<std::string> targets;
    for (const auto& [source, rel] : files) {
        Job j{source, ""};
        if (a.in_place) {
            if (source == "-")
                fail("--in-place cannot write back to stdin", 2);
            j.target = source;
        } else if (output_is_dir) {
            j.target = (fs::path(a.output) / rel).string();
        } else {
            j.target = a.output; // "" = stdout
        }
        if (!j.target.empty() && !targets.insert(j.target).second)
            fail("two fixtures would be written to " + j.target, 2);
        jobs.push_back(std::move(j));
    }
    if (jobs.empty())
        fail("no *.json fixtures found in the given folders");
    return jobs;
}

class Progress {
  public:
    Progress(bool on, std::size_t total) : m_on(on), m_total(total) {}
    void update(std::size_t done) {
        if (!m_on)
            return;
        const int width = 30;
        const int filled = m_total ? static_cast<int>(done * width / m_total) : width;
        std::cerr << "\rtokenizing [" << std::string(static_cast<std::size_t>(filled), '#')
                  << std::string(static_cast<std::size_t>(width - filled), '.') << "] " << done
                  << "/" << m_total << " files" << std::flush;
    }
    void finish() {
        if (m_on)
            std::cerr << "\r" << std::string(60, ' ') << "\r" << std::flush;
    }

  private:
    bool m_on;
    std::size_t m_total;
};

void run(const Args& a) {
    if (a.progress != "auto" && a.progress != "always" && a.progress != "never")
        fail("--progress takes auto, always or never", 2);
    auto rules = load_rules(a);
    auto tokenizer = vault::Tokenizer::make(rules);
    if (!tokenizer) {
        const auto& e = tokenizer.error();
        fail(e.line > 0 ? e.describe(a.rules_file) : e.message, 2);
    }
    auto jobs = plan(a);

    std::uintmax_t total_bytes = 0;
    for (const auto& j : jobs) {
        std::error_code ec;
        if (j.source != "-")
            total_bytes += fs::file_size(j.source, ec);
    }
    const bool large = jobs.size() >= 50 || total_bytes >= (4u << 20);
    const bool show =
        a.progress == "always" || (a.progress == "auto" && large && ::isatty(STDERR_FILENO));
    Progress progress(show, jobs.size());

    const auto profile = load_profile();
    auto store = cli::open_vault(profile);
    auto ledger = unwrap(
        vault::TokenizeLedger::load(profile.vault_dir() / "tokenize.ledger", profile.vault_key()));
    vault::TokenizeStats total;
    total.per_rule.assign(rules.size(), 0);
    std::size_t failed = 0, written = 0, unchanged = 0;
    json files = json::array();
    bool to_stdout = false;

    // Batches of fixtures share one durable vault write; small enough to keep memory flat and
    // the progress bar moving.
    const std::size_t batch_files =
        std::max<std::size_t>(1, std::min<std::size_t>(64, jobs.size() / 50 + 1));
    for (std::size_t start = 0; start < jobs.size(); start += batch_files) {
        const std::size_t end = std::min(jobs.size(), start + batch_files);
        std::vector<std::string> texts;
        std::vector<std::size_t> which;
        for (std::size_t i = start; i < end; ++i) {
            if (jobs[i].source == "-") {
                texts.emplace_back(std::istreambuf_iterator<char>(std::cin),
                                   std::istreambuf_iterator<char>());
            } else {
                auto t = util::read_file(jobs[i].source);
                if (!t) {
                    std::cerr << "vaultfwd: error: " << t.error().message << "\n";
                    ++failed;
                    continue;
                }
                texts.push_back(std::move(*t));
            }
            which.push_back(i);
        }
        // What earlier runs wrote into each document: the only thing that makes a selected
        // value count as an alias.
        std::vector<std::optional<vault::WrittenAliases>> records;
        std::vector<vault::TokenizeInput> inputs;
        for (std::size_t k = 0; k < texts.size(); ++k) {
            const std::string name = ledger_name(jobs[which[k]].source);
            records.push_back(name.empty() ? std::nullopt : ledger.written(name));
        }
        for (std::size_t k = 0; k < texts.size(); ++k)
            inputs.push_back({texts[k], records[k] ? &*records[k] : nullptr});
        auto results = unwrap(tokenizer->apply_many(inputs, *store));
        for (std::size_t k = 0; k < results.size(); ++k) {
            const Job& job = jobs[which[k]];
            const std::string name = job.source == "-" ? "<stdin>" : job.source;
            auto& r = results[k];
            if (!r) {
                std::cerr << "vaultfwd: error: " << r.error().describe(name) << "\n";
                ++failed;
                continue;
            }
            total.add(r->stats);
            bool wrote = false;
            if (job.target.empty()) {
                std::cout << r->text;
                to_stdout = true;
            } else if ((job.target == job.source && r->text == texts[k]) ||
                       holds(job.target, r->text)) {
                ++unchanged;
            } else {
                auto parent = fs::path(job.target).parent_path();
                if (!parent.empty())
                    unwrap(util::ensure_dir(parent, 0755));
                unwrap(util::write_file_atomic(job.target, r->text, 0644));
                ++written;
                wrote = true;
            }
            if (!job.target.empty())
                ledger.record(ledger_name(job.target), std::move(r->aliases));
            files.push_back({{"source", name},
                             {"target", job.target.empty() ? "-" : job.target},
                             {"written", wrote},
                             {"tokenized", r->stats.tokenized},
                             {"already", r->stats.already},
                             {"skipped", r->stats.skipped}});
        }
        // Per batch, so an interrupted run still knows what it wrote.
        unwrap(ledger.save());
        progress.update(end);
    }
    progress.finish();

    for (std::size_t i = 0; i < rules.size(); ++i)
        if (total.per_rule[i] == 0)
            std::cerr << "vaultfwd: warning: rule " << rules[i].path << " selected nothing\n";
    if (globals().json && !to_stdout) {
        print_json({{"files", files},
                    {"tokenized", total.tokenized},
                    {"already", total.already},
                    {"skipped", total.skipped},
                    {"written", written},
                    {"unchanged", unchanged},
                    {"failed", failed}});
    } else {
        std::cerr << "tokenized " << total.tokenized << " value(s) in " << files.size()
                  << " fixture(s)";
        if (total.already)
            std::cerr << ", " << total.already << " already tokenized";
        if (total.skipped)
            std::cerr << ", " << total.skipped << " skipped (not a string or number)";
        if (written)
            std::cerr << "; wrote " << written << " file(s)";
        if (unchanged)
            std::cerr << (written ? ", " : "; ") << unchanged << " file(s) unchanged, not rewritten";
        std::cerr << "\n";
    }
    if (failed)
        fail(std::to_string(failed) + " fixture(s) could not be tokenized");
}

} // namespace

void register_tokenize(CLI::App& app) {
    static Args args;
    auto* cmd = app.add_subcommand(
        "tokenize",
        "Vault the values JSONPath rules select in JSON fixtures, replacing them by aliases");
    cmd->add_option("fixtures", args.inputs, "JSON files or folders of them (*.json); - is stdin")
        ->type_name("FILE")
        ->required();
    cmd->add_option("-r,--rule", args.rules,
                    "PATH=FORMAT, e.g. '$.card.number=FPE_SIX_T_FOUR' (format defaults to UUID)")
        ->allow_extra_args(false); // one value per --rule, so fixtures after it stay fixtures
    cmd->add_option("--rules", args.rules_file, "A TOML file of [[rule]] tables (path, format)")
        ->type_name("FILE");
    cmd->add_option("-o,--output", args.output,
                    "Output file, or folder (mirrors input folders); default stdout")
        ->type_name("FILE");
    cmd->add_flag("--in-place", args.in_place, "Rewrite the fixtures themselves");
    complete_as(cmd->add_option("--progress", args.progress,
                                "Progress bar on stderr: auto (a terminal and a large input), "
                                "always, never")
                    ->capture_default_str(),
                {ValueKind::choices, {"auto", "always", "never"}});
    set_examples(
        cmd, "  vaultfwd tokenize payment.json --rule '$.card.number=FPE_SIX_T_FOUR' "
             "--rule '$..cvv=NUM_LENGTH_PRESERVING'\n"
             "  vaultfwd tokenize fixtures/ --rules fixtures/tokenize/rules.toml -o tokenized/\n"
             "  vaultfwd tokenize fixtures/ --rules rules.toml --in-place   # again: no change\n"
             "  curl -s https://api.example.com/card | vaultfwd tokenize - --rule '$..number'\n");
    cmd->callback([] { run(args); });
}

} // namespace vaultfwd::cli
