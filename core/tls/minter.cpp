// SPDX-License-Identifier: Apache-2.0
#include "core/tls/minter.hpp"

#include <arpa/inet.h>
#include <cctype>

#include "core/util/strings.hpp"

namespace vaultfwd::tls {

bool is_ip_literal(std::string_view host) {
    std::string h(host);
    unsigned char buf[16];
    return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

std::string normalize_host(std::string_view host) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (!host.empty() && host.back() == '.')
        host.remove_suffix(1);
    if (host.empty() || host.size() > 253)
        return {};
    std::string h = util::to_lower(host);
    if (is_ip_literal(h))
        return h;
    for (char c : h)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
              c == '*'))
            return {};
    if (h.front() == '.' || h.find("..") != std::string::npos)
        return {};
    return h;
}

Minter::Minter(KeyPair ca, std::size_t max_cached)
    : m_ca(std::move(ca)), m_max(max_cached ? max_cached : 1) {
    prepare_for_sharing(m_ca.cert.get());
}

std::size_t Minter::cached() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_cache.size();
}

Result<std::shared_ptr<const KeyPair>> Minter::leaf(std::string_view host) {
    std::string key = normalize_host(host);
    if (key.empty())
        return make_error("tls.bad_host", "cannot mint a certificate for \"" +
                                              std::string(host.substr(0, 80)) +
                                              "\": not a host name or IP address");
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (auto it = m_cache.find(key); it != m_cache.end())
            return it->second;
    }
    // Minted outside the lock: two threads may mint the same host at once, and the first one
    // stored wins, which is cheaper than making every other host wait on one signature.
    IssueOptions opts;
    opts.common_name = key;
    if (is_ip_literal(key))
        opts.ip_addresses = {key};
    else
        opts.dns_names = {key};
    opts.usage = Usage::server;
    opts.days = 397; // the longest validity clients accept for a server certificate
    opts.organization = "vaultfwd interception";
    auto minted = issue(opts, &m_ca);
    if (!minted)
        return minted.error();
    prepare_for_sharing(minted->cert.get());
    auto made = std::make_shared<const KeyPair>(std::move(*minted));
    std::lock_guard<std::mutex> lock(m_mutex);
    auto [it, inserted] = m_cache.emplace(key, made);
    std::shared_ptr<const KeyPair> result = it->second;
    if (inserted) {
        m_order.push_back(key);
        while (m_cache.size() > m_max) {
            m_cache.erase(m_order.front());
            m_order.pop_front();
        }
    }
    return result;
}

} // namespace vaultfwd::tls
