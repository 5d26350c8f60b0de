// SPDX-License-Identifier: Apache-2.0
// The forward proxy against the same HTTPS upstream called directly, with one client for both
// rows: N keep-alive httplib connections (SSLClient), POST of a JSON body, for S seconds each.
// Through the proxy the client sends CONNECT with the profile's proxy credential, trusts the
// profile's local CA (the proxy intercepts) and the body carries aliases that a route reveals.
// `vaultfwd serve` must already run on --proxy with that profile; scripts/bench sets it up.
//
//   bench_proxy --home HOME --upstream https://HOST:PORT/PATH --proxy HOST:PORT --body FILE
//               [--direct-body FILE] [--seconds S] [--warmup S] [--connections N]
//               [--profile NAME] [--upstream-ca FILE] [--mitm HOST:PORT --mitm-ca FILE]
//
// --body (five aliases in scripts/bench) is sent through the proxy; --direct-body (the values
// they stand for) is sent directly, default the same body. The upstream's CA is the profile's
// first upstream.ca_files entry unless --upstream-ca is given. Each row starts with a warm-up
// (default 1 s, not measured): opening 32 tunnels at once (CONNECT, two TLS handshakes and a
// new upstream connection each) would otherwise weigh on a short row's p99.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/profile/profile.hpp"
#include "support/loadgen.hpp"

using namespace vaultfwd;

namespace {

[[noreturn]] void usage(const std::string& why = {}) {
    if (!why.empty())
        std::cerr << "bench_proxy: " << why << "\n";
    std::cerr
        << "usage: bench_proxy --home HOME --upstream https://HOST:PORT/PATH --proxy HOST:PORT "
           "--body FILE\n"
           "                   [--direct-body FILE] [--seconds S] [--warmup S] [--connections N]\n"
           "                   [--profile NAME] [--upstream-ca FILE] [--mitm HOST:PORT --mitm-ca FILE]\n";
    std::exit(2);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        usage("cannot read " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// "HOST:PORT" → (host, port)
std::pair<std::string, int> host_port(const std::string& text) {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0)
        usage("expected HOST:PORT, got " + text);
    return {text.substr(0, colon), std::atoi(text.c_str() + colon + 1)};
}

void print_row(const std::string& name, const test::LoadReport& r) {
    std::printf("%-38s %12.1f %9.2fms %9.2fms  %zu requests, %zu errors\n", name.c_str(),
                r.requests_per_second, r.p50_ms, r.p99_ms, r.requests, r.errors);
    for (const auto& e : r.error_messages)
        std::printf("    error: %s\n", e.c_str());
}

// The "tokens" of the last access-log entry: what the proxy revealed in the check request.
long last_logged_tokens(const profile::Profile& p) {
    std::ifstream in(p.access_log_path());
    std::string line, last;
    while (std::getline(in, line))
        if (!line.empty())
            last = line;
    auto entry = nlohmann::json::parse(last, nullptr, false);
    return entry.is_object() && entry.contains("tokens") ? entry["tokens"].get<long>() : -1;
}

} // namespace

int main(int argc, char** argv) {
    double seconds = 10;
    double warmup = 1;
    int connections = 32;
    std::string home, upstream, proxy, profile_name = "default", upstream_ca, body_file, mitm, mitm_ca,
                                       direct_file;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc)
                usage(a + " needs a value");
            return argv[++i];
        };
        if (a == "--seconds")
            seconds = std::atof(next().c_str());
        else if (a == "--warmup")
            warmup = std::atof(next().c_str());
        else if (a == "--connections")
            connections = std::atoi(next().c_str());
        else if (a == "--home")
            home = next();
        else if (a == "--upstream")
            upstream = next();
        else if (a == "--proxy")
            proxy = next();
        else if (a == "--profile")
            profile_name = next();
        else if (a == "--mitm")
            mitm = next();
        else if (a == "--mitm-ca")
            mitm_ca = next();
        else if (a == "--upstream-ca")
            upstream_ca = next();
        else if (a == "--body")
            body_file = next();
        else if (a == "--direct-body")
            direct_file = next();
        else
            usage("unknown option " + a);
    }
    if (home.empty() || upstream.empty() || proxy.empty() || body_file.empty())
        usage();
    if (upstream.rfind("https://", 0) != 0)
        usage("--upstream must be an https:// URL");
    if (seconds <= 0 || connections <= 0 || warmup < 0)
        usage("--seconds and --connections must be positive, --warmup not negative");

    auto profile = profile::load(home, profile_name);
    if (!profile) {
        std::cerr << "bench_proxy: " << profile.error().message << "\n";
        return 1;
    }
    if (profile->proxy_credentials.empty()) {
        std::cerr << "bench_proxy: the profile has no [[proxy_credentials]]\n";
        return 1;
    }
    if (upstream_ca.empty() && !profile->upstream.ca_files.empty())
        upstream_ca = profile->resolve(profile->upstream.ca_files.front()).string();

    std::string rest = upstream.substr(8);
    auto slash = rest.find('/');
    auto [up_host, up_port] = host_port(rest.substr(0, slash));
    std::string path = slash == std::string::npos ? "/" : rest.substr(slash);
    auto [proxy_host, proxy_port] = host_port(proxy);

    test::LoadRequest through;
    through.path = path;
    through.body = read_file(body_file);
    test::LoadRequest plain = through;
    if (!direct_file.empty())
        plain.body = read_file(direct_file);

    test::LoadTarget direct;
    direct.scheme = "https";
    direct.host = up_host;
    direct.port = up_port;
    direct.ca_file = upstream_ca;
    test::LoadTarget via = direct;
    via.ca_file = profile->resolve(profile->ca.cert).string(); // the proxy intercepts
    via.proxy_host = proxy_host;
    via.proxy_port = proxy_port;
    via.proxy_user = profile->proxy_credentials.front().username;
    via.proxy_password = profile->proxy_credentials.front().password;

    // One request each first: a setup mistake shows as its error, not as a row of failures.
    test::LoadOptions once;
    once.connections = 1;
    once.requests = 1;
    for (auto [name, target, request] :
         {std::tuple{"direct", &direct, &plain}, std::tuple{"forward proxy", &via, &through}}) {
        auto r = test::run_load(*target, *request, once);
        if (r.errors != 0) {
            std::cerr << "bench_proxy: the " << name << " check failed: "
                      << (r.error_messages.empty() ? "?" : r.error_messages.front()) << "\n";
            return 1;
        }
    }

    std::this_thread::sleep_for(std::chrono::milliseconds(200)); // serve logs after it answers
    const long revealed = last_logged_tokens(*profile);

    test::LoadOptions options;
    options.connections = connections;
    options.duration = std::chrono::milliseconds(static_cast<long>(seconds * 1000));
    options.warmup = std::chrono::milliseconds(static_cast<long>(warmup * 1000));
    std::printf("bench_proxy: %d keep-alive connections, %g s per row after a %g s warm-up, POST "
                "%zu-byte JSON, %ld aliases revealed per request (access log)\n",
                connections, seconds, warmup, through.body.size(), revealed);
    std::printf("%-38s %12s %11s %11s\n", "path", "req/s", "p50", "p99");
    auto d = test::run_load(direct, plain, options);
    print_row("direct (same client)", d);
    auto p = test::run_load(via, through, options);
    print_row("forward proxy (CONNECT, 5 aliases)", p);
    std::printf("ratio: proxy/direct = %.2f\n",
                d.requests_per_second > 0 ? p.requests_per_second / d.requests_per_second : 0.0);
    bool mitm_ok = true;
    if (!mitm.empty()) {
        // mitmproxy in regular mode, an addon replacing the same five aliases: same client.
        test::LoadTarget via_mitm = direct;
        via_mitm.ca_file = mitm_ca;
        auto [mitm_host, mitm_port] = host_port(mitm);
        via_mitm.proxy_host = mitm_host;
        via_mitm.proxy_port = mitm_port;
        auto m = test::run_load(via_mitm, through, options);
        print_row("mitmproxy (CONNECT, 5 aliases)", m);
        std::printf("ratio: proxy/mitmproxy = %.1f\n",
                    m.requests_per_second > 0 ? p.requests_per_second / m.requests_per_second : 0.0);
        mitm_ok = m.errors == 0;
    }
    return d.errors == 0 && p.errors == 0 && mitm_ok ? 0 : 1;
}
