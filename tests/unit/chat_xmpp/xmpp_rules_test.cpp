#include "xmpp_rules.hpp"

#include <gtest/gtest.h>

namespace atdesk::chat::xmpp {
namespace {

// RFC 7622 3.2.2 and 3.3.2: the localpart and the domain are case-mapped to lower case (what
// ejabberd's nodeprep sends back); 3.4: the resource keeps its case.
TEST(Jid, ParsesPartsAndFoldsCase) {
  auto j = Jid::parse("Alice@Example.ORG/Phone");
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ(j->local, "alice");
  EXPECT_EQ(j->domain, "example.org");
  EXPECT_EQ(j->resource, "Phone");
  EXPECT_EQ(j->bare(), "alice@example.org");
  EXPECT_EQ(j->full(), "alice@example.org/Phone");
}

TEST(Jid, SameAddressWhateverTheCase) {
  EXPECT_EQ(bare_of("Bob@LocalHost"), bare_of("bob@localhost"));
  EXPECT_EQ(bare_of("Tokyo@Conference.LOCALHOST/Nick"), "tokyo@conference.localhost");
  EXPECT_EQ(parse_user_jid("BOB@localhost")->bare(), "bob@localhost");
  // Non-ASCII letters are mapped too (UTF-8 in, UTF-8 out); other bytes stay as they are.
  EXPECT_EQ(fold_case("JÖRG@Bücher.example"), "jörg@bücher.example");
  EXPECT_EQ(fold_case("ÉLODIE"), "élodie");
  EXPECT_EQ(fold_case("山田"), "山田");
  EXPECT_EQ(fold_case(std::string("A\xff\xfe"
                                  "B")),
            std::string("a\xff\xfe"
                        "b"));
}

// XEP-0082 DateTime as in XEP-0203 <delay stamp/>, and the legacy XEP-0091 form.
TEST(Stamp, Xep0082AndLegacy) {
  using namespace std::chrono;
  const auto t = parse_xmpp_stamp("2002-09-10T23:08:25Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->time_since_epoch(), milliseconds(1031699305000));
  EXPECT_EQ(parse_xmpp_stamp("2002-09-10T23:08:25.123Z")->time_since_epoch(),
            milliseconds(1031699305123));
  EXPECT_EQ(parse_xmpp_stamp("2002-09-11T01:08:25+02:00"), t);
  EXPECT_EQ(parse_xmpp_stamp("2002-09-10T18:08:25-05:00"), t);
  EXPECT_EQ(parse_xmpp_stamp("20020910T23:08:25"), t);
  for (const char* bad : {"", "2002-09-10", "2002-09-10T23:08:25", "2002-13-10T23:08:25Z",
                          "2002-09-10T23:08:25.Z", "2002-09-10T23:08:25+0200", "yesterday"}) {
    EXPECT_FALSE(parse_xmpp_stamp(bad).has_value()) << bad;
  }
}

TEST(Jid, ResourceMayContainSlashAndAt) {
  auto j = Jid::parse("room@conference.example.org/bob/x@y");
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ(j->bare(), "room@conference.example.org");
  EXPECT_EQ(j->resource, "bob/x@y");
}

TEST(Jid, DomainOnly) {
  auto j = Jid::parse("upload.example.org");
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ(j->local, "");
  EXPECT_EQ(j->bare(), "upload.example.org");
}

TEST(Jid, RejectsMalformed) {
  for (const char* bad :
       {"", "@example.org", "alice@", "alice@/res", "alice@example.org/", "al ice@example.org",
        "a<b@example.org", "alice@exa mple.org", "alice@.example.org", "alice@example..org",
        "a:b@example.org", "alice@example.org/\x01"}) {
    auto j = Jid::parse(bad);
    EXPECT_FALSE(j.has_value()) << bad;
    if (!j) {
      EXPECT_EQ(j.error().code, Errc::invalid_argument);
    }
  }
}

TEST(Jid, RejectsOverlongParts) {
  EXPECT_FALSE(Jid::parse(std::string(1024, 'a') + "@example.org").has_value());
  EXPECT_TRUE(Jid::parse(std::string(1023, 'a') + "@example.org").has_value());
}

TEST(Jid, UserNeedsLocalpartAndNoResource) {
  EXPECT_TRUE(parse_user_jid("alice@example.org").has_value());
  EXPECT_FALSE(parse_user_jid("example.org").has_value());
  auto r = parse_user_jid("alice@example.org/phone");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("alice@example.org/phone"), std::string::npos);
}

TEST(Jid, BareAndResourceOf) {
  EXPECT_EQ(bare_of("bob@Example.org/laptop"), "bob@example.org");
  EXPECT_EQ(resource_of("bob@example.org/laptop"), "laptop");
  EXPECT_EQ(bare_of("not a jid"), "");
}

TEST(Show, Rfc6121Mapping) {
  EXPECT_EQ(availability_from_show("", ""), Availability::available);
  EXPECT_EQ(availability_from_show("", "chat"), Availability::available);
  EXPECT_EQ(availability_from_show("", "away"), Availability::away);
  EXPECT_EQ(availability_from_show("", "xa"), Availability::away);
  EXPECT_EQ(availability_from_show("", "dnd"), Availability::do_not_disturb);
  EXPECT_EQ(availability_from_show("unavailable", ""), Availability::offline);
  EXPECT_EQ(availability_from_show("unavailable", "chat"), Availability::offline);
  EXPECT_EQ(availability_from_show("", "sleeping"), Availability::unknown);
  EXPECT_EQ(availability_from_show("error", ""), Availability::unknown);
}

TEST(Resources, MostAvailableWins) {
  std::map<std::string, ResourcePresence> r;
  EXPECT_EQ(most_available(r), nullptr);
  r["phone"] = {Availability::away, "at home", 5, 1};
  r["desk"] = {Availability::available, "in office", 0, 2};
  r["tablet"] = {Availability::do_not_disturb, "", 10, 3};
  ASSERT_NE(most_available(r), nullptr);
  EXPECT_EQ(most_available(r)->status_text, "in office");
}

TEST(Resources, TiesGoToPriorityThenLatest) {
  std::map<std::string, ResourcePresence> r;
  r["a"] = {Availability::away, "a", 1, 1};
  r["b"] = {Availability::away, "b", 3, 2};
  r["c"] = {Availability::away, "c", 3, 3};
  EXPECT_EQ(most_available(r)->status_text, "c");
  r["c"].priority = 2;
  EXPECT_EQ(most_available(r)->status_text, "b");
}

TEST(Resources, RankOrder) {
  EXPECT_LT(availability_rank(Availability::available), availability_rank(Availability::busy));
  EXPECT_LT(availability_rank(Availability::do_not_disturb), availability_rank(Availability::away));
  EXPECT_LT(availability_rank(Availability::away), availability_rank(Availability::offline));
  EXPECT_LT(availability_rank(Availability::offline), availability_rank(Availability::unknown));
}

TEST(Location, DefaultKeywordsInSeveralLanguages) {
  auto rule = LocationRule::defaults();
  rule.default_location = WorkLocation::unknown;
  EXPECT_EQ(location_from_status("In Office today", rule), WorkLocation::office);
  EXPECT_EQ(location_from_status("WFH", rule), WorkLocation::remote);
  EXPECT_EQ(location_from_status("working from home", rule), WorkLocation::remote);
  EXPECT_EQ(location_from_status("heute im Büro", rule), WorkLocation::office);
  EXPECT_EQ(location_from_status("今日は出社です", rule), WorkLocation::office);
  EXPECT_EQ(location_from_status("在宅勤務", rule), WorkLocation::remote);
  EXPECT_EQ(location_from_status("lunch", rule), WorkLocation::unknown);
}

TEST(Location, WholeWordsOnly) {
  auto rule = LocationRule::defaults();
  rule.default_location = WorkLocation::time_off;
  EXPECT_EQ(location_from_status("doing homework", rule), WorkLocation::time_off);
  EXPECT_EQ(location_from_status("officers meeting", rule), WorkLocation::time_off);
  EXPECT_EQ(location_from_status("home-office", rule), WorkLocation::remote);  // earliest wins
}

TEST(Location, EarliestThenLongestMatch) {
  LocationRule rule;
  rule.keywords = {{WorkLocation::office, {"office"}},
                   {WorkLocation::remote, {"home office"}},
                   {WorkLocation::time_off, {"vacation"}}};
  EXPECT_EQ(location_from_status("home office", rule), WorkLocation::remote);
  EXPECT_EQ(location_from_status("vacation, then office", rule), WorkLocation::time_off);
  EXPECT_EQ(location_from_status("office, then vacation", rule), WorkLocation::office);
}

TEST(Location, EmptyRuleGivesDefault) {
  LocationRule rule;
  rule.default_location = WorkLocation::office;
  EXPECT_EQ(location_from_status("at home", rule), WorkLocation::office);
}

TEST(Combine, BestResourceAndItsStatus) {
  auto rule = LocationRule::defaults();
  rule.default_location = WorkLocation::unknown;
  std::map<std::string, ResourcePresence> r;
  r["phone"] = {Availability::away, "wfh", 0, 1};
  r["desk"] = {Availability::available, "office", 0, 2};
  const Timestamp t{std::chrono::milliseconds(42)};
  const auto p = combine_presence(r, rule, t);
  EXPECT_EQ(p.availability, Availability::available);
  EXPECT_EQ(p.location, WorkLocation::office);
  EXPECT_EQ(p.status_text, "office");
  EXPECT_EQ(p.observed_at, t);
}

TEST(Combine, NoResourceIsOfflineAtDefault) {
  LocationRule rule;
  rule.default_location = WorkLocation::remote;
  const auto p = combine_presence({}, rule, Timestamp{});
  EXPECT_EQ(p.availability, Availability::offline);
  EXPECT_EQ(p.location, WorkLocation::remote);
}

}  // namespace
}  // namespace atdesk::chat::xmpp
