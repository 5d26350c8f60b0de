// SPDX-License-Identifier: Apache-2.0
#pragma once
// Plain HTTP messages that the dialects take and return, so their logic runs without sockets.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vaultfwd::http {

struct Header {
    std::string name;
    std::string value;
};
using Headers = std::vector<Header>;

// The first value of `name` (case-insensitive), or nullopt.
std::optional<std::string> find(const Headers& headers, std::string_view name);
// Every value of `name`, in order.
std::vector<std::string> find_all(const Headers& headers, std::string_view name);
// Replaces every `name` header with one of `value`.
void set(Headers& headers, std::string_view name, std::string value);
void remove(Headers& headers, std::string_view name);
// True for the hop-by-hop headers (RFC 9110 §7.6.1) and the ones a client library sets itself
// (host, content-length), which are never copied between hops.
bool is_hop_by_hop(std::string_view name);
// Removes, in place and keeping the order of the rest, the hop-by-hop headers (is_hop_by_hop)
// and every header a Connection header names ("Connection: keep-alive, X-Hop" takes X-Hop
// with it; RFC 9110 §7.6.1). Content-Length stays when `keep_content_length` (an answer's
// length: the answer to HEAD tells it without a body).
void remove_hop_by_hop(Headers& headers, bool keep_content_length = false);
// A header value is safe to send when it has no CR, LF or NUL.
bool is_safe_value(std::string_view value);
// A header name is a non-empty RFC 9110 token.
bool is_token(std::string_view name);

struct Request {
    std::string method;
    std::string path;  // without the query
    std::string query; // without '?'
    Headers headers;
    std::string body;
    std::string remote_addr;
};

// A body relayed while it arrives (an upstream's answer that nothing needs whole), pulled piece
// by piece by whoever sends it on. Blocking: it is read on a worker, never on an event loop.
class BodySource {
  public:
    enum class Step { piece, end, failed, pending };
    virtual ~BodySource() = default;
    // Appends the next piece to `out` (piece), or says the body ended whole (end) or broke
    // (failed: error_code() and error_message() say why; never a byte of the body). A source
    // that lives on an event loop never waits: it says `pending` when its next bytes are not
    // there yet, and calls the function given to when_ready() (once, on its loop) when next()
    // may go on. Sources read on a worker thread wait instead, and never say pending.
    virtual Step next(std::string& out) = 0;
    // For a source that may say pending: `wake` is called once it can go on (replaces any
    // function given before). Sources that never say pending ignore it.
    virtual void when_ready(std::function<void()> wake) { (void)wake; }
    // The declared length (Content-Length), when the sender gave one.
    virtual std::optional<std::uint64_t> length() const = 0;
    virtual const std::string& error_code() const = 0;
    virtual const std::string& error_message() const = 0;
};

struct Response {
    int status = 200;
    Headers headers;
    std::string body;
    // When set, the body comes from here instead of `body` (which stays empty), relayed with
    // bounded memory; the headers carry no framing of their own (the sender frames it).
    std::shared_ptr<BodySource> stream;
};

// The reason phrase for a status (for logs and raw messages).
std::string_view status_text(int status);

} // namespace vaultfwd::http
