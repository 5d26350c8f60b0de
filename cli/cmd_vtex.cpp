// SPDX-License-Identifier: Apache-2.0
#include <cstdlib>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/context.hpp"
#include "core/dialect/vtex.hpp"
#include "core/util/fs.hpp"

namespace vaultfwd::cli {

namespace {

struct PaymentArgs {
    dialect::vtex::Card card;
    dialect::vtex::Order order;
    std::string api_base;
};

struct SendArgs {
    PaymentArgs payment;
    std::string connector;
    std::string body_file;
    int expect_status = 0;
    std::string app_key = "vtexappkey-test";
    std::string app_token; // default: $VAULTFWD_VTEX_APP_TOKEN, else a test token
    bool provider_headers = false;
    std::vector<std::string> cacerts;
    int timeout_s = 20;
};

// The options both `payment` and `send-payment` take. The card is required unless the
// command can take a finished body instead.
void add_payment_options(CLI::App* cmd, PaymentArgs& a, bool card_required) {
    auto* number = cmd->add_option("--number", a.card.number, "Card number (digits, Luhn-valid)");
    auto* holder = cmd->add_option("--holder", a.card.holder, "Holder name");
    auto* csc = cmd->add_option("--csc", a.card.csc, "Security code");
    auto* month = cmd->add_option("--exp-month", a.card.exp_month, "Expiry month, 1-12");
    auto* year = cmd->add_option("--exp-year", a.card.exp_year, "Expiry year, four digits");
    if (card_required)
        for (auto* o : {number, holder, csc, month, year})
            o->required();
    cmd->add_option("--brand", a.order.payment_method,
                    "paymentMethod as VTEX names it (default: from the number: Visa, Mastercard, "
                    "American Express, Diners, Discover, JCB, Elo, Hipercard)");
    cmd->add_option("--value", a.order.value, "Amount of the payment, such as 31.90")->capture_default_str();
    cmd->add_option("--currency", a.order.currency, "ISO 4217 currency code")->capture_default_str();
    cmd->add_option("--installments", a.order.installments, "Number of installments")->capture_default_str();
    cmd->add_option("--order-id", a.order.order_id, "orderId (default: digits derived from the payment id)");
    cmd->add_option("--reference", a.order.reference, "reference (default: digits derived from the payment id)");
    cmd->add_option("--merchant", a.order.merchant_name, "merchantName")->capture_default_str();
    cmd->add_option("--callback-url", a.order.callback_url,
                    "callbackUrl (default: a URL under --api-base; vaultfwd does not answer it)");
    cmd->add_option("--return-url", a.order.return_url,
                    "returnUrl (default: https://<merchant>.example.com/checkout/order/<orderId>)");
    cmd->add_option("--api-base", a.api_base,
                    "Base URL of the running serve (default http://<listen.api> of the profile)")
        ->check(http_url());
}

// Vaults the card and returns the Create Payment body; nothing is vaulted when the card or the
// order is refused.
std::string make_payment_body(const PaymentArgs& a) {
    auto order = unwrap(dialect::vtex::resolve_order(a.card, a.order));
    auto profile = load_profile();
    auto store = open_vault(profile);
    auto payment = unwrap(dialect::vtex::create_payment(*store, profile.vault_key(), a.card));
    std::string base = a.api_base.empty() ? "http://" + profile.listen.api : a.api_base;
    while (!base.empty() && base.back() == '/')
        base.pop_back();
    // The body is what a connector receives; it holds tokens, never the card data.
    return dialect::vtex::create_payment_body(payment, a.card, base, order);
}

void run_send(const SendArgs& a) {
    const auto& card = a.payment.card;
    bool any_card = !card.number.empty() || !card.holder.empty() || !card.csc.empty() ||
                    !card.exp_month.empty() || !card.exp_year.empty();
    std::string body;
    if (!a.body_file.empty()) {
        if (any_card)
            fail("give either --body FILE or the card (--number, --holder, …), not both", 2);
        body = unwrap(util::read_file(a.body_file));
    } else {
        for (const auto& [flag, value] : {std::pair<const char*, const std::string&>{"--number", card.number},
                                          {"--holder", card.holder},
                                          {"--csc", card.csc},
                                          {"--exp-month", card.exp_month},
                                          {"--exp-year", card.exp_year}})
            if (value.empty())
                fail(std::string(flag) + " is required (or give a Create Payment body with --body FILE)", 2);
        body = make_payment_body(a.payment);
    }
    dialect::vtex::Connector connector;
    connector.url = a.connector;
    connector.app_key = a.app_key;
    connector.app_token = a.app_token;
    if (connector.app_token.empty()) {
        const char* env = std::getenv("VAULTFWD_VTEX_APP_TOKEN");
        connector.app_token = env ? env : "vtexapptoken-test";
    }
    connector.names = a.provider_headers ? dialect::vtex::CredentialHeaders::provider
                                         : dialect::vtex::CredentialHeaders::vtex;
    connector.timeout_ms = a.timeout_s * 1000;
    auto profile = load_profile();
    for (const auto& f : profile.upstream.ca_files)
        connector.ca_files.push_back(profile.resolve(f).string());
    connector.ca_files.insert(connector.ca_files.end(), a.cacerts.begin(), a.cacerts.end());

    upstream::Client client;
    auto answer = unwrap(dialect::vtex::send_create_payment(client, connector, body));
    if (globals().json) {
        nlohmann::json headers = nlohmann::json::object();
        for (const auto& h : answer.headers)
            headers[h.name] = h.value;
        nlohmann::json j = {{"status", answer.status}, {"headers", headers}, {"body", answer.body}};
        auto parsed = nlohmann::json::parse(answer.body, nullptr, false);
        if (!parsed.is_discarded())
            j["json"] = parsed;
        std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
        std::cerr << "vaultfwd: the connector answered " << answer.status << "\n";
        std::cout << answer.body;
        if (!answer.body.empty() && answer.body.back() != '\n')
            std::cout << "\n";
    }
    std::cout.flush();
    if (a.expect_status && answer.status != a.expect_status)
        fail("the connector answered " + std::to_string(answer.status) + ", not " +
             std::to_string(a.expect_status) + " as --expect-status asks");
}

} // namespace

void register_vtex(CLI::App& app) {
    auto* cmd = app.add_subcommand("vtex", "VTEX Secure Proxy: create local payments, test a connector");
    cmd->require_subcommand(1);
    auto* create = cmd->add_subcommand(
        "payment", "Vault a card as a VTEX payment and print the Create Payment request body");
    static PaymentArgs payment_args;
    add_payment_options(create, payment_args, true);
    set_examples(create, "  vaultfwd vtex payment --number 5555444433331111 --holder 'JOHN DOE' --csc 123 \\\n"
                         "      --exp-month 02 --exp-year 2028 > create-payment.json\n"
                         "  vaultfwd vtex payment --number 378282246310005 --holder 'JOHN DOE' --csc 1234 \\\n"
                         "      --exp-month 02 --exp-year 2028 --value 120.00 --currency USD --installments 3\n"
                         "  jq -r .secureProxyUrl create-payment.json\n");
    create->callback([] { std::cout << make_payment_body(payment_args) << "\n"; });

    auto* send = cmd->add_subcommand(
        "send-payment", "Create a payment and POST it to a connector's /payments as VTEX's Gateway does");
    static SendArgs send_args;
    send->add_option("--connector", send_args.connector,
                     "The connector's base URL (its /payments endpoint is called)")
        ->required()
        ->check(http_url());
    add_payment_options(send, send_args.payment, false);
    send->add_option("--body", send_args.body_file, "Send this Create Payment body instead of making one")
        ->type_name("FILE");
    send->add_option("--expect-status", send_args.expect_status,
                     "Exit 1 unless the connector answers with this HTTP status")
        ->check(CLI::Range(100, 599));
    send->add_option("--app-key", send_args.app_key, "Sent as X-VTEX-API-AppKey")->capture_default_str();
    send->add_option("--app-token", send_args.app_token,
                     "Sent as X-VTEX-API-AppToken (default: $VAULTFWD_VTEX_APP_TOKEN, else a test token)");
    send->add_flag("--provider-headers", send_args.provider_headers,
                   "Name them X-PROVIDER-API-AppKey/-AppToken (usesProviderHeadersName)");
    send->add_option("--cacert", send_args.cacerts, "Trust this root for an https connector (repeatable)")
        ->type_name("FILE");
    send->add_option("--timeout", send_args.timeout_s, "Seconds to wait for the connector")
        ->check(CLI::Range(1, 300))
        ->capture_default_str();
    set_examples(send, "  vaultfwd vtex send-payment --connector http://127.0.0.1:3000 --number 4111111111111111 \\\n"
                       "      --holder 'JOHN DOE' --csc 123 --exp-month 02 --exp-year 2028 --expect-status 200\n"
                       "  vaultfwd vtex payment --number 5555444433331111 --holder 'JOHN DOE' --csc 123 \\\n"
                       "      --exp-month 02 --exp-year 2028 > p.json && \\\n"
                       "      vaultfwd vtex send-payment --connector https://connector.example --body p.json\n");
    send->callback([] { run_send(send_args); });
    set_examples(cmd, "  vaultfwd vtex payment --number 5555444433331111 --holder 'JOHN DOE' --csc 123 "
                      "--exp-month 02 --exp-year 2028\n"
                      "  vaultfwd vtex send-payment --connector http://127.0.0.1:3000 --number 4111111111111111 "
                      "--holder 'JOHN DOE' --csc 123 --exp-month 02 --exp-year 2028 --expect-status 200\n");
}

} // namespace vaultfwd::cli
