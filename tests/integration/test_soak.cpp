// SPDX-License-Identifier: Apache-2.0
// Load and soak: the built `vaultfwd serve` under 64 keep-alive connections, through the API port
// (/vault_proxy/jit, five tokens) and through the forward proxy (CONNECT, intercepted, five
// aliases revealed), to an in-process HTTPS upstream on loopback. Bounded in count and time.
// Every answer is checked (status and the revealed body); serve's resident memory and open file
// descriptors are sampled from /proc while it runs.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/profile/profile.hpp"
#include "core/util/strings.hpp"
#include "support/loadgen.hpp"
#include "support/serve_process.hpp"
#include "support/support.hpp"
#include "support/upstream_server.hpp"

using namespace vaultfwd;
namespace fs = std::filesystem;

namespace {

#ifdef VAULTFWD_SANITIZED
// Instrumented binaries are several times slower, and a sanitizer's allocator (ASan's
// quarantine holds freed blocks up to 256 MiB) makes RSS say nothing about serve's own memory:
// fewer requests, and RSS is shown but not checked (LeakSanitizer checks leaks when serve
// stops). The printed lines say so.
// And 16 connections, not 64: 64 simultaneous upstream TLS handshakes through two instrumented
// processes on two cores outlast the upstream's own handshake timeout.
constexpr std::size_t k_default_requests = 5000;
constexpr bool k_check_rss = false;
constexpr int k_connections = 16;
#else
constexpr std::size_t k_default_requests = 50000;
constexpr bool k_check_rss = true;
constexpr int k_connections = 64;
#endif
constexpr std::size_t k_samples = 48; // divisible by 4: quarters of equal size

// Requests per path: VAULTFWD_SOAK_REQUESTS soaks longer (or shorter) by hand.
std::size_t soak_requests() {
    const char* env = std::getenv("VAULTFWD_SOAK_REQUESTS");
    std::size_t n = env ? std::strtoul(env, nullptr, 10) : 0;
    return n >= k_samples * 10 ? n : k_default_requests;
}

// What the printed lines add when the count is not the issue's 50 000.
std::string scale_note(std::size_t requests) {
    if (requests == 50000)
        return "";
#ifdef VAULTFWD_SANITIZED
    return " [sanitizer build: " + std::to_string(requests) + " requests at " +
           std::to_string(k_connections) + " connections, not 50000 at 64; RSS not checked]";
#else
    return " [VAULTFWD_SOAK_REQUESTS=" + std::to_string(requests) + "]";
#endif
}

// Allowed RSS rise between quarters (serve runs with one malloc arena, see Serve). Re-dialled
// upstream connections (each with its own SSL_CTX) leave holes that moved RSS by up to 3.2 MiB
// within a run on a busy machine. 8 MiB is above that noise and still catches a leak of about 220 bytes per request over
// the last three quarters: less than one request body or header map.
constexpr double k_rss_tolerance_mib = 8.0;
constexpr long k_fd_tolerance = 2;

struct Sample {
    std::size_t completed = 0;
    double rss_mib = 0;
    long fds = 0;
};

double max_rss(const std::vector<Sample>& s, std::size_t from, std::size_t to) {
    double m = 0;
    for (std::size_t i = from; i < to; ++i)
        m = std::max(m, s[i].rss_mib);
    return m;
}

double mean_rss(const std::vector<Sample>& s, std::size_t from, std::size_t to) {
    double sum = 0;
    for (std::size_t i = from; i < to; ++i)
        sum += s[i].rss_mib;
    return to > from ? sum / static_cast<double>(to - from) : 0;
}

// `vaultfwd serve` on a fresh home: the upstream's CA trusted, enough threads for 64
// connections on each port, five vault fields for the API path and five aliases behind a
// JSONPath reveal route for the proxy path.
struct Serve {
    explicit Serve(const test::TestPki& pki) {
        auto h = home.path().string();
        auto init = test::run_vaultfwd({"--home", h, "init"});
        REQUIRE_MESSAGE(init.exit_code == 0, init.err);
        test::write_text(home / "upstream-ca.pem", pki.ca_pem());
        auto text = test::read_text(home / "default.toml");
        auto edit = [&text](const std::string& line, const std::string& with) {
            auto at = text.find("\n" + line + "\n");
            REQUIRE_MESSAGE(at != std::string::npos,
                            "the profile `init` wrote has no line " << line);
            text.insert(at + line.size() + 2, with + "\n");
        };
        edit("timeout_ms = 15000", "ca_files = [\"upstream-ca.pem\"]");
        // A tunnel holds a proxy worker and a thread of the internal TLS server; the API port
        // holds a thread per keep-alive connection.
        edit("max_body_bytes = 5242880", "threads = 80");
        text +=
            "\n[[routes]]\nid = \"soak\"\nhost = '127\\.0\\.0\\.1'\n\n"
            "[[routes.filters]]\nphase = \"request\"\noperation = \"reveal\"\n"
            "transformer = \"json_path\"\n"
            "targets = [\"$.card.number\", \"$.card.cvc\", \"$.iban\", \"$.name\", \"$.ssn\"]\n";
        test::write_text(home / "default.toml", text);

        auto put =
            test::run_vaultfwd({"--home", h, "vault", "put", "fp_id_test_soak",
                                "id.first_name=Jane", "id.last_name=Doe", "id.ssn9=123456789",
                                "custom.card=4242424242424242", "custom.cvc=123"});
        REQUIRE_MESSAGE(put.exit_code == 0, put.err);
        auto alias = [&](const std::string& value) {
            auto r = test::run_vaultfwd({"--home", h, "vault", "alias", value});
            REQUIRE_MESSAGE(r.exit_code == 0, r.err);
            return std::string(util::trim(r.out));
        };
        // Keys in sorted order and no spaces, so the expected echo does not depend on how the
        // reveal re-serialises the document.
        proxy_body = R"({"card":{"cvc":")" + alias("123") + R"(","number":")" +
                     alias("4242424242424242") + R"("},"iban":")" +
                     alias("DE89370400440532013000") + R"(","name":")" + alias("Jane Doe") +
                     R"(","ssn":")" + alias("123456789") + R"("})";
        proxy_revealed = R"({"card":{"cvc":"123","number":"4242424242424242"},)"
                         R"("iban":"DE89370400440532013000","name":"Jane Doe","ssn":"123456789"})";

        auto p = profile::load(home.path(), "default");
        REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.error().message));
        REQUIRE_FALSE(p->api_keys.empty());
        REQUIRE_FALSE(p->proxy_credentials.empty());
        api_key = p->api_keys[0].key;
        proxy_user = p->proxy_credentials[0].username;
        proxy_password = p->proxy_credentials[0].password;
        local_ca = p->resolve(p->ca.cert).string();

        // One malloc arena. With glibc's default (8 per core) each of serve's ~200 threads lands
        // in one of 16 arenas, and each arena climbs to its own high-water mark in its own
        // time: RSS then rises in steps of a few MiB for hundreds of thousands of requests
        // (measured: 127 -> 145 MiB over the first 50 000, 151 MiB at 200 000) without any
        // leak, and a real leak would hide among the steps. With one arena the curve is
        // serve's live memory, flat within about a MiB when nothing leaks.
        process = std::make_unique<test::Process>(
            std::vector<std::string>{test::binary_path(), "--home", h, "serve", "--api-listen",
                                     "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0", "--inbound-listen", "127.0.0.1:0"},
            std::map<std::string, std::string>{{"MALLOC_ARENA_MAX", "1"}});
        auto listeners = test::read_listeners(*process);
        api_port = listeners.api_port();
        proxy_port = listeners.proxy_port();
        REQUIRE(api_port > 0);
        REQUIRE(proxy_port > 0);
    }

    test::TempDir home;
    std::unique_ptr<test::Process> process;
    int api_port = 0;
    int proxy_port = 0;
    std::string api_key, proxy_user, proxy_password, local_ca;
    std::string proxy_body, proxy_revealed;
};

std::string errors_of(const test::LoadReport& r) {
    std::string out;
    for (const auto& e : r.error_messages)
        out += "\n  error: " + e;
    return out;
}

// The upstream: echoes the body it received, and counts the connections serve opened to it
// (by client address), which shows whether serve's keep-alive pool holds up under the load.
class Echo {
  public:
    http::Response operator()(const http::Request& r) {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_peers.insert(r.remote_addr);
        }
        http::Response res;
        res.headers.push_back({"Content-Type", "application/json"});
        res.body = r.body;
        return res;
    }
    std::size_t connections() {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_peers.size();
    }

  private:
    std::mutex m_mutex;
    std::set<std::string> m_peers;
};

struct PathResult {
    test::LoadReport load;
    std::size_t upstream_connections = 0; // opened by serve during the measured run
    std::vector<Sample> samples;
    long fds_before = 0;
    long fds_after = 0;
    std::string line;
};

// A warm-up run (pools and caches fill, its connections close), the fd baseline, then the
// measured run with /proc samples, then the fd count once the connections are gone.
PathResult soak(const std::string& name, int pid, Echo& echo, const test::LoadTarget& target,
                const test::LoadRequest& request) {
    PathResult out;
    const std::size_t requests = soak_requests();
    test::LoadOptions warm;
    warm.connections = k_connections;
    warm.requests = requests / 10;
    auto warmup = test::run_load(target, request, warm);
    INFO(name << " warm-up: " << test::summary(warmup) << errors_of(warmup));
    REQUIRE(warmup.errors == 0);

    out.fds_before = test::settled_fds(pid, 0);

    test::LoadOptions options;
    options.connections = k_connections;
    options.requests = requests;
    options.sample_every = requests / k_samples;
    options.sampler = [&out, pid](std::size_t done) {
        out.samples.push_back({done, test::rss_mib(pid), test::fd_count(pid)});
    };
    const std::size_t connections_before = echo.connections();
    out.load = test::run_load(target, request, options);
    out.upstream_connections = echo.connections() - connections_before;
    out.fds_after = test::settled_fds(pid, out.fds_before + k_fd_tolerance);
    std::sort(out.samples.begin(), out.samples.end(),
              [](const Sample& a, const Sample& b) { return a.completed < b.completed; });

    const std::size_t n = out.samples.size(), q = n / 4;
    char line[512];
    std::snprintf(line, sizeof line,
                  "soak %s: %s; RSS first quarter %.1f MiB (max %.1f), last quarter %.1f MiB "
                  "(max %.1f); fds %ld before, %ld after; %d connections, %zu new upstream "
                  "connections%s",
                  name.c_str(), test::summary(out.load).c_str(), mean_rss(out.samples, 0, q),
                  max_rss(out.samples, 0, q), mean_rss(out.samples, n - q, n),
                  max_rss(out.samples, n - q, n), out.fds_before, out.fds_after, k_connections,
                  out.upstream_connections, scale_note(requests).c_str());
    out.line = line + errors_of(out.load) + "\n  slowest: " + out.load.slowest;
    return out;
}

void check_flat(const PathResult& r) {
    INFO(r.line);
    CHECK(r.load.requests == soak_requests());
    CHECK(r.load.errors == 0);
    REQUIRE(r.samples.size() == k_samples);
    const std::size_t n = r.samples.size(), q = n / 4;
    for (const auto& s : r.samples)
        REQUIRE(s.rss_mib > 0); // serve still running and /proc readable
    // The last quarter is not above the first, and the last half does not climb above what
    // the second quarter reached.
    if (k_check_rss) {
        CHECK(max_rss(r.samples, n - q, n) <= max_rss(r.samples, 0, q) + k_rss_tolerance_mib);
        CHECK(max_rss(r.samples, n / 2, n) <= max_rss(r.samples, q, 2 * q) + k_rss_tolerance_mib);
    }
    // No descriptor kept: at most what was open before. Fewer is fine: serve lets go of a pooled
    // upstream connection as soon as the upstream closes it while idle (the test upstream's
    // keep-alive limit closes the previous path's pool during this run).
    CHECK(r.fds_after <= r.fds_before + k_fd_tolerance);
}

std::string curve(const std::string& name, const PathResult& r) {
    std::ostringstream out;
    out << "# " << name << ": requests completed, serve VmRSS (MiB), serve open fds\n";
    char row[96];
    for (const auto& s : r.samples) {
        std::snprintf(row, sizeof row, "%zu %.2f %ld\n", s.completed, s.rss_mib, s.fds);
        out << row;
    }
    return out.str();
}

} // namespace

TEST_SUITE("soak") {
    TEST_CASE("64 connections through serve and through the forward proxy: no errors, flat memory, "
              "no fd leak") {
        auto started = std::chrono::steady_clock::now();
        auto pki = test::make_pki();
        // One thread per keep-alive connection serve opens (the pool of each path, up to 64).
        Echo echo;
        test::UpstreamServer up(pki, {.threads = 160, .record = false},
                                [&echo](const http::Request& r) { return echo(r); });
        Serve serve(pki);
        const int pid = serve.process->pid();

        test::LoadTarget api;
        api.port = serve.api_port;
        test::LoadRequest jit;
        jit.path = "/vault_proxy/jit";
        jit.headers = {{"Authorization", "Basic " + util::base64_encode(serve.api_key + ":")},
                       {"x-fp-proxy-target-url", up.url("/charge")},
                       {"x-fp-proxy-fwd-content-type", "application/json"}};
        jit.body =
            R"({"name":"{{ fp_id_test_soak.id.first_name }} {{ fp_id_test_soak.id.last_name }}",)"
            R"("ssn":"{{ fp_id_test_soak.id.ssn9 }}","card":"{{ fp_id_test_soak.custom.card }}",)"
            R"("cvc":"{{ fp_id_test_soak.custom.cvc }}"})";
        jit.expected_body =
            R"({"name":"Jane Doe","ssn":"123456789","card":"4242424242424242","cvc":"123"})";
        auto via_api = soak("serve /vault_proxy/jit (5 tokens)", pid, echo, api, jit);
        MESSAGE(via_api.line);

        test::LoadTarget tunnel;
        tunnel.scheme = "https";
        tunnel.port = up.port();
        tunnel.ca_file = serve.local_ca; // the leaf is minted by serve's local CA
        tunnel.proxy_port = serve.proxy_port;
        tunnel.proxy_user = serve.proxy_user;
        tunnel.proxy_password = serve.proxy_password;
        test::LoadRequest charge;
        charge.path = "/charge";
        charge.body = serve.proxy_body;
        charge.expected_body = serve.proxy_revealed;
        auto via_proxy = soak("forward proxy (CONNECT, 5 aliases)", pid, echo, tunnel, charge);
        MESSAGE(via_proxy.line);

        auto seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        char total[96];
        std::snprintf(total, sizeof total, "soak: %.1f s in all", seconds);
        MESSAGE(total);
        test::write_text(test::report_dir() / "soak.txt",
                         via_api.line + "\n" + via_proxy.line + "\n" + total + "\n\n" +
                             curve("serve /vault_proxy/jit", via_api) + "\n" +
                             curve("forward proxy", via_proxy));

        check_flat(via_api);
        check_flat(via_proxy);
        // A clean stop after the load (and, in sanitizer builds, no leak LeakSanitizer finds).
        CHECK(serve.process->stop(SIGTERM) == 0);
    }
}
