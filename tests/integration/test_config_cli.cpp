// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/util/strings.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using test::run_vaultfwd;

namespace {

// A profile made by `init`, with text appended or replaced, that knows the line of what it adds.
struct Profile {
    test::TempDir home;
    std::string text;

    Profile() {
        REQUIRE(run_vaultfwd({"--home", home.path().string(), "init"}).exit_code == 0);
        text = test::read_text(home / "default.toml");
    }
    int lines() const {
        int n = 0;
        for (char c : text)
            n += c == '\n';
        return n;
    }
    // Appends `block` (whole lines); returns the line number of its first line.
    int append(const std::string& block) {
        if (!text.empty() && text.back() != '\n')
            text += '\n';
        const int first = lines() + 1;
        text += block;
        return first;
    }
    // Replaces the first line that starts with `prefix` by `line`; returns its number.
    int replace_line(const std::string& prefix, const std::string& line) {
        std::size_t start = 0;
        int number = 1;
        while (start < text.size() && text.compare(start, prefix.size(), prefix) != 0) {
            start = text.find('\n', start) + 1;
            ++number;
        }
        REQUIRE(start < text.size());
        text.replace(start, text.find('\n', start) - start, line);
        return number;
    }
    void save() const { test::write_text(home / "default.toml", text); }
    std::string file() const { return (home / "default.toml").string(); }
    test::RunResult run(const std::vector<std::string>& args) const {
        std::vector<std::string> all = {"--home", home.path().string()};
        all.insert(all.end(), args.begin(), args.end());
        return run_vaultfwd(all);
    }
    // The one error line config check prints for `line`:`column`.
    std::string at(int line, int column) const {
        return "vaultfwd: error: " + file() + ":" + std::to_string(line) + ":" +
               std::to_string(column) + ": ";
    }
};

std::vector<std::string> error_lines(const std::string& err) {
    std::vector<std::string> out;
    for (const auto& line : util::split(err, '\n'))
        if (line.rfind("vaultfwd: error: ", 0) == 0)
            out.push_back(line);
    return out;
}

} // namespace

TEST_SUITE("config") {
    TEST_CASE("config check finds what serve needs, each mistake at its line and column") {
        Profile p;
        REQUIRE(p.run({"config", "check"}).exit_code == 0);

        // [ca] cert pointing at a missing file.
        const int ca = p.replace_line("cert = \"default/ca.pem\"", "cert = \"default/gone-ca.pem\"");
        // A listen address whose port is out of range.
        const int listen = p.replace_line("api = ", "api = \"127.0.0.1:99999\"");
        // A dangling client certificate name, and a [[certs]] entry whose files are missing.
        const int cred = p.append("[[proxy_credentials]]\nid = \"mtls\"\nusername = \"u\"\n"
                                  "password = \"p\"\nclient_cert = \"my-mtls\"\n");
        const int certs = p.append("[[certs]]\nname = \"lost\"\ncredential = \"mtls\"\n"
                                   "cert = \"default/certs/lost.pem\"\nkey = \"default/certs/lost.key\"\n");
        // A route whose host regex does not compile (basic string: escapes count once), whose
        // path regex does not either (literal string), with a filter regex that does not
        // compile and a JSONPath target that does not parse.
        const int route = p.append("[[routes]]\nid = \"stripe-outbound\"\n"
                                   "host = \"api\\\\.stripe\\\\.(com\"\n"
                                   "path = '^/v1/[a-z'\n"
                                   "[[routes.filters]]\ntransformer = \"regex\"\n"
                                   "pattern = \"card=(?<token>[0-9]+\"\n"
                                   "[[routes.filters]]\ntargets = [\"$.card.cvc\", \"$.card[number\"]\n");
        // The same route id again.
        const int dup = p.append("[[routes]]\nid = \"stripe-outbound\"\n");
        p.save();

        auto r = p.run({"config", "check"});
        CHECK(r.exit_code == 1);
        const auto lines = error_lines(r.err);
        INFO(r.err);
        auto has = [&](int line, int column, const std::string& message) {
            const std::string want = p.at(line, column) + message;
            for (const auto& l : lines)
                if (l.rfind(want, 0) == 0)
                    return true;
            return false;
        };
        CHECK(has(listen, 7, "listen.api: listen address \"127.0.0.1:99999\": the port must be"));
        CHECK(has(ca, 8, "[ca] the local CA's certificate file: " +
                             (p.home / "default/gone-ca.pem").string() +
                             " does not exist; run 'vaultfwd ca init'"));
        CHECK(has(cred + 4, 15, "proxy credential \"mtls\" names client_cert \"my-mtls\", but no "
                                "[[certs]] entry has that name"));
        CHECK(has(certs + 3, 8, "[[certs]] \"lost\" certificate file: " +
                                    (p.home / "default/certs/lost.pem").string() +
                                    " does not exist; add it again with 'vaultfwd cert add'"));
        CHECK(has(certs + 4, 7, "[[certs]] \"lost\" key file: " +
                                    (p.home / "default/certs/lost.key").string() + " does not exist"));
        // host = "api\\.stripe\\.(com": PCRE stops at the end of the pattern (its column 18),
        // which is column 28 of the line once the two escaped backslashes are counted.
        CHECK(has(route + 2, 28, "route \"stripe-outbound\" host: regular expression "
                                 "\"api\\.stripe\\.(com\" is invalid at column 18: missing "
                                 "closing parenthesis"));
        CHECK(has(route + 3, 18, "route \"stripe-outbound\" path: regular expression"));
        CHECK(has(route + 6, 32, "route \"stripe-outbound\" filter 1: regular expression"));
        // targets = ["$.card.cvc", "$.card[number"]: the second target, at its 'n'.
        CHECK(has(route + 8, 34, "route \"stripe-outbound\" filter 2: JSONPath \"$.card[number\": "
                                 "expected a selector"));
        CHECK(has(dup + 1, 6, "route \"stripe-outbound\" is defined twice (first at line " +
                                  std::to_string(route + 1) + ")"));
        CHECK(lines.size() == 11); // and the summary line
        CHECK(r.err.find("10 problem(s) in " + p.file()) != std::string::npos);

        // --json lists the same problems with their positions.
        auto j = p.run({"--json", "config", "check"});
        CHECK(j.exit_code == 1);
        auto doc = nlohmann::json::parse(j.out);
        CHECK(doc["ok"] == false);
        CHECK(doc["errors"].size() == 10);

        // serve refuses the profile with the same messages at the same positions.
        auto serve = p.run({"serve", "--api-listen", "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0", "--inbound-listen", "127.0.0.1:0"});
        CHECK(serve.exit_code == 1);
        CHECK(error_lines(serve.err) == lines);
    }

    TEST_CASE("config check refuses a listen host of numbers out of range, as serve does") {
        // serve looked "300.1.1.1" up as a name and stopped with "unknown host (check
        // --api-listen)", no profile line; config check said ok.
        Profile p;
        const int api = p.replace_line("api = ", "api = \"300.1.1.1:7410\"");
        const int proxy = p.replace_line("proxy = ", "proxy = \"[127.0.0.1]:7411\"");
        p.save();
        auto r = p.run({"config", "check"});
        CHECK(r.exit_code == 1);
        const auto lines = error_lines(r.err);
        REQUIRE_MESSAGE(lines.size() == 3, r.err); // and the summary line
        CHECK(lines[0] == p.at(api, 7) +
                              "listen.api: listen address \"300.1.1.1:7410\": \"300.1.1.1\" is "
                              "not an IPv4 address: four numbers 0 to 255, as in 127.0.0.1");
        CHECK(lines[1] == p.at(proxy, 9) + "listen.proxy: listen address \"[127.0.0.1]:7411\": "
                                           "\"127.0.0.1\" is not an IPv6 address");
        auto serve = p.run({"serve"});
        CHECK(serve.exit_code == 1);
        CHECK(error_lines(serve.err) == lines);
    }

    TEST_CASE("config check passes good routes and finds a replacement naming a missing group") {
        Profile p;
        p.append("[[routes]]\nid = \"ok\"\nhost = 'api\\.example\\.com'\n[[routes.filters]]\n"
                 "transformer = \"regex\"\npattern = \"(?<token>\\\\d{16})\"\nreplacement = \"${token}\"\n");
        p.save();
        auto ok = p.run({"config", "check"});
        CHECK_MESSAGE(ok.exit_code == 0, ok.err);
        // A replacement that names a group the pattern lacks is found now, not on a request.
        const int line = p.replace_line("replacement = ", "replacement = \"${tokn}\"");
        p.save();
        auto bad = p.run({"config", "check"});
        CHECK(bad.exit_code == 1);
        CHECK(bad.err.find(p.file() + ":" + std::to_string(line) + ":15: route \"ok\" filter 1: "
                           "replacement \"${tokn}\" names group \"tokn\"") != std::string::npos);
    }
}
