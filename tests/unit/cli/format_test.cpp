// Output formatting from sample JSON shaped as docs/api.md describes it.
#include <gtest/gtest.h>

#include "atdesk/cli/format.hpp"
#include "cli_test_support.hpp"

namespace atdesk::cli {
namespace {

using nlohmann::json;

TEST(FormatTable, AlignsColumnsAndDoesNotPadTheLastOne) {
  EXPECT_EQ(format_table({"A", "LONG", "C"}, {{"xyz", "1", "end"}, {"", "22", ""}}),
            "A    LONG  C\n"
            "xyz  1     end\n"
            "     22\n");
  EXPECT_EQ(format_table({"ID", "NAME"}, {}), "ID  NAME\n");
}

TEST(FormatFields, AlignsValues) {
  EXPECT_EQ(format_fields({{"id", "1"}, {"long key", "v"}, {"empty", ""}}),
            "id:       1\n"
            "long key: v\n"
            "empty:\n");
}

TEST(Cell, ConvertsEveryJsonKind) {
  const json o =
      json::parse(R"({"s":"text","n":3,"b":true,"f":false,"z":null,"a":["x","y"],"o":{"k":1}})");
  EXPECT_EQ(cell(o, "s"), "text");
  EXPECT_EQ(cell(o, "n"), "3");
  EXPECT_EQ(cell(o, "b"), "yes");
  EXPECT_EQ(cell(o, "f"), "no");
  EXPECT_EQ(cell(o, "z"), "");
  EXPECT_EQ(cell(o, "missing"), "");
  EXPECT_EQ(cell(o, "a"), "x, y");
  EXPECT_EQ(cell(o, "o"), R"({"k":1})");
  EXPECT_EQ(cell(json("not an object"), "s"), "");
}

TEST(FormatJob, KeyValueWithOnlyTheSenderFieldsThatAreSet) {
  const json job = json::parse(testing::kSampleJob);
  EXPECT_EQ(format_job(job),
            "id:             01JDX4Q7R8S9T0V1W2X3Y4Z5A6\n"
            "short id:       7\n"
            "state:          held\n"
            "reason:         alice is busy\n"
            "source:         upload\n"
            "sender:         ACME Corp\n"
            "sender fax:     +81312345678\n"
            "called:         +81300000001\n"
            "document:       order.pdf\n"
            "format:         pdf\n"
            "pages:          3\n"
            "size:           2.0 KiB\n"
            "received:       2026-11-24T09:30:00.000Z\n"
            "updated:        2026-11-24T09:30:01.000Z\n"
            "recipients:     user:local:alice, user:local:bob\n"
            "mode table:     weekday\n"
            "printer:        office\n"
            "print attempts: 0\n");
}

TEST(FormatJob, IncompleteAndNoReason) {
  json job = json::parse(testing::kSampleJob);
  job["incomplete"] = true;
  job["reason"] = "";
  job["size_bytes"] = 512;
  const std::string text = format_job(job);
  EXPECT_NE(text.find("pages:          3 (incomplete)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("size:           512 B\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("reason:"), std::string::npos) << text;
}

TEST(FormatJobList, TableNewestFirstAsGiven) {
  json second = json::parse(R"({"id":"01B","short_id":"12","state":"printed",
      "received_at":"2026-11-24T10:00:00.000Z","sender":{"display":"","fax":"+81300000002"},
      "pages":1,"recipients":["channel:local:desk"],"reason":""})");
  const json jobs = json::array({json::parse(testing::kSampleJob), second});
  EXPECT_EQ(format_job_list(jobs),
            "ID  STATE    RECEIVED                  SENDER        PAGES  RECIPIENTS"
            "                        REASON\n"
            "7   held     2026-11-24T09:30:00.000Z  ACME Corp     3      user:local:alice, "
            "user:local:bob  alice is busy\n"
            "12  printed  2026-11-24T10:00:00.000Z  +81300000002  1      channel:local:desk\n");
  EXPECT_EQ(format_job_list(json::array()),
            "ID  STATE  RECEIVED  SENDER  PAGES  RECIPIENTS  REASON\n");
  EXPECT_EQ(format_job_list(json()), format_job_list(json::array()));
}

// --lang ja / LANG=ja_JP.UTF-8: the columns in Japanese, aligned by display width (a Japanese
// character takes two columns on a terminal).
TEST(FormatJapanese, ColumnsInJapaneseAlignedByDisplayWidth) {
  EXPECT_EQ(display_width("abc"), 3u);
  EXPECT_EQ(display_width("受信者"), 6u);
  EXPECT_EQ(display_width("ｱ"), 1u);  // half-width katakana is narrow
  EXPECT_EQ(format_job_list(json::array(), Language::ja),
            "ID  状態  受信日時  送信者  ページ数  受信者  理由\n");
  EXPECT_EQ(format_rules(json::parse(
                             R"([{"id":"1","pattern":"prefix:03","recipient":"user:local:tanaka",
                                  "printer":"","note":"東京","language":"ja"},
                                 {"id":"2","pattern":"others","recipient":"user:local:desk",
                                  "printer":"lobby","note":"","language":""}])"),
                         Language::ja),
            "ID  パターン   受信者             プリンター  メモ  言語\n"
            "1   prefix:03  user:local:tanaka              東京  ja\n"
            "2   others     user:local:desk    lobby\n");
  EXPECT_EQ(format_rule(json::parse(R"({"id":"1","pattern":"others","recipient":"user:local:a",
                                         "printer":"","note":"","language":"ja"})"),
                        Language::ja),
            "id:         1\n"
            "パターン:   others\n"
            "受信者:     user:local:a\n"
            "プリンター:\n"
            "メモ:\n"
            "言語:       ja\n");
}

TEST(FormatModeTable, GridWithMissingCellsAsHold) {
  const json table = json::parse(R"({"name":"weekday","active":true,
      "cells":{"available":{"office":"print","remote":"print"}}})");
  const std::string text = format_mode_table(table);
  EXPECT_EQ(text.substr(0, text.find('\n')), "table: weekday (active)");
  EXPECT_NE(text.find("available       print   print   hold      hold\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("do_not_disturb  hold    hold    hold      hold\n"), std::string::npos)
      << text;
}

TEST(FormatModeTables, MarksActiveAndCountsPrintCells) {
  const json modes = json::parse(R"({"active":"weekday","tables":[
      {"name":"weekday","active":true,"cells":{"available":{"office":"print","remote":"print"}}},
      {"name":"night","active":false,"cells":{}}]})");
  EXPECT_EQ(format_mode_tables(modes),
            "NAME     ACTIVE  PRINT CELLS\n"
            "weekday  yes     2/28\n"
            "night            0/28\n");
}

TEST(FormatPresenceList, ChannelMembersIndented) {
  const json recipients = json::parse(R"([
      {"recipient":"user:local:alice","presence":{"availability":"busy","location":"remote"},
       "members":[],"error":"","action":"hold","held_jobs":2},
      {"recipient":"channel:local:desk","presence":null,
       "members":[{"address":"bob","presence":{"availability":"available","location":"office"}}],
       "error":"","action":"print","held_jobs":0}])");
  EXPECT_EQ(format_presence_list(recipients),
            "RECIPIENT           PRESENCE           ACTION  HELD  ERROR\n"
            "user:local:alice    busy, remote       hold    2\n"
            "channel:local:desk                     print   0\n"
            "  bob               available, office\n");
}

TEST(FormatOthers, RulesPrintersAuditMessagesSchedule) {
  EXPECT_EQ(format_rules(json::parse(
                R"([{"id":"1","pattern":"prefix:03","recipient":"user:local:alice",
                     "printer":"","note":"Tokyo"}])")),
            "ID  PATTERN    RECIPIENT         PRINTER  NOTE   LANGUAGE\n"
            "1   prefix:03  user:local:alice           Tokyo\n");
  EXPECT_EQ(format_printers(json::parse(
                R"([{"name":"office","uri":"ipp://p/ipp/print","state":"idle",
                     "state_reasons":["none"],"formats":[],"message":"","default":true}])")),
            "NAME    DEFAULT  STATE  URI                MESSAGE\n"
            "office  yes      idle   ipp://p/ipp/print\n");
  EXPECT_EQ(format_audit(json::parse(
                R"([{"id":9,"at":"T","actor":"admin","action":"release","subject":"job 7",
                     "detail":""}])")),
            "ID  AT  ACTOR  ACTION   SUBJECT  DETAIL\n"
            "9   T   admin  release  job 7\n");
  EXPECT_EQ(format_messages(json::parse(
                R"([{"seq":3,"at":"T","to":"user:local:alice","text":"Fax 7 held",
                     "job_id":"7","has_preview":true}])")),
            "SEQ  AT  TO                JOB  PREVIEW  TEXT\n"
            "3    T   user:local:alice  7    yes      Fax 7 held\n");
  const std::string schedule = format_schedule(json::parse(
      R"({"time_zone":"Asia/Tokyo","default_table":"weekday","holiday_table":"night",
          "holidays":["2026-12-25"],
          "rules":[{"table":"weekday","days":["mon","tue"],"start":"08:00","end":"18:00"}]})"));
  EXPECT_NE(schedule.find("time zone:     Asia/Tokyo\n"), std::string::npos) << schedule;
  EXPECT_NE(schedule.find("weekday  mon, tue  08:00  18:00\n"), std::string::npos) << schedule;
}

}  // namespace
}  // namespace atdesk::cli
