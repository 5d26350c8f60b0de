// SPDX-License-Identifier: Apache-2.0
#include "support/support.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace vaultfwd::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
    std::random_device rd;
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto candidate = fs::temp_directory_path() /
                         ("vaultfwd-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
        std::error_code ec;
        if (fs::create_directory(candidate, ec)) {
            m_path = candidate;
            return;
        }
    }
    throw std::runtime_error("cannot create a temp folder");
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(m_path, ec);
}

namespace {

std::vector<std::string> merged_env(const std::map<std::string, std::string>& extra) {
    std::map<std::string, std::string> all;
    for (char** e = environ; *e; ++e) {
        std::string kv = *e;
        auto eq = kv.find('=');
        if (eq != std::string::npos)
            all[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& [k, v] : extra)
        all[k] = v;
    std::vector<std::string> out;
    for (const auto& [k, v] : all)
        out.push_back(k + "=" + v);
    return out;
}

std::vector<char*> c_array(std::vector<std::string>& items) {
    std::vector<char*> out;
    for (auto& s : items)
        out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

int spawn(std::vector<std::string> argv, const std::map<std::string, std::string>& env, int in_fd,
          int out_fd, int err_fd, const std::vector<int>& close_fds) {
    auto envs = merged_env(env);
    auto c_argv = c_array(argv);
    auto c_env = c_array(envs);
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) {
        // A test that dies (a sanitizer halting it, a failed assertion) takes its programs with
        // it: a serve left running would hold ctest's output pipe until the test's timeout.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
            ::_exit(127);
        ::dup2(in_fd, 0);
        ::dup2(out_fd, 1);
        ::dup2(err_fd, 2);
        for (int fd : close_fds)
            ::close(fd);
        ::execvpe(c_argv[0], c_argv.data(), c_env.data());
        std::fprintf(stderr, "exec %s: %s\n", c_argv[0], std::strerror(errno));
        ::_exit(127);
    }
    return pid;
}

int decode_status(int status) {
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

} // namespace

RunResult run_program(const std::vector<std::string>& argv, const std::string& input,
                      const std::map<std::string, std::string>& env) {
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) || ::pipe2(out_pipe, O_CLOEXEC) || ::pipe2(err_pipe, O_CLOEXEC))
        throw std::runtime_error("pipe failed");
    int pid = spawn(argv, env, in_pipe[0], out_pipe[1], err_pipe[1], {});
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    // Feed stdin from a thread so a child that writes a lot before reading cannot deadlock us.
    std::thread feeder([fd = in_pipe[1], input] {
        std::signal(SIGPIPE, SIG_IGN);
        std::size_t off = 0;
        while (off < input.size()) {
            ssize_t n = ::write(fd, input.data() + off, input.size() - off);
            if (n <= 0)
                break;
            off += static_cast<std::size_t>(n);
        }
        ::close(fd);
    });
    RunResult result;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_count = 2;
    char buf[65536];
    while (open_count > 0) {
        if (::poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
                if (n > 0) {
                    (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(n));
                } else {
                    ::close(fds[i].fd);
                    fds[i].fd = -1;
                    --open_count;
                }
            }
        }
    }
    feeder.join();
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.exit_code = decode_status(status);
    return result;
}

RunResult run_vaultfwd(const std::vector<std::string>& args, const std::string& input,
                       const std::map<std::string, std::string>& env) {
    std::vector<std::string> argv{binary_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_program(argv, input, env);
}

Process::Process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
    int out_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC))
        throw std::runtime_error("pipe failed");
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    m_pid = spawn(argv, env, devnull, out_pipe[1], 2, {});
    ::close(devnull);
    ::close(out_pipe[1]);
    m_out = out_pipe[0];
}

Process::~Process() {
    if (m_status < 0 && m_pid > 0)
        stop(SIGTERM);
    if (m_out >= 0)
        ::close(m_out);
}

std::string Process::read_line(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
        auto nl = m_buffer.find('\n');
        if (nl != std::string::npos) {
            std::string line = m_buffer.substr(0, nl);
            m_buffer.erase(0, nl + 1);
            return line;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0)
            return {};
        pollfd p{m_out, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0)
            return {};
        char buf[4096];
        ssize_t n = ::read(m_out, buf, sizeof buf);
        if (n <= 0)
            return {};
        m_buffer.append(buf, static_cast<std::size_t>(n));
    }
}

int Process::stop(int sig) {
    if (m_status >= 0)
        return decode_status(m_status);
    ::kill(m_pid, sig);
    for (int i = 0; i < 300; ++i) {
        int status = 0;
        if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
            m_status = status;
            return decode_status(status);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(m_pid, SIGKILL);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
    m_status = status;
    return decode_status(status);
}

namespace {
int port_of(const std::string& host_port) {
    auto colon = host_port.rfind(':');
    return colon == std::string::npos ? 0 : std::atoi(host_port.c_str() + colon + 1);
}
} // namespace

int Listeners::api_port() const { return port_of(api); }
int Listeners::proxy_port() const { return port_of(proxy); }
int Listeners::inbound_port() const { return port_of(inbound); }

Listeners read_listeners(Process& serve, std::vector<std::string>* lines) {
    const std::string api_prefix = "api listening on http://";
    const std::string proxy_prefix = "proxy listening on http://";
    const std::string proxy_tls_prefix = "proxy listening on https://"; // listen.proxy_tls
    const std::string inbound_prefix = "inbound listening on http://";
    const std::string inbound_tls_prefix = "inbound listening on https://"; // listen.inbound_tls
    Listeners found;
    for (int i = 0; i < 10 && (found.api.empty() || found.proxy.empty() || found.inbound.empty()); ++i) {
        auto line = serve.read_line(15000);
        if (lines)
            lines->push_back(line);
        if (line.rfind(api_prefix, 0) == 0)
            found.api = line.substr(api_prefix.size());
        if (line.rfind(proxy_prefix, 0) == 0)
            found.proxy = line.substr(proxy_prefix.size());
        if (line.rfind(proxy_tls_prefix, 0) == 0)
            found.proxy = line.substr(proxy_tls_prefix.size());
        if (line.rfind(inbound_prefix, 0) == 0)
            found.inbound = line.substr(inbound_prefix.size());
        if (line.rfind(inbound_tls_prefix, 0) == 0)
            found.inbound = line.substr(inbound_tls_prefix.size());
        if (line.empty())
            break; // EOF or nothing in time
    }
    return found;
}

std::string binary_path() { return VAULTFWD_BINARY; }

std::vector<std::string> footprint_seed_answers() {
    auto text = read_text(shared_dir() / "seeds" / "footprint-vault-proxy.md");
    std::vector<std::string> out;
    std::size_t pos = 0;
    while ((pos = text.find("$ curl", pos)) != std::string::npos) {
        auto start = text.find("\n\n", pos);
        auto fence = text.find("\n```", start);
        if (start == std::string::npos || fence == std::string::npos)
            break;
        out.push_back(text.substr(start + 2, fence - start - 2));
        pos = fence;
    }
    return out;
}

std::string reveal_redact_route(const std::string& id, const std::string& host_regex,
                                const std::string& reveal, const std::string& redact) {
    return "\n[[routes]]\nid = \"" + id + "\"\nhost = '" + host_regex + "'\n\n"
           "[[routes.filters]]\nphase = \"request\"\noperation = \"reveal\"\n"
           "transformer = \"json_path\"\ntargets = [\"" + reveal + "\"]\n\n"
           "[[routes.filters]]\nphase = \"response\"\noperation = \"redact\"\n"
           "transformer = \"json_path\"\ntargets = [\"" + redact + "\"]\nformat = \"FPE_SIX_T_FOUR\"\n";
}

std::vector<int> listening_ports(int pid) {
    const std::string proc = "/proc/" + std::to_string(pid);
    std::set<std::string> inodes; // "socket:[12345]" -> "12345"
    for (const auto& fd : std::filesystem::directory_iterator(proc + "/fd")) {
        std::error_code ec;
        auto target = std::filesystem::read_symlink(fd.path(), ec).string();
        if (!ec && target.rfind("socket:[", 0) == 0)
            inodes.insert(target.substr(8, target.size() - 9));
    }
    std::vector<int> ports;
    std::ifstream tcp(proc + "/net/tcp");
    std::string line;
    std::getline(tcp, line); // the column names
    while (std::getline(tcp, line)) {
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
        std::istringstream row(line);
        std::string sl, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
        row >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
        if (state == "0A" && inodes.count(inode))
            ports.push_back(std::stoi(local.substr(local.find(':') + 1), nullptr, 16));
    }
    return ports;
}
fs::path source_dir() { return VAULTFWD_SOURCE_DIR; }
fs::path shared_dir() { return VAULTFWD_SHARED_DIR; }
fs::path report_dir() {
    fs::path dir = VAULTFWD_REPORT_DIR;
    fs::create_directories(dir);
    return dir;
}

std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_text(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary);
    out << text;
}

} // namespace vaultfwd::test
