// SPDX-License-Identifier: Apache-2.0
#pragma once
// Content-Encoding gzip and deflate, decoded (zlib), for the filters that must read a body.

#include <cstddef>
#include <string>
#include <string_view>

#include "core/util/result.hpp"

namespace vaultfwd::util {

// True for the codings inflate() decodes: gzip, x-gzip, deflate (case-insensitive).
bool can_inflate(std::string_view coding);
// The decoded body. Errors: "body.bad_encoding" (not valid gzip/deflate data),
// "body.too_large" (decodes to more than `limit` bytes: a compression bomb is not unpacked).
Result<std::string> inflate(std::string_view body, std::string_view coding, std::size_t limit);

} // namespace vaultfwd::util
