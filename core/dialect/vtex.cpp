// SPDX-License-Identifier: Apache-2.0
#include "core/dialect/vtex.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/crypto/hash.hpp"
#include "core/jsonlogic/jsonlogic.hpp"
#include "core/template/render.hpp"
#include "core/util/json_depth.hpp"
#include "core/util/random.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::dialect::vtex {

namespace {

using nlohmann::json;
const char* k_card_tokens[] = {"number", "holder", "csc"};
constexpr int k_default_timeout_ms = 15000;
constexpr int k_max_token_depth = 4;

std::string long_hash_of(std::string_view vault_key, const std::string& payment_id) {
    return util::to_hex(crypto::hmac_sha256(vault_key, "vtex-payment:" + payment_id));
}

bool luhn_ok(const std::string& digits) {
    int sum = 0;
    bool dbl = false;
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
        int d = *it - '0';
        if (dbl && (d *= 2) > 9)
            d -= 9;
        sum += d;
        dbl = !dbl;
    }
    return sum % 10 == 0;
}

bool all_digits(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

struct Route {
    std::string transaction_id, payment_id, kind; // kind: proxy | tokens
};

// Letters, digits, '-' and '_', 1 to `max` of them (ids and token names). A plain scan: std::regex
// matches a repetition with one stack frame per character.
bool is_id(std::string_view s, std::size_t max = std::string_view::npos) {
    return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
}

// /payment-provider/transactions/{transaction}/payments/{payment}/(proxy|tokens)
std::optional<Route> parse_route(const std::string& path) {
    auto parts = util::split(path, '/');
    if (parts.size() != 7 || !parts[0].empty() || parts[1] != "payment-provider" ||
        parts[2] != "transactions" || !is_id(parts[3]) || parts[4] != "payments" ||
        !is_id(parts[5]) || (parts[6] != "proxy" && parts[6] != "tokens"))
        return std::nullopt;
    return Route{parts[3], parts[5], parts[6]};
}

std::string query_param(const std::string& query, const std::string& name) {
    for (const auto& part : util::split(query, '&')) {
        auto eq = part.find('=');
        if (part.substr(0, eq) == name)
            return eq == std::string::npos ? "" : util::percent_decode(part.substr(eq + 1)).value_or("");
    }
    return {};
}

// Resolves VTEX tokens of one payment: card fields from the record, custom tokens by evaluating
// their JsonLogic (whose replaceTokens may name other tokens, to a bounded depth).
class Resolver {
  public:
    Resolver(const vault::Store& store, std::string hash) : m_store(store), m_hash(std::move(hash)) {}

    Result<std::string> resolve(const std::string& hash, const std::string& name, int depth) const {
        std::string record = "vtex_" + hash;
        if (hash != m_hash || !m_store.has_record(record))
            return make_error("vtex.unknown_token", "token for payment " + hash + " is unknown");
        for (const char* card : k_card_tokens)
            if (name == card) {
                if (auto v = m_store.field(record, name))
                    return *v;
                return make_error("vtex.unknown_token", "the payment has no " + name);
            }
        auto logic_text = m_store.field(record, "custom_token." + name);
        if (!logic_text)
            return make_error("vtex.unknown_token", "custom token \"" + name + "\" does not exist");
        if (depth >= k_max_token_depth)
            return make_error("vtex.token_loop", "custom token \"" + name + "\" refers to itself too deeply");
        json logic = json::parse(*logic_text, nullptr, false);
        jsonlogic::Options opts;
        opts.replace_tokens = [this, depth](const std::string& text) -> Result<std::string> {
            return render_text(text, depth + 1);
        };
        auto value = jsonlogic::evaluate(logic, json::object(), opts);
        if (!value)
            return value.error();
        return jsonlogic::to_js_string(*value);
    }

    Result<std::string> render_text(const std::string& text, int depth) const {
        tmpl::RenderRequest req;
        req.dialect = tmpl::Dialect::vtex;
        req.body = text;
        req.vtex_payment = m_hash;
        req.source = &m_store;
        req.vtex_resolver = [this, depth](const std::string& h, const std::string& n) {
            return resolve(h, n, depth);
        };
        auto out = tmpl::render(req);
        if (!out.ok) {
            const auto* p = tmpl::primary_problem(out);
            return make_error(p ? p->code : "vtex.unknown_token", p ? p->message : "unknown token");
        }
        return out.body;
    }

  private:
    const vault::Store& m_store;
    std::string m_hash;
};

http::Response tokens_list(const std::vector<std::string>& names, const std::string& hash) {
    json tokens = json::array();
    for (const auto& n : names)
        tokens.push_back({{"name", n}, {"placeholder", "#vtex#" + n + "#" + hash + "#"}});
    http::Response res;
    res.headers.push_back({"content-type", "application/json"});
    res.body = json{{"tokens", tokens}}.dump();
    return res;
}

http::Response handle_tokens(const http::Request& r, const std::string& hash, Services& s) {
    std::string record = "vtex_" + hash;
    if (r.method == "GET") {
        std::vector<std::string> names(std::begin(k_card_tokens), std::end(k_card_tokens));
        if (auto fields = s.store.get(record))
            for (const auto& [k, v] : *fields)
                if (k.rfind("custom_token.", 0) == 0)
                    names.push_back(k.substr(13));
        return tokens_list(names, hash);
    }
    if (r.method != "POST")
        return json_error(405, "request.method_not_allowed", "use GET to list tokens or POST to create them");
    json body = json::parse(r.body, nullptr, false);
    if (!body.is_discarded() && util::json_deeper_than(body, util::k_max_json_depth))
        return json_error(400, "vtex.bad_tokens_body", "the tokens body is nested too deeply");
    if (body.is_discarded() || !body.is_object() || !body.contains("tokens") || !body["tokens"].is_array())
        return json_error(400, "vtex.bad_tokens_body", "the body must be {\"tokens\": [{\"name\": …, \"value\": <JsonLogic>}]}");
    vault::Fields fields = s.store.get(record).value_or(vault::Fields{});
    std::vector<std::string> created;
    for (const auto& t : body["tokens"]) {
        if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("value"))
            return json_error(400, "vtex.bad_tokens_body", "each token needs a string name and a JsonLogic value");
        std::string name = t["name"].get<std::string>();
        if (!is_id(name, 64) || name == "number" || name == "holder" || name == "csc" || name == "token")
            return json_error(400, "vtex.bad_token_name", "token name \"" + name + "\" must be 1-64 letters, digits, '-' or '_' and not a card token");
        fields["custom_token." + name] = t["value"].dump();
        created.push_back(name);
    }
    if (auto w = s.store.put(record, fields); !w)
        return json_error(500, w.error().code, "the tokens could not be stored");
    return tokens_list(created, hash);
}

server::Step handle_proxy(const http::Request& r, const std::string& hash, Services& s,
                            server::AccessEntry& log) {
    if (r.method != "POST")
        return json_error(405, "request.method_not_allowed", "the secure proxy takes POST");
    auto target = http::find(r.headers, "x-provider-forward-to");
    if (!target || util::trim(*target).empty())
        return json_error(400, "vtex.missing_forward_to", "the X-PROVIDER-Forward-To header is required");
    auto url = upstream::parse_url(util::trim(*target));
    if (!url)
        return json_error(400, url.error().code, url.error().message);
    if (auto allowed = upstream::check_allowed(*url, allowlist(s.profile)); !allowed)
        return json_error(403, allowed.error().code, allowed.error().message);
    auto content_type = http::find(r.headers, "content-type").value_or("");
    std::string base = util::to_lower(util::trim(content_type.substr(0, content_type.find(';'))));
    if (base != "application/json" && base != "application/x-www-form-urlencoded")
        return json_error(415, "vtex.unsupported_content_type",
                          "the secure proxy accepts only application/json or application/x-www-form-urlencoded");
    if (r.body.size() > s.profile.limits.max_body_bytes)
        return json_error(413, "request.too_large", "the request body is too large");

    Resolver resolver(s.store, hash);
    upstream::Call call = base_call(s.profile);
    call.url = *url;
    call.method = "POST";
    call.timeout_ms = std::min(call.timeout_ms, k_default_timeout_ms);
    std::vector<std::string> problems;
    std::size_t tokens = 0;
    auto render = [&](const std::string& text, const std::string& where) -> std::string {
        tmpl::RenderRequest req;
        req.dialect = tmpl::Dialect::vtex;
        req.body = text;
        req.vtex_payment = hash;
        req.source = &s.store;
        req.vtex_resolver = [&](const std::string& h, const std::string& n) { return resolver.resolve(h, n, 0); };
        req.secrets = log.secrets.get();
        auto out = tmpl::render(req);
        tokens += out.token_count;
        if (!out.ok) {
            for (const auto& p : out.problems)
                problems.push_back(where + " " + p.to_error().describe() + " (" + p.token + ")");
            return {};
        }
        return out.body;
    };
    const std::string prefix = "x-provider-forward-";
    for (const auto& h : r.headers) {
        std::string lower = util::to_lower(h.name);
        if (lower == "x-provider-forward-to")
            continue;
        if (lower.rfind(prefix, 0) == 0) {
            std::string name = h.name.substr(prefix.size());
            std::string value = render(h.value, "header " + name + ":");
            if (!http::is_safe_value(value))
                problems.push_back("header " + name + ": the value would hold CR, LF or NUL");
            call.headers.push_back({name, value});
        } else if (lower == "accept" || lower == "content-type" || lower == "user-agent") {
            call.headers.push_back({h.name, render(h.value, "header " + h.name + ":")});
        }
    }
    call.body = render(r.body, "body");
    log.tokens = tokens;
    if (!problems.empty())
        return json_error(400, "vtex.unknown_token",
                          "the request holds tokens the gateway does not recognise: " + util::join(problems, "; "));
    log.upstream_host = host_port(call.url);
    call.stream_answer = true; // the body passes as it is: relayed as it arrives
    // The response phase: the upstream's answer as it is; a failure in the gateway's JSON.
    auto respond = [](upstream::Outcome out) -> http::Response {
        if (!out.ok()) {
            int status = out.failure == upstream::FailureKind::timeout ? 504
                         : out.failure == upstream::FailureKind::bad_request ? 400 : 502;
            return json_error(status, out.error_code, out.error_message);
        }
        http::Response res;
        res.status = out.response.status;
        for (const auto& h : out.response.headers)
            if (!http::is_hop_by_hop(h.name))
                res.headers.push_back(h);
        res.body = std::move(out.response.body);
        res.stream = std::move(out.response.stream);
        return res;
    };
    return server::UpstreamStep{std::move(call), std::move(respond)};
}

// A range of leading digits: numbers whose first `digits` digits, read as a number, lie in
// [low, high].
struct BinRange {
    int digits;
    long low, high;
    const char* brand;
};

// Most specific first: Elo and Hipercard take ranges inside Visa's 4, Discover's 65, Diners' 38
// and Mastercard's 5, so they are tried before those.
constexpr BinRange k_bins[] = {
    {6, 401178, 401179, "Elo"},   {6, 431274, 431274, "Elo"},   {6, 438935, 438935, "Elo"},
    {6, 451416, 451416, "Elo"},   {6, 457393, 457393, "Elo"},   {6, 457631, 457632, "Elo"},
    {6, 504175, 504175, "Elo"},   {6, 506699, 506778, "Elo"},   {6, 509000, 509999, "Elo"},
    {6, 627780, 627780, "Elo"},   {6, 636297, 636297, "Elo"},   {6, 636368, 636368, "Elo"},
    {6, 650031, 650033, "Elo"},   {6, 650035, 650051, "Elo"},   {6, 650405, 650439, "Elo"},
    {6, 650485, 650538, "Elo"},   {6, 650541, 650598, "Elo"},   {6, 650700, 650718, "Elo"},
    {6, 650720, 650727, "Elo"},   {6, 650901, 650978, "Elo"},   {6, 651652, 651679, "Elo"},
    {6, 655000, 655019, "Elo"},   {6, 655021, 655058, "Elo"},
    {6, 606282, 606282, "Hipercard"}, {6, 384100, 384100, "Hipercard"},
    {6, 384140, 384140, "Hipercard"}, {6, 384160, 384160, "Hipercard"},
    {6, 637095, 637095, "Hipercard"}, {6, 637568, 637568, "Hipercard"},
    {6, 637599, 637599, "Hipercard"}, {6, 637609, 637609, "Hipercard"},
    {6, 637612, 637612, "Hipercard"},
    {2, 34, 34, "American Express"}, {2, 37, 37, "American Express"},
    {3, 300, 305, "Diners"},      {4, 3095, 3095, "Diners"},    {2, 36, 36, "Diners"},
    {2, 38, 39, "Diners"},
    {4, 3528, 3589, "JCB"},
    {4, 6011, 6011, "Discover"},  {6, 622126, 622925, "Discover"}, {3, 644, 649, "Discover"},
    {2, 65, 65, "Discover"},
    {2, 51, 55, "Mastercard"},    {4, 2221, 2720, "Mastercard"},
    {1, 4, 4, "Visa"},
};

bool is_decimal_amount(const std::string& s) {
    auto dot = s.find('.');
    std::string whole = s.substr(0, dot);
    std::string cents = dot == std::string::npos ? "" : s.substr(dot + 1);
    return all_digits(whole) && whole.size() <= 9 &&
           (dot == std::string::npos || (all_digits(cents) && cents.size() <= 2));
}

// Digits derived from the payment id, so the order ids are stable for a payment and differ
// between payments, as VTEX's do.
std::string digits_from(const std::string& hex_id, std::size_t from, std::size_t length, std::size_t count) {
    unsigned long long n = std::stoull(hex_id.substr(from, length), nullptr, 16);
    unsigned long long span = 9;
    for (std::size_t i = 1; i < count; ++i)
        span *= 10;
    return std::to_string(span / 9 + n % span);
}

} // namespace

std::string card_brand(std::string_view number) {
    for (const auto& r : k_bins) {
        if (number.size() < static_cast<std::size_t>(r.digits))
            continue;
        long lead = 0;
        bool digits = true;
        for (int i = 0; i < r.digits; ++i) {
            char c = number[static_cast<std::size_t>(i)];
            digits = digits && c >= '0' && c <= '9';
            lead = lead * 10 + (c - '0');
        }
        if (digits && lead >= r.low && lead <= r.high)
            return r.brand;
    }
    return {};
}

const std::vector<std::string>& card_payment_methods() {
    static const std::vector<std::string> k_methods = {
        "Visa",          "Mastercard",     "American Express", "Discover",       "JCB",
        "Diners",        "Elo",            "Hipercard",        "Aura",           "Banricompras",
        "Credz",         "Cabal",          "Cartes Bancaires (CB)", "VirtualDebitElo", "Visa Electron",
        "Maestro",       "Mastercard Debit", "Cobranded",      "Privatelabels"};
    return k_methods;
}

Result<Order> resolve_order(const Card& card, Order order) {
    if (order.payment_method.empty()) {
        order.payment_method = card_brand(card.number);
        if (order.payment_method.empty())
            return make_error("vtex.unknown_brand",
                              "the card number (BIN " + card.number.substr(0, std::min<std::size_t>(6, card.number.size())) +
                                  ") matches no brand vaultfwd knows (Visa, Mastercard, American Express, Diners, "
                                  "Discover, JCB, Elo, Hipercard): name it with --brand");
    } else {
        bool found = false;
        for (const auto& m : card_payment_methods())
            if (util::iequals(m, order.payment_method)) {
                order.payment_method = m;
                found = true;
            }
        if (!found)
            return make_error("vtex.bad_payment_method",
                              "payment method \"" + order.payment_method + "\" is not a card method of VTEX's manifest (" +
                                  util::join(card_payment_methods(), ", ") + ")");
    }
    if (!is_decimal_amount(order.value) || std::stod(order.value) <= 0)
        return make_error("vtex.bad_order", "the value \"" + order.value +
                                                "\" must be a positive amount with at most two decimals, such as 31.90");
    bool alpha3 = order.currency.size() == 3 && std::all_of(order.currency.begin(), order.currency.end(), [](char c) {
        return c >= 'A' && c <= 'Z';
    });
    if (!alpha3)
        return make_error("vtex.bad_order", "the currency \"" + order.currency +
                                                "\" must be an ISO 4217 code in capitals, such as BRL or USD");
    if (order.installments < 1 || order.installments > 99)
        return make_error("vtex.bad_order", "installments must be between 1 and 99");
    return order;
}

Result<Payment> create_payment(vault::Store& store, std::string_view vault_key, const Card& card) {
    if (!all_digits(card.number) || card.number.size() < 12 || card.number.size() > 19 || !luhn_ok(card.number))
        return make_error("vtex.bad_card", "the card number must be 12 to 19 digits and pass the Luhn check");
    if (!all_digits(card.csc) || card.csc.size() < 3 || card.csc.size() > 4)
        return make_error("vtex.bad_card", "the security code must be 3 or 4 digits");
    if (!all_digits(card.exp_month) || card.exp_month.size() > 2 || std::stoi(card.exp_month) < 1 || std::stoi(card.exp_month) > 12)
        return make_error("vtex.bad_card", "the expiry month must be 1 to 12");
    if (!all_digits(card.exp_year) || card.exp_year.size() != 4)
        return make_error("vtex.bad_card", "the expiry year must have four digits");
    if (util::trim(card.holder).empty())
        return make_error("vtex.bad_card", "the holder name is required");
    Payment p;
    p.payment_id = util::to_lower(util::random_hex(16));
    p.transaction_id = util::to_lower(util::random_hex(16));
    p.long_hash = long_hash_of(vault_key, p.payment_id);
    p.secure_hash = p.long_hash.substr(0, 7);
    std::string month = card.exp_month.size() == 1 ? "0" + card.exp_month : card.exp_month;
    vault::Fields fields = {{"number", card.number},     {"holder", card.holder},
                            {"csc", card.csc},           {"exp_month", month},
                            {"exp_year", card.exp_year}, {"payment_id", p.payment_id},
                            {"transaction_id", p.transaction_id}};
    if (auto r = store.put("vtex_" + p.secure_hash, fields); !r)
        return r.error();
    return p;
}

std::string create_payment_body(const Payment& p, const Card& card, const std::string& api_base,
                                const Order& order) {
    std::string base = api_base + "/payment-provider/transactions/" + p.transaction_id + "/payments/" + p.payment_id;
    std::string t = "#vtex#token#" + p.secure_hash + "#";
    std::string month = card.exp_month.size() == 1 ? "0" + card.exp_month : card.exp_month;
    std::string method = order.payment_method.empty() ? card_brand(card.number) : order.payment_method;
    std::string order_id = order.order_id.empty() ? digits_from(p.payment_id, 0, 12, 13) : order.order_id;
    std::string reference = order.reference.empty() ? digits_from(p.payment_id, 12, 8, 6) : order.reference;
    std::string store = "https://" + order.merchant_name + ".example.com";
    // Amounts in cents, so the parts add up to the value exactly.
    long long cents = std::llround(std::stod(order.value) * 100);
    int installments = std::max(1, order.installments);
    auto amount = [](long long c) { return static_cast<double>(c) / 100.0; };
    const long long shipping = std::min<long long>(500, cents / 10);
    const long long tax = 0;
    json address_shipping = {{"country", "BRA"},      {"street", "Praia de Botafogo St."},
                             {"number", "300"},       {"complement", "3rd Floor"},
                             {"neighborhood", "Botafogo"}, {"postalCode", "22250040"},
                             {"city", "Rio de Janeiro"}, {"state", "RJ"}};
    json address_billing = {{"country", "BRA"},        {"street", "Brigadeiro Faria Lima Avenue"},
                            {"number", "4440"},        {"complement", "10th Floor"},
                            {"neighborhood", "Itaim Bibi"}, {"postalCode", "04538132"},
                            {"city", "São Paulo"},     {"state", "SP"}};
    json mini_cart = {
        {"buyer",
         {{"id", "c1245228-1c68-11e6-94ac-0afa86a846a5"}, {"firstName", "John"},
          {"lastName", "Doe"}, {"document", "01234567890"}, {"documentType", "cpf"},
          {"corporateName", nullptr}, {"tradeName", nullptr}, {"corporateDocument", nullptr},
          {"isCorporate", false}, {"email", "john.doe@example.com"}, {"phone", "+5521999999999"},
          {"createdDate", "2020-02-18T18:17:45"}}},
        {"shippingAddress", address_shipping},
        {"billingAddress", address_billing},
        {"items", json::array({{{"id", "8"}, {"name", "Test item"}, {"price", amount(cents - shipping - tax)},
                                {"quantity", 1}, {"discount", 0}, {"deliveryType", "Normal"},
                                {"categoryId", "5"}, {"sellerId", "1"}}})},
        {"shippingValue", amount(shipping)},
        {"taxValue", amount(tax)}};
    json body = {
        {"reference", reference},
        {"orderId", order_id},
        {"shopperInteraction", "ecommerce"},
        {"verificationOnly", false},
        {"transactionId", p.transaction_id},
        {"paymentId", p.payment_id},
        {"paymentMethod", method},
        {"paymentMethodCustomCode", nullptr},
        {"merchantName", order.merchant_name},
        {"value", amount(cents)},
        {"referenceValue", amount(cents)},
        {"currency", order.currency},
        {"installments", installments},
        {"installmentsInterestRate", 0},
        {"installmentsValue", amount(cents / installments)},
        {"deviceFingerprint", "12345678"},
        {"ipAddress", "127.0.0.1"},
        {"card",
         {{"holderToken", t + "holder#"},
          {"bin", card.number.substr(0, 6)},
          {"numberToken", t + "number#"},
          {"numberLength", card.number.size()},
          {"cscToken", t + "csc#"},
          {"cscLength", card.csc.size()},
          {"expiration", {{"month", month}, {"year", card.exp_year}}}}},
        {"miniCart", mini_cart},
        {"url", store + "/admin/checkout/orders/" + order_id},
        {"callbackUrl", order.callback_url.empty() ? base + "/callback?accountName=" + order.merchant_name
                                                    : order.callback_url},
        {"returnUrl", order.return_url.empty() ? store + "/checkout/order/" + order_id : order.return_url},
        {"recipients", json::array({{{"id", order.merchant_name}, {"name", order.merchant_name},
                                     {"documentType", "CNPJ"}, {"document", "99999999999999"},
                                     {"role", "seller"}, {"chargeProcessingFee", true},
                                     {"chargebackLiable", true}, {"amount", amount(cents)}}})},
        {"merchantSettings", json::array()},
        {"sandBoxMode", true},
        {"totalCartValue", amount(cents)},
        {"secureProxyUrl", base + "/proxy?hash=" + p.long_hash},
        {"secureProxyTokensURL", base + "/tokens?hash=" + p.long_hash}};
    return body.dump(2);
}

Result<http::Response> send_create_payment(upstream::Client& client, const Connector& connector,
                                           const std::string& body) {
    std::string target = connector.url;
    while (!target.empty() && target.back() == '/')
        target.pop_back();
    constexpr std::string_view k_payments = "/payments";
    if (target.size() < k_payments.size() || target.compare(target.size() - k_payments.size(), k_payments.size(), k_payments) != 0)
        target += k_payments;
    auto url = upstream::parse_url(target);
    if (!url)
        return make_error("vtex.bad_connector", "the connector URL \"" + connector.url + "\" is not usable: " +
                                                    url.error().message);
    upstream::Call call;
    call.method = "POST";
    call.url = *url;
    call.timeout_ms = connector.timeout_ms;
    call.tls.extra_ca_files = connector.ca_files;
    const std::string prefix = connector.names == CredentialHeaders::provider ? "X-PROVIDER-API-" : "X-VTEX-API-";
    call.headers = {{"Content-Type", "application/json"},
                    {"Accept", "application/json"},
                    {prefix + "AppKey", connector.app_key},
                    {prefix + "AppToken", connector.app_token}};
    call.body = body;
    auto out = client.send(call);
    if (!out.ok())
        return make_error(out.error_code, out.error_message);
    return std::move(out.response);
}

bool is_vtex_path(const std::string& path) {
    // Every other API request asks this first: no split unless the prefix is VTEX's.
    return path.rfind("/payment-provider/", 0) == 0 && parse_route(path).has_value();
}

server::Step handle(const http::Request& r, Services& s, server::AccessEntry& log) {
    log.dialect = "vtex";
    auto route = parse_route(r.path);
    if (!route)
        return json_error(404, "request.not_found", "no such VTEX endpoint");
    std::string given = query_param(r.query, "hash");
    std::string expected = long_hash_of(s.profile.vault_key(), route->payment_id);
    if (!crypto::constant_time_equal(given, expected))
        return json_error(401, "vtex.bad_hash", "the URL's hash does not match the payment: use the secureProxyUrl or secureProxyTokensURL as given");
    std::string hash = expected.substr(0, 7);
    if (!s.store.has_record("vtex_" + hash))
        return json_error(404, "vtex.unknown_payment", "payment " + route->payment_id + " does not exist");
    try {
        if (route->kind == "tokens") {
            if (log.secrets && r.method != "GET")
                log.secrets->withhold_request_body("the custom token definitions it holds go into the vault");
            return handle_tokens(r, hash, s);
        }
        return handle_proxy(r, hash, s, log);
    } catch (const std::exception&) {
        return json_error(500, "vtex.internal", "the gateway could not answer due to an internal failure");
    }
}

} // namespace vaultfwd::dialect::vtex
