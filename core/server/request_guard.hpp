// SPDX-License-Identifier: Apache-2.0
#pragma once
// A streaming guard on the bytes a client sends before httplib parses them.
//
// httplib 0.11.4 (a compiled library we cannot patch) is lenient where leniency is a request
// smuggling risk, percent-decodes every header value, waits for EOF on a POST without a length
// and has no limit on the size of a head. The guard sits between the client and httplib on
// every connection (API port, the forward proxy's plain requests, the stream inside a tunnel).
// It is deliberately not an HTTP parser: it only frames requests (head up to the empty line,
// then Content-Length bytes or chunked framing) so that it sees every head of a keep-alive
// connection, refuses what must not reach httplib, and passes the rest on. httplib still does
// the parsing.
//
// Per head it refuses (and the connection is then closed):
// - a head over max_header_bytes: 431 request.header_too_large;
// - a request line that is not METHOD SP target SP HTTP/1.x, a header line without a colon or
//   with a name that is not a token, an obs-fold continuation line, Content-Length given twice
//   or not a decimal number, Content-Length together with Transfer-Encoding, a
//   Transfer-Encoding other than a single "chunked": 400 request.malformed;
// - a declared Content-Length over max_body_bytes: 413 request.too_large;
// - POST, PUT or PATCH with neither Content-Length nor Transfer-Encoding: 411
//   request.length_required (instead of httplib reading the body until EOF).
// It rewrites each header value's '%' as "%25", so httplib's decoding gives the value the
// client sent, and hides from httplib the headers its server would act on by itself
// (hidden_header_name below): a request passes through vaultfwd as the client sent it. A header
// line longer than httplib reads (8 KiB) is refused with 431 request.header_too_large instead of
// httplib's bare 400. Broken chunk framing stops the stream before the broken line: httplib sees the
// body end early (and answers nothing: the stream has ended), then the guard's 400 goes out.

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vaultfwd::server {

// httplib's server acts by itself on three request headers: Content-Type (it parses
// multipart/form-data into parts and leaves the body empty, and refuses a form-urlencoded body
// over 8 KiB), Range (it slices whatever the handler answers, or answers 416 itself) and
// Accept-Encoding (it compresses the answer). The guard passes these (and, so that the renaming
// is reversible, any header already carrying the prefix) under "X-Vaultfwd-Hidden-<name>";
// unhide_header_name gives back the client's name, so handlers see the request as sent.
inline constexpr std::string_view k_hidden_prefix = "X-Vaultfwd-Hidden-";
bool hidden_from_httplib(std::string_view name);
// The client's name of a header as httplib handed it over (the prefix taken off once).
std::string_view unhide_header_name(std::string_view name);

// The longest header line httplib 0.11 reads, line end included (CPPHTTPLIB_HEADER_MAX_LENGTH).
inline constexpr std::size_t k_httplib_max_header_line = 8192;

struct GuardLimits {
    std::size_t max_header_bytes = 65536;
    std::size_t max_body_bytes = 5 * 1024 * 1024;
};

struct Refusal {
    enum class Kind { malformed, bad_content_length, too_large, header_too_large, length_required, timeout };
    Kind kind = Kind::malformed;
    int status = 400;
    std::string code;    // "request.malformed", …
    std::string message; // lowercase, for the JSON error
    std::string target;  // the refused request's target, when its request line was readable
    // True when bytes of this request already went on to httplib (a broken chunked body): the
    // server must see the stream end before the refusal is answered.
    bool mid_body = false;
};

class RequestGuard {
  public:
    explicit RequestGuard(GuardLimits limits) : m_limits(limits) {}

    // Feeds bytes from the client and appends to `out` what httplib may read. Returns the
    // refusal once one is found; from then on nothing more passes.
    //
    // Pipelining: httplib 0.11 answers only the first of several requests that arrive together
    // (it waits on the socket for the next one while it sits in its own read buffer). So a
    // request that begins before the answers to the ones passed have all come back is held,
    // unread, until answered() says they have; held() tells how much waits (stop reading the
    // client when it is a buffer's worth).
    std::optional<Refusal> feed(std::string_view in, std::string& out);
    // Every request passed so far has its whole answer: what was held goes on (it may be held
    // again behind the next request).
    std::optional<Refusal> answered(std::string& out);
    std::size_t held() const { return m_held.size(); }

    // True while a head has begun (its first byte arrived) and has not ended.
    bool in_head() const { return m_state == State::head && !m_head.empty(); }
    // True between requests: no byte of the next one has arrived.
    bool between_requests() const { return m_state == State::head && m_head.empty(); }
    // A refusal for a head that took too long (the caller keeps the clock).
    static Refusal head_timeout();
    // For each head passed since the last call, in order: whether it was a HEAD request (its
    // answer has no body). Feed these to a ResponseCounter.
    std::vector<bool> take_passed();

  private:
    enum class State { head, body, chunk_size, chunk_data, chunk_end, trailers, refused };

    std::optional<Refusal> end_of_head(std::size_t end, std::string& out);
    std::optional<Refusal> broken_body(const std::string& message);

    GuardLimits m_limits;
    State m_state = State::head;
    std::string m_head;         // the head so far (or the current chunk/trailer line)
    std::size_t m_remaining = 0; // body or chunk bytes still to pass
    std::size_t m_trailer_bytes = 0;
    std::vector<bool> m_passed;
    bool m_awaiting = false; // a request passed whose answer has not been reported
    std::string m_held;      // the client's bytes from the start of the next request on
};

// Counts whole answers in what an HTTP/1.1 server (httplib: well-formed) sends back, so that a
// refusal is answered only after the answers owed before it. httplib answers nothing once it
// sees the client's side of the stream end, so that side may be closed only when nothing is
// owed. Not a parser either: status line, Content-Length or chunked framing, nothing else.
class ResponseCounter {
  public:
    // A request went to the server (in order); `head`: it was a HEAD request.
    void request_sent(bool head) {
        m_heads.push_back(head);
        ++m_sent;
    }
    void feed(std::string_view bytes);
    // Requests sent whose final answer has not arrived whole.
    std::size_t owed() const { return m_sent - m_done; }

  private:
    enum class State { head, body, chunk_size, chunk_data, chunk_end, trailers, until_close };
    void end_of_head();

    State m_state = State::head;
    std::string m_line;
    std::size_t m_remaining = 0;
    std::size_t m_sent = 0, m_done = 0;
    std::deque<bool> m_heads;
};

} // namespace vaultfwd::server
