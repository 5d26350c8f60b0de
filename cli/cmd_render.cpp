// SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/context.hpp"
#include "core/template/footprint.hpp"
#include "core/template/render.hpp"
#include "core/util/fs.hpp"
#include "core/vault/store.hpp"

namespace vaultfwd::cli {

namespace {

using nlohmann::json;

struct RenderArgs {
    std::string file = "-";
    std::string dialect = "auto";
    std::string fp_id;
    std::vector<std::string> payment_methods;
    std::string vtex_payment;
    bool check = false;
};

std::string read_stdin() {
    std::string data;
    char buf[1 << 16];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0)
        data.append(buf, n);
    return data;
}

json problem_json(const tmpl::Problem& p) {
    return {{"code", p.code},   {"message", p.message},     {"line", p.line},
            {"column", p.column}, {"token", p.token}, {"reference", p.reference},
            {"detail", tmpl::explain(p).message}};
}

std::string dump(const json& j) {
    // Values from the vault need not be UTF-8; replace rather than throw.
    return j.dump(2, ' ', false, json::error_handler_t::replace);
}

void run_render(const RenderArgs& a) {
    if (!a.fp_id.empty() && !tmpl::is_valid_fp_id(a.fp_id))
        fail("--fp-id \"" + a.fp_id + "\" is not a Footprint id (fp_id_…, fp_id_test_…, fp_bid_…)", 2);
    std::set<std::string> seen;
    for (const auto& id : a.payment_methods) {
        if (id.empty())
            fail("--payment-methods has an empty id", 2);
        if (!seen.insert(id).second)
            fail("--payment-methods lists " + id + " twice", 2);
    }
    const std::string where = a.file == "-" ? "<stdin>" : a.file;
    std::string body = a.file == "-" ? read_stdin() : unwrap(util::read_file(a.file));

    auto p = load_profile();
    auto store = open_vault(p);

    tmpl::RenderRequest req;
    req.dialect = *tmpl::dialect_from_name(a.dialect);
    req.body = body;
    req.global_fp_id = a.fp_id;
    req.payment_methods = a.payment_methods;
    req.vtex_payment = a.vtex_payment;
    req.source = store.get();
    req.mode = a.check ? tmpl::RenderMode::check : tmpl::RenderMode::render;
    auto out = tmpl::render(req);

    json warnings = json::array();
    for (const auto& w : out.warnings) {
        warnings.push_back(problem_json(w));
        if (!globals().json)
            std::cerr << "vaultfwd: warning: " << w.to_error().describe(where) << "\n";
    }
    const std::string dialect(tmpl::dialect_name(out.dialect));
    if (!out.ok) {
        if (globals().json) {
            json problems = json::array();
            for (const auto& pr : out.problems)
                problems.push_back(problem_json(pr));
            std::cout << dump({{"file", where},
                               {"ok", false},
                               {"dialect", dialect},
                               {"tokens", out.token_count},
                               {"problem_count", out.problem_count},
                               {"problems", problems},
                               {"warnings", warnings}})
                      << "\n";
        } else {
            for (const auto& pr : out.problems)
                std::cerr << "vaultfwd: error: " << tmpl::explain(pr).describe(where) << "\n";
            if (out.problem_count > out.problems.size())
                std::cerr << "vaultfwd: error: " << where << ": "
                          << out.problem_count - out.problems.size() << " more problem(s) not shown\n";
        }
        throw Failure(std::to_string(out.problem_count) + " problem(s) in " + where +
                      "; nothing was rendered");
    }
    if (globals().json) {
        json j = {{"file", where},      {"ok", true},          {"dialect", dialect},
                  {"tokens", out.token_count}, {"records", out.record_ids}, {"warnings", warnings}};
        if (!a.check)
            j["body"] = out.body;
        std::cout << dump(j) << "\n";
        return;
    }
    if (a.check) {
        std::cout << where << ": ok, " << out.token_count << " " << dialect << " token(s) resolve\n";
        return;
    }
    std::fwrite(out.body.data(), 1, out.body.size(), stdout);
    std::fflush(stdout);
}

} // namespace

void register_render(CLI::App& app) {
    auto args = std::make_shared<RenderArgs>();
    auto* cmd = app.add_subcommand(
        "render", "Render a template offline from the vault (fails on any bad token, listing all)");
    cmd->add_option("file", args->file, "Template file; - reads stdin (default)");
    cmd->add_option("--dialect", args->dialect,
                    "footprint, gr4vy, vtex or auto (default: detect from the tokens present)")
        ->check(CLI::IsMember({"footprint", "gr4vy", "vtex", "auto"}));
    cmd->add_option("--fp-id", args->fp_id,
                    "Footprint user for {{ id.x }} tokens without an fp_id (like x-fp-id)");
    cmd->add_option("--payment-methods", args->payment_methods,
                    "Gr4vy payment method ids, comma-separated: CARD_…_1 is the first")
        ->delimiter(',');
    cmd->add_option("--vtex-payment", args->vtex_payment,
                    "VTEX payment hash: tokens of other payments are refused");
    cmd->add_flag("--check", args->check,
                  "Check syntax and that every token resolves; print no value");
    set_examples(cmd,
                 "  vaultfwd render request.json --fp-id fp_id_test_abc > rendered.json\n"
                 "  echo 'Hi {{ fp_id_test_abc.id.first_name | to_uppercase }}' | vaultfwd render\n"
                 "  vaultfwd render body.xml --dialect gr4vy --payment-methods pm_visa,pm_mc\n"
                 "  vaultfwd render connector.json --dialect vtex --vtex-payment d799bae\n"
                 "  vaultfwd --json render --check request.json   # CI: list every bad token\n");
    cmd->callback([args] { run_render(*args); });
}

} // namespace vaultfwd::cli
