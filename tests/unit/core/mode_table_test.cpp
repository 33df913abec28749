// Mode tables: the seed's default table cell by cell, names, actions.
#include <gtest/gtest.h>

#include "atdesk/core/mode_table.hpp"

namespace atdesk {
namespace {

using A = Availability;
using W = WorkLocation;

TEST(ModeTable, SeedDefaultEveryCell) {
  const auto t = ModeTable::seed_default();
  EXPECT_EQ(t.name(), "weekday");
  // Rows: availability; columns: office, remote, time_off, unknown.
  const struct {
    Availability a;
    std::array<Action, 4> cells;
  } expected[] = {
      {A::available, {Action::print, Action::hold, Action::hold, Action::hold}},
      {A::busy, {Action::hold, Action::hold, Action::hold, Action::hold}},
      {A::do_not_disturb, {Action::hold, Action::hold, Action::hold, Action::hold}},
      {A::away, {Action::print, Action::hold, Action::hold, Action::hold}},
      {A::be_right_back, {Action::print, Action::hold, Action::hold, Action::hold}},
      {A::offline, {Action::hold, Action::hold, Action::hold, Action::hold}},
      {A::unknown, {Action::hold, Action::hold, Action::hold, Action::hold}},
  };
  static_assert(std::size(expected) == ModeTable::kRows);
  int checked = 0;
  for (const auto& row : expected) {
    for (std::size_t c = 0; c < ModeTable::kColumns; ++c) {
      const auto w = kAllWorkLocations[c];
      EXPECT_EQ(t.lookup(row.a, w), row.cells[c]) << to_string(row.a) << ", " << to_string(w);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 28);
}

TEST(ModeTable, LookupByPresence) {
  const auto t = ModeTable::seed_default("office-hours");
  EXPECT_EQ(t.name(), "office-hours");
  Presence p;
  p.availability = A::available;
  p.location = W::office;
  EXPECT_EQ(t.lookup(p), Action::print);
  p.location = W::remote;
  EXPECT_EQ(t.lookup(p), Action::hold);
}

TEST(ModeTable, NewTableHoldsEverywhereAndSetChangesOneCell) {
  ModeTable t("night");
  for (auto a : kAllAvailabilities) {
    for (auto w : kAllWorkLocations) EXPECT_EQ(t.lookup(a, w), Action::hold);
  }
  t.set(A::busy, W::remote, Action::print);
  EXPECT_EQ(t.lookup(A::busy, W::remote), Action::print);
  EXPECT_EQ(t.lookup(A::busy, W::office), Action::hold);
  EXPECT_EQ(t.lookup(A::available, W::remote), Action::hold);
  EXPECT_NE(t, ModeTable("night"));
  t.set(A::busy, W::remote, Action::hold);
  EXPECT_EQ(t, ModeTable("night"));
}

TEST(ModeTable, ValidateName) {
  const std::string longest(64, 'a');
  for (std::string_view good : {"weekday", "a", "night_2", "after-hours", "24x7"}) {
    EXPECT_EQ(ModeTable::validate_name(good).value_or(""), good);
  }
  EXPECT_EQ(ModeTable::validate_name(longest).value_or(""), longest);
  const std::string too_long(65, 'a');
  for (std::string_view bad : {"", "Weekday", "week day", "night/2", "\xc3\xbc", "a\n", "../x"}) {
    auto r = ModeTable::validate_name(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("mode table name"), std::string::npos);
  }
  EXPECT_FALSE(ModeTable::validate_name(too_long));
}

TEST(Action, Names) {
  EXPECT_EQ(to_string(Action::print), "print");
  EXPECT_EQ(to_string(Action::hold), "hold");
  EXPECT_EQ(parse_action("print"), Action::print);
  EXPECT_EQ(parse_action("HOLD"), Action::hold);
  EXPECT_FALSE(parse_action("spool"));
}

}  // namespace
}  // namespace atdesk
