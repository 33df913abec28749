// The recipient table: which rule(s) a sender matches, and the index with many rules.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "atdesk/core/recipient_table.hpp"

namespace atdesk {
namespace {

const NumberPlan kPlan{"81", "0", "00"};

RecipientRule rule(std::string_view pattern, std::string_view user, std::string printer = {}) {
  RecipientRule r;
  auto p = SenderPattern::parse(pattern, kPlan);
  EXPECT_TRUE(p) << pattern << ": " << p.error().describe();
  if (p) r.pattern = *p;
  r.recipient = {RecipientKind::user, "local", std::string(user)};
  r.printer = std::move(printer);
  return r;
}

Sender fax(std::string_view number) {
  Sender s;
  s.fax = FaxNumber::parse(number, kPlan).value();
  return s;
}

// The recipients' addresses of a match, in order.
std::vector<std::string> who(const Match& m) {
  std::vector<std::string> out;
  for (const auto* r : m.rules) out.push_back(r->recipient.address);
  return out;
}

using Names = std::vector<std::string>;

TEST(RecipientTable, EmptyTableMatchesNothing) {
  RecipientTable empty;
  EXPECT_TRUE(empty.match(fax("0312345678")).empty());
  RecipientTable none(std::vector<RecipientRule>{});
  EXPECT_TRUE(none.match(fax("0312345678")).empty());
  EXPECT_EQ(none.size(), 0u);
}

TEST(RecipientTable, ExactNumber) {
  RecipientTable t({rule("+81 3-1234-5678", "alice"), rule("0398765432", "bob")});
  EXPECT_EQ(who(t.match(fax("0312345678"))), Names{"alice"});
  EXPECT_EQ(who(t.match(fax("+81398765432"))), Names{"bob"});
  EXPECT_TRUE(t.match(fax("0311111111")).empty());
  EXPECT_TRUE(t.match(Sender{}).empty());
}

TEST(RecipientTable, ExactBeatsPrefixWhateverTheOrder) {
  RecipientTable t({rule("prefix:03", "area"), rule("0312345678", "alice")});
  EXPECT_EQ(who(t.match(fax("0312345678"))), Names{"alice"});
  EXPECT_EQ(who(t.match(fax("0312345679"))), Names{"area"});
}

TEST(RecipientTable, LongerPrefixBeatsShorter) {
  RecipientTable t({rule("prefix:03", "tokyo"), rule("prefix:031234", "branch"),
                    rule("prefix:0312", "district"), rule("prefix:+1", "usa")});
  EXPECT_EQ(who(t.match(fax("0312345678"))), Names{"branch"});
  EXPECT_EQ(who(t.match(fax("0312990000"))), Names{"district"});
  EXPECT_EQ(who(t.match(fax("0399990000"))), Names{"tokyo"});
  EXPECT_EQ(who(t.match(fax("+12125551234"))), Names{"usa"});
  EXPECT_TRUE(t.match(fax("0612345678")).empty());
}

TEST(RecipientTable, PrefixAsLongAsTheNumberMatches) {
  RecipientTable t({rule("prefix:0312345678", "whole")});
  EXPECT_EQ(who(t.match(fax("0312345678"))), Names{"whole"});
  EXPECT_TRUE(t.match(fax("031234567")).empty());
}

TEST(RecipientTable, OthersOnlyWhenNothingElseMatches) {
  RecipientTable t({rule("others", "desk"), rule("0312345678", "alice")});
  auto m = t.match(fax("0312345678"));
  EXPECT_EQ(who(m), Names{"alice"});
  EXPECT_FALSE(m.by_others);
  m = t.match(fax("0699999999"));
  EXPECT_EQ(who(m), Names{"desk"});
  EXPECT_TRUE(m.by_others);
}

TEST(RecipientTable, AllIsAddedToEveryResult) {
  RecipientTable t({rule("all", "archive"), rule("0312345678", "alice"), rule("others", "desk"),
                    rule("all", "audit")});
  EXPECT_EQ(who(t.match(fax("0312345678"))), (Names{"alice", "archive", "audit"}));
  auto m = t.match(fax("0699999999"));
  EXPECT_EQ(who(m), (Names{"desk", "archive", "audit"}));
  EXPECT_TRUE(m.by_others);

  RecipientTable only_all({rule("all", "archive")});
  m = only_all.match(fax("0699999999"));
  EXPECT_EQ(who(m), Names{"archive"});
  EXPECT_FALSE(m.by_others);
}

TEST(RecipientTable, IdenticalPatternsAllMatchInTableOrder) {
  RecipientTable t({rule("0312345678", "bob"), rule("prefix:03", "area"),
                    rule("+81312345678", "alice"), rule("prefix:03", "area2")});
  EXPECT_EQ(who(t.match(fax("0312345678"))), (Names{"bob", "alice"}));
  EXPECT_EQ(who(t.match(fax("0300000000"))), (Names{"area", "area2"}));
}

TEST(RecipientTable, CalledVersusSenderFollowsThePreference) {
  const std::vector<RecipientRule> rules = {rule("called:0312340000", "did"),
                                            rule("0398765432", "alice")};
  Sender s = fax("0398765432");
  s.called = FaxNumber::parse("0312340000", kPlan).value();

  EXPECT_EQ(who(RecipientTable(rules, MatchPreference::sender_first).match(s)), Names{"alice"});
  EXPECT_EQ(who(RecipientTable(rules, MatchPreference::called_first).match(s)), Names{"did"});

  // Either way, the other one wins when the preferred one does not match.
  Sender only_called = fax("0611111111");
  only_called.called = s.called;
  EXPECT_EQ(who(RecipientTable(rules, MatchPreference::sender_first).match(only_called)),
            Names{"did"});
  Sender only_sender = fax("0398765432");
  only_sender.called = FaxNumber::parse("0300000000", kPlan).value();
  EXPECT_EQ(who(RecipientTable(rules, MatchPreference::called_first).match(only_sender)),
            Names{"alice"});
}

TEST(RecipientTable, CalledBeatsOthers) {
  RecipientTable t({rule("others", "desk"), rule("called:0312340000", "did")});
  Sender s = fax("0699999999");
  s.called = FaxNumber::parse("+81312340000", kPlan).value();
  auto m = t.match(s);
  EXPECT_EQ(who(m), Names{"did"});
  EXPECT_FALSE(m.by_others);
}

TEST(RecipientTable, SipUri) {
  RecipientTable t({rule("sip:alice@example.org", "alice"), rule("sip:pbx.example.org", "pbx")});
  Sender s;
  s.sip_uri = "sip:alice@EXAMPLE.org;transport=tcp";
  EXPECT_EQ(who(t.match(s)), Names{"alice"});
  s.sip_uri = "sip:pbx.example.org";
  EXPECT_EQ(who(t.match(s)), Names{"pbx"});
  s.sip_uri = "sip:Alice@example.org";  // the user part is case-sensitive
  EXPECT_TRUE(t.match(s).empty());
  s.sip_uri = "not a uri";
  EXPECT_TRUE(t.match(s).empty());
}

TEST(RecipientTable, EmailDomainMostSpecificWins) {
  RecipientTable t({rule("@example.org", "org"), rule("@mail.example.org", "mail")});
  Sender s;
  s.email = "bob@Mail.Example.org";
  EXPECT_EQ(who(t.match(s)), Names{"mail"});
  s.email = "bob@example.org";
  EXPECT_EQ(who(t.match(s)), Names{"org"});
  s.email = "bob@deep.sub.example.org";
  EXPECT_EQ(who(t.match(s)), Names{"org"});
  s.email = "bob@example.com";
  EXPECT_TRUE(t.match(s).empty());
  s.email = "bob@notexample.org";
  EXPECT_TRUE(t.match(s).empty());
  s.email = "nobody";
  EXPECT_TRUE(t.match(s).empty());
}

TEST(RecipientTable, IpNetworksLongestWins) {
  RecipientTable t({rule("10.0.0.0/8", "corp"), rule("10.1.0.0/16", "site"),
                    rule("10.1.2.3", "host"), rule("ip:2001:db8::/32", "v6"),
                    rule("ip:2001:db8:1::/48", "v6site"), rule("0.0.0.0/0", "anyv4")});
  Sender s;
  s.ip = "10.1.2.3";
  EXPECT_EQ(who(t.match(s)), Names{"host"});
  s.ip = "10.1.9.9";
  EXPECT_EQ(who(t.match(s)), Names{"site"});
  s.ip = "10.200.0.1";
  EXPECT_EQ(who(t.match(s)), Names{"corp"});
  s.ip = "192.0.2.1";
  EXPECT_EQ(who(t.match(s)), Names{"anyv4"});
  s.ip = "::ffff:10.1.9.9";  // an IPv4 peer on a dual-stack socket
  EXPECT_EQ(who(t.match(s)), Names{"site"});
  s.ip = "2001:db8:1::5";
  EXPECT_EQ(who(t.match(s)), Names{"v6site"});
  s.ip = "2001:db8:2::5";
  EXPECT_EQ(who(t.match(s)), Names{"v6"});
  s.ip = "2001:db9::1";
  EXPECT_TRUE(t.match(s).empty());
  s.ip = "garbage";
  EXPECT_TRUE(t.match(s).empty());
}

TEST(RecipientTable, IppUser) {
  RecipientTable t({rule("ipp:alice", "alice")});
  Sender s;
  s.ipp_user = "alice";
  EXPECT_EQ(who(t.match(s)), Names{"alice"});
  s.ipp_user = "mallory";
  EXPECT_TRUE(t.match(s).empty());
}

TEST(RecipientTable, RanksAcrossKinds) {
  // A sender known by several identifiers: exact beats prefix beats network beats domain.
  RecipientTable t({rule("@example.org", "domain"), rule("10.0.0.0/8", "net"),
                    rule("prefix:03", "prefix"), rule("ipp:bob", "ipp")});
  Sender s = fax("0312345678");
  s.email = "bob@example.org";
  s.ip = "10.1.1.1";
  EXPECT_EQ(who(t.match(s)), Names{"prefix"});
  s.ipp_user = "bob";
  EXPECT_EQ(who(t.match(s)), Names{"ipp"});
  s.fax.reset();
  s.ipp_user.clear();
  EXPECT_EQ(who(t.match(s)), Names{"net"});
  s.ip.clear();
  EXPECT_EQ(who(t.match(s)), Names{"domain"});
}

TEST(RecipientTable, EqualRanksGoToTheEarlierRule) {
  RecipientTable t({rule("ipp:bob", "ipp"), rule("0312345678", "number")});
  Sender s = fax("0312345678");
  s.ipp_user = "bob";
  EXPECT_EQ(who(t.match(s)), Names{"ipp"});
}

TEST(RecipientTable, MatchPointsIntoTheRulesWithTheirPrinter) {
  RecipientTable t({rule("0312345678", "alice", "lobby")});
  auto m = t.match(fax("0312345678"));
  ASSERT_EQ(m.rules.size(), 1u);
  EXPECT_EQ(m.rules[0], &t.rules()[0]);
  EXPECT_EQ(m.rules[0]->printer, "lobby");
  // A copy matches into its own rules.
  RecipientTable copy = t;
  EXPECT_EQ(copy.match(fax("0312345678")).rules[0], &copy.rules()[0]);
}

// 100,000 rules of every kind: the index finds exactly the right rules. (Timing is measured by
// bench/core_bench.cpp, not here.)
TEST(RecipientTable, HundredThousandRules) {
  std::vector<RecipientRule> rules;
  rules.reserve(100'004);
  auto add = [&](std::string_view kind, std::string pattern, std::string user) {
    RecipientRule r;
    if (kind == "number") {
      r.pattern = {PatternKind::number, std::move(pattern)};
    } else if (kind == "prefix") {
      r.pattern = {PatternKind::prefix, std::move(pattern)};
    } else {
      r.pattern = SenderPattern::parse(pattern, kPlan).value();
    }
    r.recipient = {RecipientKind::user, "local", std::move(user)};
    rules.push_back(std::move(r));
  };
  for (int i = 0; i < 60'000; ++i)
    add("number", "8131" + std::to_string(1'000'000 + i), "n" + std::to_string(i));
  for (int i = 0; i < 20'000; ++i)
    add("prefix", "8145" + std::to_string(10'000 + i), "p" + std::to_string(i));
  for (int i = 0; i < 10'000; ++i) {
    add("ip", "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24",
        "ip" + std::to_string(i));
  }
  for (int i = 0; i < 10'000; ++i) {
    add("email", "@d" + std::to_string(i) + ".example.org", "d" + std::to_string(i));
  }
  add("prefix", "8145", "area45");
  add("others", "others", "desk");
  add("all", "all", "archive");
  RecipientTable t(std::move(rules));
  ASSERT_EQ(t.size(), 100'003u);

  for (int i : {0, 1, 31'337, 59'999}) {
    EXPECT_EQ(who(t.match(fax("+8131" + std::to_string(1'000'000 + i)))),
              (Names{"n" + std::to_string(i), "archive"}));
  }
  EXPECT_EQ(who(t.match(fax("+8131" + std::to_string(1'060'000)))), (Names{"desk", "archive"}));
  for (int i : {0, 12'345, 19'999}) {
    EXPECT_EQ(who(t.match(fax("+8145" + std::to_string(10'000 + i) + "99"))),
              (Names{"p" + std::to_string(i), "archive"}));
  }
  EXPECT_EQ(who(t.match(fax("+8145999999"))), (Names{"area45", "archive"}));
  Sender s;
  s.ip = "10.39.15.200";
  EXPECT_EQ(who(t.match(s)), (Names{"ip" + std::to_string(39 * 256 + 15), "archive"}));
  s.ip.clear();
  s.email = "x@mail.d4242.example.org";
  EXPECT_EQ(who(t.match(s)), (Names{"d4242", "archive"}));
}

}  // namespace
}  // namespace atdesk
