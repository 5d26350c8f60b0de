// SPDX-License-Identifier: Apache-2.0
#include "cli/usage.hpp"

#include <cctype>

#include "core/util/strings.hpp"

namespace vaultfwd::cli {

namespace {

// Visible subcommands (hidden ones have an empty group; option groups have an empty name).
std::vector<const CLI::App*> commands_of(const CLI::App& app) {
    return app.get_subcommands([](const CLI::App* sub) {
        return !sub->get_name().empty() && !sub->get_group().empty();
    });
}

bool has_positionals(const CLI::App& app) {
    for (const CLI::Option* opt : app.get_options())
        if (opt->get_positional())
            return true;
    return false;
}

// The option `name` as `app` parses it: its own, or a parent's when the command falls through.
const CLI::Option* find_option(const CLI::App& app, const std::string& name) {
    for (const CLI::App* a = &app; a; a = a->get_fallthrough() ? a->get_parent() : nullptr)
        if (const CLI::Option* opt = a->get_option_no_throw(name))
            return opt;
    return nullptr;
}

std::vector<std::string> long_options(const CLI::App& app) {
    std::vector<std::string> out;
    for (const CLI::App* a = &app; a; a = a->get_fallthrough() ? a->get_parent() : nullptr)
        for (const CLI::Option* opt : a->get_options())
            for (const auto& l : opt->get_lnames())
                out.push_back("--" + l);
    return out;
}

// A unique command or option `word` begins ("ser" → "serve"), else the nearest by edit distance.
std::string suggestion(const std::string& word, const std::vector<std::string>& candidates) {
    std::string prefixed;
    int count = 0;
    for (const auto& c : candidates)
        if (c.size() > word.size() && c.rfind(word, 0) == 0) {
            prefixed = c;
            ++count;
        }
    if (count == 1 && word.find_first_not_of('-') != std::string::npos)
        return prefixed;
    return util::nearest(word, candidates);
}

std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }

} // namespace

UsageError explain_usage_error(const CLI::App& root, const std::vector<std::string>& args,
                               const CLI::ParseError& error) {
    const CLI::App* app = &root;
    std::string path = root.get_name();
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& word = args[i];
        if (word == "--")
            break; // the rest are positional arguments
        bool number = word.size() > 1 && std::isdigit(static_cast<unsigned char>(word[1]));
        if (word.size() > 1 && word[0] == '-' && !number) {
            bool is_long = word.rfind("--", 0) == 0;
            std::string name = is_long ? word.substr(0, word.find('=')) : word.substr(0, 2);
            const CLI::Option* opt = find_option(*app, name);
            if (!opt) {
                std::string msg = "unknown option " + in_quotes(name) +
                                  (app == &root ? "" : " for " + in_quotes(path));
                if (auto near = is_long ? suggestion(name, long_options(*app)) : std::string();
                    !near.empty())
                    msg += ": did you mean " + in_quotes(near) + "?";
                return {msg, path};
            }
            // Its value is the next word, unless attached (--out=x, -ox).
            bool takes_value = opt->get_expected_max() > 0 && opt->get_type_size_max() > 0;
            bool attached = is_long ? word.find('=') != std::string::npos : word.size() > 2;
            if (takes_value && !attached)
                ++i;
            continue;
        }
        auto commands = commands_of(*app);
        const CLI::App* sub = nullptr;
        for (const CLI::App* c : commands)
            if (c->check_name(word))
                sub = c;
        if (sub) {
            app = sub;
            path += " " + sub->get_name();
            continue;
        }
        if (!commands.empty() && !has_positionals(*app)) {
            std::vector<std::string> names;
            for (const CLI::App* c : commands)
                names.push_back(c->get_name());
            std::string msg = "unknown command " + in_quotes(word) +
                              (app == &root ? "" : " for " + in_quotes(path));
            if (auto near = suggestion(word, names); !near.empty())
                msg += ": did you mean " + in_quotes(near) + "?";
            else
                msg += " (commands: " + util::join(names, ", ") + ")";
            return {msg, path};
        }
    }
    if (app->get_require_subcommand_min() > 0) {
        std::vector<std::string> names;
        for (const CLI::App* c : commands_of(*app))
            names.push_back(c->get_name());
        return {in_quotes(path) + " needs a command: " + util::join(names, ", "), path};
    }
    return {error.what(), path};
}

} // namespace vaultfwd::cli
