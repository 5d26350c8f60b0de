// SPDX-License-Identifier: Apache-2.0
#include "support/loadgen.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <httplib.h>

namespace vaultfwd::test {

namespace {

std::unique_ptr<httplib::ClientImpl> make_client(const LoadTarget& t, int timeout_ms) {
    std::unique_ptr<httplib::ClientImpl> cli;
    if (t.scheme == "https") {
        auto ssl = std::make_unique<httplib::SSLClient>(t.host, t.port);
        if (!t.ca_file.empty())
            ssl->set_ca_cert_path(t.ca_file);
        ssl->enable_server_certificate_verification(true);
        cli = std::move(ssl);
    } else {
        cli = std::make_unique<httplib::ClientImpl>(t.host, t.port);
    }
    if (t.proxy_port > 0) {
        // httplib sends CONNECT for an SSLClient with a proxy, and the credentials with it.
        cli->set_proxy(t.proxy_host, t.proxy_port);
        if (!t.proxy_user.empty())
            cli->set_proxy_basic_auth(t.proxy_user, t.proxy_password);
    }
    cli->set_keep_alive(true);
    cli->set_tcp_nodelay(true);
    cli->set_follow_location(false);
    auto timeout = std::chrono::milliseconds(timeout_ms);
    cli->set_connection_timeout(timeout);
    cli->set_read_timeout(timeout);
    cli->set_write_timeout(timeout);
    return cli;
}

double percentile_ms(const std::vector<std::uint32_t>& sorted_us, double q) {
    if (sorted_us.empty())
        return 0;
    // Nearest rank: the smallest sample with at least q of all samples at or below it.
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted_us.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted_us.size());
    return sorted_us[rank - 1] / 1000.0;
}

} // namespace

LoadReport run_load(const LoadTarget& target, const LoadRequest& request,
                    const LoadOptions& options) {
    if (options.requests == 0 && options.duration.count() <= 0)
        throw std::invalid_argument("run_load needs a request count or a duration");
    const int connections = std::max(1, options.connections);

    httplib::Request prototype;
    prototype.method = request.method;
    prototype.path = request.path;
    for (const auto& [name, value] : request.headers)
        prototype.headers.emplace(name, value);
    prototype.body = request.body;
    if (!request.body.empty() && !prototype.has_header("Content-Type"))
        prototype.headers.emplace("Content-Type", request.content_type);

    std::atomic<std::size_t> issued{0};
    std::atomic<std::size_t> completed{0};
    std::mutex report_mutex; // guards errors, statuses and error_messages of `report`
    std::mutex sampler_mutex;
    LoadReport report;
    std::uint32_t report_slowest_us = 0;
    std::vector<std::vector<std::uint32_t>> latencies(static_cast<std::size_t>(connections));

    const auto started = std::chrono::steady_clock::now();
    const auto measured_from = started + options.warmup;
    const auto deadline = measured_from + options.duration;
    auto worker = [&](int connection, std::vector<std::uint32_t>& latency_us) {
        auto cli = make_client(target, options.timeout_ms);
        std::size_t on_connection = 0;
        std::map<int, std::size_t> statuses;
        std::uint32_t slowest_us = 0;
        std::string slowest;
        std::size_t errors = 0;
        if (options.requests > 0)
            latency_us.reserve(options.requests / static_cast<std::size_t>(connections) + 16);
        while (true) {
            auto before = std::chrono::steady_clock::now();
            const bool measured = before >= measured_from;
            if (measured && options.duration.count() > 0 && before >= deadline)
                break;
            if (measured && options.requests > 0 && issued.fetch_add(1) >= options.requests)
                break;
            httplib::Request req = prototype; // send() adds headers to the request it is given
            httplib::Response res;
            httplib::Error err = httplib::Error::Success;
            bool sent = cli->send(req, res, err);
            auto after = std::chrono::steady_clock::now();
            auto took_us = static_cast<std::uint32_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(after - before).count());
            if (measured)
                latency_us.push_back(took_us);

            std::string problem;
            if (!sent) {
                problem = "transport error: " + httplib::to_string(err);
                ++statuses[0];
            } else {
                ++statuses[res.status];
                if (res.status != request.expected_status)
                    problem =
                        "status " + std::to_string(res.status) + ": " + res.body.substr(0, 300);
                else if (!request.expected_body.empty() && res.body != request.expected_body)
                    problem = "unexpected body: " + res.body.substr(0, 300);
            }
            ++on_connection;
            auto where = [&] {
                char text[128];
                std::snprintf(
                    text, sizeof text, "client %d, its request %zu, at %.2f s, after %.1f ms",
                    connection, on_connection,
                    std::chrono::duration<double>(before - started).count(), took_us / 1000.0);
                return std::string(text);
            };
            if (measured && took_us > slowest_us) {
                slowest_us = took_us;
                slowest = where();
            }
            if (!problem.empty()) {
                ++errors;
                problem += " (" + where() + ")";
                std::lock_guard<std::mutex> lock(report_mutex);
                if (report.error_messages.size() < options.max_error_messages)
                    report.error_messages.push_back(std::move(problem));
            }
            if (!measured)
                continue;
            std::size_t done = completed.fetch_add(1) + 1;
            if (options.sampler && options.sample_every > 0 && done % options.sample_every == 0) {
                std::lock_guard<std::mutex> lock(sampler_mutex);
                options.sampler(done);
            }
        }
        cli.reset(); // closes the connection before the run counts as finished
        std::lock_guard<std::mutex> lock(report_mutex);
        report.errors += errors;
        if (slowest_us > report_slowest_us) {
            report_slowest_us = slowest_us;
            report.slowest = slowest;
        }
        for (const auto& [status, count] : statuses)
            report.statuses[status] += count;
    };

    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(connections));
    for (int i = 0; i < connections; ++i)
        threads.emplace_back(worker, i, std::ref(latencies[static_cast<std::size_t>(i)]));
    for (auto& t : threads)
        t.join();
    report.seconds = std::max(
        0.0,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - measured_from).count());

    std::vector<std::uint32_t> all;
    for (const auto& l : latencies)
        all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    report.requests = all.size();
    report.requests_per_second =
        report.seconds > 0 ? static_cast<double>(all.size()) / report.seconds : 0;
    report.p50_ms = percentile_ms(all, 0.50);
    report.p99_ms = percentile_ms(all, 0.99);
    report.max_ms = all.empty() ? 0 : all.back() / 1000.0;
    return report;
}

std::string summary(const LoadReport& r) {
    char line[256];
    std::snprintf(line, sizeof line,
                  "requests %zu, errors %zu, %.1f req/s, p50 %.2f ms, p99 %.2f ms, max %.0f ms",
                  r.requests, r.errors, r.requests_per_second, r.p50_ms, r.p99_ms, r.max_ms);
    return line;
}

} // namespace vaultfwd::test
