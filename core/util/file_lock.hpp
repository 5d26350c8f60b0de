// SPDX-License-Identifier: Apache-2.0
#pragma once
// An exclusive lock between processes for read-modify-write edits of one file.

#include <filesystem>

namespace vaultfwd::util {

// An exclusive flock(2) on "<file>.lock" (created 0600) for a scope, so that several processes
// editing `file` do not lose each other's changes. ok() is false when the lock file cannot be
// opened or locked.
class FileLock {
  public:
    explicit FileLock(const std::filesystem::path& file);
    ~FileLock();
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;
    bool ok() const { return m_fd >= 0; }

  private:
    int m_fd = -1;
};

} // namespace vaultfwd::util
