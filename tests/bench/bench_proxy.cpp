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
//               [--proxy-pid PID] [--mitm-pid PID]
//
// --body (five aliases in scripts/bench) is sent through the proxy; --direct-body (the values
// they stand for) is sent directly, default the same body. The upstream's CA is the profile's
// first upstream.ca_files entry unless --upstream-ca is given. Each row starts with a warm-up
// (default 1 s, not measured): opening 32 tunnels at once (CONNECT, two TLS handshakes and a
// new upstream connection each) would otherwise weigh on a short row's p99. With --proxy-pid
// (and --mitm-pid) each proxy row also gives that process's CPU time (user + system, all its
// threads) per measured request, taken from /proc over the measured part of the row only.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <unistd.h>

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
           "                   [--profile NAME] [--upstream-ca FILE] [--mitm HOST:PORT --mitm-ca FILE]\n"
           "                   [--proxy-pid PID] [--mitm-pid PID]\n";
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

// CPU time (user + system, every thread) of a process so far, in seconds; -1 when unreadable.
double cpu_seconds(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto paren = stat.rfind(')'); // the command name may hold spaces
    if (paren == std::string::npos)
        return -1;
    std::istringstream fields(stat.substr(paren + 2));
    std::string f;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) { // fields 14 and 15 (1-based): utime, stime
        if (i == 14)
            utime = std::stoull(f);
        else if (i == 15)
            stime = std::stoull(f);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// run_load, and with a pid the CPU time that process spent per request measured: read when
// the warm-up ends and when the row does.
test::LoadReport measure(const test::LoadTarget& target, const test::LoadRequest& request,
                         const test::LoadOptions& options, int pid, double& cpu_us_per_request) {
    cpu_us_per_request = -1;
    if (pid <= 0)
        return test::run_load(target, request, options);
    double before = -1;
    std::thread sampler([&] {
        std::this_thread::sleep_for(options.warmup);
        before = cpu_seconds(pid);
    });
    auto report = test::run_load(target, request, options);
    sampler.join();
    double after = cpu_seconds(pid);
    if (before >= 0 && after >= 0 && report.requests > 0)
        cpu_us_per_request = (after - before) * 1e6 / static_cast<double>(report.requests);
    return report;
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
    int proxy_pid = 0, mitm_pid = 0;
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
        else if (a == "--proxy-pid")
            proxy_pid = std::atoi(next().c_str());
        else if (a == "--mitm-pid")
            mitm_pid = std::atoi(next().c_str());
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
    double proxy_cpu = -1, mitm_cpu = -1;
    auto p = measure(via, through, options, proxy_pid, proxy_cpu);
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
        auto m = measure(via_mitm, through, options, mitm_pid, mitm_cpu);
        print_row("mitmproxy (CONNECT, 5 aliases)", m);
        std::printf("ratio: proxy/mitmproxy = %.1f\n",
                    m.requests_per_second > 0 ? p.requests_per_second / m.requests_per_second : 0.0);
        mitm_ok = m.errors == 0;
    }
    if (proxy_cpu >= 0) {
        std::printf("proxy CPU per request: vaultfwd serve %.1f us", proxy_cpu);
        if (mitm_cpu >= 0)
            std::printf(", mitmproxy %.1f us (%.1fx)", mitm_cpu, proxy_cpu > 0 ? mitm_cpu / proxy_cpu : 0.0);
        std::printf("\n");
    }
    return d.errors == 0 && p.errors == 0 && mitm_ok ? 0 : 1;
}
