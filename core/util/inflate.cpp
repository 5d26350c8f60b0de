// SPDX-License-Identifier: Apache-2.0
#include "core/util/inflate.hpp"

#include <zlib.h>

#include "core/util/strings.hpp"

namespace vaultfwd::util {

bool can_inflate(std::string_view coding) {
    return iequals(coding, "gzip") || iequals(coding, "x-gzip") || iequals(coding, "deflate");
}

namespace {

// One zlib pass with `window_bits` (31: gzip, 15: zlib-wrapped deflate, -15: raw deflate).
Result<std::string> run(std::string_view body, int window_bits, std::size_t limit) {
    z_stream z{};
    if (inflateInit2(&z, window_bits) != Z_OK)
        return make_error("body.bad_encoding", "cannot start decoding the body");
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
    z.avail_in = static_cast<uInt>(body.size());
    std::string out;
    char buf[65536];
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        rc = ::inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&z);
            return make_error("body.bad_encoding", "the body is not valid compressed data for its Content-Encoding");
        }
        out.append(buf, sizeof buf - z.avail_out);
        if (out.size() > limit) {
            inflateEnd(&z);
            return make_error("body.too_large", "the body decodes to more than " + std::to_string(limit) + " bytes");
        }
        if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
            inflateEnd(&z);
            return make_error("body.bad_encoding", "the compressed body is cut short");
        }
    }
    inflateEnd(&z);
    return out;
}

} // namespace

Result<std::string> inflate(std::string_view body, std::string_view coding, std::size_t limit) {
    if (iequals(coding, "deflate")) {
        // "deflate" is zlib-wrapped by the RFC, raw in some clients: accept both.
        auto wrapped = run(body, 15, limit);
        if (wrapped || wrapped.error().code == "body.too_large")
            return wrapped;
        return run(body, -15, limit);
    }
    return run(body, 31, limit);
}

} // namespace vaultfwd::util
