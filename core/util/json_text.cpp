// SPDX-License-Identifier: Apache-2.0
#include "core/util/json_text.hpp"

namespace vaultfwd::util {

namespace {

using nlohmann::json;

// nlohmann's DOM builder, with its error callback recording the fault instead of throwing.
// sax_parse calls parse_error through the static type, so this one is the one that runs.
class Builder : public nlohmann::detail::json_sax_dom_parser<json> {
  public:
    explicit Builder(json& out) : json_sax_dom_parser(out, false) {}
    bool parse_error(std::size_t position, const std::string& /*last_token*/,
                     const nlohmann::detail::exception& ex) {
        m_failed = true;
        m_position = position;
        m_id = ex.id;
        m_what = ex.what();
        return false;
    }
    bool failed() const { return m_failed; }
    std::size_t position() const { return m_position; }
    int id() const { return m_id; }
    const std::string& what() const { return m_what; }

  private:
    bool m_failed = false;
    std::size_t m_position = 0;
    int m_id = 0;
    std::string m_what;
};

// The reason alone: no "[json.exception…] parse error at line L, column C: " head (ours is in
// line/column) and no "; last read: '…'" tail (it quotes the input).
std::string reason(const Builder& b) {
    if (b.id() == 406)
        return "a number is too large to represent (number overflow)";
    std::string what = b.what();
    if (auto col = what.find("column "); col != std::string::npos)
        if (auto colon = what.find(": ", col); colon != std::string::npos)
            what = what.substr(colon + 2);
    if (auto last = what.find("; last read"); last != std::string::npos)
        what.resize(last);
    return what;
}

} // namespace

std::pair<int, int> line_column(std::string_view text, std::size_t at) {
    int line = 1, column = 1;
    for (std::size_t i = 0; i < at && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return {line, column};
}

Result<json> parse_json(std::string_view text, const std::string& code) {
    json doc;
    Builder builder(doc);
    bool ok = json::sax_parse(text, &builder);
    if (ok && !builder.failed())
        return doc;
    std::size_t at = builder.position() > 0 ? builder.position() - 1 : 0;
    auto [line, column] = line_column(text, at);
    return make_error(code, "invalid JSON: " + reason(builder), line, column);
}

} // namespace vaultfwd::util
