// SPDX-License-Identifier: Apache-2.0
#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/context.hpp"
#include "cli/profile_check.hpp"
#include "core/profile/profile.hpp"
#include "core/util/fs.hpp"
#include "core/util/redact.hpp"

namespace vaultfwd::cli {

namespace {

void run_check(const std::string& file_arg) {
    std::filesystem::path file =
        file_arg.empty() ? profile::profile_path(home_dir(), globals().profile)
                         : std::filesystem::path(file_arg);
    auto errors = check_profile_file(file);
    if (globals().json) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& e : errors)
            list.push_back({{"code", e.code}, {"message", e.message}, {"line", e.line},
                            {"column", e.column}});
        print_json({{"file", file.string()}, {"ok", errors.empty()}, {"errors", list}});
        if (!errors.empty())
            throw Failure(std::to_string(errors.size()) + " problem(s) in " + file.string());
        return;
    }
    fail_on_problems(file, errors);
    std::cout << file.string() << ": ok\n";
}

nlohmann::json masked_profile(const profile::Profile& p) {
    using nlohmann::json;
    json keys = json::array();
    for (const auto& k : p.api_keys)
        keys.push_back({{"id", k.id}, {"key", util::mask_secret(k.key)}, {"reveal", k.reveal}});
    json creds = json::array();
    for (const auto& c : p.proxy_credentials)
        creds.push_back({{"id", c.id},
                         {"username", c.username},
                         {"password", util::mask_secret(c.password)},
                         {"client_cert", c.client_cert}});
    json certs = json::array();
    for (const auto& c : p.certs)
        certs.push_back({{"name", c.name}, {"direction", c.direction}, {"credential", c.credential},
                         {"route", c.route}, {"proxy", c.proxy}, {"cert", c.cert}});
    json pins = json::array();
    for (const auto& pin : p.pins)
        pins.push_back({{"name", pin.name}, {"cert", pin.cert}, {"scope", pin.scope}});
    json proxies = json::array();
    for (const auto& fp : p.footprint_proxies)
        proxies.push_back({{"id", fp.id}, {"url", fp.url}, {"method", fp.method},
                           {"enabled", fp.enabled}, {"ingress_rules", fp.ingress_rules.size()}});
    json routes = json::array();
    for (const auto& r : p.routes)
        routes.push_back({{"id", r.id}, {"direction", r.direction}, {"upstream", r.upstream}, {"host", r.host},
                          {"path", r.path}, {"filters", r.filters.size()}});
    return {{"profile", p.name},
            {"file", p.file.string()},
            {"listen", {{"api", p.listen.api}, {"proxy", p.listen.proxy}, {"inbound", p.listen.inbound}}},
            {"vault", {{"key", util::mask_secret(p.vault.key_hex)}, {"alias_env", p.vault.alias_env}}},
            {"ca", {{"cert", p.resolve(p.ca.cert).string()}}},
            {"upstream",
             {{"allow", p.upstream.allow},
              {"allow_http", p.upstream.allow_http},
              {"connect_timeout_ms", p.upstream.connect_timeout_ms},
              {"timeout_ms", p.upstream.timeout_ms}}},
            {"limits", {{"max_body_bytes", p.limits.max_body_bytes}}},
            {"access_log", p.access_log_path().string()},
            {"inspector",
             {{"enabled", p.inspector.enabled},
              {"exchanges", p.inspector.exchanges},
              {"max_body_bytes", p.inspector.max_body_bytes}}},
            {"api_keys", keys},
            {"proxy_credentials", creds},
            {"certs", certs},
            {"pins", pins},
            {"footprint_proxies", proxies},
            {"routes", routes}};
}

void run_show() {
    auto p = load_profile();
    auto j = masked_profile(p);
    if (globals().json) {
        print_json(j);
        return;
    }
    std::cout << "profile " << p.name << " (" << p.file.string() << ")\n";
    for (auto& [section, value] : j.items()) {
        if (section == "profile" || section == "file")
            continue;
        std::cout << section << ": " << value.dump() << "\n";
    }
}

} // namespace

void register_config(CLI::App& app) {
    auto* cmd = app.add_subcommand("config", "Check or show a profile");
    cmd->require_subcommand(1);
    auto* check = cmd->add_subcommand("check", "Validate a profile and point at each error's line");
    static std::string file;
    check->add_option("--file", file, "Check this TOML file instead of the chosen profile")
        ->type_name("FILE");
    set_examples(check, "  vaultfwd config check\n"
                        "  vaultfwd --profile ci config check\n"
                        "  vaultfwd config check --file staging.toml\n");
    check->callback([] { run_check(file); });
    auto* show = cmd->add_subcommand("show", "Print the profile with its secrets masked");
    set_examples(show, "  vaultfwd config show\n  vaultfwd --json config show | jq .listen\n");
    show->callback(run_show);
    set_examples(cmd, "  vaultfwd config check\n  vaultfwd config show\n");
}

} // namespace vaultfwd::cli
