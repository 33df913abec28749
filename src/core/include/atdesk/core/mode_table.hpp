// Mode tables (the seed's status table 701): availability x work location -> print | hold.
// Several named tables exist; the Schedule picks the active one.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "atdesk/core/error.hpp"
#include "atdesk/core/presence.hpp"

namespace atdesk {

enum class Action { print, hold };

std::string_view to_string(Action a);
std::optional<Action> parse_action(std::string_view text);

class ModeTable {
 public:
  static constexpr std::size_t kRows = kAllAvailabilities.size();
  static constexpr std::size_t kColumns = kAllWorkLocations.size();

  // A table with every cell `hold`.
  explicit ModeTable(std::string name = "weekday");
  // The seed's table: available+office and away+office (be-right-back as away) print,
  // everything else holds.
  static ModeTable seed_default(std::string name = "weekday");
  // A table name: 1-64 characters of [a-z0-9_-].
  static Result<std::string> validate_name(std::string_view name);

  const std::string& name() const { return name_; }
  Action lookup(Availability a, WorkLocation w) const;
  Action lookup(const Presence& p) const { return lookup(p.availability, p.location); }
  void set(Availability a, WorkLocation w, Action action);
  bool operator==(const ModeTable&) const = default;

 private:
  std::string name_;
  std::array<std::array<Action, kColumns>, kRows> cells_{};
};

}  // namespace atdesk
