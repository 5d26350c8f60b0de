// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace vaultfwd {

// An expected failure: a stable machine code ("template.unknown_filter"), a human message
// (lowercase, subject first, never a secret) and, where it points into a text, a 1-based position.
struct Error {
    std::string code;
    std::string message;
    int line = 0;
    int column = 0;

    // "file:12:3: message" style rendering; the prefix is omitted when empty.
    std::string describe(const std::string& where = {}) const;
};

// Result<T> holds a T or an Error. `if (!r) return r.error();` propagates.
template <class T> class [[nodiscard]] Result {
  public:
    Result(T value) : m_v(std::move(value)) {}
    Result(Error error) : m_v(std::move(error)) {}

    bool ok() const { return m_v.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(m_v); }
    const T& value() const& { return std::get<0>(m_v); }
    T&& value() && { return std::get<0>(std::move(m_v)); }
    T& operator*() { return value(); }
    const T& operator*() const { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const Error& error() const { return std::get<1>(m_v); }

  private:
    std::variant<T, Error> m_v;
};

template <> class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error error) : m_error(std::move(error)) {}
    bool ok() const { return !m_error.has_value(); }
    explicit operator bool() const { return ok(); }
    const Error& error() const { return *m_error; }

  private:
    std::optional<Error> m_error;
};

inline Error make_error(std::string code, std::string message, int line = 0, int column = 0) {
    return Error{std::move(code), std::move(message), line, column};
}

} // namespace vaultfwd
