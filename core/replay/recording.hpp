// SPDX-License-Identifier: Apache-2.0
#pragma once
// Recorded requests for `vaultfwd replay`: loaded from HAR 1.2 files (as browsers and proxies
// export them) and from raw HTTP/1.1 message files (request line, headers, blank line, body).
// Parsing is pure: it takes the file's text and returns values; load() adds the file read.
//
// Errors leave the file name out of the message (callers print Error::describe(file)), and say
// where: a HAR entry as "entry 2 (log.entries[1])", a raw file by line (Error::line), a JSON
// syntax error by line and column.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/http/message.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::replay {

struct Recording {
    std::string file;      // where it was loaded from, as given
    std::size_t index = 0; // 1-based position in its file
    // The golden-file stem: "<file-stem>-<index>", or "<file-stem>-<slug of the HAR entry's
    // comment>" when the entry has one (falling back to the index when two comments slug alike).
    std::string name;
    int line = 0; // raw files: the line of the request line
    std::string method;
    std::string target; // as recorded: an absolute URL or an origin-form "/path?query"
    std::string path;   // the path of `target`
    std::string query;  // the query of `target`, without '?'
    // As recorded, minus HTTP/2 pseudo-headers (":authority"), Content-Length and
    // Transfer-Encoding (the body is already complete and decoded).
    http::Headers headers;
    std::string body;
};

// A HAR entry left out because its URL is not http(s): browsers export data:, blob:,
// chrome-extension:// … entries with every page, and there is nothing to replay in them.
struct Skipped {
    std::string file;
    std::size_t index = 0; // 1-based position in its file, as Recording::index
    std::string where;     // "entry 3 (log.entries[2])"
    std::string scheme;    // "data", "chrome-extension"; the URL itself may be huge
};

// Every request of a HAR 1.2 text (log.entries[].request: method, url, headers[{name, value}],
// postData {mimeType, text} or postData.params as a form body). `file` names the recordings and
// their golden stems. Entries whose URL has another scheme than http(s) are appended to
// `skipped` (when given) and keep their index, so golden names do not shift. Errors:
// "replay.bad_json" (line, column), "replay.bad_har" (which entry, which field),
// "replay.empty" (no entries, or none http(s)).
Result<std::vector<Recording>> parse_har(std::string_view text, const std::string& file,
                                         std::vector<Skipped>* skipped = nullptr);

// Every request of a raw HTTP/1.1 message text, read by THE HTTP parser (core/http) and framed
// as HTTP/1.1 frames it: the body is the Content-Length bytes after the blank line, or a chunked
// body decoded; a request with neither has none, and what follows is the next request (blank
// lines between requests are skipped). A head's lines may end in LF or CRLF (files are typed by
// people); a chunked body's framing needs CRLF. Errors: "replay.bad_raw" with the line,
// "replay.empty".
Result<std::vector<Recording>> parse_raw(std::string_view text, const std::string& file);

// Reads `path` and parses it as HAR when its first non-blank byte is '{', else as raw HTTP.
// Errors as above, and "replay.read" when the file cannot be read.
Result<std::vector<Recording>> load(const std::filesystem::path& path,
                                    std::vector<Skipped>* skipped = nullptr);

// "<stem>-<index>" or "<stem>-<slug>": the slug keeps letters, digits, '.', '_' and '-', turns
// runs of anything else into one '-', and is cut to 64 characters.
std::string slug(std::string_view text);

// The path and the query of a request target: an absolute http(s) URL (fragment dropped) or an
// origin-form target. Error "replay.bad_target" for anything else.
Result<std::pair<std::string, std::string>> split_target(std::string_view target);

} // namespace vaultfwd::replay
