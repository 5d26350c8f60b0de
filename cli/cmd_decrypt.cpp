// SPDX-License-Identifier: Apache-2.0
#include <cctype>
#include <cstdio>
#include <iostream>
#include <memory>
#include <unistd.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "core/crypto/seal.hpp"
#include "core/util/fs.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::cli {

namespace {

using nlohmann::json;

struct DecryptArgs {
    std::string input = "-";
    std::string key_file;
    std::string algorithm;
};

bool is_hex(std::string_view s) {
    if (s.empty() || s.size() % 2 != 0)
        return false;
    for (char c : s)
        if (!std::isxdigit(static_cast<unsigned char>(c)))
            return false;
    return true;
}

// Footprint prints sealed boxes as hex; it stores them as unpadded base64url, and legacy boxes
// as "fp01" + base64url. Accept all three.
std::string decode_ciphertext(std::string_view text) {
    if (is_hex(text))
        return *util::from_hex(text);
    std::string_view b64 = text;
    if (b64.substr(0, 4) == "fp01")
        b64.remove_prefix(4);
    if (auto bytes = util::base64url_decode(b64); bytes && !bytes->empty())
        return *bytes;
    fail("the ciphertext is neither hex nor base64url", 2);
}

void run_decrypt(const DecryptArgs& a) {
    std::string text;
    if (a.input == "-") {
        char buf[1 << 16];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0)
            text.append(buf, n);
    } else {
        text = a.input;
    }
    auto trimmed = util::trim(text);
    if (trimmed.empty())
        fail("no ciphertext: pass it as an argument or on stdin", 2);
    std::string ciphertext = decode_ciphertext(trimmed);
    std::string pem = unwrap(util::read_file(a.key_file));

    crypto::SealAlgorithm algorithm;
    if (a.algorithm.empty())
        algorithm = unwrap(crypto::algorithm_for_private_key(pem), a.key_file);
    else
        algorithm = *crypto::seal_algorithm_from_name(a.algorithm);
    std::string plain = unwrap(crypto::open(algorithm, pem, ciphertext));

    if (globals().json) {
        json j = {{"algorithm", std::string(crypto::seal_algorithm_name(algorithm))},
                  {"plaintext", plain},
                  {"plaintext_hex", util::to_hex(plain)}};
        std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
        return;
    }
    std::fwrite(plain.data(), 1, plain.size(), stdout);
    if (::isatty(STDOUT_FILENO))
        std::fputc('\n', stdout);
    std::fflush(stdout);
}

} // namespace

void register_decrypt(CLI::App& app) {
    auto args = std::make_shared<DecryptArgs>();
    auto* cmd = app.add_subcommand(
        "decrypt", "Open what an encrypt(...) filter produced, with the third party's private key");
    cmd->add_option("ciphertext", args->input,
                    "Hex (as the filter prints it), or the base64url/fp01 stored form; - reads stdin "
                    "(default)");
    cmd->add_option("-k,--key", args->key_file, "The private key, PEM (PKCS#8, RSA or EC)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("-a,--algorithm", args->algorithm,
                    "rsa_pkcs1v15 or ecies_p256_x963_sha256_aes_gcm (default: from the key type)")
        ->check(CLI::IsMember({"rsa_pkcs1v15", "ecies_p256_x963_sha256_aes_gcm"}));
    set_examples(cmd,
                 "  vaultfwd decrypt --key partner-ec.pem a46176016365706b9841...\n"
                 "  vaultfwd render req.json | jq -r .ssn | vaultfwd decrypt --key partner-rsa.pem\n"
                 "  vaultfwd decrypt --key k.pem --algorithm rsa_pkcs1v15 - < ciphertext.hex\n");
    cmd->callback([args] { run_decrypt(*args); });
}

} // namespace vaultfwd::cli
