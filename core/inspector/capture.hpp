// SPDX-License-Identifier: Apache-2.0
#pragma once
// What the engine keeps of one exchange while the inspector watches, before it is masked: the
// request as the client sent it and as the upstream got it, the answer as the upstream sent it
// and as the client got it. It lives in the exchange's context and is dropped once the
// inspector has masked it (inspector.hpp); nothing of it is ever written anywhere.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "core/http/message.hpp"
#include "core/inspector/secrets.hpp"

namespace vaultfwd::inspector {

// One message of the four.
struct Message {
    bool present = false;
    std::string start; // "POST /path?q HTTP/1.1", "HTTP/1.1 200 OK"
    http::Headers headers;
    std::string body;      // the body when kept
    std::string withheld;  // why the body is not kept; empty when it is (or there is none)
    std::uint64_t body_bytes = 0; // its size, kept or not
    bool streamed = false; // the body went through a TeeSource
    bool ended = false;    // ... which saw its end
};

struct Capture {
    explicit Capture(std::size_t limit) : max_bytes(limit) {}
    std::size_t max_bytes; // bodies over it are not kept (a note says so)
    Message client_request;
    Message upstream_request;
    Message upstream_response;
    Message client_response;
    std::string upstream_url;   // scheme://host:port/path?query as dialed
    std::string upstream_error; // the upstream call's error code when it failed
    bool client_response_streamed = false;
    // Filled by the phases (AccessEntry::secrets points here).
    std::shared_ptr<Secrets> secrets = std::make_shared<Secrets>();
    // Guards the bodies streamed bodies append to (their readers run on workers).
    std::mutex mutex;

    // Keeps `body` as the message's body, or notes that it is over max_bytes.
    void keep(Message& m, const std::string& body);
};

// A body relayed as it arrives, a copy of whose bytes goes into a message while they fit within
// the capture's limit; past it, the copy is dropped and the message says so. The relay itself is
// unchanged (same pieces, same end, same failure).
class TeeSource final : public http::BodySource {
  public:
    TeeSource(std::shared_ptr<http::BodySource> inner, std::shared_ptr<Capture> capture, Message Capture::*message);
    Step next(std::string& out) override;
    void when_ready(std::function<void()> wake) override { m_inner->when_ready(std::move(wake)); }
    std::optional<std::uint64_t> length() const override { return m_inner->length(); }
    const std::string& error_code() const override { return m_inner->error_code(); }
    const std::string& error_message() const override { return m_inner->error_message(); }

  private:
    std::shared_ptr<http::BodySource> m_inner;
    std::shared_ptr<Capture> m_capture;
    Message Capture::*m_message;
};

} // namespace vaultfwd::inspector
