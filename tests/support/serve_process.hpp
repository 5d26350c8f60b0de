// SPDX-License-Identifier: Apache-2.0
#pragma once
// The built `vaultfwd serve` as users run it: a fresh home made by `vaultfwd init` (the default
// profile, untuned), the test PKI's root trusted for upstreams, the three listeners on 127.0.0.1
// port 0, and a Footprint user fp_id_test_jane (id.first_name=Jane) in the vault.

#include <map>
#include <memory>
#include <string>

#include "support/support.hpp"
#include "support/upstream_server.hpp"

namespace vaultfwd::test {

struct ServeOptions {
    bool proxy_tls = false;                  // listen.proxy_tls = true
    std::map<std::string, std::string> env;  // for the serve process (e.g. MALLOC_ARENA_MAX)
};

struct ServeProcess {
    ServeProcess(const TestPki& pki, const ServeOptions& options = {});
    TempDir home;
    std::unique_ptr<Process> process;
    int api_port = 0;
    int proxy_port = 0;
    int inbound_port = 0;
    std::string api_key;
    std::string proxy_user, proxy_password;
    std::string local_ca; // the profile's local CA (tunnel leaves, the TLS proxy port)
    bool proxy_tls = false;
    // http(s)://user:pass@127.0.0.1:PORT
    std::string proxy_url() const;
    std::string api_url(const std::string& path) const;
};

// serve's resident memory (VmRSS, MiB) and open descriptors, from /proc; -1 when unreadable.
double rss_mib(int pid);
// Its peak resident memory so far (VmHWM, MiB); -1 when unreadable.
double peak_rss_mib(int pid);
long fd_count(int pid);
// serve closes its side of finished connections as it reads their EOF: the descriptor count
// once it is at or below `enough`, or has stopped falling (within 5 s).
long settled_fds(int pid, long enough);

// A blocking TCP connection to 127.0.0.1:port with 10 s send/receive timeouts; -1 on failure
// (errno tells why).
int connect_loopback(int port);

} // namespace vaultfwd::test
