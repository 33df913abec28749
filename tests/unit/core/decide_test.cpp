// decide(): each policy, the mode table per recipient, channels, and the reason sentences.
#include <gtest/gtest.h>

#include "atdesk/core/decide.hpp"

namespace atdesk {
namespace {

const NumberPlan kPlan{"81", "0", "00"};

Presence presence(Availability a, WorkLocation w) {
  Presence p;
  p.availability = a;
  p.location = w;
  return p;
}

Recipient user(std::string name) {
  return {RecipientKind::user, "local", std::move(name)};
}
Recipient channel(std::string name) {
  return {RecipientKind::channel, "local", std::move(name)};
}

class Decide : public ::testing::Test {
 protected:
  Decide() { job_.sender = parse_sender("03-1234-5678", kPlan).value(); }

  void known(const Recipient& r, std::vector<RecipientPresence::Member> members) {
    presences_[r.key()] = RecipientPresence{true, "", std::move(members)};
  }
  void known(const std::string& name, Availability a, WorkLocation w) {
    known(user(name), {{name, presence(a, w)}});
  }
  void unavailable(const Recipient& r, std::string error) {
    presences_[r.key()] = RecipientPresence{false, std::move(error), {}};
  }
  Decision run(std::vector<Recipient> recipients, const std::string& printer = {}) {
    return decide(job_, recipients, presences_, table_, policy_, printer);
  }

  Job job_;
  PresenceMap presences_;
  ModeTable table_ = ModeTable::seed_default("weekday");
  Policy policy_;
};

TEST_F(Decide, UnknownSenderPrintsByDefault) {
  const auto d = run({});
  EXPECT_EQ(d.action, Action::print);
  EXPECT_EQ(d.reason, "print: sender +81312345678 is not in the recipient table (policy: print)");
}

TEST_F(Decide, UnknownSenderHoldsWhenThePolicySaysSo) {
  policy_.unknown_sender = Action::hold;
  const auto d = run({});
  EXPECT_EQ(d.action, Action::hold);
  EXPECT_EQ(d.reason, "held: sender +81312345678 is not in the recipient table (policy: hold)");
}

TEST_F(Decide, AvailableAtTheOfficePrints) {
  known("alice", Availability::available, WorkLocation::office);
  const auto d = run({user("alice")}, "lobby");
  EXPECT_EQ(d.action, Action::print);
  EXPECT_EQ(d.reason, "print: alice is available, office (table 'weekday')");
  EXPECT_EQ(d.printer, "lobby");
}

TEST_F(Decide, BusyRemoteHolds) {
  known("alice", Availability::busy, WorkLocation::remote);
  const auto d = run({user("alice")});
  EXPECT_EQ(d.action, Action::hold);
  EXPECT_EQ(d.reason, "held: alice is busy, remote (table 'weekday')");
  EXPECT_EQ(d.printer, "");
}

TEST_F(Decide, TheActiveTableDecides) {
  known("alice", Availability::available, WorkLocation::office);
  table_ = ModeTable("night");
  const auto d = run({user("alice")});
  EXPECT_EQ(d.action, Action::hold);
  EXPECT_EQ(d.reason, "held: alice is available, office (table 'night')");
}

TEST_F(Decide, PresenceUnavailableHoldsByDefault) {
  unavailable(user("alice"), "xmpp: connection refused");
  const auto d = run({user("alice")});
  EXPECT_EQ(d.action, Action::hold);
  EXPECT_NE(d.reason.find("held: "), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("alice"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("xmpp: connection refused"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("policy: hold"), std::string::npos) << d.reason;
}

TEST_F(Decide, PresenceMissingCountsAsUnavailable) {
  const auto d = run({user("alice")});
  EXPECT_EQ(d.action, Action::hold);
  EXPECT_NE(d.reason.find("no presence"), std::string::npos) << d.reason;
  known(user("bob"), {});  // available but nothing reported
  EXPECT_EQ(run({user("bob")}).action, Action::hold);
}

TEST_F(Decide, PresenceUnavailablePrintsWhenThePolicySaysSo) {
  policy_.presence_unavailable = Action::print;
  unavailable(user("alice"), "graph: 503");
  const auto d = run({user("alice")});
  EXPECT_EQ(d.action, Action::print);
  EXPECT_NE(d.reason.find("print: "), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("graph: 503"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("policy: print"), std::string::npos) << d.reason;
  EXPECT_EQ(run({user("nobody-reported")}).action, Action::print);
}

TEST_F(Decide, AnyRecipientThatPrintsMakesItPrint) {
  known("alice", Availability::busy, WorkLocation::office);
  known("bob", Availability::away, WorkLocation::office);
  const auto d = run({user("alice"), user("bob")});
  EXPECT_EQ(d.action, Action::print);
  EXPECT_EQ(d.reason, "print: bob is away, office (table 'weekday')");
}

TEST_F(Decide, HoldListsEveryRecipient) {
  known("alice", Availability::busy, WorkLocation::remote);
  known("bob", Availability::offline, WorkLocation::unknown);
  unavailable(user("carol"), "timeout");
  const auto d = run({user("alice"), user("bob"), user("carol"), user("alice")});
  EXPECT_EQ(d.action, Action::hold);
  EXPECT_EQ(d.reason,
            "held: alice is busy, remote; bob is offline, unknown; presence of carol is "
            "unavailable (timeout; policy: hold) (table 'weekday')");
}

TEST_F(Decide, ChannelPrintsWhenAnyMemberCanPickItUp) {
  const auto fax = channel("fax-room");
  known(fax, {{"alice", presence(Availability::busy, WorkLocation::remote)},
              {"bob", presence(Availability::available, WorkLocation::office)},
              {"carol", presence(Availability::offline, WorkLocation::unknown)}});
  const auto d = run({fax});
  EXPECT_EQ(d.action, Action::print);
  EXPECT_EQ(d.reason, "print: bob is available, office (channel fax-room) (table 'weekday')");
}

TEST_F(Decide, ChannelHoldsWhenNoMemberCan) {
  const auto fax = channel("fax-room");
  known(fax, {{"alice", presence(Availability::busy, WorkLocation::remote)},
              {"carol", presence(Availability::offline, WorkLocation::unknown)}});
  auto d = run({fax});
  EXPECT_EQ(d.action, Action::hold);
  EXPECT_EQ(d.reason,
            "held: no member of channel fax-room can pick it up (alice is busy, remote, carol is "
            "offline, unknown) (table 'weekday')");
  known(fax, {});
  d = run({fax});
  EXPECT_EQ(d.action, Action::hold);
  EXPECT_NE(d.reason.find("no members"), std::string::npos) << d.reason;
}

TEST_F(Decide, ChannelUnavailableFollowsThePolicy) {
  const auto fax = channel("fax-room");
  unavailable(fax, "matrix: 502");
  EXPECT_EQ(run({fax}).action, Action::hold);
  policy_.presence_unavailable = Action::print;
  EXPECT_EQ(run({fax}).action, Action::print);
}

}  // namespace
}  // namespace atdesk
