// SPDX-License-Identifier: Apache-2.0
// Shell completions: the committed files are what the binary generates, and the shells load them
// and complete subcommands, options and option values.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>

#include "support/support.hpp"

using namespace vaultfwd;
using test::run_program;
using test::run_vaultfwd;

namespace {

struct Shell {
    const char* name;
    const char* file; // in completions/
};
const Shell k_shells[] = {
    {"bash", "vaultfwd.bash"}, {"zsh", "_vaultfwd"}, {"fish", "vaultfwd.fish"}};

bool on_path(const std::string& program) {
    return run_program({"sh", "-c", "command -v " + program}).exit_code == 0;
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        if (nl == std::string::npos)
            nl = text.size();
        out.push_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
    return out;
}

// A home folder with the profiles "default" and "ci".
std::unique_ptr<test::TempDir> profiles_home() {
    auto home = std::make_unique<test::TempDir>();
    test::write_text(*home / "default.toml", "");
    test::write_text(*home / "ci.toml", "");
    return home;
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

// The generated script for `shell`, written to a temp file.
std::string generated(const test::TempDir& dir, const std::string& shell) {
    auto r = run_vaultfwd({"completions", shell});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    auto file = dir / ("completion." + shell);
    test::write_text(file, r.out);
    return file.string();
}

// What bash completes for `words` (the last one being completed), from the script `file`;
// `prelude` runs first (environment, working folder).
std::vector<std::string> bash_complete(const std::string& file,
                                       const std::vector<std::string>& words,
                                       const std::string& prelude = {}) {
    std::string script = prelude + "\nsource '" + file + "'\nCOMP_WORDS=(";
    for (const auto& w : words)
        script += " '" + w + "'";
    script += " )\nCOMP_CWORD=" + std::to_string(words.size() - 1) +
              "\n_vaultfwd\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n";
    auto r = run_program({"bash", "--norc", "--noprofile", "-c", script});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    auto out = lines(r.out);
    if (!out.empty() && out.back().empty())
        out.pop_back();
    return out;
}

} // namespace

TEST_SUITE("completions") {
    TEST_CASE("the files in completions/ are what the binary generates") {
        for (const auto& shell : k_shells) {
            auto r = run_vaultfwd({"completions", shell.name});
            REQUIRE(r.exit_code == 0);
            CHECK(r.err.empty());
            auto committed = test::read_text(test::source_dir() / "completions" / shell.file);
            CHECK_MESSAGE(r.out == committed,
                          "completions/" << shell.file << " is stale: regenerate it with\n  "
                                         << "vaultfwd completions " << shell.name
                                         << " > completions/" << shell.file);
        }
        auto bad = run_vaultfwd({"completions", "tcsh"});
        CHECK(bad.exit_code == 2);
    }

    TEST_CASE("bash: registered, and completes subcommands, options and values") {
        test::TempDir dir;
        auto file = generated(dir, "bash");
        auto reg = run_program({"bash", "--norc", "--noprofile", "-c",
                                "source '" + file + "' && complete -p vaultfwd"});
        REQUIRE(reg.exit_code == 0);
        CHECK(reg.out == "complete -F _vaultfwd vaultfwd\n");

        auto top = bash_complete(file, {"vaultfwd", ""});
        for (const char* sub : {"init", "config", "cert", "ca", "ditto", "completions"})
            CHECK_MESSAGE(contains(top, sub), sub);
        CHECK_FALSE(contains(top, "add"));

        CHECK(bash_complete(file, {"vaultfwd", "ce"}) == std::vector<std::string>{"cert"});
        auto pin = bash_complete(file, {"vaultfwd", "cert", "pin", ""});
        CHECK(pin == std::vector<std::string>{"add", "list", "rm"});
        // An option's value is skipped when finding the subcommand.
        auto with_home = bash_complete(file, {"vaultfwd", "--home", "/tmp/x", "cert", ""});
        CHECK(contains(with_home, "issue"));

        auto opts = bash_complete(file, {"vaultfwd", "cert", "add", "--c"});
        CHECK(opts == std::vector<std::string>{"--cert", "--credential"});
        // Options the root takes are offered below it too, since subcommands fall through.
        CHECK(contains(bash_complete(file, {"vaultfwd", "cert", "list", "--"}), "--json"));

        auto formats = bash_complete(file, {"vaultfwd", "ca", "export", "--format", ""});
        CHECK(formats == std::vector<std::string>{"pem", "der", "p12"});
        auto eq = bash_complete(file, {"vaultfwd", "ca", "export", "--format", "=", "d"});
        CHECK(eq == std::vector<std::string>{"der"});
        auto shells = bash_complete(file, {"vaultfwd", "completions", ""});
        CHECK(shells == std::vector<std::string>{"bash", "zsh", "fish"});
        // A positional that is a name, not a file: nothing proposed.
        CHECK(bash_complete(file, {"vaultfwd", "cert", "rm", ""}).empty());

        // File values complete files.
        test::write_text(dir / "client-cert.pem", "x");
        auto files = bash_complete(
            file, {"vaultfwd", "cert", "add", "n", "--cert", (dir / "client-c").string()});
        CHECK(files == std::vector<std::string>{(dir / "client-cert.pem").string()});
    }

    TEST_CASE("bash: option values (formats, --via, --progress, profiles) and file arguments") {
        test::TempDir dir;
        auto file = generated(dir, "bash");
        CHECK(bash_complete(file, {"vaultfwd", "replay", "--via", ""}) ==
              std::vector<std::string>{"reflect", "ditto"});
        CHECK(bash_complete(file, {"vaultfwd", "replay", "--via", "d"}) ==
              std::vector<std::string>{"ditto"});
        CHECK(bash_complete(file, {"vaultfwd", "tokenize", "x.json", "--progress", "a"}) ==
              std::vector<std::string>{"auto", "always"});
        CHECK(bash_complete(file, {"vaultfwd", "vault", "alias", "4111", "--format", "FPE"}) ==
              std::vector<std::string>{"FPE_SIX_T_FOUR", "FPE_T_FOUR"});
        CHECK(bash_complete(file, {"vaultfwd", "vault", "alias", "123", "-f", "NUM"}) ==
              std::vector<std::string>{"NUM_LENGTH_PRESERVING"});
        CHECK(bash_complete(file, {"vaultfwd", "render", "--dialect", ""}) ==
              std::vector<std::string>{"footprint", "gr4vy", "vtex", "auto"});
        CHECK(bash_complete(file, {"vaultfwd", "decrypt", "--algorithm", "r"}) ==
              std::vector<std::string>{"rsa_pkcs1v15"});

        // Profile names: the *.toml of the home folder, from --home, else $VAULTFWD_HOME.
        auto home = profiles_home();
        test::write_text(*home / "notes.txt", "");
        auto profiles =
            bash_complete(file, {"vaultfwd", "--home", home->path().string(), "--profile", ""});
        std::sort(profiles.begin(), profiles.end());
        CHECK(profiles == std::vector<std::string>{"ci", "default"});
        CHECK(bash_complete(file, {"vaultfwd", "--profile", "c"},
                            "export VAULTFWD_HOME='" + home->path().string() + "'") ==
              std::vector<std::string>{"ci"});
        CHECK(bash_complete(file, {"vaultfwd", "--profile", "d"},
                            "export HOME='" + dir.path().string() +
                                "' XDG_CONFIG_HOME='" + home->path().string() +
                                "/..'; unset VAULTFWD_HOME")
                  .empty()); // $XDG_CONFIG_HOME/vaultfwd does not exist: nothing, no error

        // Arguments that are files: tokenize's fixtures, --rules, replay's recordings.
        test::write_text(dir / "payment.json", "{}");
        test::write_text(dir / "rules.toml", "");
        auto fixtures = bash_complete(file, {"vaultfwd", "tokenize", "pay"},
                                      "cd '" + dir.path().string() + "'");
        CHECK(fixtures == std::vector<std::string>{"payment.json"});
        CHECK(bash_complete(file, {"vaultfwd", "tokenize", "x.json", "--rules",
                                   (dir / "ru").string()}) ==
              std::vector<std::string>{(dir / "rules.toml").string()});
        CHECK(bash_complete(file, {"vaultfwd", "replay", "pay"}, "cd '" + dir.path().string() + "'") ==
              std::vector<std::string>{"payment.json"});
        // A value that is free text or a number proposes nothing, not the files around it.
        for (const auto& words : std::vector<std::vector<std::string>>{
                 {"vaultfwd", "ca", "export", "--password", ""},
                 {"vaultfwd", "cert", "add", "n", "--description", ""},
                 {"vaultfwd", "cert", "issue", "--days", ""},
                 {"vaultfwd", "replay", "--server", ""},
                 {"vaultfwd", "ditto", "--port", ""}})
            CHECK_MESSAGE(bash_complete(file, words, "cd '" + dir.path().string() + "'").empty(),
                          words[words.size() - 2]);
    }

    TEST_CASE("zsh: registers _vaultfwd and proposes subcommands with descriptions") {
        if (!on_path("zsh")) {
            MESSAGE("zsh is not installed: skipped");
            return;
        }
        test::TempDir dir;
        auto file = generated(dir, "zsh");
        CHECK(run_program({"zsh", "-n", file}).exit_code == 0);
        auto reg = run_program({"zsh", "-f", "-c",
                                "autoload -U compinit && compinit -u -D && source '" + file +
                                    "' && print -r -- $_comps[vaultfwd]"});
        CHECK_MESSAGE(reg.out == "_vaultfwd\n", reg.err);
        // The completion system's builtins replaced by stubs that print what they are given.
        std::string stubs = "compdef() { : }\n"
                            "_describe() { print -rl -- \"${(@P)${@[-1]}}\" }\n"
                            "compadd() { [[ $1 == -a ]] && print -rl -- \"${(@P)2}\" }\n"
                            "_files() { print -r -- '<files>' }\n"
                            "compset() { : }\n";
        auto complete = [&](const std::string& words) {
            auto r = run_program({"zsh", "-f", "-c",
                                  stubs + "source '" + file + "'\nwords=(" + words +
                                      ")\nCURRENT=${#words}\n_vaultfwd"});
            REQUIRE_MESSAGE(r.exit_code == 0, r.err);
            return lines(r.out);
        };
        auto top = complete("vaultfwd ''");
        bool init = false, cert = false;
        for (const auto& l : top) {
            init = init || l.rfind("init:", 0) == 0;
            cert = cert || l.rfind("cert:", 0) == 0;
        }
        CHECK(init);
        CHECK(cert);
        auto pin = complete("vaultfwd --profile ci cert pin ''");
        CHECK(pin.size() >= 3);
        CHECK(pin[0].rfind("add:", 0) == 0);
        auto formats = complete("vaultfwd ca export --format ''");
        CHECK(contains(formats, "pem"));
        CHECK(contains(formats, "p12"));
        CHECK(contains(complete("vaultfwd cert add x --key ''"), "<files>"));
        // Option values, and files where an argument is a file.
        CHECK(complete("vaultfwd replay --via ''") == std::vector<std::string>{"reflect", "ditto"});
        CHECK(complete("vaultfwd tokenize --progress ''") ==
              std::vector<std::string>{"auto", "always", "never"});
        CHECK(contains(complete("vaultfwd vault alias x --format ''"), "FPE_SIX_T_FOUR"));
        CHECK(contains(complete("vaultfwd render --dialect ''"), "gr4vy"));
        CHECK(complete("vaultfwd tokenize pay") == std::vector<std::string>{"<files>"});
        CHECK(complete("vaultfwd ca export --password ''").empty());
        auto home = profiles_home();
        auto profiles = complete("vaultfwd --home '" + home->path().string() + "' --profile ''");
        std::sort(profiles.begin(), profiles.end());
        CHECK(profiles == std::vector<std::string>{"ci", "default"});
    }

    TEST_CASE("fish: completes subcommands and option values") {
        if (!on_path("fish")) {
            MESSAGE("fish is not installed: skipped");
            return;
        }
        test::TempDir dir;
        auto file = generated(dir, "fish");
        auto complete = [&](const std::string& line) {
            auto r = run_program(
                {"fish", "--no-config", "-c", "source '" + file + "'; complete -C '" + line + "'"});
            REQUIRE_MESSAGE(r.exit_code == 0, r.err);
            std::vector<std::string> words;
            for (const auto& l : lines(r.out))
                if (!l.empty())
                    words.push_back(l.substr(0, l.find('\t')));
            return words;
        };
        auto top = complete("vaultfwd ");
        CHECK(contains(top, "init"));
        CHECK(contains(top, "config"));
        CHECK(contains(top, "cert"));
        CHECK(complete("vaultfwd cert pin ") == std::vector<std::string>{"add", "list", "rm"});
        auto formats = complete("vaultfwd ca export --format ");
        CHECK(contains(formats, "der"));
        CHECK(contains(complete("vaultfwd cert add n --"), "--credential"));
        auto via = complete("vaultfwd replay --via ");
        CHECK(contains(via, "reflect"));
        CHECK(contains(via, "ditto"));
        CHECK(contains(complete("vaultfwd tokenize x.json --progress "), "never"));
        CHECK(contains(complete("vaultfwd vault alias x --format "), "PFPT"));
        auto home = profiles_home();
        auto profiles = complete("vaultfwd --home " + home->path().string() + " --profile ");
        std::sort(profiles.begin(), profiles.end());
        CHECK(profiles == std::vector<std::string>{"ci", "default"});
        test::write_text(dir / "payment.json", "{}");
        CHECK(contains(complete("vaultfwd tokenize " + (dir / "pay").string()),
                       (dir / "payment.json").string()));
    }
}
