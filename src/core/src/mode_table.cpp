#include "atdesk/core/mode_table.hpp"

#include <algorithm>

#include "text.hpp"

namespace atdesk {
namespace {

template <class E, std::size_t N>
std::size_t index_of(const std::array<E, N>& all, E value) {
  return static_cast<std::size_t>(std::find(all.begin(), all.end(), value) - all.begin());
}

}  // namespace

std::string_view to_string(Action a) {
  return a == Action::print ? "print" : "hold";
}

std::optional<Action> parse_action(std::string_view text) {
  const auto t = text::lower(text::trim(text));
  if (t == "print") return Action::print;
  if (t == "hold") return Action::hold;
  return std::nullopt;
}

ModeTable::ModeTable(std::string name) : name_(std::move(name)) {
  for (auto& row : cells_) row.fill(Action::hold);
}

ModeTable ModeTable::seed_default(std::string name) {
  // FIG. 7: available at the office prints, away from the desk at the office prints (the person
  // is back soon); everything else, and anything unknown, holds.
  ModeTable t(std::move(name));
  t.set(Availability::available, WorkLocation::office, Action::print);
  t.set(Availability::away, WorkLocation::office, Action::print);
  t.set(Availability::be_right_back, WorkLocation::office, Action::print);
  return t;
}

Result<std::string> ModeTable::validate_name(std::string_view name) {
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string_view::npos) {
    return fail(
        Errc::invalid_argument,
        "mode table name: expected 1-64 characters of a-z 0-9 _ -, got " + text::quote(name, 80));
  }
  return std::string(name);
}

Action ModeTable::lookup(Availability a, WorkLocation w) const {
  return cells_[index_of(kAllAvailabilities, a)][index_of(kAllWorkLocations, w)];
}

void ModeTable::set(Availability a, WorkLocation w, Action action) {
  cells_[index_of(kAllAvailabilities, a)][index_of(kAllWorkLocations, w)] = action;
}

}  // namespace atdesk
