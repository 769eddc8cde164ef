// Result<T>: a value or an error code with context. Bad input from the network is reported
// through this, never through exceptions or aborts.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace live {

enum class Errc {
  truncated,           // input ended inside a structure that declared more bytes
  malformed,           // bytes that cannot be what the format says they are
  limit_exceeded,      // a size, count, depth or time above our named limit
  unsupported,         // well-formed but something we do not implement
  protocol_violation,  // valid bytes in an order or state the protocol forbids
  refused,             // the application said no (authorization, busy mount)
  closed,              // the peer or the session has ended
};

const char* errc_name(Errc code);

struct Error {
  Errc code;
  std::string context;

  std::string describe() const { return std::string(errc_name(code)) + ": " + context; }
};

inline Error make_error(Errc code, std::string context) { return Error{code, std::move(context)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}
  Result(Error error) : state_(std::move(error)) {}

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

  const Error& error() const { return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_{Errc::malformed, {}};
  bool failed_ = false;
};

}  // namespace live
