// Status and Result: the error values of the Dendrite SDK. No SDK function
// throws; every fallible call returns one of these.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace dendrite {

// What went wrong, coarse enough for callers to branch on.
enum class StatusCode : int {
  kOk = 0,
  kNotFound,            // the thing asked for does not exist
  kInvalidArgument,     // the caller's input is malformed or out of range
  kUnavailable,         // the peer cannot be reached / refused the connection
  kTimeout,             // no answer within the deadline
  kConsistencyNotMet,   // fewer copies acknowledged than required
  kAlreadyExists,       // e.g. a message type or service name claimed twice
  kFailedPrecondition,  // the operation does not fit the current state
  kBusy,                // overloaded; retry later
  kRemoteError,         // the peer answered with an Err reply
  kInternal,            // a bug or an unexpected failure
};

// Short lower-case name of a code ("ok", "not found", ...). Thread-safe.
std::string_view status_code_name(StatusCode code);

// A success or an error code with a human-readable message. Cheap to copy when
// ok. Value type; safe to share read-only between threads.
class Status {
 public:
  // Ok status.
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Timeout(std::string m) { return {StatusCode::kTimeout, std::move(m)}; }
  static Status ConsistencyNotMet(std::string m) {
    return {StatusCode::kConsistencyNotMet, std::move(m)};
  }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status Busy(std::string m) { return {StatusCode::kBusy, std::move(m)}; }
  static Status RemoteError(std::string m) { return {StatusCode::kRemoteError, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "ok" or "<code name>: <message>".
  std::string to_string() const;

  bool operator==(const Status& o) const { return code_ == o.code_ && message_ == o.message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value of T or a non-ok Status. Accessing value() of an error Result
// is a bug (asserted in debug builds).
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result built from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  // The error, or an ok Status when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  T& value() & {
    assert(ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // The value, or `fallback` when this holds an error.
  T value_or(T fallback) const& { return ok() ? std::get<T>(v_) : std::move(fallback); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace dendrite
