// SPDX-License-Identifier: Apache-2.0
#include "core/profile/edit.hpp"

#include <sstream>
#include <toml++/toml.h>

#include "core/profile/profile.hpp"
#include "core/util/file_lock.hpp"
#include "core/util/fs.hpp"
#include "core/util/strings.hpp"

namespace vaultfwd::profile {

namespace {

std::string toml_string(const std::string& s) {
    std::ostringstream out;
    out << toml::value<std::string>(s);
    return out.str();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines = util::split(text, '\n');
    return lines;
}

bool is_comment_or_blank(const std::string& line) {
    auto t = util::trim(line);
    return t.empty() || t.front() == '#';
}

Result<void> check_still_valid(const std::string& text, const std::filesystem::path& file) {
    auto errors = validate(text, file);
    if (!errors.empty())
        return make_error("profile.edit_invalid",
                          "the edit would leave " + file.string() + " invalid: " +
                              errors.front().describe() + "; nothing was changed");
    return {};
}

} // namespace

std::string append_entry_text(const std::string& text, const std::string& array,
                              const Fields& fields) {
    std::string out = text;
    if (!out.empty() && out.back() != '\n')
        out += "\n";
    out += "\n[[" + array + "]]\n";
    for (const auto& [k, v] : fields)
        out += k + " = " + toml_string(v) + "\n";
    return out;
}

std::string append_table_text(const std::string& text, const std::string& array,
                              const toml::table& entry) {
    toml::table root;
    root.insert(array, toml::array{entry});
    std::ostringstream rendered;
    // No indentation: the entry should look like the hand-written ones around it.
    rendered << toml::toml_formatter(root, toml::format_flags::allow_literal_strings |
                                               toml::format_flags::allow_multi_line_strings |
                                               toml::format_flags::allow_unicode_strings);
    std::string out = text;
    if (!out.empty() && out.back() != '\n')
        out += "\n";
    out += "\n" + rendered.str();
    if (out.back() != '\n')
        out += "\n";
    return out;
}

Result<std::string> remove_entry_text(const std::string& text, const std::string& array,
                                      const std::string& key, const std::string& value,
                                      bool* found) {
    *found = false;
    toml::table root;
    try {
        root = toml::parse(text);
    } catch (const toml::parse_error& e) {
        return make_error("profile.syntax", std::string(e.description()),
                          static_cast<int>(e.source().begin.line),
                          static_cast<int>(e.source().begin.column));
    }
    auto* arr = root[array].as_array();
    if (!arr)
        return text;
    int begin_line = 0;
    for (auto& item : *arr) {
        auto* t = item.as_table();
        if (t && (*t)[key].value<std::string>() == value) {
            begin_line = static_cast<int>(t->source().begin.line);
            break;
        }
    }
    if (!begin_line)
        return text;
    auto lines = lines_of(text);
    // The entry ends before the next table header, minus the comments that lead into it.
    std::size_t end = lines.size(); // exclusive, 0-based
    for (std::size_t i = static_cast<std::size_t>(begin_line); i < lines.size(); ++i) {
        auto t = util::trim(lines[i]);
        if (!t.empty() && t.front() == '[' &&
            !(t.rfind("[[" + array + ".", 0) == 0 || t.rfind("[" + array + ".", 0) == 0)) {
            end = i;
            break;
        }
    }
    while (end > static_cast<std::size_t>(begin_line) && is_comment_or_blank(lines[end - 1]))
        --end;
    std::size_t begin = static_cast<std::size_t>(begin_line - 1);
    // Drop one blank line before the entry too, so removal undoes an append exactly.
    if (begin > 0 && util::trim(lines[begin - 1]).empty())
        --begin;
    lines.erase(lines.begin() + static_cast<long>(begin), lines.begin() + static_cast<long>(end));
    *found = true;
    return util::join(lines, "\n");
}

Result<void> append_entry(const std::filesystem::path& file, const std::string& array,
                          const Fields& fields) {
    util::FileLock lock(file);
    auto text = util::read_file(file);
    if (!text)
        return text.error();
    std::string out = append_entry_text(*text, array, fields);
    if (auto r = check_still_valid(out, file); !r)
        return r;
    return util::write_file_atomic(file, out, 0600);
}

Result<void> append_tables(const std::filesystem::path& file, const std::string& array,
                           const std::vector<toml::table>& entries) {
    util::FileLock lock(file);
    auto text = util::read_file(file);
    if (!text)
        return text.error();
    std::string out = *text;
    for (const auto& entry : entries)
        out = append_table_text(out, array, entry);
    if (auto r = check_still_valid(out, file); !r)
        return r;
    return util::write_file_atomic(file, out, 0600);
}

Result<bool> remove_entry(const std::filesystem::path& file, const std::string& array,
                          const std::string& key, const std::string& value) {
    util::FileLock lock(file);
    auto text = util::read_file(file);
    if (!text)
        return text.error();
    bool found = false;
    auto out = remove_entry_text(*text, array, key, value, &found);
    if (!out)
        return out.error();
    if (!found)
        return false;
    if (auto r = check_still_valid(*out, file); !r)
        return r.error();
    if (auto r = util::write_file_atomic(file, *out, 0600); !r)
        return r.error();
    return true;
}

} // namespace vaultfwd::profile
