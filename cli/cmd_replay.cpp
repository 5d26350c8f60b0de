// SPDX-License-Identifier: Apache-2.0
#include <iostream>
#include <map>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/completions.hpp"
#include "cli/context.hpp"
#include "core/replay/golden.hpp"
#include "core/replay/recording.hpp"
#include "core/replay/runner.hpp"
#include "core/tls/store.hpp"
#include "core/upstream/url.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::cli {

namespace {

using nlohmann::json;

struct ReplayArgs {
    std::vector<std::string> files;
    std::string via = "reflect";
    std::string server;
    std::string api_key;
    std::string expect;
    bool update = false;
    std::vector<std::string> ignore_headers;
    int timeout_s = 30;
};

std::string dump(const json& j) {
    // Results hold whatever the server answered; replace bytes that are not UTF-8.
    return j.dump(2, ' ', false, json::error_handler_t::replace);
}

// --via: reflect, ditto, or an echo server's http(s) URL (its port in range).
CLI::Validator via_target() {
    return CLI::Validator(
        [](std::string& value) -> std::string {
            if (value == "reflect" || value == "ditto")
                return {};
            if (!util::starts_with_icase(value, "http://") &&
                !util::starts_with_icase(value, "https://"))
                return "must be reflect, ditto or an echo server's http(s) URL, not \"" + value +
                       "\"";
            auto url = upstream::parse_url(value);
            return url ? std::string() : url.error().message;
        },
        "reflect|ditto|URL");
}

json skipped_json(const std::vector<replay::Skipped>& skipped) {
    json out = json::array();
    for (const auto& s : skipped)
        out.push_back({{"file", s.file}, {"index", s.index}, {"scheme", s.scheme}});
    return out;
}

std::string ensure_newline(std::string text) {
    if (!text.empty() && text.back() != '\n')
        text += '\n';
    return text;
}

replay::RunnerOptions runner_options(const ReplayArgs& a) {
    replay::RunnerOptions o;
    if (a.via == "reflect") {
        o.via = replay::ViaKind::reflect;
    } else if (a.via == "ditto") {
        o.via = replay::ViaKind::ditto;
    } else { // an http(s) URL: via_target() checked it
        o.via = replay::ViaKind::url;
        o.via_url = a.via;
    }
    o.server_url = a.server;
    o.api_key = a.api_key;
    o.timeout_ms = a.timeout_s * 1000;
    o.ignore_headers = a.ignore_headers;
    return o;
}

// True when the API server reports that the echo server's certificate did not verify.
bool untrusted_echo(const http::Response& response) {
    auto says = [](const std::string& text) {
        return text.find("upstream.tls_verify_failed") != std::string::npos;
    };
    if (says(response.body))
        return true;
    for (const auto& h : response.headers)
        if (says(h.value))
            return true;
    return false;
}

// What to trust, and where, when --via https://… was refused: the usual case is the profile's
// own ditto, whose certificate the local CA signs.
void hint_untrusted_echo(const profile::Profile& p, const std::string& via) {
    // Absolute: the profile resolves relative paths against the home folder, not the cwd.
    const std::string ca = std::filesystem::absolute(tls::ca_cert_path(p)).string();
    std::cerr << "replay: the proxy does not trust the certificate of the echo server " << via
              << "\n"
              << "  'vaultfwd ditto' of this profile signs it with the local CA " << ca << ";\n"
              << "  trust that CA in the [upstream] table of "
              << std::filesystem::absolute(p.file).string() << ":\n"
              << "    ca_files = [\"" << ca << "\"]\n"
              << "  (a running 'vaultfwd serve' reads it when restarted). For a ditto started "
                 "with --cert, add the\n  root that signed that certificate instead. Or replay "
                 "with --via ditto: it starts an echo\n  server the proxy trusts.\n";
}

// One line per skipped entry, on stderr (results stay on stdout), cut short after a few: a
// browser export can hold hundreds of data: images.
void note_skipped(const std::vector<replay::Skipped>& skipped) {
    constexpr std::size_t k_shown = 10;
    for (std::size_t i = 0; i < skipped.size() && i < k_shown; ++i)
        std::cerr << "replay: skipped " << skipped[i].file << " " << skipped[i].where << ": a "
                  << skipped[i].scheme << ": URL is not an http(s) request\n";
    if (skipped.size() > k_shown)
        std::cerr << "replay: skipped " << skipped.size() - k_shown
                  << " more entries that are not http(s) requests\n";
}

void run_replay(const ReplayArgs& a) {
    if (a.update && a.expect.empty())
        fail("--update rewrites the golden files of --expect DIR: give --expect too", 2);
    if (a.timeout_s < 1 || a.timeout_s > 3600)
        fail("--timeout must be from 1 to 3600 seconds", 2);
    auto options = runner_options(a);

    // Every file is read before anything is sent, so a malformed one stops the run early.
    std::vector<replay::Recording> recordings;
    std::vector<replay::Skipped> skipped;
    for (const auto& file : a.files) {
        auto loaded = replay::load(file, &skipped);
        if (!loaded)
            fail(loaded.error().describe(file));
        for (auto& rec : *loaded)
            recordings.push_back(std::move(rec));
    }
    if (!globals().json)
        note_skipped(skipped);
    if (!a.expect.empty()) {
        std::map<std::string, std::string> owner;
        for (const auto& rec : recordings) {
            auto [it, fresh] = owner.emplace(rec.name, rec.file);
            if (!fresh && it->second != rec.file)
                fail(it->second + " and " + rec.file + " both name golden file " + rec.name +
                     ".txt: rename one of them");
        }
    }

    auto profile = load_profile();
    auto runner = unwrap(replay::Runner::start(profile, options));
    const bool json_out = globals().json;
    const std::filesystem::path golden_dir = a.expect;

    json results = json::array();
    std::size_t failed = 0;
    bool untrusted = false;
    for (const auto& rec : recordings) {
        const std::string label =
            rec.name + " (" + rec.file + " #" + std::to_string(rec.index) + ")";
        json row = {{"file", rec.file},     {"index", rec.index},
                    {"name", rec.name},     {"method", rec.method},
                    {"target", rec.target}, {"kind", replay::kind_name(replay::classify(rec))}};
        auto answer = runner->send(rec);
        if (!answer) {
            ++failed;
            row["outcome"] = "error";
            row["error"] = {{"code", answer.error().code}, {"message", answer.error().message}};
            if (!json_out)
                std::cout << "ERROR     " << label << ": " << answer.error().message << "\n";
            results.push_back(row);
            continue;
        }
        untrusted = untrusted || untrusted_echo(answer->response);
        row["status"] = answer->response.status;
        row["result"] = answer->text;
        if (golden_dir.empty()) {
            bool bad = replay::is_failure(answer->response);
            failed += bad;
            row["outcome"] = bad ? "failed" : "ok";
            if (!json_out)
                std::cout << "=== " << label << ": " << rec.method << " " << rec.target << "\n"
                          << ensure_newline(answer->text) << "\n";
            results.push_back(row);
            continue;
        }
        auto golden = replay::golden_path(golden_dir, rec);
        row["golden"] = golden.string();
        auto check =
            a.update ? replay::update(golden, answer->text) : replay::compare(golden, answer->text);
        if (!check)
            fail(check.error().message);
        row["outcome"] = replay::verdict_name(check->verdict);
        if (!check->diff.empty())
            row["diff"] = check->diff;
        switch (check->verdict) {
        case replay::Verdict::match:
        case replay::Verdict::unchanged:
            if (!json_out)
                std::cout << "ok        " << label << "\n";
            break;
        case replay::Verdict::written:
            if (!json_out)
                std::cout << "written   " << label << " -> " << golden.string() << "\n";
            break;
        case replay::Verdict::missing:
            ++failed;
            if (!json_out)
                std::cout << "MISSING   " << label << ": no golden file " << golden.string()
                          << " (run with --update to write it)\n";
            break;
        case replay::Verdict::mismatch:
            ++failed;
            if (!json_out)
                std::cout << "MISMATCH  " << label << "\n" << check->diff;
            break;
        }
        results.push_back(row);
    }

    const std::size_t total = recordings.size();
    if (json_out) {
        std::cout << dump({{"via", a.via},
                           {"server", a.server.empty() ? "in-process" : runner->server_url()},
                           {"expect", a.expect.empty() ? json(nullptr) : json(a.expect)},
                           {"update", a.update},
                           {"total", total},
                           {"passed", total - failed},
                           {"failed", failed},
                           {"skipped", skipped_json(skipped)},
                           {"results", results}})
                  << "\n";
    } else {
        std::cout << "replay: " << total << (total == 1 ? " request" : " requests") << ", "
                  << total - failed << " ok, " << failed << " failed";
        if (!skipped.empty())
            std::cout << ", " << skipped.size() << " skipped (not http(s))";
        std::cout << "\n";
    }
    std::cout.flush();
    if (untrusted && options.via == replay::ViaKind::url)
        hint_untrusted_echo(profile, a.via);
    if (failed > 0)
        fail(std::to_string(failed) + " of " + std::to_string(total) + " replayed requests " +
             (golden_dir.empty() ? "failed" : "did not match their golden files"));
}

} // namespace

void register_replay(CLI::App& app) {
    static ReplayArgs args;
    auto* cmd = app.add_subcommand(
        "replay", "Send recorded requests (HAR, raw HTTP) through reflect or the proxy to an echo "
                  "server, and compare the results with golden files");
    cmd->add_option("files", args.files, "HAR files (.har) and raw HTTP/1.1 message files")
        ->required();
    complete_as(cmd->add_option("--via", args.via,
                                "reflect: render bodies with /vault_proxy/reflect; ditto: send "
                                "through the proxy to an in-process ditto; URL: to that echo "
                                "server instead")
                    ->check(via_target())
                    ->capture_default_str(),
                {ValueKind::choices, {"reflect", "ditto"}});
    cmd->add_option("--server", args.server,
                    "Use a running 'vaultfwd serve' (its API origin) instead of an in-process one")
        ->check(http_url());
    cmd->add_option("--api-key", args.api_key,
                    "API key for the server (default: the profile's first)");
    cmd->add_option("--expect", args.expect,
                    "Compare each result with DIR/<file-stem>-<n>.txt (or -<HAR comment>.txt)")
        ->type_name("DIR");
    cmd->add_flag("--update", args.update, "Write or rewrite the golden files of --expect");
    cmd->add_option("--ignore-header", args.ignore_headers,
                    "Leave this header out of results (repeatable), besides Date, Server, "
                    "Content-Length and connection headers")
        ->allow_extra_args(false); // one name per --ignore-header, so files may follow
    cmd->add_option("--timeout", args.timeout_s, "Seconds to wait for each answer")
        ->capture_default_str();
    set_examples(
        cmd, "  vaultfwd replay checkout.har                       # rendered bodies, via reflect\n"
             "  vaultfwd replay --via ditto checkout.har charge.http\n"
             "  vaultfwd replay --via ditto --expect tests/golden checkout.har\n"
             "  vaultfwd replay --via ditto --expect tests/golden --update checkout.har\n"
             "  vaultfwd replay --via http://127.0.0.1:8080 --server http://127.0.0.1:7410 \\\n"
             "                  --api-key sk_test_… checkout.har\n"
             "\n"
             "Golden files are named <file-stem>-<n>.txt (n counts requests from 1 in each\n"
             "file), or <file-stem>-<slug of the entry's comment>.txt for HAR entries with a\n"
             "comment. They hold the rendered values the vault revealed: use test data.\n"
             "Exit status: 0 all requests answered without error (or matched), 1 a request\n"
             "failed or differed (the diff is printed), 2 usage error.\n");
    cmd->callback([] { run_replay(args); });
}

} // namespace vaultfwd::cli
