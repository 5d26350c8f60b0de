// SPDX-License-Identifier: Apache-2.0
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/completions.hpp"
#include "cli/context.hpp"
#include "core/util/strings.hpp"
#include "core/vault/store.hpp"

namespace vaultfwd::cli {

namespace {

using nlohmann::json;

// The vault of the chosen profile, <home>/<profile>/vault/; its warnings go to stderr.
std::unique_ptr<vault::Store> open_vault() {
    return cli::open_vault(load_profile());
}

vault::AliasFormat parse_format(const std::string& name) {
    if (auto f = vault::parse_alias_format(name))
        return *f;
    auto names = vault::alias_format_names();
    std::vector<std::string> lower;
    for (const auto& n : names)
        lower.push_back(util::to_lower(n));
    std::string msg = "unknown alias format \"" + name + "\"";
    if (auto near = util::nearest(util::to_lower(name), lower); !near.empty())
        for (std::size_t i = 0; i < lower.size(); ++i)
            if (lower[i] == near)
                msg += " (did you mean " + names[i] + "?)";
    fail(msg + "; formats: " + util::join(names, ", "), 2);
}

// One line of stdin without its line ending: how secrets avoid the shell history.
std::string read_stdin_line() {
    std::string line;
    std::getline(std::cin, line);
    if (!line.empty() && line.back() == '\r')
        line.pop_back();
    return line;
}

struct PutArgs {
    std::string id;
    std::vector<std::string> pairs;
    bool from_stdin = false;
};

void run_put(const PutArgs& a) {
    vault::Fields fields;
    // A malformed pair is never echoed: without its '=' nothing tells the field from the value.
    auto add = [&](const std::string& pair, const std::string& where) {
        auto eq = pair.find('=');
        if (eq == std::string::npos)
            fail(where + " has no '=': expected FIELD=VALUE", 2);
        if (eq == 0)
            fail(where + " has no field name: expected FIELD=VALUE", 2);
        fields[pair.substr(0, eq)] = pair.substr(eq + 1);
    };
    for (std::size_t i = 0; i < a.pairs.size(); ++i)
        add(a.pairs[i], "pair " + std::to_string(i + 1));
    if (a.from_stdin) {
        std::string line;
        for (int n = 1; std::getline(std::cin, line); ++n) {
            if (!line.empty() && line.back() == '\r')
                line.pop_back();
            if (!util::trim(line).empty())
                add(line, "stdin line " + std::to_string(n));
        }
    }
    if (fields.empty())
        fail("nothing to put: give FIELD=VALUE arguments or --stdin", 2);
    auto store = open_vault();
    unwrap(store->put(a.id, fields));
    std::vector<std::string> names;
    for (const auto& f : fields)
        names.push_back(f.first);
    if (globals().json)
        print_json({{"id", a.id}, {"fields", names}});
    else
        std::cout << "put " << a.id << ": " << util::join(names, ", ") << "\n";
}

void run_get(const std::string& ref) {
    auto store = open_vault();
    if (auto rec = unwrap(store->read(ref))) {
        if (globals().json) {
            print_json({{"id", ref}, {"fields", *rec}});
            return;
        }
        for (const auto& [name, value] : *rec)
            std::cout << name << "=" << value << "\n";
        return;
    }
    // ID.FIELD: ids may hold dots themselves, so try each split from the left.
    for (auto dot = ref.find('.'); dot != std::string::npos; dot = ref.find('.', dot + 1)) {
        auto id = ref.substr(0, dot), field = ref.substr(dot + 1);
        auto rec = unwrap(store->read(id));
        if (!rec)
            continue;
        auto it = rec->find(field);
        if (it == rec->end())
            fail("record " + id + " has no field " + field + " (fields: " + [&] {
                std::vector<std::string> names;
                for (const auto& f : *rec)
                    names.push_back(f.first);
                return util::join(names, ", ");
            }() + ")");
        if (globals().json)
            print_json({{"id", id}, {"field", field}, {"value", it->second}});
        else
            std::cout << it->second << "\n";
        return;
    }
    fail("no record " + ref + " in the vault (see 'vaultfwd vault list')");
}

void run_list(bool with_aliases) {
    auto store = open_vault();
    auto records = store->list();
    if (globals().json) {
        json recs = json::array();
        for (const auto& r : records)
            recs.push_back({{"id", r.id}, {"fields", r.fields}});
        json out = {{"records", recs}};
        if (with_aliases) {
            json al = json::array();
            for (const auto& a : store->list_aliases())
                al.push_back({{"alias", a.alias},
                              {"format", vault::format_name(a.format)},
                              {"requested", vault::format_name(a.requested)}});
            out["aliases"] = al;
        } else {
            out["alias_count"] = store->alias_count();
        }
        print_json(out);
        return;
    }
    for (const auto& r : records)
        std::cout << r.id << "  " << util::join(r.fields, ", ") << "\n";
    if (with_aliases) {
        for (const auto& a : store->list_aliases()) {
            std::cout << a.alias << "  " << vault::format_name(a.format);
            if (a.format != a.requested)
                std::cout << " (asked for " << vault::format_name(a.requested) << ")";
            std::cout << "\n";
        }
    } else if (records.empty() && store->alias_count() == 0) {
        std::cout << "the vault is empty\n";
    } else {
        std::cerr << records.size() << " record(s), " << store->alias_count()
                  << " alias(es); --aliases lists the aliases\n";
    }
}

void run_rm(const std::vector<std::string>& refs) {
    auto store = open_vault();
    json removed = json::array();
    for (const auto& ref : refs) {
        if (store->has_record(ref)) {
            unwrap(store->remove(ref));
            removed.push_back({{"record", ref}});
            if (!globals().json)
                std::cout << "removed record " << ref << "\n";
        } else if (store->is_alias(ref)) {
            unwrap(store->remove_alias(ref));
            removed.push_back({{"alias", ref}});
            if (!globals().json)
                std::cout << "removed alias " << ref << "\n";
        } else {
            fail("no record or alias " + ref + " in the vault");
        }
    }
    if (globals().json)
        print_json({{"removed", removed}});
}

void run_alias(const std::string& value_arg, const std::string& format_name) {
    auto format = parse_format(format_name);
    std::string value = value_arg == "-" ? read_stdin_line() : value_arg;
    auto store = open_vault();
    auto alias = unwrap(store->alias(value, format));
    auto info = store->alias_info(alias);
    if (globals().json) {
        print_json({{"alias", alias},
                    {"format", vault::format_name(info ? info->format : format)},
                    {"requested", vault::format_name(format)}});
        return;
    }
    std::cout << alias << "\n";
    if (info && info->format != format)
        std::cerr << "vaultfwd: note: the value does not fit " << vault::format_name(format)
                  << ", so it got a " << vault::format_name(info->format)
                  << " alias (as VGS does)\n";
}

void run_reveal(const std::string& alias) {
    auto store = open_vault();
    auto value = unwrap(store->read_alias(alias));
    if (!value)
        fail("no alias " + alias + " in the vault");
    if (globals().json)
        print_json({{"alias", alias}, {"value", *value}});
    else
        std::cout << *value << "\n";
}

void run_compact() {
    auto store = open_vault();
    auto stats = unwrap(store->compact());
    if (globals().json) {
        print_json({{"bytes_before", stats.bytes_before},
                    {"bytes_after", stats.bytes_after},
                    {"records", stats.records},
                    {"aliases", stats.aliases}});
        return;
    }
    std::cout << "compacted " << store->log_path().string() << ": " << stats.bytes_before << " -> "
              << stats.bytes_after << " bytes, " << stats.records << " record(s), " << stats.aliases
              << " alias(es)\n";
}

} // namespace

void register_vault(CLI::App& app) {
    auto* cmd = app.add_subcommand("vault", "Put, read and alias values in the local vault");
    cmd->require_subcommand(1);
    set_examples(cmd, "  vaultfwd vault put fp_id_test_abc id.first_name=Jane id.last_name=Doe\n"
                      "  vaultfwd vault get fp_id_test_abc.id.first_name\n"
                      "  vaultfwd vault alias 4111111111111111 --format FPE_SIX_T_FOUR\n"
                      "  vaultfwd vault list\n");

    static PutArgs put;
    auto* p = cmd->add_subcommand("put", "Set fields of a record (other fields are kept)");
    p->add_option("id", put.id, "Record id: fp_id_…, a payment method id, vtex_<hash>, …")
        ->required();
    p->add_option("pairs", put.pairs, "FIELD=VALUE, fields dotted (card.number, id.first_name)");
    p->add_flag("--stdin", put.from_stdin,
                "Also read FIELD=VALUE lines from stdin (keeps values out of shell history)");
    set_examples(p, "  vaultfwd vault put fp_id_test_abc id.first_name=Jane id.dob=1988-12-02\n"
                    "  vaultfwd vault put pm_123 card.number=4111111111111111 card.exp_month=12 "
                    "card.exp_year=2030\n"
                    "  vaultfwd vault put vtex_9f2c number=4111111111111111 holder='Jane Doe' "
                    "csc=123\n"
                    "  printf 'custom.ssn=123-45-6789\\n' | vaultfwd vault put fp_id_x --stdin\n");
    p->callback([] { run_put(put); });

    static std::string get_ref;
    auto* g = cmd->add_subcommand("get", "Print one record's fields, or one field's value");
    g->add_option("ref", get_ref, "ID or ID.FIELD")->required();
    set_examples(g, "  vaultfwd vault get fp_id_test_abc\n"
                    "  vaultfwd vault get pm_123.card.number\n"
                    "  vaultfwd --json vault get fp_id_test_abc\n");
    g->callback([] { run_get(get_ref); });

    static bool list_aliases = false;
    auto* l = cmd->add_subcommand("list", "List record ids and field names (never values)");
    l->add_flag("--aliases", list_aliases, "Also list the aliases and their formats");
    set_examples(l, "  vaultfwd vault list\n"
                    "  vaultfwd vault list --aliases\n"
                    "  vaultfwd --json vault list | jq -r '.records[].id'\n");
    l->callback([] { run_list(list_aliases); });

    static std::vector<std::string> rm_refs;
    auto* r = cmd->add_subcommand("rm", "Delete records or aliases");
    r->add_option("ref", rm_refs, "A record id or an alias")->required();
    set_examples(r, "  vaultfwd vault rm fp_id_test_abc\n"
                    "  vaultfwd vault rm tok_sandbox_w8CBfH8vyYL2xWSmMWe3Ds\n");
    r->callback([] { run_rm(rm_refs); });

    static std::string alias_value, alias_format = "UUID";
    auto* a = cmd->add_subcommand("alias", "Print the alias for a value (the same one every time)");
    a->add_option("value", alias_value, "The value; - reads one line from stdin")->required();
    complete_as(a->add_option("-f,--format", alias_format,
                              "UUID, RAW_UUID, NUM_LENGTH_PRESERVING, FPE_SIX_T_FOUR, FPE_T_FOUR, "
                              "PFPT or NON_LUHN_FPE_ALPHANUMERIC")
                    ->capture_default_str(),
                {ValueKind::choices, vault::alias_format_names()});
    set_examples(a, "  vaultfwd vault alias 4111111111111111 --format FPE_SIX_T_FOUR\n"
                    "  vaultfwd vault alias 'Jane Doe'\n"
                    "  echo 123 | vaultfwd vault alias - --format NUM_LENGTH_PRESERVING\n");
    a->callback([] { run_alias(alias_value, alias_format); });

    static std::string reveal_alias;
    auto* v = cmd->add_subcommand("reveal", "Print the value an alias stands for");
    v->add_option("alias", reveal_alias, "An alias made by 'vault alias', tokenize or a route")
        ->required();
    set_examples(v, "  vaultfwd vault reveal tok_sandbox_w8CBfH8vyYL2xWSmMWe3Ds\n");
    v->callback([] { run_reveal(reveal_alias); });

    auto* c = cmd->add_subcommand("compact", "Rewrite the vault file without deleted entries");
    set_examples(c, "  vaultfwd vault compact\n");
    c->callback(run_compact);
}

} // namespace vaultfwd::cli
