// SPDX-License-Identifier: Apache-2.0
#pragma once
// VTEX's Secure Proxy: payments created locally (card data vaulted as record "vtex_<hash>"), the
// secure proxy URL (X-PROVIDER-Forward-To, X-PROVIDER-Forward-<H>, #vtex#…# tokens in body and
// headers, JSON and form bodies only) and the tokens URL (custom tokens in JsonLogic).
// The URLs carry ?hash=<long secure hash>, an HMAC of the payment id under the vault key: that is
// the credential VTEX's own URLs carry, so they need no API key.

#include <string>

#include "core/dialect/services.hpp"

namespace vaultfwd::dialect::vtex {

struct Card {
    std::string number;
    std::string holder;
    std::string csc;
    std::string exp_month; // "02"
    std::string exp_year;  // "2028"
};

struct Payment {
    std::string payment_id;
    std::string transaction_id;
    std::string secure_hash; // short, in the token placeholders ("d799bae")
    std::string long_hash;   // in the URLs' ?hash=
};

// Validates the card (digits, Luhn, expiry), vaults it and returns the payment's ids.
Result<Payment> create_payment(vault::Store& store, std::string_view vault_key, const Card& card);
// The Create Payment request body a connector receives, pointing at `api_base`
// ("http://127.0.0.1:7410"): secureProxyUrl, secureProxyTokensURL, card tokens, bin, lengths,
// expiration.
std::string create_payment_body(const Payment& payment, const Card& card, const std::string& api_base);

// True when `path` is one of the VTEX endpoints (…/payments/{id}/proxy or …/tokens).
bool is_vtex_path(const std::string& path);
http::Response handle(const http::Request& request, Services& services, server::AccessEntry& log);

} // namespace vaultfwd::dialect::vtex
