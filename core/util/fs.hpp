// SPDX-License-Identifier: Apache-2.0
#pragma once
// File helpers: whole-file reads, atomic durable writes with a chosen mode.

#include <filesystem>
#include <string>

#include "core/util/result.hpp"

namespace vaultfwd::util {

// The whole file, or an error naming the path ("fs.read").
Result<std::string> read_file(const std::filesystem::path& path);
// Writes to a temp file beside `path`, fsyncs it, renames it over `path` and fsyncs the folder,
// so a reader sees the old or the new content, never a mix. `mode` applies from creation on.
Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view data,
                               unsigned mode = 0600);
// Creates the folder (and parents) with `mode` if missing.
Result<void> ensure_dir(const std::filesystem::path& dir, unsigned mode = 0700);
// The permission bits of a file (e.g. 0600), or -1 when it cannot be read.
int file_mode(const std::filesystem::path& path);

} // namespace vaultfwd::util
