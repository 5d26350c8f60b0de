// SPDX-License-Identifier: Apache-2.0
#pragma once
// A small load generator for the soak test and the benchmarks: N keep-alive connections, one
// thread each, sending the same request until a request count or a duration is reached.
// Plain HTTP, HTTPS, or HTTPS through an HTTP forward proxy (CONNECT, Basic credentials).

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace vaultfwd::test {

struct LoadTarget {
    std::string scheme = "http"; // http | https
    std::string host = "127.0.0.1";
    int port = 0;
    std::string ca_file; // https: the roots the server certificate is verified against
    // When proxy_port is set, https requests go through CONNECT to this proxy.
    std::string proxy_host = "127.0.0.1";
    int proxy_port = 0;
    std::string proxy_user;
    std::string proxy_password;
};

struct LoadRequest {
    std::string method = "POST";
    std::string path = "/";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string content_type = "application/json";
    int expected_status = 200;
    // When set, a response whose body differs from it counts as an error.
    std::string expected_body;
};

struct LoadOptions {
    int connections = 64;
    std::size_t requests = 0;             // stop after this many in total (0: no limit)
    std::chrono::milliseconds duration{}; // stop after this long (0: no limit)
    // Requests begun within this long of the start warm the connections up: their errors
    // count, but they are not measured and count towards neither `requests` nor `duration`.
    std::chrono::milliseconds warmup{};
    int timeout_ms = 30000;             // connect/read/write timeout of each request
    std::size_t max_error_messages = 5; // the first few error descriptions are kept (with
                                        // the client, its request number and the time)
    // Called every `sample_every` completed requests with the number completed so far, from
    // one worker at a time (the others keep going).
    std::size_t sample_every = 0;
    std::function<void(std::size_t completed)> sampler;
};

struct LoadReport {
    std::size_t requests = 0; // measured (after the warm-up), successful or not
    std::size_t errors = 0;   // unexpected status or body, or a transport error (warm-up too)
    double seconds = 0;       // measured time
    double requests_per_second = 0;
    double p50_ms = 0;
    double p99_ms = 0;
    double max_ms = 0;
    std::map<int, std::size_t> statuses; // 0: transport error (warm-up too)
    std::vector<std::string> error_messages;
    std::string slowest; // which request took max_ms: client, its request number, when
};

// Runs the load; neither needs a limit, but at least one of options.requests and
// options.duration must be set.
LoadReport run_load(const LoadTarget& target, const LoadRequest& request,
                    const LoadOptions& options);

// "requests 50000, errors 0, 2345.6 req/s, p50 12.30 ms, p99 45.60 ms, max 80 ms"
std::string summary(const LoadReport& report);

} // namespace vaultfwd::test
