// SPDX-License-Identifier: Apache-2.0
#include "core/util/fs.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/random.hpp"

namespace vaultfwd::util {

Result<std::string> read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return make_error("fs.read", "cannot read " + path.string() + ": " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view data,
                               unsigned mode) {
    auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    auto tmp = dir / ("." + path.filename().string() + ".tmp-" + random_hex(6));
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return make_error("fs.write",
                          "cannot create " + tmp.string() + ": " + std::strerror(errno));
    ::fchmod(fd, mode);
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            std::string err = std::strerror(errno);
            ::close(fd);
            ::unlink(tmp.c_str());
            return make_error("fs.write", "cannot write " + path.string() + ": " + err);
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        std::string err = std::strerror(errno);
        ::unlink(tmp.c_str());
        return make_error("fs.write", "cannot sync " + path.string() + ": " + err);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        std::string err = std::strerror(errno);
        ::unlink(tmp.c_str());
        return make_error("fs.write", "cannot replace " + path.string() + ": " + err);
    }
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

Result<void> ensure_dir(const std::filesystem::path& dir, unsigned mode) {
    std::error_code ec;
    if (std::filesystem::is_directory(dir, ec))
        return {};
    std::filesystem::create_directories(dir, ec);
    if (ec)
        return make_error("fs.mkdir", "cannot create folder " + dir.string() + ": " + ec.message());
    ::chmod(dir.c_str(), mode);
    return {};
}

int file_mode(const std::filesystem::path& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0)
        return -1;
    return static_cast<int>(st.st_mode & 07777);
}

} // namespace vaultfwd::util
