// A TimeZone with a fixed offset from UTC, for unit tests.
#pragma once

#include "atdesk/core/schedule.hpp"

namespace atdesk::testing {

class FixedZone final : public TimeZone {
 public:
  explicit FixedZone(std::chrono::minutes offset = {}, std::string name = "UTC")
      : offset_(offset), name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  LocalTime to_local(Timestamp t) const override {
    return LocalTime{std::chrono::floor<std::chrono::seconds>(t).time_since_epoch() + offset_};
  }

 private:
  std::chrono::minutes offset_;
  std::string name_;
};

}  // namespace atdesk::testing
