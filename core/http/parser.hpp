// SPDX-License-Identifier: Apache-2.0
#pragma once
// THE HTTP/1.1 parser: one strict, incremental parser for requests and responses, used wherever
// vaultfwd reads a message (serve's listeners, inside tunnels, the upstream client, ditto,
// replay's raw files). Sans-IO: it takes bytes and returns events; it never reads a socket.
//
// A message keeps the request target, header names, values and order byte for byte (values
// without the optional whitespace around them), repeated headers included. Body bytes come out
// as views of the caller's input with chunk framing removed; nothing is copied but the head.
//
// Strictness (each refusal is a ParseError with a status and a code, see below): CRLF line ends
// only (a bare LF or CR anywhere in a head is refused), no obs-fold, header names are tokens,
// values have no CTLs but HTAB, one Content-Length (or identical repeats are refused too),
// decimal digits only; Content-Length with Transfer-Encoding is refused; a request
// Transfer-Encoding must be exactly "chunked"; chunk sizes are hex without overflow, chunk
// extensions are tokens, trailers are header lines. A request target has no CTL, SP or bytes
// above 0x7E; methods are those llhttp knows (RFC 9110's, WebDAV's, the other registered ones);
// the version is HTTP/1.0 or HTTP/1.1. A CONNECT request has no body (what follows is the
// tunnel's). Stray CR/LF bytes before a message are skipped (RFC 9112 §2.2). The README's
// "Strict HTTP" section and tests/unit/test_http_conformance.cpp hold the rules against llhttp.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/http/message.hpp"

namespace vaultfwd::http {

struct ParseLimits {
    std::size_t max_head_bytes = 65536;           // request/status line + headers + blank line
    std::size_t max_header_line = 8192;           // one header line, its CRLF included (431)
    std::uint64_t max_body_bytes = 5u * 1024 * 1024; // declared or chunked total
    // Requests: POST, PUT and PATCH without Content-Length or Transfer-Encoding are refused with
    // 411 (serve's listeners) instead of having no body (RFC 9112 §6.3; replay's raw files).
    bool require_length_for_body_methods = true;
};

enum class BodyKind { none, length, chunked, until_close };

// One request or response head, as sent.
struct Head {
    // Requests.
    std::string method;
    std::string target;
    // Responses.
    int status = 0;
    std::string reason;
    // Both.
    int version_minor = 1; // HTTP/1.<minor>
    Headers headers;       // in order, names and values byte for byte
    BodyKind body = BodyKind::none;
    std::uint64_t content_length = 0; // when body == length
    bool keep_alive = true;           // from the version and every Connection header
    bool expect_continue = false;     // requests: Expect: 100-continue
    std::size_t head_bytes = 0;       // the head's size on the wire
};

struct ParseError {
    int status = 400;    // 400, 411, 413, 431 (requests); 502 for responses
    std::string code;    // "request.malformed", "request.length_required", "request.too_large",
                         // "request.header_too_large"; "response.malformed", "response.too_large"
    std::string message; // lowercase, names what is wrong (never a header value)
    std::string header;  // the header's name when one header is at fault
    std::string target;  // requests: the target, when the request line was readable
    int line = 0;        // the head's line at fault (1: the request or status line), 0 when none
};

// The refusal of a request body over `limit` (413 request.too_large), as the parser words it,
// for whoever enforces the limit outside the parser.
ParseError body_too_large(std::uint64_t limit, std::string target = {});

class Parser {
  public:
    enum class Kind { request, response };
    enum class Event {
        need_more,   // every byte given was consumed; call again with more
        head,        // head() is whole
        body,        // body_piece() is the next piece of the body
        message_end, // the message (trailers included) is whole; the parser is ready for the next
        error,       // error() says why; the parser stays failed
    };

    Parser(Kind kind, ParseLimits limits = {});

    // Consumes bytes from `in` until one event; `consumed` says how many were used (the rest is
    // for the next call). body_piece() views `in`, valid until `in` changes.
    Event next(std::string_view in, std::size_t& consumed);
    // The peer ended the stream: message_end for a body that runs until the close, need_more
    // when nothing of a message had begun, otherwise error (a message cut short).
    Event finish();

    // Responses: the method of the request this response answers (HEAD and a 2xx answer to
    // CONNECT have no body); call before the response's first byte. 1xx responses are
    // reported as their own messages (head then message_end) before the final one.
    void expect_response_to(std::string_view method);

    const Head& head() const { return m_head; }
    // The head's headers, moved out (head().headers is empty after): the parser needs only the
    // framing it read from them, so a caller that keeps the headers need not copy them.
    Headers take_headers() { return std::move(m_head.headers); }
    std::string_view body_piece() const { return m_piece; }
    const Headers& trailers() const { return m_trailers; }
    const ParseError& error() const { return m_error; }
    // True between messages: no byte of the next message has arrived.
    bool idle() const;

  private:
    enum class Stage {
        start,      // between messages: stray CRLF skipped, then the head gathered
        head_done,  // head returned; the body (or message_end) comes next
        length,     // Content-Length bytes
        chunk_line, // a chunk-size line
        chunk_data,
        chunk_cr,   // the CRLF after a chunk's data
        chunk_lf,
        trailers,   // trailer lines up to the blank line
        until_close,
        ended,      // message_end is due
        failed,
    };
    enum class Gather { more, done, bare_lf, too_long };

    Gather gather(std::string_view in, std::size_t& consumed, bool until_blank, std::size_t limit,
                  std::string_view& text);
    bool parse_head(std::string_view text);
    bool parse_request_line(std::string_view line);
    bool parse_status_line(std::string_view line);
    bool frame_body(std::string_view length, int lengths, int length_line, std::string_view encoding,
                    int encodings, int encoding_line, bool chunked_last);
    bool parse_chunk_line(std::string_view line);
    bool parse_trailers(std::string_view text);
    // Records the refusal (request_status: 400, 411, 413 or 431; responses map it to 502) and
    // returns false.
    bool fail(int request_status, std::string message, std::string header = {});

    Kind m_kind;
    ParseLimits m_limits;
    Head m_head;
    Headers m_trailers;
    ParseError m_error;
    std::string_view m_piece;
    std::string m_line;        // the head (or a chunk line / trailer section) gathered so far
    std::size_t m_scan = 0;    // m_line: where the next line begins
    std::uint64_t m_remaining = 0;
    std::uint64_t m_body_total = 0;
    Stage m_stage = Stage::start;
    bool m_head_request = false;
    bool m_connect_request = false;
    bool m_have_target = false; // the current request line was readable (for ParseError::target)
    int m_line_no = 0;          // the head's line being read (for ParseError::line)
};

// Writing. The head as given: the request line (or status line) and each header in order, then
// the blank line; nothing is added or changed (the caller sets Content-Length or
// Transfer-Encoding). Reason phrase: head.reason, else status_text(status).
void write_request_head(std::string& out, const Head& head);
void write_response_head(std::string& out, const Head& head);
// The same in pieces, for a head put together while it is written: the status line, each
// header, then the blank line that ends the head.
void write_status_line(std::string& out, int version_minor, int status, std::string_view reason);
void write_header(std::string& out, std::string_view name, std::string_view value);
inline void end_head(std::string& out) { out += "\r\n"; }
// One chunk of a chunked body (nothing for empty data), and the last chunk with trailers.
void write_chunk(std::string& out, std::string_view data);
void write_last_chunk(std::string& out, const Headers& trailers = {});

} // namespace vaultfwd::http
