// SPDX-License-Identifier: Apache-2.0
#pragma once
// Leaf certificates minted on the fly by the local CA, one per host name or IP address, for
// TLS interception on the forward proxy. Minting costs a key generation and a signature, so
// leaves are cached; the cache is bounded and safe to use from many threads at once.

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/tls/cert.hpp"
#include "core/util/result.hpp"

namespace vaultfwd::tls {

// True for an IPv4 or IPv6 literal ("127.0.0.1", "::1"; no brackets).
bool is_ip_literal(std::string_view host);
// The cache key for a host: lower-case, without a trailing dot or IPv6 brackets. Empty when it
// is neither an IP literal nor a plausible DNS name (letters, digits, '-', '_', '.', '*'; at
// most 253 characters).
std::string normalize_host(std::string_view host);

class Minter {
  public:
    // Mints with `ca` (certificate and key). At most `max_cached` leaves are kept; the oldest
    // is dropped first.
    explicit Minter(KeyPair ca, std::size_t max_cached = 1024);
    Minter(const Minter&) = delete;
    Minter& operator=(const Minter&) = delete;

    // The leaf for `host`: subjectAltName IP for an IP literal, DNS otherwise; CN = host;
    // serverAuth; valid from yesterday for 397 days. The same leaf is returned again for the
    // same host while it is cached. Error "tls.bad_host" for a name normalize_host() refuses.
    Result<std::shared_ptr<const KeyPair>> leaf(std::string_view host);

    const KeyPair& ca() const { return m_ca; }
    std::size_t cached() const;

  private:
    KeyPair m_ca;
    std::size_t m_max;
    mutable std::mutex m_mutex;
    std::map<std::string, std::shared_ptr<const KeyPair>> m_cache;
    std::deque<std::string> m_order; // insertion order, for eviction
};

} // namespace vaultfwd::tls
