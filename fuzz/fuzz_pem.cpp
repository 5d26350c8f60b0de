// SPDX-License-Identifier: Apache-2.0
// PEM loading (tls::load_certs_pem, load_cert_pem, load_key_pem) on raw text and, as the
// x-fp-proxy-client-cert / -pin-cert headers carry it, on percent-decoded text. What loads must
// inspect and re-encode to PEM that loads again.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/tls/cert.hpp"
#include "core/util/strings.hpp"
#include "fuzz/fuzz.hpp"

using namespace vaultfwd;

namespace {

void load(std::string_view pem) {
    auto certs = tls::load_certs_pem(pem);
    auto first = tls::load_cert_pem(pem);
    FUZZ_EXPECT(certs.ok() == first.ok() || !certs.ok());
    if (certs) {
        FUZZ_EXPECT(!certs->empty());
        for (const auto& c : *certs) {
            auto info = tls::inspect(c.get());
            (void)info;
            auto again = tls::load_cert_pem(tls::cert_to_pem(c.get()));
            FUZZ_EXPECT(again.ok());
            (void)tls::cert_to_der(c.get());
        }
    } else {
        FUZZ_EXPECT(!certs.error().code.empty());
    }
    auto key = tls::load_key_pem(pem);
    if (key) {
        auto again = tls::load_key_pem(tls::key_to_pem(key->get()));
        FUZZ_EXPECT(again.ok());
        if (first)
            (void)tls::key_matches(first->get(), key->get());
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    load(input);
    if (auto decoded = util::percent_decode(input))
        load(*decoded);
    return 0;
}
