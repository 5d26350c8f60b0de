// SPDX-License-Identifier: Apache-2.0
#pragma once
// The inspector: a live page of the exchanges through `serve` (every listener), every vault
// value masked as its token or alias. The engine captures an exchange's four messages while the
// inspector is enabled (capture.hpp); record() masks them (record.hpp) on the inspector's own
// thread and keeps the last N in a ring, in memory only. The page, its JSON API, its server-sent
// events, the route maker, the HAR export and the re-send are served at /_inspector/ of the API
// port, to the API port's keys or the token printed at start.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <toml++/toml.h>

#include "core/http/message.hpp"
#include "core/inspector/capture.hpp"
#include "core/inspector/record.hpp"
#include "core/profile/profile.hpp"
#include "core/upstream/client.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::server {
struct Exchange;
class Engine;
} // namespace vaultfwd::server

namespace vaultfwd::inspector {

constexpr const char* k_prefix = "/_inspector";

// The exchanges kept, oldest first, at most `capacity`; ids grow from 1.
class Ring {
  public:
    explicit Ring(std::size_t capacity) : m_capacity(capacity == 0 ? 1 : capacity) {}
    // Gives the record its id and keeps it (dropping the oldest past capacity); returns the id.
    std::uint64_t push(Record record);
    // Copies of the records with id > after, oldest first, that pass `keep`.
    std::vector<std::shared_ptr<const Record>> since(std::uint64_t after,
                                                     const std::function<bool(const Record&)>& keep = {}) const;
    std::shared_ptr<const Record> find(std::uint64_t id) const;
    std::uint64_t last_id() const;
    std::size_t size() const;

  private:
    mutable std::mutex m_mutex;
    std::size_t m_capacity;
    std::deque<std::shared_ptr<const Record>> m_records;
    std::uint64_t m_next = 1;
};

// What the route maker is asked: from which exchange, which fields, what to do with them.
struct RouteSpec {
    std::string id;                 // the route's id; empty: "inspector-<exchange id>"
    std::string phase = "request";  // request | response
    std::string operation = "reveal"; // reveal | redact
    std::string format = "UUID";    // alias format for redact
    std::vector<std::string> json_paths, form_fields, headers;
};

// The [[routes]] entry for `spec` over the exchange `record` (a forward-proxy or inbound one):
// its host (and, inbound, its upstream) and exact path, one filter per kind of field picked.
// Errors "inspector.bad_route" naming what is wrong.
Result<toml::table> make_route(const Record& record, const RouteSpec& spec);
// The entry as the TOML text appended to a profile.
std::string route_text(const toml::table& route);

// p50/p99 of the durations per dialect, in buckets of `bucket_ms` over the last `window_ms`.
class Latency {
  public:
    void add(const std::string& dialect, std::int64_t time_ms, double duration_ms);
    nlohmann::json json(std::int64_t now_ms, std::int64_t window_ms = 300000, std::int64_t bucket_ms = 10000) const;

  private:
    mutable std::mutex m_mutex;
    std::map<std::string, std::deque<std::pair<std::int64_t, double>>> m_samples;
};

struct Settings {
    bool enabled = false;
    std::size_t exchanges = 200;         // the ring's size
    std::size_t max_body_bytes = 65536;  // bodies shown are cut past it
    std::size_t max_pages = 4;           // live streams open at once
};

class Inspector {
  public:
    // `token`: accepted besides the profile's API keys (printed at serve's start).
    Inspector(Settings settings, const profile::Profile& profile, std::string token);
    ~Inspector(); // stops
    Inspector(const Inspector&) = delete;
    Inspector& operator=(const Inspector&) = delete;

    bool enabled() const { return m_settings.enabled; }
    const std::string& token() const { return m_token; }
    // True when exchanges of this listener and path are captured (never the inspector's own).
    bool watching(const std::string& listener, const std::string& path) const;
    // Bodies larger than this are not captured (a note says so).
    std::size_t capture_limit() const;
    // Called by the engine once per exchange, as its access-log line is written: masks the
    // capture (on the inspector's thread) and keeps it.
    void record(const std::string& listener, server::Exchange& ex);
    // The engine a listener's re-sends go through (serve attaches each one it runs).
    void attach(const std::string& listener, server::Engine& engine);
    // The origin of the API port, for HAR URLs ("http://127.0.0.1:7410").
    void set_api_origin(std::string origin);

    // The answer to a request under /_inspector (page, API, events); never throws.
    http::Response handle(const http::Request& request);

    // Ends the live streams and the thread; records after it are dropped.
    void stop();
    // Waits until every exchange recorded so far is in the ring (tests).
    void flush();

    const Ring& ring() const { return m_ring; }

  private:
    struct Pending;
    void run();
    http::Response api(const http::Request& request, const std::string& sub);
    http::Response events(const http::Request& request);
    http::Response make_route_answer(const http::Request& request);
    http::Response resend(std::uint64_t id);

    Settings m_settings;
    const profile::Profile& m_profile;
    std::string m_token;
    Ring m_ring;
    Latency m_latency;
    std::string m_api_origin = "http://127.0.0.1";
    std::map<std::string, server::Engine*> m_engines;

    std::mutex m_mutex;
    std::condition_variable m_wake;      // the thread: work to do
    std::condition_variable m_recorded;  // streams and flush(): a record was kept
    std::deque<std::unique_ptr<Pending>> m_queue;
    std::size_t m_busy = 0;
    bool m_stopping = false;
    std::atomic<std::size_t> m_pages{0};
    std::thread m_thread;
    friend class EventStream;
};

// The engine's capture points (engine.cpp), each a no-op cost when nothing watches:
// the client's request as parsed (its streamed body through a TeeSource), the upstream call as
// it is sent, the upstream's outcome as it came, and the client's streamed answer.
void begin_capture(server::Exchange& ex, std::size_t limit);
void capture_call(const std::shared_ptr<Capture>& capture, upstream::Call& call);
void capture_outcome(const std::shared_ptr<Capture>& capture, upstream::Outcome& outcome);
std::shared_ptr<http::BodySource> capture_answer_stream(const std::shared_ptr<Capture>& capture,
                                                        std::shared_ptr<http::BodySource> body);

} // namespace vaultfwd::inspector
