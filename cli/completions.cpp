// SPDX-License-Identifier: Apache-2.0
#include "cli/completions.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "core/util/strings.hpp"

namespace vaultfwd::cli {

namespace {

std::map<const CLI::Option*, ValueKind>& declared_kinds() {
    static std::map<const CLI::Option*, ValueKind> kinds;
    return kinds;
}

ValueKind kind_of(const CLI::Option& opt) {
    auto it = declared_kinds().find(&opt);
    return it != declared_kinds().end() ? it->second : value_kind(opt.get_type_name());
}

std::string first_line(const std::string& text) {
    auto nl = text.find('\n');
    return std::string(util::trim(nl == std::string::npos ? text : text.substr(0, nl)));
}

bool starts_with(const std::string& s, const std::string& prefix) {
    return s.rfind(prefix, 0) == 0;
}

CompletionOption describe_option(const CLI::Option& opt) {
    CompletionOption out;
    for (const auto& s : opt.get_snames())
        out.names.push_back("-" + s);
    for (const auto& l : opt.get_lnames())
        out.names.push_back("--" + l);
    out.description = first_line(opt.get_description());
    out.takes_value = opt.get_expected_max() > 0 && opt.get_type_size_max() > 0; // flags expect 0
    if (out.takes_value)
        out.value = kind_of(opt);
    return out;
}

// Positionals are often names (cert rm NAME), so files are proposed only where the type or the
// name says so.
ValueKind positional_kind(const CLI::Option& positional) {
    auto kind = kind_of(positional);
    if (kind.kind != ValueKind::none)
        return kind;
    auto name = util::to_lower(positional.get_name(true));
    if (name.find("file") != std::string::npos || name.find("path") != std::string::npos)
        return {ValueKind::file, {}};
    return kind;
}

// Options of `app` and of the option groups (unnamed sub-apps) inside it.
void own_options(const CLI::App& app, std::vector<CompletionOption>& out, ValueKind& positional) {
    for (const CLI::Option* opt : app.get_options()) {
        if (opt->get_group().empty())
            continue;
        if (opt->nonpositional())
            out.push_back(describe_option(*opt));
        else if (opt->get_positional() && positional.kind == ValueKind::none)
            positional = positional_kind(*opt);
    }
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
        if (sub->get_name().empty())
            own_options(*sub, out, positional);
}

void walk(const CLI::App& app, const std::string& path, std::vector<const CLI::App*>& chain,
          std::vector<CompletionCommand>& out) {
    CompletionCommand cmd;
    cmd.path = path;
    own_options(app, cmd.options, cmd.positional);
    std::set<std::string> seen;
    for (const auto& o : cmd.options)
        seen.insert(o.names.begin(), o.names.end());
    // An option unknown here is parsed by the parent when this command falls through to it.
    const CLI::App* child = &app;
    for (auto it = chain.rbegin(); it != chain.rend() && child->get_fallthrough(); ++it) {
        std::vector<CompletionOption> inherited;
        ValueKind ignored{ValueKind::none, {}};
        own_options(**it, inherited, ignored);
        for (auto& o : inherited) {
            if (std::any_of(o.names.begin(), o.names.end(),
                            [&](const std::string& n) { return seen.count(n) > 0; }))
                continue;
            seen.insert(o.names.begin(), o.names.end());
            cmd.options.push_back(std::move(o));
        }
        child = *it;
    }
    std::vector<const CLI::App*> subs;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
        if (!sub->get_name().empty() && !sub->get_group().empty()) {
            cmd.subcommands.emplace_back(sub->get_name(), first_line(sub->get_description()));
            subs.push_back(sub);
        }
    out.push_back(std::move(cmd));
    chain.push_back(&app);
    for (const CLI::App* sub : subs)
        walk(*sub, path + " " + sub->get_name(), chain, out);
    chain.pop_back();
}

std::string single_quoted_sh(const std::string& s) { // bash and zsh
    return "'" + util::replace_all(s, "'", "'\\''") + "'";
}

std::string single_quoted_fish(const std::string& s) {
    return "'" + util::replace_all(util::replace_all(s, "\\", "\\\\"), "'", "\\'") + "'";
}

std::string value_word(const ValueKind& v) {
    switch (v.kind) {
    case ValueKind::none:
        return "none";
    case ValueKind::file:
        return "file";
    case ValueKind::dir:
        return "dir";
    case ValueKind::choices:
        return "choice:" + util::join(v.words, " ");
    case ValueKind::profile:
        return "profile";
    }
    return "none";
}

std::string root_name(const CLI::App& root) {
    return root.get_name();
}

} // namespace

CLI::Option* complete_as(CLI::Option* opt, ValueKind kind) {
    declared_kinds()[opt] = std::move(kind);
    return opt;
}

ValueKind value_kind(const std::string& type_name) {
    ValueKind v;
    auto open = type_name.find('{');
    auto close = type_name.rfind('}');
    if (open != std::string::npos && close != std::string::npos && close > open) {
        v.kind = ValueKind::choices;
        for (auto& w : util::split(type_name.substr(open + 1, close - open - 1), ','))
            if (!util::trim(w).empty())
                v.words.emplace_back(util::trim(w));
        return v;
    }
    if (type_name.find("DIR") != std::string::npos)
        v.kind = ValueKind::dir;
    if (type_name.find("FILE") != std::string::npos || type_name.find("PATH") != std::string::npos)
        v.kind = ValueKind::file;
    return v;
}

std::vector<CompletionCommand> collect_commands(const CLI::App& root) {
    std::vector<CompletionCommand> out;
    std::vector<const CLI::App*> chain;
    walk(root, root.get_name(), chain, out);
    return out;
}

std::string bash_completion(const CLI::App& root) {
    auto commands = collect_commands(root);
    const std::string name = root_name(root);
    const std::string fn = "_" + name;
    std::ostringstream s;
    s << "# bash completion for " << name << ": generated by '" << name
      << " completions bash' from its\n# command tree; do not edit.\n\n";

    s << fn << "_commands() {\n    case \"$1\" in\n";
    for (const auto& c : commands) {
        if (c.subcommands.empty())
            continue;
        std::vector<std::string> names;
        for (const auto& [sub, desc] : c.subcommands)
            names.push_back(sub);
        s << "        " << single_quoted_sh(c.path) << ") echo "
          << single_quoted_sh(util::join(names, " ")) << " ;;\n";
    }
    s << "    esac\n}\n\n";

    s << fn << "_options() {\n    case \"$1\" in\n";
    for (const auto& c : commands) {
        std::vector<std::string> names;
        for (const auto& o : c.options)
            names.insert(names.end(), o.names.begin(), o.names.end());
        s << "        " << single_quoted_sh(c.path) << ") echo "
          << single_quoted_sh(util::join(names, " ")) << " ;;\n";
    }
    s << "    esac\n}\n\n";

    s << "# What the option $2 of command $1 takes: file, dir, profile, none or choice:WORDS; "
         "nothing for\n# a flag.\n";
    s << fn << "_value() {\n    case \"$1|$2\" in\n";
    for (const auto& c : commands)
        for (const auto& o : c.options) {
            if (!o.takes_value)
                continue;
            std::vector<std::string> keys;
            for (const auto& n : o.names)
                keys.push_back(single_quoted_sh(c.path + "|" + n));
            s << "        " << util::join(keys, "|") << ") echo "
              << single_quoted_sh(value_word(o.value)) << " ;;\n";
        }
    s << "    esac\n}\n\n";

    s << fn << "_positional() {\n    case \"$1\" in\n";
    for (const auto& c : commands)
        if (c.positional.kind != ValueKind::none)
            s << "        " << single_quoted_sh(c.path) << ") echo "
              << single_quoted_sh(value_word(c.positional)) << " ;;\n";
    s << "    esac\n}\n\n";

    s << "# The profiles of the home folder $1 (default as " << name
      << " finds it): <home>/<name>.toml.\n"
      << fn
      << "_profiles() {\n"
         "    local home=\"${1:-${VAULTFWD_HOME:-${XDG_CONFIG_HOME:-$HOME/.config}/vaultfwd}}\" f\n"
         "    home=\"${home/#\\~/$HOME}\"\n"
         "    for f in \"$home\"/*.toml; do\n"
         "        [[ -f \"$f\" ]] || continue\n"
         "        f=\"${f##*/}\"\n"
         "        printf '%s\\n' \"${f%.toml}\"\n"
         "    done\n"
         "}\n\n";

    s << "# Completes $2 as a value of kind $1; $3 is the --home given, if any.\n"
      << fn
      << "_complete_value() {\n"
         "    case \"$1\" in\n"
         "        file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "
         "\"$2\") ;;\n"
         "        dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "
         "\"$2\") ;;\n"
         "        choice:*) mapfile -t COMPREPLY < <(compgen -W \"${1#choice:}\" -- \"$2\") ;;\n"
         "        profile) mapfile -t COMPREPLY < <(compgen -W \"$("
      << fn
      << "_profiles \"$3\")\" -- \"$2\") ;;\n"
         "    esac\n"
         "}\n\n";

    s << fn
      << "() {\n"
         "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" cmdpath="
      << single_quoted_sh(name)
      << " word opt=\"\" value=\"\" home=\"\" i\n"
         "    COMPREPLY=()\n"
         "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
         "        word=\"${COMP_WORDS[i]}\"\n"
         "        if [[ -n \"$value\" ]]; then\n"
         "            # \"--opt=value\" arrives as three words: --opt, =, value.\n"
         "            [[ \"$word\" == \"=\" ]] && continue\n"
         "            [[ \"$opt\" == --home ]] && home=\"$word\"\n"
         "            value=\"\"\n"
         "            continue\n"
         "        fi\n"
         "        case \"$word\" in\n"
         "            -*) opt=\"$word\" value=\"$("
      << fn
      << "_value \"$cmdpath\" \"$word\")\" ;;\n"
         "            *) [[ \" $("
      << fn
      << "_commands \"$cmdpath\") \" == *\" $word \"* ]] && "
         "cmdpath=\"$cmdpath $word\" ;;\n"
         "        esac\n"
         "    done\n"
         "    if [[ -n \"$value\" ]]; then\n"
         "        [[ \"$cur\" == \"=\" ]] && cur=\"\"\n"
         "        "
      << fn
      << "_complete_value \"$value\" \"$cur\" \"$home\"\n"
         "        return 0\n"
         "    fi\n"
         "    if [[ \"$cur\" == -* ]]; then\n"
         "        mapfile -t COMPREPLY < <(compgen -W \"$("
      << fn
      << "_options \"$cmdpath\")\" -- \"$cur\")\n"
         "        return 0\n"
         "    fi\n"
         "    local commands\n"
         "    commands=\"$("
      << fn
      << "_commands \"$cmdpath\")\"\n"
         "    if [[ -n \"$commands\" ]]; then\n"
         "        mapfile -t COMPREPLY < <(compgen -W \"$commands\" -- \"$cur\")\n"
         "        return 0\n"
         "    fi\n"
         "    "
      << fn << "_complete_value \"$(" << fn
      << "_positional \"$cmdpath\")\" \"$cur\"\n"
         "    return 0\n"
         "}\n\n"
         "complete -F "
      << fn << " " << name << "\n";
    return s.str();
}

std::string zsh_completion(const CLI::App& root) {
    auto commands = collect_commands(root);
    const std::string name = root_name(root);
    const std::string fn = "_" + name;
    auto item = [](const std::string& word, const std::string& desc) {
        // _describe splits "word:description" at the first unescaped colon.
        return single_quoted_sh(util::replace_all(word, ":", "\\:") +
                                (desc.empty() ? "" : ":" + desc));
    };
    std::ostringstream s;
    s << "#compdef " << name << "\n# zsh completion for " << name << ": generated by '" << name
      << " completions zsh' from its\n# command tree; do not edit.\n\n";

    s << fn << "_commands() {\n    case \"$1\" in\n";
    for (const auto& c : commands) {
        if (c.subcommands.empty())
            continue;
        s << "        (" << single_quoted_sh(c.path) << ") reply=(";
        bool first = true;
        for (const auto& [sub, desc] : c.subcommands) {
            s << (first ? "" : " ") << item(sub, desc);
            first = false;
        }
        s << ") ;;\n";
    }
    s << "        (*) reply=() ;;\n    esac\n}\n\n";

    s << fn << "_options() {\n    case \"$1\" in\n";
    for (const auto& c : commands) {
        s << "        (" << single_quoted_sh(c.path) << ") reply=(";
        bool first = true;
        for (const auto& o : c.options)
            for (const auto& n : o.names) {
                s << (first ? "" : " ") << item(n, o.description);
                first = false;
            }
        s << ") ;;\n";
    }
    s << "        (*) reply=() ;;\n    esac\n}\n\n";

    s << fn << "_value() {\n    case \"$1|$2\" in\n";
    for (const auto& c : commands)
        for (const auto& o : c.options) {
            if (!o.takes_value)
                continue;
            std::vector<std::string> keys;
            for (const auto& n : o.names)
                keys.push_back(single_quoted_sh(c.path + "|" + n));
            s << "        (" << util::join(keys, "|")
              << ") REPLY=" << single_quoted_sh(value_word(o.value)) << " ;;\n";
        }
    s << "        (*) REPLY='' ;;\n    esac\n}\n\n";

    s << fn << "_positional() {\n    case \"$1\" in\n";
    for (const auto& c : commands)
        if (c.positional.kind != ValueKind::none)
            s << "        (" << single_quoted_sh(c.path)
              << ") REPLY=" << single_quoted_sh(value_word(c.positional)) << " ;;\n";
    s << "        (*) REPLY='' ;;\n    esac\n}\n\n";

    // $2: the --home given, if any; profiles are <home>/<name>.toml.
    s << fn
      << "_complete_value() {\n"
         "    local -a choices\n"
         "    local home\n"
         "    case \"$1\" in\n"
         "        (file) _files ;;\n"
         "        (dir) _files -/ ;;\n"
         "        (choice:*) choices=(${=${1#choice:}}); compadd -a choices ;;\n"
         "        (profile)\n"
         "            home=\"${2:-${VAULTFWD_HOME:-${XDG_CONFIG_HOME:-$HOME/.config}/vaultfwd}}\"\n"
         "            home=\"${home/#\\~/$HOME}\"\n"
         "            choices=(\"$home\"/*.toml(N:t:r)); compadd -a choices ;;\n"
         "    esac\n"
         "}\n\n";

    // `path` is zsh's mirror of $PATH: the walk keeps its state in `cmdpath`.
    s << fn
      << "() {\n"
         "    local cmdpath="
      << single_quoted_sh(name)
      << " word opt='' value='' home='' i REPLY\n"
         "    local -a reply\n"
         "    for (( i = 2; i < CURRENT; i++ )); do\n"
         "        word=\"${words[i]}\"\n"
         "        if [[ -n \"$value\" ]]; then\n"
         "            [[ \"$opt\" == --home ]] && home=\"$word\"\n"
         "            value=''\n"
         "            continue\n"
         "        fi\n"
         "        case \"$word\" in\n"
         "            (--home=*) home=\"${word#--home=}\" ;;\n"
         "            (--*=*) ;;\n"
         "            (-*) opt=\"$word\"; "
      << fn
      << "_value \"$cmdpath\" \"$word\"; value=\"$REPLY\" ;;\n"
         "            (*) "
      << fn
      << "_commands \"$cmdpath\"\n"
         "                if (( ${reply[(I)${(b)word}(|:*)]} )); then cmdpath=\"$cmdpath $word\"; "
         "fi ;;\n"
         "        esac\n"
         "    done\n"
         "    local cur=\"${words[CURRENT]}\"\n"
         "    if [[ -n \"$value\" ]]; then\n"
         "        "
      << fn
      << "_complete_value \"$value\" \"$home\"\n"
         "        return\n"
         "    fi\n"
         "    if [[ \"$cur\" == --*=* ]]; then\n"
         "        "
      << fn
      << "_value \"$cmdpath\" \"${cur%%=*}\"\n"
         "        compset -P '*='\n"
         "        "
      << fn
      << "_complete_value \"$REPLY\" \"$home\"\n"
         "        return\n"
         "    fi\n"
         "    if [[ \"$cur\" == -* ]]; then\n"
         "        "
      << fn
      << "_options \"$cmdpath\"\n"
         "        _describe -t options 'option' reply\n"
         "        return\n"
         "    fi\n"
         "    "
      << fn
      << "_commands \"$cmdpath\"\n"
         "    if (( ${#reply} )); then\n"
         "        _describe -t commands 'command' reply\n"
         "        return\n"
         "    fi\n"
         "    "
      << fn
      << "_positional \"$cmdpath\"\n"
         "    "
      << fn
      << "_complete_value \"$REPLY\"\n"
         "}\n\n"
         "# Autoloaded from $fpath, this file is the body of "
      << fn
      << "; sourced, it registers it.\n"
         "if [[ \"${funcstack[1]}\" == "
      << fn
      << " ]]; then\n"
         "    "
      << fn
      << " \"$@\"\n"
         "else\n"
         "    compdef "
      << fn << " " << name
      << "\n"
         "fi\n";
    return s.str();
}

std::string fish_completion(const CLI::App& root) {
    auto commands = collect_commands(root);
    const std::string name = root_name(root);
    const std::string fn = "__" + name;
    std::ostringstream s;
    s << "# fish completion for " << name << ": generated by '" << name
      << " completions fish' from its\n# command tree; do not edit.\n\n";

    s << "function " << fn << "_commands\n    switch $argv[1]\n";
    for (const auto& c : commands) {
        if (c.subcommands.empty())
            continue;
        std::vector<std::string> names;
        for (const auto& [sub, desc] : c.subcommands)
            names.push_back(single_quoted_fish(sub));
        s << "        case " << single_quoted_fish(c.path) << "\n            printf '%s\\n' "
          << util::join(names, " ") << "\n";
    }
    s << "    end\nend\n\n";

    s << "function " << fn << "_valued\n    switch $argv[1]\n";
    for (const auto& c : commands) {
        std::vector<std::string> names;
        for (const auto& o : c.options)
            if (o.takes_value)
                for (const auto& n : o.names)
                    names.push_back(single_quoted_fish(n));
        if (names.empty())
            continue;
        s << "        case " << single_quoted_fish(c.path) << "\n            printf '%s\\n' "
          << util::join(names, " ") << "\n";
    }
    s << "    end\nend\n\n";

    s << "# The command the words typed so far select, e.g. \"" << name
      << " cert pin\".\n"
         "function "
      << fn
      << "_path\n"
         "    set -l words (commandline -opc)\n"
         "    set -e words[1]\n"
         "    set -l cmdpath "
      << name
      << "\n"
         "    set -l skip 0\n"
         "    for word in $words\n"
         "        if test $skip -eq 1\n"
         "            set skip 0\n"
         "            continue\n"
         "        end\n"
         "        switch $word\n"
         "            case '--*=*'\n"
         "            case '-*'\n"
         "                if contains -- $word ("
      << fn
      << "_valued $cmdpath)\n"
         "                    set skip 1\n"
         "                end\n"
         "            case '*'\n"
         "                if contains -- $word ("
      << fn
      << "_commands $cmdpath)\n"
         "                    set cmdpath \"$cmdpath $word\"\n"
         "                end\n"
         "        end\n"
         "    end\n"
         "    echo $cmdpath\n"
         "end\n\n"
         "# The profiles of the home folder: --home on the command line, else as "
      << name
      << " finds it.\n"
         "function "
      << fn
      << "_profiles\n"
         "    set -l words (commandline -opc)\n"
         "    set -l home $VAULTFWD_HOME\n"
         "    for i in (seq (count $words))\n"
         "        if test \"$words[$i]\" = --home; and test $i -lt (count $words)\n"
         "            set home $words[(math $i + 1)]\n"
         "        else if string match -q -- '--home=*' $words[$i]\n"
         "            set home (string replace -- '--home=' '' $words[$i])\n"
         "        end\n"
         "    end\n"
         "    if test -z \"$home\"\n"
         "        set home $HOME/.config/vaultfwd\n"
         "        test -n \"$XDG_CONFIG_HOME\"; and set home $XDG_CONFIG_HOME/vaultfwd\n"
         "    end\n"
         "    set home (string replace -r '^~' $HOME -- $home)\n"
         "    for f in $home/*.toml\n"
         "        string replace -r '.*/(.*)\\.toml$' '$1' -- $f\n"
         "    end\n"
         "end\n\n"
         "function "
      << fn
      << "_at\n"
         "    test ("
      << fn
      << "_path) = $argv[1]\n"
         "end\n\n"
         "complete -c "
      << name << " -f\n";

    for (const auto& c : commands) {
        std::string cond = "-n " + single_quoted_fish(fn + "_at '" + c.path + "'");
        s << "\n";
        for (const auto& [sub, desc] : c.subcommands)
            s << "complete -c " << name << " " << cond << " -a " << single_quoted_fish(sub)
              << " -d " << single_quoted_fish(desc) << "\n";
        for (const auto& o : c.options) {
            s << "complete -c " << name << " " << cond;
            for (const auto& n : o.names)
                s << (starts_with(n, "--") ? " -l " + n.substr(2) : " -s " + n.substr(1));
            if (o.takes_value) {
                switch (o.value.kind) {
                case ValueKind::file:
                case ValueKind::dir:
                    s << " -r -F";
                    break;
                case ValueKind::none:
                    s << " -x";
                    break;
                case ValueKind::choices:
                    s << " -x -a " << single_quoted_fish(util::join(o.value.words, " "));
                    break;
                case ValueKind::profile:
                    s << " -x -a " << single_quoted_fish("(" + fn + "_profiles)");
                    break;
                }
            }
            if (!o.description.empty())
                s << " -d " << single_quoted_fish(o.description);
            s << "\n";
        }
        if (c.positional.kind == ValueKind::file || c.positional.kind == ValueKind::dir)
            s << "complete -c " << name << " " << cond << " -F\n";
        else if (c.positional.kind == ValueKind::choices)
            for (const auto& w : c.positional.words)
                s << "complete -c " << name << " " << cond << " -a " << single_quoted_fish(w)
                  << "\n";
    }
    return s.str();
}

} // namespace vaultfwd::cli
