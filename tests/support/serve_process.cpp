// SPDX-License-Identifier: Apache-2.0
#include "support/serve_process.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "core/profile/profile.hpp"

namespace vaultfwd::test {

ServeProcess::ServeProcess(const TestPki& pki, const ServeOptions& options) : proxy_tls(options.proxy_tls) {
    const auto h = home.path().string();
    auto init = run_vaultfwd({"--home", h, "init"});
    REQUIRE_MESSAGE(init.exit_code == 0, init.err);
    write_text(home / "upstream-ca.pem", pki.ca_pem());
    auto text = read_text(home / "default.toml");
    auto insert_after = [&text](const std::string& line, const std::string& with) {
        auto at = text.find(line + "\n");
        REQUIRE_MESSAGE(at != std::string::npos, "the profile `init` wrote has no line " << line);
        text.insert(at + line.size() + 1, with + "\n");
    };
    insert_after("timeout_ms = 15000", "ca_files = [\"upstream-ca.pem\"]");
    if (options.proxy_tls)
        insert_after("[listen]", "proxy_tls = true");
    write_text(home / "default.toml", text);
    auto put = run_vaultfwd({"--home", h, "vault", "put", "fp_id_test_jane", "id.first_name=Jane"});
    REQUIRE_MESSAGE(put.exit_code == 0, put.err);

    auto p = profile::load(home.path(), "default");
    REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.error().message));
    api_key = p->api_keys.at(0).key;
    proxy_user = p->proxy_credentials.at(0).username;
    proxy_password = p->proxy_credentials.at(0).password;
    local_ca = p->resolve(p->ca.cert).string();

    process = std::make_unique<Process>(std::vector<std::string>{binary_path(), "--home", h, "serve", "--api-listen",
                                                                 "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0", "--inbound-listen", "127.0.0.1:0"},
                                        options.env);
    auto listeners = read_listeners(*process);
    api_port = listeners.api_port();
    proxy_port = listeners.proxy_port();
    inbound_port = listeners.inbound_port();
    REQUIRE(api_port > 0);
    REQUIRE(inbound_port > 0);
    REQUIRE(proxy_port > 0);
}

std::string ServeProcess::proxy_url() const {
    return std::string(proxy_tls ? "https://" : "http://") + proxy_user + ":" + proxy_password + "@127.0.0.1:" +
           std::to_string(proxy_port);
}

std::string ServeProcess::api_url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(api_port) + path;
}

namespace {
double status_mib(int pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(field, 0) == 0)
            return std::stod(line.substr(field.size())) / 1024.0; // kB
    return -1;
}
} // namespace

double rss_mib(int pid) { return status_mib(pid, "VmRSS:"); }

double peak_rss_mib(int pid) { return status_mib(pid, "VmHWM:"); }

long fd_count(int pid) {
    std::error_code ec;
    long n = 0;
    for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end;
         it.increment(ec))
        ++n;
    return ec ? -1 : n;
}

long settled_fds(int pid, long enough) {
    long n = fd_count(pid);
    int unchanged = 0;
    for (int i = 0; i < 50 && n > enough && unchanged < 3; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        long now = fd_count(pid);
        unchanged = now == n ? unchanged + 1 : 0;
        n = now;
    }
    return n;
}

int connect_loopback(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
        ::close(fd);
        return -1;
    }
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

} // namespace vaultfwd::test
