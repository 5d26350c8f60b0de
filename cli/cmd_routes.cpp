// SPDX-License-Identifier: Apache-2.0
#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/context.hpp"
#include "core/dialect/vgs/import.hpp"
#include "core/dialect/vgs/routes.hpp"
#include "core/util/fs.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::cli {

namespace {

using nlohmann::json;

json filter_json(const profile::RouteFilter& f) {
    json j = {{"phase", f.phase},
              {"operation", f.operation},
              {"transformer", f.transformer},
              {"targets", f.targets}};
    if (!f.id.empty())
        j["id"] = f.id;
    if (!f.pattern.empty()) {
        j["pattern"] = f.pattern;
        j["replacement"] = f.replacement;
    }
    if (f.operation == "redact")
        j["format"] = f.format;
    if (f.operation == "reveal")
        j["on_unknown_alias"] = f.on_unknown_alias;
    if (!f.path.empty())
        j["path"] = f.path;
    if (!f.methods.empty())
        j["methods"] = f.methods;
    if (!f.content_type.empty())
        j["content_type"] = f.content_type;
    if (!f.status.empty())
        j["status"] = f.status;
    return j;
}

json route_json(const profile::Route& r) {
    json filters = json::array();
    for (const auto& f : r.filters)
        filters.push_back(filter_json(f));
    json j = {{"id", r.id}, {"direction", r.direction}, {"host", r.host}, {"path", r.path}, {"methods", r.methods},
              {"filters", filters}};
    if (!r.upstream.empty())
        j["upstream"] = r.upstream;
    if (!r.description.empty())
        j["description"] = r.description;
    return j;
}

// "request reveal json_path $.card.number, $.card.cvc (path /v1/.*)"
std::string filter_line(const profile::RouteFilter& f) {
    std::string line = f.phase + " " + f.operation + " " + f.transformer;
    if (!f.targets.empty())
        line += " " + util::join(f.targets, ", ");
    if (!f.pattern.empty())
        line += " /" + f.pattern + "/ -> \"" + f.replacement + "\"";
    if (f.operation == "redact")
        line += " as " + f.format;
    std::vector<std::string> when;
    if (!f.path.empty())
        when.push_back("path " + f.path);
    if (!f.methods.empty())
        when.push_back("methods " + util::join(f.methods, ","));
    if (!f.content_type.empty())
        when.push_back("content type " + f.content_type);
    if (!f.status.empty())
        when.push_back("status " + f.status);
    if (!when.empty())
        line += " (when " + util::join(when, "; ") + ")";
    return line;
}

void print_route(const profile::Route& r) {
    std::cout << r.id;
    if (!r.description.empty() && r.description != r.id)
        std::cout << " (" << r.description << ")";
    if (r.direction == "inbound")
        std::cout << "  inbound: Host " << r.host << " -> " << r.upstream;
    else
        std::cout << "  host " << r.host;
    if (r.path != ".*")
        std::cout << "  path " << r.path;
    if (!r.methods.empty())
        std::cout << "  methods " << util::join(r.methods, ",");
    std::cout << "\n";
    for (const auto& f : r.filters)
        std::cout << "  " << filter_line(f) << "\n";
}

void run_list() {
    auto p = load_profile();
    auto compiled = dialect::vgs::RouteTable::compile(p.routes, dialect::vgs::Direction::outbound);
    if (compiled)
        compiled = dialect::vgs::RouteTable::compile(p.routes, dialect::vgs::Direction::inbound);
    if (globals().json) {
        json routes = json::array();
        for (const auto& r : p.routes)
            routes.push_back(route_json(r));
        json out = {{"routes", routes}, {"ok", compiled.ok()}};
        if (!compiled)
            out["error"] = {{"code", compiled.error().code}, {"message", compiled.error().message}};
        print_json(out);
    } else if (p.routes.empty()) {
        std::cout << "no routes in " << p.file.string()
                  << " (add [[routes]] by hand or with 'vaultfwd routes import FILE.yaml')\n";
    } else {
        for (const auto& r : p.routes)
            print_route(r);
    }
    if (!compiled)
        fail(compiled.error().message);
}

void run_import(const std::string& file, bool dry_run) {
    auto p = load_profile();
    auto text = util::read_file(file);
    if (!text)
        fail(text.error().message);
    auto report = unwrap(dialect::vgs::import_routes(
                             p, *text, dry_run ? dialect::vgs::DryRun::yes : dialect::vgs::DryRun::no),
                         file);
    if (globals().json) {
        json routes = json::array();
        for (const auto& r : report.routes)
            routes.push_back(route_json(r));
        print_json({{"file", file},
                    {"profile", p.file.string()},
                    {"dry_run", dry_run},
                    {"imported", routes},
                    {"skipped", report.skipped},
                    {"already", report.already},
                    {"notes", report.notes}});
        return;
    }
    const char* verb = dry_run ? "would import" : "imported";
    for (const auto& r : report.routes) {
        std::cout << verb << " route ";
        print_route(r);
    }
    for (const auto& n : report.notes)
        std::cout << "note: " << n << "\n";
    for (const auto& s : report.skipped)
        std::cout << "not imported: " << s << "\n";
    for (const auto& id : report.already)
        std::cout << "route " << id << " is already in the profile, unchanged\n";
    std::cout << report.routes.size() << " route(s) " << verb << " into " << p.file.string();
    if (!report.already.empty())
        std::cout << ", " << report.already.size() << " already in the profile";
    if (!report.skipped.empty())
        std::cout << ", " << report.skipped.size() << " part(s) not imported (see above)";
    std::cout << "\n";
}

} // namespace

void register_routes(CLI::App& app) {
    auto* cmd = app.add_subcommand("routes", "VGS-style routes: outbound (the forward proxy) and inbound (the inbound port)");
    cmd->require_subcommand(1);
    auto* import = cmd->add_subcommand(
        "import", "Append the routes of a VGS dashboard export (YAML), outbound and inbound, to the profile");
    static std::string file;
    static bool dry_run = false;
    import->add_option("FILE", file, "The exported routes (YAML or JSON)")->required();
    import->add_flag("--dry-run", dry_run, "Show what would be imported; change nothing");
    set_examples(import, "  vaultfwd routes import outbound-routes.yaml\n"
                         "  vaultfwd routes import --dry-run outbound-routes.yaml\n"
                         "  vaultfwd routes import inbound-collect.yaml\n"
                         "  vaultfwd --json routes import outbound-routes.yaml\n");
    import->callback([] { run_import(file, dry_run); });
    auto* list = cmd->add_subcommand("list", "Show the profile's routes and their filters");
    set_examples(list, "  vaultfwd routes list\n  vaultfwd --json routes list\n");
    list->callback(run_list);
    set_examples(cmd, "  vaultfwd routes import outbound-routes.yaml\n  vaultfwd routes list\n");
}

} // namespace vaultfwd::cli
