// SPDX-License-Identifier: Apache-2.0
#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/context.hpp"
#include "core/dialect/vtex.hpp"

namespace vaultfwd::cli {

void register_vtex(CLI::App& app) {
    auto* cmd = app.add_subcommand("vtex", "VTEX Secure Proxy: create local payments");
    cmd->require_subcommand(1);
    auto* create = cmd->add_subcommand(
        "payment", "Vault a card as a VTEX payment and print the Create Payment request body");
    static dialect::vtex::Card card;
    static std::string api_base;
    create->add_option("--number", card.number, "Card number (digits, Luhn-valid)")->required();
    create->add_option("--holder", card.holder, "Holder name")->required();
    create->add_option("--csc", card.csc, "Security code")->required();
    create->add_option("--exp-month", card.exp_month, "Expiry month, 1-12")->required();
    create->add_option("--exp-year", card.exp_year, "Expiry year, four digits")->required();
    create->add_option("--api-base", api_base,
                       "Base URL of the running serve (default http://<listen.api> of the profile)")
        ->check(http_url());
    set_examples(create, "  vaultfwd vtex payment --number 5555444433331111 --holder 'JOHN DOE' --csc 123 \\\n"
                         "      --exp-month 02 --exp-year 2028 > create-payment.json\n"
                         "  jq -r .secureProxyUrl create-payment.json\n");
    set_examples(cmd, "  vaultfwd vtex payment --number 5555444433331111 --holder 'JOHN DOE' --csc 123 "
                      "--exp-month 02 --exp-year 2028\n");
    create->callback([] {
        auto profile = load_profile();
        auto store = open_vault(profile);
        auto payment = unwrap(dialect::vtex::create_payment(*store, profile.vault_key(), card));
        std::string base = api_base.empty() ? "http://" + profile.listen.api : api_base;
        while (!base.empty() && base.back() == '/')
            base.pop_back();
        // The body is what a connector receives; it holds tokens, never the card data.
        std::cout << dialect::vtex::create_payment_body(payment, card, base) << "\n";
    });
}

} // namespace vaultfwd::cli
