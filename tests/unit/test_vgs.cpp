// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/dialect/vgs/filters.hpp"
#include "core/dialect/vgs/import.hpp"
#include "core/dialect/vgs/inbound.hpp"
#include "core/dialect/vgs/json_spans.hpp"
#include "core/dialect/vgs/regex.hpp"
#include "core/dialect/vgs/route_check.hpp"
#include "core/dialect/vgs/routes.hpp"
#include "core/profile/edit.hpp"
#include "core/profile/profile.hpp"
#include "core/tls/minter.hpp"
#include "core/vault/store.hpp"
#include "support/support.hpp"

using namespace vaultfwd;
using namespace vaultfwd::dialect::vgs;

namespace {

const std::string k_key(32, '\x2a');

std::unique_ptr<vault::Store> open_store(const test::TempDir& dir) {
    auto s = vault::Store::open(dir / "vault", k_key);
    REQUIRE(s.ok());
    return std::move(*s);
}

profile::RouteFilter filter(std::string phase, std::string operation, std::string transformer,
                            std::vector<std::string> targets) {
    profile::RouteFilter f;
    f.phase = std::move(phase);
    f.operation = std::move(operation);
    f.transformer = std::move(transformer);
    f.targets = std::move(targets);
    return f;
}

// Compiles one route holding `filters` (any host) and returns its filters for `phase`.
struct OneRoute {
    RouteTable table;
    std::vector<const CompiledFilter*> filters(Phase phase,
                                               RequestInfo req = {"api.example", "POST", "/x", ""}) {
        return table.match(req, phase).filters;
    }
};

OneRoute one_route(std::vector<profile::RouteFilter> filters) {
    profile::Route r;
    r.id = "r";
    r.filters = std::move(filters);
    auto t = RouteTable::compile({r});
    REQUIRE_MESSAGE(t.ok(), (t.ok() ? "" : t.error().message));
    return OneRoute{std::move(*t)};
}

Result<Applied> run(OneRoute& route, Phase phase, std::string& body, vault::Store& store,
                    http::Headers headers = {}) {
    return apply_filters(route.filters(phase), phase, headers, body, store);
}

} // namespace

TEST_SUITE("vgs") {
    TEST_CASE("minted leaves carry the host as DNS or IP name, are cached, and chain to the CA") {
        auto ca = tls::make_ca("test interception CA");
        REQUIRE(ca.ok());
        X509* ca_cert = ca->cert.get();
        tls::Minter minter(std::move(*ca), 2);

        auto dns = minter.leaf("Api.Example.COM.");
        REQUIRE(dns.ok());
        auto dns_info = tls::inspect((*dns)->cert.get());
        CHECK(dns_info.dns_names == std::vector<std::string>{"api.example.com"});
        CHECK(dns_info.ip_addresses.empty());
        CHECK(dns_info.common_name == "api.example.com");
        CHECK_FALSE(dns_info.is_ca);
        CHECK(X509_verify((*dns)->cert.get(), X509_get0_pubkey(ca_cert)) == 1);

        auto ip = minter.leaf("127.0.0.1");
        REQUIRE(ip.ok());
        CHECK(tls::inspect((*ip)->cert.get()).ip_addresses == std::vector<std::string>{"127.0.0.1"});
        auto v6 = minter.leaf("[::1]");
        REQUIRE(v6.ok());
        CHECK(tls::inspect((*v6)->cert.get()).ip_addresses.size() == 1);
        CHECK(tls::inspect((*v6)->cert.get()).dns_names.empty());

        // Cached, bounded: the oldest leaf (api.example.com) was dropped for ::1.
        CHECK(minter.cached() == 2);
        CHECK(minter.leaf("127.0.0.1")->get() == ip->get());
        CHECK(minter.leaf("api.example.com")->get() != dns->get());

        for (const char* bad : {"", "a b", "x/y", "evil.com\r\nX: 1", "a..b"}) {
            auto r = minter.leaf(bad);
            REQUIRE_FALSE(r.ok());
            CHECK(r.error().code == "tls.bad_host");
        }
    }

    TEST_CASE("minting is safe from many threads at once") {
        tls::Minter minter(std::move(*tls::make_ca("ca")));
        std::vector<std::thread> threads;
        std::vector<const tls::KeyPair*> got(8);
        for (int i = 0; i < 8; ++i)
            threads.emplace_back([&, i] { got[static_cast<std::size_t>(i)] = minter.leaf("same.example")->get(); });
        for (auto& t : threads)
            t.join();
        for (auto* p : got)
            CHECK(p == got[0]);
        CHECK(minter.cached() == 1);
    }

    TEST_CASE("regexes take Java's named groups and are bounded") {
        auto re = Regex::compile(R"((?<prefix>"pan":")(?<token>\d{4})(?<suffix>"))");
        REQUIRE(re.ok());
        CHECK(re->group_number("token") == 2);
        CHECK(re->group_number("nope") == -1);
        auto m = re->find_all(R"({"pan":"1234","x":1,"pan":"5678"})");
        REQUIRE(m.ok());
        REQUIRE(m->size() == 2);
        CHECK((*m)[1].groups[2].begin == 27);

        auto host = Regex::compile(R"(api\.example\.com)", Regex::Case::insensitive);
        CHECK(host->full_match("API.example.com"));
        CHECK_FALSE(host->full_match("api.example.com.evil.io"));
        CHECK_FALSE(host->full_match("xapi.example.com"));

        // Empty matches advance like Java's Matcher.find().
        auto empty = Regex::compile("a*");
        CHECK(empty->find_all("baaa")->size() == 3);

        auto bad = Regex::compile("(?<token>\\d+");
        REQUIRE_FALSE(bad.ok());
        CHECK(bad.error().code == "vgs.bad_regex");
        CHECK(bad.error().column > 0);

        auto slow = Regex::compile("(a+)+$");
        auto started = std::chrono::steady_clock::now();
        auto r = slow->find_all(std::string(40, 'a') + "!");
        CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == "vgs.regex_limit");

        CHECK(Regex::compile(regex_quote("a.b*c(d)[e]{f}|g+h?^$\\"))->full_match("a.b*c(d)[e]{f}|g+h?^$\\"));

        // A whole match is the whole text, whichever alternative gets there.
        auto alt = Regex::compile(R"(api\.example\.com|x|xy|(?:ab)+)");
        CHECK(alt->full_match("api.example.com"));
        CHECK_FALSE(alt->full_match("api.example.com.evil.io"));
        CHECK_FALSE(alt->full_match("evil.api.example.com"));
        CHECK(alt->full_match("xy"));
        CHECK(alt->full_match("abab"));
        CHECK_FALSE(alt->full_match("aba"));
        CHECK_FALSE(alt->full_match(""));
        started = std::chrono::steady_clock::now();
        CHECK_FALSE(slow->full_match(std::string(40, 'a') + "!"));
        CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
    }

    TEST_CASE("json spans point at values by normalized path") {
        std::string text = "{ \"a\" : [1, {\"b c\":\"x\\\"y\"}],\n \"it's\": -2.5e3, \"\\u00e9\": true, "
                           "\"dup\": 1, \"dup\": \"last\" }";
        auto spans = locate_json_values(text, {"$['a'][1]['b c']", "$['it\\'s']", "$['é']", "$['dup']", "$['a'][0]", "$['none']"});
        REQUIRE(spans.ok());
        auto at = [&](const std::string& p) {
            auto s = spans->at(p);
            return text.substr(s.begin, s.end - s.begin);
        };
        CHECK(at("$['a'][1]['b c']") == "\"x\\\"y\"");
        CHECK(at("$['it\\'s']") == "-2.5e3");
        CHECK(at("$['é']") == "true");
        CHECK(at("$['dup']") == "\"last\"");
        CHECK(at("$['a'][0]") == "1");
        CHECK(spans->count("$['none']") == 0);
        CHECK(splice("0123456789", {{Span{2, 4}, "ab"}, {Span{6, 7}, "XYZ"}}) == "01ab45XYZ789");
    }

    TEST_CASE("routes match host, path and method; filters their own conditions") {
        profile::Route a;
        a.id = "a";
        a.host = R"(api\.example\.com)";
        a.path = "/v1/.*";
        a.methods = {"post"};
        auto f1 = filter("request", "reveal", "json_path", {"$.card"});
        f1.content_type = "application/json";
        auto f2 = filter("response", "redact", "json_path", {"$.card"});
        f2.path = "/v1/charges";
        a.filters = {f1, f2};
        profile::Route b;
        b.id = "b";
        b.host = ".*\\.example\\.com";
        b.filters = {filter("request", "reveal", "header", {"x-token"})};
        auto t = RouteTable::compile({a, b});
        REQUIRE(t.ok());

        RequestInfo req{"api.example.com", "POST", "/v1/charges", "application/json; charset=utf-8"};
        auto m = t->match(req, Phase::request);
        REQUIRE(m.route);
        CHECK(m.route->id == "a");
        CHECK(m.filters.size() == 1);
        CHECK(t->match(req, Phase::response).filters.size() == 1);

        // Route a matches but has no request filter for text/plain: route b is next.
        req.content_type = "text/plain";
        CHECK(t->match(req, Phase::request).route->id == "b");
        req.method = "GET";
        CHECK(t->match(req, Phase::request).route->id == "b");
        CHECK_FALSE(t->match(req, Phase::response).route);
        CHECK_FALSE(t->match({"other.org", "POST", "/v1/charges", ""}, Phase::request).route);
        CHECK_FALSE(t->match({"api.example.com.evil.io", "POST", "/v1/x", ""}, Phase::request).route);
    }

    TEST_CASE("route problems are found when the routes are compiled") {
        auto compile_one = [](profile::RouteFilter f) {
            profile::Route r;
            r.id = "broken";
            r.filters = {f};
            return RouteTable::compile({r});
        };
        auto bad_path = compile_one(filter("request", "reveal", "json_path", {"$.a["}));
        REQUIRE_FALSE(bad_path.ok());
        CHECK(bad_path.error().code == "vgs.bad_route");
        CHECK(bad_path.error().message.find("route \"broken\" filter 1") != std::string::npos);
        auto re = filter("request", "reveal", "regex", {});
        re.pattern = "(?<token>x)";
        re.replacement = "${tokn}";
        auto bad_group = compile_one(re);
        REQUIRE_FALSE(bad_group.ok());
        CHECK(bad_group.error().message.find("\"tokn\"") != std::string::npos);
        profile::Route r;
        r.id = "h";
        r.host = "(";
        CHECK_FALSE(RouteTable::compile({r}).ok());
    }

    TEST_CASE("JSONPath reveal swaps aliases in place and leaves every other byte alone") {
        test::TempDir dir;
        auto store = open_store(dir);
        auto pan = store->alias("4111111111111111", vault::AliasFormat::uuid);
        auto cvc = store->alias("123", vault::AliasFormat::uuid);
        REQUIRE(pan.ok());
        auto route = one_route({filter("request", "reveal", "json_path", {"$.card.number", "$.card.cvc", "$.missing"})});
        std::string body = "{\n  \"zeta\": 1.50,\n  \"card\": {\"number\" : \"" + *pan +
                           "\", \"cvc\":\"" + *cvc + "\"},\n  \"alpha\": \"\\u00e9\"\n}\n";
        std::string expected = "{\n  \"zeta\": 1.50,\n  \"card\": {\"number\" : \"4111111111111111\", "
                               "\"cvc\":\"123\"},\n  \"alpha\": \"\\u00e9\"\n}\n";
        auto applied = run(route, Phase::request, body, *store);
        REQUIRE(applied.ok());
        CHECK(applied->revealed == 2);
        CHECK(body == expected);
    }

    TEST_CASE("an unknown alias fails the request closed, listing every one, unless the filter passes them") {
        test::TempDir dir;
        auto store = open_store(dir);
        auto known = *store->alias("4111111111111111", vault::AliasFormat::uuid);
        auto route = one_route({filter("request", "reveal", "json_path", {"$.a", "$.b", "$.c", "$.d"})});
        std::string body = R"({"a":")" + known + R"(","b":"tok_sandbox_3x4mp1eUnknown","c":"5555444433332222","d":"tok_sandbox_AnotherUnknown"})";
        const std::string original = body;
        auto r = run(route, Phase::request, body, *store);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == "vgs.unknown_alias");
        CHECK(r.error().message.find("tok_sandbox_3x4mp1eUnknown") != std::string::npos);
        CHECK(r.error().message.find("tok_sandbox_AnotherUnknown") != std::string::npos);
        CHECK(r.error().message.find("$['c']") != std::string::npos);
        // A value that is not alias-shaped may be a real secret: named by place, never quoted.
        CHECK(r.error().message.find("5555444433332222") == std::string::npos);
        CHECK(body == original);

        auto pass = filter("request", "reveal", "json_path", {"$.a", "$.b", "$.c", "$.d"});
        pass.on_unknown_alias = "pass";
        auto lenient = one_route({pass});
        auto ok = run(lenient, Phase::request, body, *store);
        REQUIRE(ok.ok());
        CHECK(ok->revealed == 1);
        CHECK(nlohmann::json::parse(body)["a"] == "4111111111111111");
        CHECK(nlohmann::json::parse(body)["b"] == "tok_sandbox_3x4mp1eUnknown");
    }

    TEST_CASE("JSONPath redact stores values and answers with aliases the vault reveals") {
        test::TempDir dir;
        auto store = open_store(dir);
        auto f = filter("response", "redact", "json_path", {"$.cards[*].number", "$.ssn", "$.empty", "$.nested"});
        f.format = "FPE_SIX_T_FOUR";
        auto route = one_route({f});
        std::string body = R"({"cards":[{"number":"4111111111111111"},{"number":"4111111111111111"}],"ssn":123456789,"empty":"","nested":{"x":1}})";
        auto applied = run(route, Phase::response, body, *store);
        REQUIRE(applied.ok());
        CHECK(applied->redacted == 3);
        auto j = nlohmann::json::parse(body);
        std::string alias = j["cards"][0]["number"];
        CHECK(alias != "4111111111111111");
        CHECK(alias.substr(0, 6) == "411111");
        CHECK(alias.substr(12) == "1111");
        CHECK(j["cards"][1]["number"] == alias); // same value, same alias
        CHECK(store->reveal(alias) == "4111111111111111");
        CHECK(store->reveal(j["ssn"].get<std::string>()) == "123456789"); // a number, vaulted as text
        CHECK(j["empty"] == "");
        CHECK(j["nested"] == nlohmann::json{{"x", 1}});

        // Aliases already in the body are not aliased again.
        std::string again = body;
        auto twice = run(route, Phase::response, again, *store);
        REQUIRE(twice.ok());
        CHECK(twice->redacted == 0);
        CHECK(again == body);
    }

    TEST_CASE("a body that is not JSON stops a request filter and passes a response filter") {
        test::TempDir dir;
        auto store = open_store(dir);
        auto route = one_route({filter("request", "reveal", "json_path", {"$.a"}),
                                filter("response", "redact", "json_path", {"$.a"})});
        std::string body = "<html>oops</html>";
        auto r = run(route, Phase::request, body, *store);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == "vgs.body_not_json");
        auto resp = run(route, Phase::response, body, *store);
        REQUIRE(resp.ok());
        CHECK(body == "<html>oops</html>");
        std::string empty;
        CHECK(run(route, Phase::request, empty, *store).ok());
    }

    TEST_CASE("form fields are revealed and redacted with form encoding, the rest untouched") {
        test::TempDir dir;
        auto store = open_store(dir);
        auto name_alias = *store->alias("Jane Doe & Co", vault::AliasFormat::uuid);
        auto route = one_route({filter("request", "reveal", "form_field", {"card name", "pan"}),
                                filter("response", "redact", "form_field", {"secret"})});
        std::string body = "amount=10.00&card+name=" + name_alias + "&other=a%2Fb&flag&pan=";
        auto applied = run(route, Phase::request, body, *store);
        REQUIRE(applied.ok());
        CHECK(body == "amount=10.00&card+name=Jane+Doe+%26+Co&other=a%2Fb&flag&pan=");
        std::string resp = "secret=s%C3%A9same+open&x=1";
        REQUIRE(run(route, Phase::response, resp, *store).ok());
        auto alias = resp.substr(7, resp.find('&') - 7);
        CHECK(looks_like_alias(alias));
        CHECK(store->reveal(alias) == "s\xC3\xA9same open");
        CHECK(resp.substr(resp.find('&')) == "&x=1");
        CHECK(form_encode("a b+c/é*-._~") == "a+b%2Bc%2F%C3%A9*-._%7E");
        CHECK(form_decode("a+b%2Bc") == "a b+c");
        CHECK_FALSE(form_decode("%zz").has_value());
    }

    TEST_CASE("regex filters follow VGS: token, prefix and suffix groups, %s and ${name}") {
        test::TempDir dir;
        auto store = open_store(dir);
        auto a = *store->alias("111", vault::AliasFormat::uuid);
        auto b = *store->alias("222", vault::AliasFormat::uuid);
        auto regex = [](std::string pattern, std::string replacement) {
            auto f = filter("request", "reveal", "regex", {});
            f.pattern = std::move(pattern);
            f.replacement = std::move(replacement);
            return f;
        };
        struct Case {
            std::string pattern, replacement, body, expected;
        };
        const std::string tok = "tok_[a-z]+_[1-9A-HJ-NP-Za-km-z]{22}";
        const std::vector<Case> cases = {
            {tok, "%s", "A" + a + "B" + b + "C", "A111B222C"},
            {"(?<token>" + tok + ")", "%s", "A" + a + "B", "A111B"},
            {"(?<prefix>A)(?<token>" + tok + ")(?<suffix>B)", "%s", "A" + a + "B", "A111B"},
            {"(?<suffix>A)(?<token>" + tok + ")(?<prefix>B)", "%s", "A" + a + "B", "B111A"},
            {"(?<token>" + tok + ")", "%s:${token}", "A" + a + "B", "A111:" + a + "B"},
            {"#+", "", "A" + a + "B", "A" + a + "B"}, // no match, nothing changes
            {"(?<token>" + tok + ")", "[$1]", "A" + a, "A[" + a + "]"},
            {"(?<token>" + tok + ")", "\\%s", "A" + a, "A%s"},
        };
        for (const auto& c : cases) {
            CAPTURE(c.pattern);
            CAPTURE(c.replacement);
            auto route = one_route({regex(c.pattern, c.replacement)});
            std::string body = c.body;
            auto r = run(route, Phase::request, body, *store);
            REQUIRE(r.ok());
            CHECK(body == c.expected);
        }
        // A match that is not an alias is an unknown one: named by place, not quoted.
        auto digits = one_route({regex("\\d{4,}", "%s")});
        std::string secret = "pin 98765 and " + a;
        auto refused = run(digits, Phase::request, secret, *store);
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().message.find("body match at byte 4") != std::string::npos);
        CHECK(refused.error().message.find("98765") == std::string::npos);
        // Let pass, an unknown match stays exactly as it was: the replacement is for swaps
        // (found by fuzz/fuzz_vgs.cpp: "Bearer x" became "x").
        auto lenient = regex("Bearer (?<token>\\S+)", "%s");
        lenient.on_unknown_alias = "pass";
        auto bearer = one_route({lenient});
        std::string header_like = "Bearer tok_sandbox_Unknown1 and Bearer " + a;
        auto passed = run(bearer, Phase::request, header_like, *store);
        REQUIRE(passed.ok());
        CHECK(passed->revealed == 1);
        CHECK(header_like == "Bearer tok_sandbox_Unknown1 and 111");

        // Redact: the group is vaulted, the match rebuilt around its alias.
        auto f = regex(R"(PAN=(?<token>\d{16}))", "PAN=%s");
        f.phase = "response";
        f.operation = "redact";
        f.format = "FPE_T_FOUR";
        auto route = one_route({f});
        std::string body = "x PAN=4111111111111111 y";
        REQUIRE(run(route, Phase::response, body, *store).ok());
        std::string alias = body.substr(6, 16);
        CHECK(body.substr(0, 6) == "x PAN=");
        CHECK(body.substr(22) == " y");
        CHECK(alias != "4111111111111111");
        CHECK(store->reveal(alias) == "4111111111111111");
    }

    TEST_CASE("header filters reveal whole values or, with a pattern, a part of them") {
        test::TempDir dir;
        auto store = open_store(dir);
        auto key = *store->alias("sk_live_real", vault::AliasFormat::uuid);
        auto bearer = filter("request", "reveal", "header", {"Authorization"});
        bearer.pattern = "Bearer (?<token>\\S+)";
        bearer.replacement = "Bearer %s";
        auto route = one_route({filter("request", "reveal", "header", {"X-Api-Key"}), bearer});
        http::Headers headers = {{"x-api-key", key}, {"Authorization", "Bearer " + key}, {"Other", key}};
        std::string body;
        auto r = apply_filters(route.filters(Phase::request), Phase::request, headers, body, *store);
        REQUIRE(r.ok());
        CHECK(r->revealed == 2);
        CHECK(headers[0].value == "sk_live_real");
        CHECK(headers[1].value == "Bearer sk_live_real");
        CHECK(headers[2].value == key);
    }

    TEST_CASE("alias shapes") {
        CHECK(looks_like_alias("tok_sandbox_w8CBfH8vyYL2xWSmMWe3Ds"));
        CHECK(looks_like_alias("tok_live-eu-1_abc"));
        CHECK(looks_like_alias("0f8fad5b-d9cb-469f-a165-70867728950e"));
        CHECK_FALSE(looks_like_alias("4111111111111111"));
        CHECK_FALSE(looks_like_alias("tok_sandbox_has space"));
        CHECK_FALSE(looks_like_alias("tok_sandbox_0OIl"));
        CHECK_FALSE(looks_like_alias("hello"));
    }

    TEST_CASE("a VGS export becomes routes; what cannot be carried over is named") {
        auto text = test::read_text(test::source_dir() / "fixtures/vgs/mixed-export.yaml");
        auto report = convert_export(text);
        REQUIRE_MESSAGE(report.ok(), (report.ok() ? "" : report.error().message));
        REQUIRE(report->routes.size() == 2);
        const auto& r = report->routes[0];
        CHECK(r.id == "route-acquirer");
        CHECK(r.direction == "outbound");
        CHECK(r.upstream.empty());
        // An inbound route: the Host pattern, its upstream, its filters.
        const auto& in = report->routes[1];
        CHECK(in.id == "route-inbound");
        CHECK(in.direction == "inbound");
        CHECK(in.upstream == "https://backend.example");
        CHECK(in.host == R"((.*)\.verygoodproxy\.com)");
        REQUIRE(in.filters.size() == 1);
        CHECK(in.filters[0].operation == "redact");
        CHECK(in.filters[0].targets == std::vector<std::string>{"$.card"});
        CHECK(r.description == "acquirer");
        CHECK(r.host == R"(api\.acquirer\.example)");
        REQUIRE(r.filters.size() == 5);

        const auto& form = r.filters[0];
        CHECK(form.transformer == "form_field");
        CHECK(form.operation == "reveal");
        CHECK(form.targets == std::vector<std::string>{"card_number", "card_cvc"});
        CHECK(form.methods == std::vector<std::string>{"POST"});
        CHECK(form.path == R"((?:/v1/)(?s:.*))");

        CHECK(r.filters[1].transformer == "regex");
        CHECK(r.filters[1].phase == "response");
        CHECK(r.filters[1].format == "FPE_SIX_T_FOUR");
        CHECK(r.filters[1].pattern == R"x("pan":"(?<token>\d{16})")x");
        CHECK(r.filters[2].pattern == R"(PAN=(?<token>\d{16}))");
        CHECK(r.filters[2].id == "regex-redact#2");

        CHECK(r.filters[3].transformer == "header");
        CHECK(r.filters[3].targets == std::vector<std::string>{"X-Card-Token"});
        CHECK(r.filters[3].path == R"((?:/v1/a)|(?:/v2/.*))");

        CHECK(r.filters[4].format == "UUID");
        std::string notes;
        for (const auto& n : report->notes)
            notes += n + "\n";
        CHECK(notes.find("ALPHANUMERIC_SIX_T_FOUR") != std::string::npos);
        CHECK(notes.find("VOLATILE") != std::string::npos);

        std::string skipped;
        for (const auto& s : report->skipped)
            skipped += s + "\n";
        CAPTURE(skipped);
        CHECK(report->skipped.size() == 7);
        for (const char* part : {"\"xml-filter\": the XPATH transformer", "\"larky\": custom operations (github.com/verygoodsecurity",
                                 "\"classified\": classifiers", "\"by-query\": a condition on \"QueryString\"",
                                 "\"or-fields\": an OR condition over different fields",
                                 "filter \"only-xpath\": the XPATH", "route \"route-xml\": none of its filters"})
            CHECK(skipped.find(part) != std::string::npos);

        // The converted routes compile and behave: the form filter holds on POST /v1/…
        auto table = RouteTable::compile(report->routes);
        REQUIRE(table.ok());
        auto m = table->match({"api.acquirer.example", "POST", "/v1/charges", ""}, Phase::request);
        REQUIRE(m.route);
        CHECK(m.filters.size() == 1);
        CHECK(table->match({"api.acquirer.example", "GET", "/v1/charges", ""}, Phase::request).filters.empty());
        CHECK(table->match({"api.acquirer.example", "GET", "/v2/x", ""}, Phase::request).filters.size() == 1);
    }

    TEST_CASE("bad exports are refused with a position") {
        auto yaml = convert_export("data: [\n  {attributes: {host_endpoint: x}\n");
        REQUIRE_FALSE(yaml.ok());
        CHECK(yaml.error().code == "vgs.bad_yaml");
        CHECK(yaml.error().line > 0);
        auto shape = convert_export("routes: []\n");
        REQUIRE_FALSE(shape.ok());
        CHECK(shape.error().code == "vgs.bad_export");
        CHECK(convert_export("data: {}\n").error().code == "vgs.bad_export");
    }

    TEST_CASE("imported routes are appended to the profile once, and load back the same") {
        test::TempDir home;
        std::string text = "[vault]\nkey = \"" + std::string(64, 'a') + "\"\n\n# my routes follow\n";
        auto file = profile::profile_path(home.path(), "default");
        test::write_text(file, text);
        auto p = profile::load(home.path(), "default");
        REQUIRE(p.ok());
        auto yaml = test::read_text(test::source_dir() / "fixtures/vgs/mixed-export.yaml");

        auto dry = import_routes(*p, yaml, DryRun::yes);
        REQUIRE(dry.ok());
        CHECK(dry->routes.size() == 2);
        CHECK(test::read_text(file) == text);

        auto done = import_routes(*p, yaml, DryRun::no);
        REQUIRE(done.ok());
        auto after = test::read_text(file);
        CHECK(after.rfind(text, 0) == 0); // what was there stays, byte for byte
        auto loaded = profile::load(home.path(), "default");
        REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
        REQUIRE(loaded->routes.size() == 2);
        CHECK(loaded->routes[1].direction == "inbound");
        CHECK(loaded->routes[1].upstream == "https://backend.example");
        const auto& r = loaded->routes[0];
        const auto& expected = done->routes[0];
        CHECK(r.id == expected.id);
        CHECK(r.host == expected.host);
        REQUIRE(r.filters.size() == expected.filters.size());
        for (std::size_t i = 0; i < r.filters.size(); ++i) {
            CHECK(r.filters[i].pattern == expected.filters[i].pattern);
            CHECK(r.filters[i].path == expected.filters[i].path);
            CHECK(r.filters[i].targets == expected.filters[i].targets);
            CHECK(r.filters[i].methods == expected.filters[i].methods);
            CHECK(r.filters[i].replacement == expected.filters[i].replacement);
            CHECK(r.filters[i].format == expected.filters[i].format);
        }

        // The same export again: the route is already there, as exported; nothing is skipped
        // for it and nothing changes.
        auto again = import_routes(*loaded, yaml, DryRun::no);
        REQUIRE(again.ok());
        CHECK(again->routes.empty());
        CHECK(again->already == std::vector<std::string>{expected.id, "route-inbound"});
        CHECK(again->skipped == done->skipped); // the parts the export cannot carry over, only
        CHECK(test::read_text(file) == after);

        // A route of the same id that differs is a conflict, not "already there".
        auto changed = *loaded;
        changed.routes[0].host = "api\\.other\\.example";
        auto conflict = import_routes(changed, yaml, DryRun::yes);
        REQUIRE(conflict.ok());
        CHECK(conflict->already == std::vector<std::string>{"route-inbound"}); // only the unchanged one
        REQUIRE_FALSE(conflict->skipped.empty());
        CHECK(conflict->skipped.back().find("already has a different route with this id") !=
              std::string::npos);
    }

    TEST_CASE("inbound routes: compiled apart from outbound ones, picked by Host, path and method") {
        profile::Route out;
        out.id = "out";
        out.host = "api\\.example";
        out.filters = {filter("request", "reveal", "json_path", {"$.a"})};
        profile::Route in;
        in.id = "collect";
        in.direction = "inbound";
        in.upstream = "https://backend.example:8443";
        in.host = "collect\\.example";
        in.path = "/cards.*";
        profile::Route bare = in;
        bare.id = "bare";
        bare.path = ".*";
        bare.upstream = "http://127.0.0.1:9";

        auto outbound = RouteTable::compile({out, in, bare});
        REQUIRE(outbound.ok());
        CHECK(outbound->size() == 1);
        auto inbound = RouteTable::compile({out, in, bare}, Direction::inbound);
        REQUIRE(inbound.ok());
        CHECK(inbound->size() == 2);
        // No filters needed: the first route whose Host, path and method match answers.
        const auto* r = inbound->find({"collect.example", "POST", "/cards/1", ""});
        REQUIRE(r);
        CHECK(r->id == "collect");
        CHECK(r->upstream.host == "backend.example");
        CHECK(r->upstream.port == 8443);
        CHECK(inbound->find({"collect.example", "POST", "/other", ""})->id == "bare");
        CHECK(inbound->find({"COLLECT.example", "GET", "/", ""})->id == "bare");
        CHECK(inbound->find({"api.example", "GET", "/", ""}) == nullptr);
        CHECK(inbound->any_host_matches("collect.example"));
        CHECK_FALSE(inbound->any_host_matches("xcollect.example"));

        // The upstream is scheme://host[:port]: a path or query is refused, naming the route.
        in.upstream = "https://backend.example/v1";
        auto with_path = RouteTable::compile({in}, Direction::inbound);
        REQUIRE_FALSE(with_path.ok());
        CHECK(with_path.error().message.find("route \"collect\" upstream") != std::string::npos);
        CHECK(with_path.error().message.find("has a path or query") != std::string::npos);
        CHECK_FALSE(parse_inbound_upstream("ftp://backend.example").ok());
        CHECK_FALSE(parse_inbound_upstream("").ok());
        CHECK(parse_inbound_upstream("https://backend.example/").ok());
        // config check sees an inbound route's problems too, at its key.
        auto problems = check_routes({out, in});
        REQUIRE(problems.size() == 1);
        CHECK(problems[0].key == "routes[1].upstream");
    }

    TEST_CASE("a status condition holds a response filter to the upstream's status") {
        profile::Route r;
        r.id = "r";
        auto f = filter("response", "redact", "json_path", {"$.pan"});
        f.status = "2\\d\\d";
        r.filters = {f};
        auto table = RouteTable::compile({r});
        REQUIRE(table.ok());
        RequestInfo req{"h", "GET", "/", "", 0};
        CHECK(table->match(req, Phase::response).route); // not known yet: may apply
        req.status = 201;
        CHECK(table->match(req, Phase::response).route);
        req.status = 500;
        CHECK_FALSE(table->match(req, Phase::response).route);

        auto on_request = r;
        on_request.filters[0].phase = "request";
        auto bad = RouteTable::compile({on_request});
        REQUIRE_FALSE(bad.ok());
        CHECK(bad.error().message.find("status condition needs phase = \"response\"") != std::string::npos);

        // Imported from a VGS export: Status on a response filter, refused on a request filter.
        auto report = convert_export(
            "data:\n  - attributes:\n      host_endpoint: h\n      entries:\n"
            "        - {id: ok, phase: RESPONSE, operation: REDACT, transformer: JSON_PATH, transformer_config: [$.pan],\n"
            "           config: {condition: OR, rules: [{expression: {field: Status, operator: equals, values: [200]}},\n"
            "                                           {expression: {field: Status, operator: equals, values: [201]}}]}}\n"
            "        - {id: no, phase: REQUEST, operation: ENRICH, transformer: JSON_PATH, transformer_config: [$.pan],\n"
            "           config: {condition: AND, rules: [{expression: {field: Status, operator: equals, values: [200]}}]}}\n");
        REQUIRE(report.ok());
        REQUIRE(report->routes.size() == 1);
        REQUIRE(report->routes[0].filters.size() == 1);
        CHECK(report->routes[0].filters[0].status == "(?:200)|(?:201)");
        REQUIRE(report->skipped.size() == 1);
        CHECK(report->skipped[0].find("filter \"no\": a Status condition on a REQUEST filter") != std::string::npos);
    }

    TEST_CASE("inbound routes imported in both export shapes; a bare-host upstream becomes https") {
        auto nested = convert_export(test::read_text(test::source_dir() / "fixtures/vgs/inbound-collect.yaml"));
        REQUIRE(nested.ok());
        REQUIRE(nested->routes.size() == 1);
        const auto& c = nested->routes[0];
        CHECK(c.id == "3e9a7c55-1d2b-4c8e-a6f0-2b4d6e8f0a13");
        CHECK(c.description == "collect-card");
        CHECK(c.direction == "inbound");
        CHECK(c.upstream == "http://127.0.0.1:8080");
        CHECK(c.host == "tntabcd1234\\.sandbox\\.verygoodproxy\\.com");
        REQUIRE(c.filters.size() == 2);
        CHECK(c.filters[0].transformer == "form_field");
        CHECK(c.filters[0].operation == "redact");
        CHECK(c.filters[0].format == "FPE_SIX_T_FOUR");
        CHECK(c.filters[0].content_type == "application/x-www-form-urlencoded");
        CHECK(c.filters[1].format == "UUID");
        REQUIRE(nested->skipped.size() == 1);
        CHECK(nested->skipped[0].find("filter \"by-query\": a condition on \"QueryString\"") != std::string::npos);

        auto top = convert_export(test::read_text(test::source_dir() / "fixtures/vgs/inbound-reveal-top-level.yaml"));
        REQUIRE(top.ok());
        REQUIRE(top->routes.size() == 1);
        const auto& t = top->routes[0];
        CHECK(t.id == "9d4e2a61-7b3c-4e5f-8a9b-0c1d2e3f4a55");
        CHECK(t.direction == "inbound");
        CHECK(t.host == "partner\\.example\\.test");
        REQUIRE(t.filters.size() == 1);
        CHECK(t.filters[0].phase == "response");
        CHECK(t.filters[0].operation == "reveal");
        CHECK(t.filters[0].status == "200");
        CHECK(top->skipped.empty());
        // The converted route goes into a profile as TOML and reads back the same.
        auto table = route_to_toml(t);
        CHECK(table["direction"].value_or(std::string()) == "inbound");
        CHECK(table["upstream"].value_or(std::string()) == "http://127.0.0.1:8080");

        auto bare = convert_export("data:\n  - destination_override_endpoint: api.partner.example\n    port: 8443\n"
                                   "    host_endpoint: in\\.example\n    entries:\n"
                                   "      - {phase: REQUEST, operation: REDACT, transformer: JSON_PATH, transformer_config: [$.a]}\n");
        REQUIRE(bare.ok());
        REQUIRE(bare->routes.size() == 1);
        CHECK(bare->routes[0].upstream == "https://api.partner.example:8443");
        REQUIRE(bare->notes.size() == 1);
        CHECK(bare->notes[0].find("has no scheme") != std::string::npos);
        auto with_path = convert_export("data:\n  - destination_override_endpoint: https://api.partner.example/v1\n"
                                        "    host_endpoint: in\\.example\n    entries:\n"
                                        "      - {phase: REQUEST, operation: REDACT, transformer: JSON_PATH, transformer_config: [$.a]}\n");
        REQUIRE(with_path.ok());
        CHECK(with_path->routes.empty());
        REQUIRE(with_path->skipped.size() == 1);
        CHECK(with_path->skipped[0].find("has a path or query") != std::string::npos);
        CHECK(with_path->skipped[0].find("; route not imported") != std::string::npos);
    }

    TEST_CASE("the inbound port reads the route's host from Host: case, port and brackets aside") {
        CHECK(*inbound_host({{"Host", "Shop.Example.TEST:8443"}}) == "shop.example.test");
        CHECK(*inbound_host({{"host", "shop.example.test"}}) == "shop.example.test");
        CHECK(*inbound_host({{"Host", "[::1]:80"}}) == "::1");
        CHECK(*inbound_host({{"Host", "[::1]"}}) == "::1");
        CHECK(*inbound_host({{"Host", "127.0.0.1"}}) == "127.0.0.1");
        CHECK(inbound_host({}).error().code == "inbound.no_host");
        CHECK(inbound_host({{"Host", ""}}).error().code == "inbound.no_host");
        CHECK(inbound_host({{"Host", "a.example"}, {"Host", "b.example"}}).error().code == "inbound.bad_host");
        for (const char* bad : {"a.example/x", "user@a.example", "a.example:99999", "[::1", "::1", "*.example", "a b"})
            CHECK_MESSAGE(inbound_host({{"Host", bad}}).error().code == "inbound.bad_host", bad);
    }

    TEST_CASE("profile keys of inbound routes and certificates are checked where they are written") {
        auto errors = [](const std::string& rest) {
            return profile::validate("[vault]\nkey = \"" + std::string(64, 'a') + "\"\n" + rest, "p.toml");
        };
        CHECK(errors("[[routes]]\nid = \"in\"\ndirection = \"inbound\"\nupstream = \"https://a.example\"\n").empty());
        auto no_upstream = errors("[[routes]]\nid = \"in\"\ndirection = \"inbound\"\n");
        REQUIRE(no_upstream.size() == 1);
        CHECK(no_upstream[0].message.find("routes.upstream is required") != std::string::npos);
        auto outbound_upstream = errors("[[routes]]\nid = \"out\"\nupstream = \"https://a.example\"\n");
        REQUIRE(outbound_upstream.size() == 1);
        CHECK(outbound_upstream[0].line == 5);
        CHECK(outbound_upstream[0].message.find("for inbound routes") != std::string::npos);
        auto sideways = errors("[[routes]]\nid = \"x\"\ndirection = \"sideways\"\n");
        REQUIRE(sideways.size() == 1);
        CHECK(sideways[0].message.find("routes.direction must be one of outbound, inbound") != std::string::npos);
        auto request_status = errors("[[routes]]\nid = \"in\"\n[[routes.filters]]\ntargets = [\"$.a\"]\nstatus = \"200\"\n");
        REQUIRE(request_status.size() == 1);
        CHECK(request_status[0].line == 7);
        CHECK(request_status[0].message.find("needs phase = \"response\"") != std::string::npos);
        auto cert_no_route = errors("[[certs]]\nname = \"c\"\ndirection = \"inbound\"\ncert = \"c.pem\"\nkey = \"c.key\"\n");
        REQUIRE(cert_no_route.size() == 1);
        CHECK(cert_no_route[0].message.find("certs.route is required for an inbound certificate") != std::string::npos);
        auto cert_outbound_route = errors("[[routes]]\nid = \"out\"\n[[certs]]\nname = \"c\"\ndirection = \"inbound\"\n"
                                          "route = \"out\"\ncert = \"c.pem\"\nkey = \"c.key\"\n");
        REQUIRE(cert_outbound_route.size() == 1);
        CHECK(cert_outbound_route[0].message.find("an outbound route") != std::string::npos);
        auto outbound_with_route = errors("[[routes]]\nid = \"in\"\ndirection = \"inbound\"\nupstream = \"https://a\"\n"
                                          "[[certs]]\nname = \"c\"\nroute = \"in\"\ncert = \"c.pem\"\nkey = \"c.key\"\n");
        REQUIRE(outbound_with_route.size() == 1);
        CHECK(outbound_with_route[0].message.find("must be inbound") != std::string::npos);
    }
}
