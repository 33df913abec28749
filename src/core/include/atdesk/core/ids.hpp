// Strong identifier types. Each has a parse() that validates text from outside.
#pragma once

#include <compare>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "atdesk/core/error.hpp"

namespace atdesk {

// A job's identifier: 32 lowercase hex digits (128 random bits). The first 8 digits are the
// "short id" people type in chat commands.
class JobId {
 public:
  static constexpr std::size_t kLength = 32;
  static constexpr std::size_t kShortLength = 8;

  JobId() = default;
  static Result<JobId> parse(std::string_view text);
  // The start of an id as a person types it (4 to 32 hex digits, either case), lowercased; the
  // stores' find() looks jobs up by it.
  static Result<std::string> parse_prefix(std::string_view text);
  // Builds an id from 16 random bytes (the caller supplies the randomness: core does no I/O).
  static JobId from_bytes(std::span<const unsigned char, 16> bytes);

  const std::string& str() const { return value_; }
  std::string_view short_id() const { return std::string_view(value_).substr(0, kShortLength); }
  bool empty() const { return value_.empty(); }

  auto operator<=>(const JobId&) const = default;

 private:
  explicit JobId(std::string value) : value_(std::move(value)) {}
  std::string value_;
};

}  // namespace atdesk

template <>
struct std::hash<atdesk::JobId> {
  std::size_t operator()(const atdesk::JobId& id) const noexcept {
    return std::hash<std::string>{}(id.str());
  }
};
