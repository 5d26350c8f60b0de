// SPDX-License-Identifier: Apache-2.0
// Secret hygiene: the built binary driven through every dialect with distinctive test values,
// then every file it wrote (vault, access log, profile, outputs) and everything it printed is
// scanned for those values: in clear, in any case, JSON-escaped, percent-encoded and in base64.
// Commands whose purpose is to print a value (vault get, vault reveal, render without --check)
// are run and checked to work, but their stdout is left out of the scan; so are the input files
// the test writes itself. Replay writes its golden files into the scanned folder: its templates
// reveal only hmac_sha256 and suffix(4) of the values.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/util/strings.hpp"
#include "support/support.hpp"
#include "support/upstream_server.hpp"

using namespace vaultfwd;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Secret {
    std::string label; // what a failure names: never the value itself
    std::string value;
};

const Secret k_card{"card number", "4000056655665556"};
const Secret k_ssn{"ssn", "078051120"};
const Secret k_name{"holder name", "Zaphod Quux"};
const Secret k_csc{"csc", "5309"};
const Secret k_street{"street", "Rue d'Arsène 42"};
const Secret k_ingress_card{"card the upstream answered (footprint ingress)", "4000002760003184"};
const Secret k_redact_card{"card the upstream answered (vgs redact)", "5200828282828210"};

const std::vector<Secret> k_secrets = {k_card,   k_ssn,          k_name,       k_csc,
                                       k_street, k_ingress_card, k_redact_card};

const char* k_fp = "fp_id_test_hygiene";

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

// One written form of a secret the scanner looks for.
struct Form {
    std::string name;
    std::string text;
    bool ignore_case = false;
    bool bounded = false; // short values: only when not part of a longer word or number
};

bool is_word_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.';
}

std::vector<Form> forms_of(const std::string& value) {
    std::vector<Form> forms;
    bool is_short = value.size() < 6;
    auto add = [&](std::string name, std::string text, bool ignore_case) {
        for (const auto& f : forms)
            if (f.text == text)
                return;
        forms.push_back({std::move(name), std::move(text), ignore_case, is_short});
    };
    add("in clear", value, true);
    std::string ascii_json = json(value).dump(-1, ' ', true);
    add("JSON-escaped", ascii_json.substr(1, ascii_json.size() - 2), true);
    std::string utf8_json = json(value).dump();
    add("JSON-escaped", utf8_json.substr(1, utf8_json.size() - 2), true);
    std::string pct = util::percent_encode(value);
    add("percent-encoded", pct, true);
    add("form-encoded", util::replace_all(pct, "%20", "+"), true);
    // base64 of the value wherever it sits in a longer string: for each of the three alignments,
    // the characters that depend on the value's bytes only.
    auto add_base64 = [&](const std::string& text) {
        forms.push_back({"base64", text, false, false});
        forms.push_back({"base64url",
                         util::replace_all(util::replace_all(text, "+", "-"), "/", "_"), false,
                         false});
    };
    if (value.size() >= 9) {
        for (std::size_t k = 0; k < 3; ++k) {
            std::string enc = util::base64_encode(std::string(k, '\0') + value);
            std::size_t skip = k == 0 ? 0 : k + 1;
            std::size_t stable = (k + value.size()) / 3 * 4;
            add_base64(enc.substr(skip, stable - skip));
        }
    } else {
        std::string enc = util::base64_encode(value);
        add_base64(enc.substr(0, enc.find('=')));
    }
    return forms;
}

bool found_in(const std::string& haystack, const Form& form) {
    const std::string& needle = form.text;
    auto equal = [&](char a, char b) {
        if (!form.ignore_case)
            return a == b;
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
    };
    auto it = haystack.begin();
    while (true) {
        it = std::search(it, haystack.end(), needle.begin(), needle.end(), equal);
        if (it == haystack.end())
            return false;
        std::size_t at = static_cast<std::size_t>(it - haystack.begin());
        std::size_t end = at + needle.size();
        bool alone = (at == 0 || !is_word_char(haystack[at - 1])) &&
                     (end == haystack.size() || !is_word_char(haystack[end]));
        if (!form.bounded || alone)
            return true;
        ++it;
    }
}

// "<label> (<form>) in <where>" for every secret found: the value itself is never part of it.
std::vector<std::string> scan_text(const std::string& where, const std::string& text) {
    std::vector<std::string> findings;
    for (const auto& secret : k_secrets)
        for (const auto& form : forms_of(secret.value))
            if (found_in(text, form)) {
                findings.push_back(secret.label + " (" + form.name + ") in " + where);
                break;
            }
    return findings;
}

std::vector<std::string> scan_tree(const fs::path& root) {
    std::vector<std::string> findings;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
        if (!entry.is_regular_file())
            continue;
        auto found = scan_text(entry.path().string(), test::read_text(entry.path()));
        findings.insert(findings.end(), found.begin(), found.end());
    }
    return findings;
}

// The built binary with its working directory in `cwd`, so that whatever it drops there is seen.
test::RunResult run_in(const fs::path& cwd, const std::vector<std::string>& args,
                       const std::string& input = {}) {
    std::vector<std::string> argv = {"/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", cwd.string(),
                                     test::binary_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run_program(argv, input);
}

struct Reply {
    int status = 0;
    std::string text; // status line, headers and body as the client got them
    std::string body;
};

Reply reply_of(const httplib::Result& res) {
    Reply r;
    if (!res)
        return r;
    r.status = res->status;
    r.text = std::to_string(res->status) + "\n";
    for (const auto& [k, v] : res->headers)
        r.text += k + ": " + v + "\n";
    r.text += "\n" + res->body;
    r.body = res->body;
    return r;
}

// Everything one run produced that the scan must cover, besides files: each command's stdout and
// stderr, each answer vaultfwd gave a client (except those whose purpose is to reveal).
struct Outputs {
    std::vector<std::pair<std::string, std::string>> items;
    void add(const std::string& where, const std::string& text) { items.emplace_back(where, text); }
    void add(const std::string& what, const test::RunResult& r) {
        add("stdout of `vaultfwd " + what + "`", r.out);
        add("stderr of `vaultfwd " + what + "`", r.err);
    }
    void add(const std::string& what, const Reply& r) { add("answer to " + what, r.text); }
};

http::Response upstream_answer(const http::Request& r) {
    http::Response res;
    res.headers.push_back({"Content-Type", "application/json"});
    if (r.path == "/fp/charge")
        res.body =
            R"({"data":{"card":{"number":")" + k_ingress_card.value + R"("},"status":"ok"}})";
    else if (r.path == "/vgs/charge")
        res.body = R"({"card":{"number":")" + k_redact_card.value + R"("},"status":"ok"})";
    else
        res.body = R"({"status":"ok"})";
    return res;
}

std::string toml_value(const std::string& text, const std::string& key) {
    auto at = text.find("\n" + key + " = \"");
    if (at == std::string::npos)
        return {};
    at += key.size() + 5;
    return text.substr(at, text.find('"', at) - at);
}

} // namespace

TEST_SUITE("secret_hygiene") {
    TEST_CASE("the scanner finds planted values in every form, and not their lookalikes") {
        test::TempDir dir;
        fs::create_directories(dir / "nested" / "deeper");
        std::string b64_card = util::base64_encode("x" + k_card.value + "y");
        test::write_text(dir / "nested" / "deeper" / "planted.log",
                         "2024-01-01 ssn=" + k_ssn.value + " ok\n");
        test::write_text(dir / "b64.txt", "{\"blob\":\"" + b64_card + "\"}");
        test::write_text(dir / "json.txt", json({{"street", k_street.value}}).dump(-1, ' ', true));
        test::write_text(dir / "form.txt", "holder=Zaphod+Quux&x=1");
        test::write_text(dir / "upper.txt", "HOLDER: ZAPHOD QUUX");
        test::write_text(dir / "csc.txt", "{\"cvc\":\"" + k_csc.value + "\"}");
        test::write_text(dir / "b64url.txt", util::base64url_encode(k_ingress_card.value));
        // Lookalikes: a masked card, an alias that keeps six and four, the csc inside longer
        // numbers and hex, a duration.
        test::write_text(dir / "clean.txt", "4000********5556 4000059280305556 id=a" + k_csc.value +
                                                "f 1" + k_csc.value + "7 took " + k_csc.value +
                                                ".25 ms Zaphod Quu x 07805112 " +
                                                k_street.value.substr(0, 8));
        auto findings = scan_tree(dir.path());
        std::string all = util::join(findings, "\n");
        INFO(all);
        CHECK(findings.size() == 7);
        auto has = [&](const std::string& label, const std::string& file) {
            for (const auto& f : findings)
                if (f.rfind(label + " (", 0) == 0 && contains(f, file))
                    return true;
            return false;
        };
        CHECK(has(k_ssn.label, "planted.log"));
        CHECK(has(k_card.label, "b64.txt"));
        CHECK(has(k_street.label, "json.txt"));
        CHECK(has(k_name.label, "form.txt"));
        CHECK(has(k_name.label, "upper.txt"));
        CHECK(has(k_csc.label, "csc.txt"));
        CHECK(has(k_ingress_card.label, "b64url.txt"));
        CHECK_FALSE(contains(all, "clean.txt"));
        for (const auto& s : k_secrets)
            CHECK_FALSE(contains(all, s.value));
    }

    TEST_CASE("no test value is left in clear in any file vaultfwd wrote or anything it printed") {
        // home: --home; work: the commands' working folder and output files (scanned); inputs: the
        // fixtures and templates the test writes itself, values in clear (not scanned).
        test::TempDir home, work, inputs;
        Outputs outputs;
        auto vf = [&](const std::vector<std::string>& args, const std::string& input = {}) {
            std::vector<std::string> all = {"--home", home.path().string()};
            all.insert(all.end(), args.begin(), args.end());
            return run_in(work.path(), all, input);
        };
        auto vf_scanned = [&](const std::string& what, const std::vector<std::string>& args,
                              const std::string& input = {}) {
            auto r = vf(args, input);
            outputs.add(what, r);
            return r;
        };

        // --- A profile made by init, trusting the test upstream's root, with a VGS route.
        auto pki = test::make_pki();
        test::UpstreamServer up(pki, {}, upstream_answer);
        auto init = vf_scanned("init", {"init"});
        REQUIRE_MESSAGE(init.exit_code == 0, init.err);
        test::write_text(home / "upstream-root.pem", pki.ca_pem());
        auto profile_text = test::read_text(home / "default.toml");
        REQUIRE(contains(profile_text, "\ntimeout_ms = 15000"));
        profile_text = util::replace_all(profile_text, "\ntimeout_ms = 15000",
                                         "\ntimeout_ms = 5000\nca_files = [\"upstream-root.pem\"]");
        profile_text += test::reveal_redact_route("hygiene", R"(127\.0\.0\.1)", "$.card.number", "$.card.number");
        // An inbound route (the collect flow): a form's card number and name redacted on the way in.
        profile_text += "\n[[routes]]\nid = \"hygiene-collect\"\ndirection = \"inbound\"\nupstream = \"https://localhost:" +
                        std::to_string(up.port()) + "\"\nhost = 'collect\\.hygiene\\.test'\n\n[[routes.filters]]\n"
                        "phase = \"request\"\noperation = \"redact\"\ntransformer = \"form_field\"\n"
                        "targets = [\"card_number\", \"name\"]\n";
        // The inspector watches every exchange below: its page, API and exports are scanned too.
        profile_text += "\n[inspector]\nenabled = true\n";
        test::write_text(home / "default.toml", profile_text);
        REQUIRE(vf_scanned("config check", {"config", "check"}).exit_code == 0);
        vf_scanned("config show", {"config", "show"});
        auto key_at = profile_text.find("\"sk_test_");
        REQUIRE(key_at != std::string::npos);
        const std::string api_key =
            profile_text.substr(key_at + 1, profile_text.find('"', key_at + 1) - key_at - 1);
        const std::string proxy_user = toml_value(profile_text, "username");
        const std::string proxy_pass = toml_value(profile_text, "password");
        REQUIRE_FALSE(proxy_pass.empty());

        // --- Values into the vault: on the command line, on stdin, through tokenize.
        auto put = vf_scanned("vault put (argv)",
                              {"vault", "put", k_fp, "card.primary.name=" + k_name.value,
                               "custom.card=" + k_card.value});
        REQUIRE_MESSAGE(put.exit_code == 0, put.err);
        auto put_stdin =
            vf_scanned("vault put --stdin", {"vault", "put", k_fp, "--stdin"},
                       "custom.ssn=" + k_ssn.value + "\nid.address_line1=" + k_street.value + "\n");
        REQUIRE_MESSAGE(put_stdin.exit_code == 0, put_stdin.err);
        REQUIRE(
            vf_scanned("vault put pm", {"vault", "put", "pm_hygiene", "card.number=" + k_card.value,
                                        "card.exp_month=03", "card.exp_year=2030"})
                .exit_code == 0);
        auto alias = vf_scanned("vault alias",
                                {"vault", "alias", k_card.value, "--format", "FPE_SIX_T_FOUR"});
        REQUIRE(alias.exit_code == 0);
        const std::string card_alias(util::trim(alias.out));
        REQUIRE(card_alias.size() == 16);
        vf_scanned("vault alias -", {"vault", "alias", "-"}, k_name.value + "\n");
        vf_scanned("vault list", {"vault", "list", "--aliases"});
        vf_scanned("--json vault list", {"--json", "vault", "list"});
        // Their purpose is to print a value: checked to work, left out of the scan.
        REQUIRE(vf({"vault", "get", std::string(k_fp) + ".custom.ssn"}).out == k_ssn.value + "\n");
        REQUIRE(vf({"vault", "reveal", card_alias}).out == k_card.value + "\n");

        test::write_text(inputs / "customer.json", json({{"card",
                                                          {{"number", k_card.value},
                                                           {"security_code", k_csc.value},
                                                           {"holder_name", k_name.value}}},
                                                         {"ssn", k_ssn.value}})
                                                       .dump(2));
        auto tokenized =
            vf_scanned("tokenize",
                       {"tokenize", (inputs / "customer.json").string(), "--rule",
                        "$.card.number=FPE_SIX_T_FOUR", "--rule", "$.card.security_code=UUID",
                        "--rule", "$.card.holder_name", "--rule", "$.ssn=NON_LUHN_FPE_ALPHANUMERIC",
                        "-o", (work / "customer.tokenized.json").string()});
        REQUIRE_MESSAGE(tokenized.exit_code == 0, tokenized.err);
        REQUIRE(fs::exists(work / "customer.tokenized.json"));
        auto to_stdout = vf_scanned("tokenize (stdout)", {"tokenize", "-", "--rule", "$..number"},
                                    json({{"card", {{"number", k_card.value}}}}).dump());
        REQUIRE(to_stdout.exit_code == 0);

        // --- serve, its stderr kept in a file of the working folder.
        std::vector<std::string> serve_lines;
        test::Process serve({"/bin/sh", "-c", "cd \"$0\" && exec \"$@\" 2>serve.stderr",
                             work.path().string(), test::binary_path(), "--home",
                             home.path().string(), "serve", "--api-listen", "127.0.0.1:0",
                             "--proxy-listen", "127.0.0.1:0", "--inbound-listen", "127.0.0.1:0"});
        auto listeners = test::read_listeners(serve, &serve_lines);
        std::string api = listeners.api, proxy = listeners.proxy;
        REQUIRE_FALSE(api.empty());
        REQUIRE_FALSE(proxy.empty());
        auto colon = api.rfind(':');
        httplib::Client cli(api.substr(0, colon), std::stoi(api.substr(colon + 1)));
        cli.set_read_timeout(20, 0);
        cli.set_basic_auth(api_key.c_str(), "");
        auto post = [&](const std::string& what, const std::string& path, const std::string& body,
                        httplib::Headers headers, const std::string& type = "application/json") {
            auto r = reply_of(cli.Post(path.c_str(), headers, body, type.c_str()));
            outputs.add(what, r);
            return r;
        };

        // Footprint: jit with an ingress rule that vaults the upstream's answer; reflect.
        auto jit = post("footprint jit", "/vault_proxy/jit",
                        json({{"ssn", "{{ " + std::string(k_fp) + ".custom.ssn }}"},
                              {"name", "{{ " + std::string(k_fp) + ".card.primary.name }}"},
                              {"street", "{{ " + std::string(k_fp) + ".id.address_line1 }}"},
                              {"card", "{{ " + std::string(k_fp) + ".custom.card }}"}})
                            .dump(),
                        {{"x-fp-proxy-target-url", up.url("/fp/charge")},
                         {"x-fp-proxy-access-reason", "hygiene check"},
                         {"x-fp-proxy-fwd-content-type", "application/json"},
                         {"x-fp-proxy-ingress-content-type", "json"},
                         {"x-fp-proxy-ingress-rule",
                          std::string(k_fp) + ".card.new.number = $.data.card.number"}});
        CHECK_MESSAGE(jit.status == 200, jit.text);
        CHECK(contains(jit.body, std::string(k_fp) + ".card.new.number"));
        auto reflect =
            post("footprint reflect (hmac)", "/vault_proxy/reflect",
                 "{{ custom.ssn | hmac_sha256(\"00ff00ff\") }} {{ custom.card | suffix(4) }}",
                 {{"x-fp-id", k_fp}}, "text/plain");
        CHECK_MESSAGE(reflect.status == 200, reflect.text);
        CHECK(contains(reflect.body, " 5556"));

        // Gr4vy.
        auto g = post("gr4vy vault-forward", "/vault-forward",
                      R"({"number":"{{ CARD_NUMBER_1 }}","exp":"{{ CARD_EXPIRATION_DATE_1 }}"})",
                      {{"x-vault-forward-url", up.url("/gr4vy/pay")},
                       {"x-vault-forward-http-method", "POST"},
                       {"x-vault-forward-payment-methods", "pm_hygiene"},
                       {"x-vault-forward-header-authorization", "Bearer acquirer-key"}});
        CHECK_MESSAGE(g.status == 200, g.text);
        CHECK(g.text.find("x-vault-forward-http-status-code: 200") != std::string::npos);

        // VTEX: a payment made by the CLI, its proxy URL and its tokens URL.
        auto payment =
            vf_scanned("vtex payment", {"vtex", "payment", "--number", k_card.value, "--holder",
                                        k_name.value, "--csc", k_csc.value, "--exp-month", "03",
                                        "--exp-year", "2030", "--api-base", "http://" + api});
        REQUIRE_MESSAGE(payment.exit_code == 0, payment.err);
        auto created = json::parse(payment.out);
        std::string proxy_url = created["secureProxyUrl"];
        std::string tokens_url = created["secureProxyTokensURL"];
        std::string number_token = created["card"]["numberToken"];
        std::string holder_token = created["card"]["holderToken"];
        std::string csc_token = created["card"]["cscToken"];
        auto hash = util::split(number_token, '#')[3];
        auto path_of = [](const std::string& url) {
            return url.substr(url.find("/payment-provider"));
        };
        auto made = post("vtex tokens URL (create)", path_of(tokens_url),
                         R"({"tokens":[{"name":"cardB64","value":{"base64":{"replaceTokens":[")" +
                             number_token + R"("]}}}]})",
                         {});
        CHECK_MESSAGE(made.status == 200, made.text);
        auto listed = reply_of(cli.Get(path_of(tokens_url).c_str()));
        outputs.add("vtex tokens URL (list)", listed);
        CHECK(listed.status == 200);
        auto v = post("vtex secure proxy", path_of(proxy_url),
                      R"({"Holder":")" + holder_token + R"(","CardNumber":")" + number_token +
                          R"(","SecurityCode":")" + csc_token + R"("})",
                      {{"X-PROVIDER-Forward-To", up.url("/vtex/sales")},
                       {"X-PROVIDER-Forward-X-Card-B64", "#vtex#cardB64#" + hash + "#"}});
        CHECK_MESSAGE(v.status == 200, v.text);

        // VGS forward proxy with curl: a reveal route, and a response redacted into an alias.
        auto curl = [&](const std::string& what, std::vector<std::string> args) {
            std::vector<std::string> argv = {"curl", "-q", "-sS", "-i", "--max-time", "20"};
            argv.insert(argv.end(), args.begin(), args.end());
            auto r = test::run_program(argv, "",
                                       {{"no_proxy", ""},
                                        {"NO_PROXY", ""},
                                        {"http_proxy", ""},
                                        {"https_proxy", ""},
                                        {"HTTPS_PROXY", ""},
                                        {"all_proxy", ""},
                                        {"ALL_PROXY", ""}});
            outputs.add("answer to " + what, r.out);
            return r;
        };
        const std::string ca = (home / "default" / "ca.pem").string();
        const std::string proxy_auth = "http://" + proxy_user + ":" + proxy_pass + "@" + proxy;
        auto vgs = curl("vgs forward proxy",
                        {"-x", proxy_auth, "--cacert", ca, "-H", "Content-Type: application/json",
                         "--data", R"({"card":{"number":")" + card_alias + R"("}})",
                         up.url("/vgs/charge")});
        CHECK_MESSAGE(contains(vgs.out, "\"status\":\"ok\""), (vgs.out + vgs.err));
        // Values in a URL: the third party gets them, the access log must not.
        auto vgs_query = curl("vgs forward proxy, values in the query",
                              {"-x", proxy_auth, "--cacert", ca,
                               up.url("/vgs/lookup/" + k_ssn.value + "?card=" + k_card.value +
                                      "&holder=" + util::percent_encode(k_name.value))});
        CHECK(contains(vgs_query.out, "\"status\":\"ok\""));
        // VGS inbound port: a form posted to the collect route; an unknown Host with values in the
        // path, the query, a header and the body; a Host that is not one.
        const std::string inbound = listeners.inbound;
        REQUIRE_FALSE(inbound.empty());
        auto collected = curl("vgs inbound collect", {"-H", "Host: collect.hygiene.test", "--data-urlencode",
                                                      "card_number=" + k_card.value, "--data-urlencode",
                                                      "name=" + k_name.value, "http://" + inbound + "/inbound/collect"});
        CHECK_MESSAGE(contains(collected.out, "\"status\":\"ok\""), (collected.out + collected.err));
        auto nowhere = curl("vgs inbound, unknown host",
                            {"-H", "Host: nowhere.hygiene.test", "-H", "X-Card: " + k_card.value, "--data",
                             "ssn=" + k_ssn.value, "http://" + inbound + "/lookup/" + k_ssn.value + "?card=" + k_card.value});
        CHECK(contains(nowhere.out, " 404 "));
        auto bad_host = curl("vgs inbound, a Host that is not one",
                             {"-H", "Host: " + k_card.value + "@collect.hygiene.test", "--data",
                              "card_number=" + k_card.value, "http://" + inbound + "/inbound/collect"});
        CHECK(contains(bad_host.out, " 400 "));
        auto reflect_query =
            post("footprint reflect, values in the query",
                 "/vault_proxy/reflect?ssn=" + k_ssn.value +
                     "&holder=" + util::percent_encode(k_name.value),
                 "{{ custom.card | suffix(4) }}", {{"x-fp-id", k_fp}}, "text/plain");
        CHECK(reflect_query.status == 200);

        // --- Bad requests that carry values: refused, and the values go nowhere.
        auto fp_unknown =
            post("footprint jit, unknown tokens", "/vault_proxy/jit",
                 "card " + k_card.value + " {{ " + k_fp + ".custom.nope }} ssn " + k_ssn.value,
                 {{"x-fp-proxy-target-url", up.url("/fp/never")},
                  {"x-fp-proxy-fwd-x-card", k_card.value},
                  {"x-fp-proxy-access-reason", "card " + k_card.value}},
                 "text/plain");
        CHECK(fp_unknown.status == 400);
        auto fp_syntax = post("footprint jit, template syntax error", "/vault_proxy/jit",
                              "{\"ssn\":\"" + k_ssn.value + "\",\n\"name\":\"" + k_name.value +
                                  " {{ " + k_fp + ".custom.ssn | prefix( }}\"}",
                              {{"x-fp-proxy-target-url", up.url("/fp/never")}}, "text/plain");
        CHECK(fp_syntax.status == 400);
        auto fp_filter = post("footprint reflect, unknown filter", "/vault_proxy/reflect",
                              k_street.value + " {{ custom.ssn | reveal_all }}",
                              {{"x-fp-id", k_fp}}, "text/plain");
        CHECK(fp_filter.status == 400);
        auto ctl = test::run_program({"curl", "-s", "-i", "--max-time", "5", "-u", api_key + ":",
                                      "-H", "x-fp-proxy-fwd-x-card: " + k_card.value + "\x01", "-H",
                                      "x-fp-proxy-target-url: " + up.url("/fp/never"), "--data",
                                      k_ssn.value, "http://" + api + "/vault_proxy/jit"});
        outputs.add("answer to footprint jit, control character in a header", ctl.out);
        CHECK(contains(ctl.out, " 400 "));
        httplib::Client anon(api.substr(0, colon), std::stoi(api.substr(colon + 1)));
        anon.set_basic_auth("sk_test_wrong", k_card.value.c_str());
        auto unauthorized = reply_of(
            anon.Post("/vault_proxy/reflect", {{"x-fp-id", k_fp}}, k_ssn.value, "text/plain"));
        outputs.add("reflect with a wrong key", unauthorized);
        CHECK(unauthorized.status == 401);
        auto g_unknown = post("gr4vy, unknown placeholder", "/vault-forward",
                              "{\"n\":\"{{ CARD_NUMBER_2 }}\",\"raw\":\"" + k_card.value + "\"}",
                              {{"x-vault-forward-url", up.url("/gr4vy/never")},
                               {"x-vault-forward-http-method", "POST"},
                               {"x-vault-forward-payment-methods", "pm_hygiene"},
                               {"x-vault-forward-header-x-ssn", k_ssn.value}});
        CHECK(g_unknown.status == 400);
        auto g_invalid = post("gr4vy, invalid timeout", "/vault-forward", k_card.value,
                              {{"x-vault-forward-url", up.url("/gr4vy/never")},
                               {"x-vault-forward-http-method", "POST"},
                               {"x-vault-forward-payment-methods", "pm_hygiene"},
                               {"x-vault-forward-timeout", k_ssn.value + "s"}});
        CHECK(g_invalid.status >= 400);
        auto v_unknown =
            post("vtex, unknown token", path_of(proxy_url),
                 "{\"x\":\"#vtex#nope#" + hash + "#\",\"card\":\"" + k_card.value + "\"}",
                 {{"X-PROVIDER-Forward-To", up.url("/vtex/never")},
                  {"X-PROVIDER-Forward-X-Name", k_name.value}});
        CHECK(v_unknown.status == 400);
        // A custom token whose JsonLogic holds a value and cannot be evaluated.
        post("vtex tokens URL, JsonLogic that cannot run", path_of(tokens_url),
             R"({"tokens":[{"name":"bad","value":{"nosuchop":[")" + k_card.value + R"("]}}]})", {});
        auto v_logic = post("vtex, custom token that cannot run", path_of(proxy_url),
                            "{\"x\":\"#vtex#bad#" + hash + "#\",\"ssn\":\"" + k_ssn.value + "\"}",
                            {{"X-PROVIDER-Forward-To", up.url("/vtex/never")}});
        CHECK(v_logic.status >= 400);
        auto vgs_unknown = curl(
            "vgs forward proxy, unknown alias",
            {"-x", proxy_auth, "--cacert", ca, "-H", "Content-Type: application/json", "-H",
             "X-Ssn: " + k_ssn.value, "--data",
             R"({"card":{"number":"tok_sandbox_unknownAlias1"},"note":")" + k_name.value + R"("})",
             up.url("/vgs/unknown")});
        auto vgs_407 =
            curl("vgs forward proxy, wrong password",
                 {"-x", "http://" + proxy_user + ":" + k_card.value + "@" + proxy, "-H",
                  "X-Card: " + k_card.value, "--data", k_ssn.value, "http://127.0.0.1:1/charge"});
        CHECK(contains(vgs_407.out, " 407 "));

        // --- render, replay: offline and through the running serve.
        test::write_text(inputs / "check.txt", "{{ " + std::string(k_fp) + ".custom.ssn }} {{ " +
                                                   std::string(k_fp) + ".card.primary.name }}");
        auto check =
            vf_scanned("render --check", {"render", "--check", (inputs / "check.txt").string()});
        CHECK_MESSAGE(check.exit_code == 0, check.err);
        auto rendered = vf({"render", (inputs / "check.txt").string()});
        CHECK(rendered.out ==
              k_ssn.value + " " + k_name.value); // its purpose: left out of the scan
        test::write_text(inputs / "bad.txt", "card " + k_card.value + " {{ " + std::string(k_fp) +
                                                 ".custom.nope }} " + k_name.value + " {{ oops");
        auto bad_render =
            vf_scanned("render (bad tokens)", {"render", (inputs / "bad.txt").string()});
        CHECK(bad_render.exit_code != 0);
        vf_scanned("--json render --check (bad tokens)",
                   {"--json", "render", "--check", (inputs / "bad.txt").string()});
        vf_scanned("vault alias (bad format)",
                   {"vault", "alias", k_card.value, "--format", "FPE_SIX_T_FOR"});
        vf_scanned("vault put (no =)", {"vault", "put", k_fp, "custom.x" + k_ssn.value});
        vf_scanned("vault put --stdin (no =)", {"vault", "put", k_fp, "--stdin"},
                   "custom.y=1\ncustom.name " + k_name.value + "\n");
        vf_scanned("tokenize (bad rule)", {"tokenize", "-", "--rule", "$.card[=FPE"},
                   json({{"card", k_card.value}}).dump());

        // Raw files are framed as HTTP/1.1: the body is the Content-Length bytes.
        const std::string kyc_body =
            R"({"ssn_hmac":"{{ custom.ssn | hmac_sha256("00112233") }}","last4":"{{ custom.card | suffix(4) }}"})";
        test::write_text(inputs / "kyc.http",
                         "POST https://api.partner.example/v1/kyc HTTP/1.1\n"
                         "Host: api.partner.example\nContent-Type: application/json\n"
                         "x-fp-id: " +
                             std::string(k_fp) + "\nContent-Length: " + std::to_string(kyc_body.size()) +
                             "\n\n" + kyc_body);
        auto replay_update = vf_scanned(
            "replay --update",
            {"replay", "--via", "reflect", "--server", "http://" + api, "--api-key", api_key,
             "--expect", (work / "golden").string(), "--update", (inputs / "kyc.http").string()});
        CHECK_MESSAGE(replay_update.exit_code == 0, (replay_update.out + replay_update.err));
        auto replay = vf_scanned("replay --expect",
                                 {"replay", "--via", "reflect", "--server", "http://" + api,
                                  "--api-key", api_key, "--expect", (work / "golden").string(),
                                  (inputs / "kyc.http").string()});
        CHECK_MESSAGE(replay.exit_code == 0, (replay.out + replay.err));

        // --- The inspector: its page, every exchange's row and detail, the HAR export, the chart.
        auto inspector_get = [&](const std::string& what, const std::string& path) {
            auto r = reply_of(cli.Get(path.c_str()));
            outputs.add(what, r);
            CHECK_MESSAGE(r.status == 200, what);
            return r;
        };
        inspector_get("inspector page", "/_inspector/");
        auto rows = json::parse(inspector_get("inspector exchanges", "/_inspector/api/exchanges").body);
        CHECK(rows["exchanges"].size() >= 20);
        std::size_t masked = 0;
        for (const auto& row : rows["exchanges"]) {
            auto detail = inspector_get("inspector exchange " + std::to_string(row["id"].get<int>()),
                                        "/_inspector/api/exchanges/" + std::to_string(row["id"].get<int>()));
            masked += json::parse(detail.body)["masks"].size();
        }
        CHECK(masked >= 10); // the values were there to mask: tokens and aliases stand for them
        inspector_get("inspector HAR export", "/_inspector/api/har");
        inspector_get("inspector latency chart", "/_inspector/api/stats");

        CHECK(serve.stop(SIGTERM) == 0);
        for (auto line = serve.read_line(500); !line.empty(); line = serve.read_line(500))
            serve_lines.push_back(line);
        outputs.add("stdout of `vaultfwd serve`", util::join(serve_lines, "\n"));

        // The upstream did receive the values: the dialects really substituted them.
        std::string received;
        for (const auto& r : up.requests()) {
            received += r.path + " " + r.body + "\n";
            for (const auto& h : r.headers)
                received += h.name + ": " + h.value + "\n";
        }
        for (const auto& path :
             {"/fp/charge", "/gr4vy/pay", "/vtex/sales", "/vgs/charge", "/vgs/lookup", "/inbound/collect"})
            CHECK_MESSAGE(contains(received, path), path);
        CHECK_FALSE(contains(received, "/never"));
        for (const auto& r : up.requests()) {
            CHECK_MESSAGE(r.path.rfind("/lookup/", 0) != 0, r.path); // the unknown Host reached nothing
            if (r.path == "/inbound/collect")
                CHECK_MESSAGE((!contains(r.body, k_card.value) && !contains(r.body, "Zaphod")), r.body);
        }
        CHECK(contains(received, k_ssn.value));
        CHECK(contains(received, k_card.value));
        CHECK(contains(received, k_name.value));
        CHECK(contains(received, k_csc.value));
        CHECK(contains(received, util::base64_encode(k_card.value)));
        // The answers' values were vaulted: the client got tokens and aliases.
        CHECK(contains(test::read_text(home / "default" / "access.log"), "hygiene check"));

        // --- The scan: every file under the home and working folders, everything printed.
        std::vector<std::string> findings = scan_tree(home.path());
        auto in_work = scan_tree(work.path());
        findings.insert(findings.end(), in_work.begin(), in_work.end());
        for (const auto& [where, text] : outputs.items) {
            auto found = scan_text(where, text);
            findings.insert(findings.end(), found.begin(), found.end());
        }
        CHECK(fs::exists(home / "default" / "access.log"));
        CHECK(fs::exists(work / "serve.stderr"));
        CHECK(outputs.items.size() > 40);
        for (const auto& f : findings)
            FAIL_CHECK(("found " + f));
        CHECK(findings.empty());
    }
}
