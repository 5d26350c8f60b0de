// SPDX-License-Identifier: Apache-2.0
#pragma once
// VTEX's Secure Proxy: payments created locally (card data vaulted as record "vtex_<hash>"), the
// secure proxy URL (X-PROVIDER-Forward-To, X-PROVIDER-Forward-<H>, #vtex#…# tokens in body and
// headers, JSON and form bodies only) and the tokens URL (custom tokens in JsonLogic).
// The URLs carry ?hash=<long secure hash>, an HMAC of the payment id under the vault key: that is
// the credential VTEX's own URLs carry, so they need no API key.

#include <string>
#include <string_view>
#include <vector>

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

// What a Create Payment carries besides the card, with test defaults for each field; the ones
// a connector developer varies have CLI flags.
struct Order {
    std::string payment_method; // "Visa", "American Express", …; empty: from the card number
    std::string value = "31.90"; // decimal, at most two places
    std::string currency = "BRL"; // ISO 4217 alpha-3
    int installments = 1;
    std::string reference; // empty: derived from the payment id (digits)
    std::string order_id;  // empty: derived from the payment id (digits)
    std::string merchant_name = "mystore";
    std::string callback_url; // empty: <api_base>/…/payments/{id}/callback (see README)
    std::string return_url;   // empty: https://<merchant>.example.com/checkout/order/{orderId}
};

// The card brand from the number's BIN, as VTEX names it in `paymentMethod`: "Visa",
// "Mastercard", "American Express", "Diners", "Discover", "JCB", "Elo", "Hipercard"; empty when
// no brand matches.
std::string card_brand(std::string_view number);
// The card payment methods of VTEX's manifest, spelled as there.
const std::vector<std::string>& card_payment_methods();
// Checks `order` for `card` and fills the payment method: "vtex.unknown_brand" when the number
// matches no brand and none was given, "vtex.bad_payment_method" for a name VTEX does not list
// (matched without regard to case and given back as VTEX spells it), "vtex.bad_order" for a
// value, currency or installments VTEX would not send.
Result<Order> resolve_order(const Card& card, Order order);

// Validates the card (digits, Luhn, expiry), vaults it and returns the payment's ids.
Result<Payment> create_payment(vault::Store& store, std::string_view vault_key, const Card& card);
// The Create Payment request body VTEX's Gateway sends a connector (POST /payments of the
// Payment Provider Protocol), pointing at `api_base` ("http://127.0.0.1:7410") for the secure
// proxy: secureProxyUrl, secureProxyTokensURL, card tokens, bin, lengths, expiration, and the
// order fields (reference, orderId, value, currency, installments, miniCart with buyer,
// addresses and items, url, callbackUrl, returnUrl, …). `order` should come from
// resolve_order(); an empty payment method is taken from the number.
std::string create_payment_body(const Payment& payment, const Card& card, const std::string& api_base,
                                const Order& order = {});

// A connector under test, called the way VTEX's Gateway calls a payment provider.
enum class CredentialHeaders {
    vtex,     // X-VTEX-API-AppKey / X-VTEX-API-AppToken (the default)
    provider, // X-PROVIDER-API-AppKey / -AppToken (usesProviderHeadersName in its configuration)
};
struct Connector {
    std::string url; // its base URL; "/payments" is appended unless the URL ends with it
    std::string app_key;
    std::string app_token;
    CredentialHeaders names = CredentialHeaders::vtex;
    int timeout_ms = 20000; // VTEX allows a connector 20 s in production
    std::vector<std::string> ca_files; // trusted besides the system roots (https connectors)
};
// POSTs `body` (a Create Payment request) to the connector's /payments endpoint with the
// headers VTEX sends (Content-Type and Accept application/json, the app key and token) through
// `client`, and returns the connector's answer whatever its status. Errors: "vtex.bad_connector"
// for a URL that is not http(s), and the client's "upstream.*" failures naming the cause.
Result<http::Response> send_create_payment(upstream::Client& client, const Connector& connector,
                                           const std::string& body);

// True when `path` is one of the VTEX endpoints (…/payments/{id}/proxy or …/tokens).
bool is_vtex_path(const std::string& path);
// The request phase of a VTEX endpoint: the tokens endpoint answers itself; the proxy endpoint
// gives the call to the connector's destination and relays its answer.
server::Step handle(const http::Request& request, Services& services, server::AccessEntry& log);

} // namespace vaultfwd::dialect::vtex
