// Argument parsing -> the requests the CLI sends (method, target, body), and the exit codes and
// messages for each kind of failure, through a fake Transport.
#include <gtest/gtest.h>

#include "atdesk/cli/exit_code.hpp"
#include "cli_test_support.hpp"

namespace atdesk::cli {
namespace {

using nlohmann::json;
using testing::FakeTransport;
using testing::kSampleJob;
using testing::kToken;
using testing::Ran;
using testing::run_words;
using testing::TempDir;

// Runs a command that must send exactly one request and succeed; returns that request.
Request one_request(const std::vector<std::string>& words, const std::string& answer = "{}",
                    long status = 200) {
  FakeTransport t;
  t.answer(status, answer);
  Ran ran = run_words(words, t);
  EXPECT_EQ(ran.code, 0) << ran.err;
  EXPECT_EQ(t.requests.size(), 1u);
  return t.requests.empty() ? Request{} : t.requests.front();
}

TEST(PercentEncoding, SegmentKeepsOnlyUnreserved) {
  EXPECT_EQ(percent_encode_segment("abc-XYZ_0.9~"), "abc-XYZ_0.9~");
  EXPECT_EQ(percent_encode_segment("alice bob"), "alice%20bob");
  EXPECT_EQ(percent_encode_segment("a/b?c#d"), "a%2Fb%3Fc%23d");
  EXPECT_EQ(percent_encode_segment("alice@example.org"), "alice%40example.org");
  EXPECT_EQ(percent_encode_segment("+81 3%"), "%2B81%203%25");
  EXPECT_EQ(percent_encode_segment("\xE5\x8F\x97"), "%E5%8F%97");  // UTF-8 bytes, upper hex
  EXPECT_EQ(percent_encode_segment(".."), "..");
}

TEST(PercentEncoding, QueryValueKeepsListSeparatorsButNotPlus) {
  EXPECT_EQ(percent_encode_query_value("held,failed"), "held,failed");
  EXPECT_EQ(percent_encode_query_value("user:local:alice"), "user:local:alice");
  EXPECT_EQ(percent_encode_query_value("+81312345678"), "%2B81312345678");
  EXPECT_EQ(percent_encode_query_value("a&b=c d"), "a%26b%3Dc%20d");
}

TEST(RequestTarget, AppendsEncodedQueryInOrder) {
  Request r;
  r.path = "/api/v1/jobs";
  EXPECT_EQ(r.target(), "/api/v1/jobs");
  r.query = {{"state", "held"}, {"sender", "+81 3"}};
  EXPECT_EQ(r.target(), "/api/v1/jobs?state=held&sender=%2B81%203");
  EXPECT_EQ(join_url("http://h:1/", r.target()),
            "http://h:1/api/v1/jobs?state=held&sender=%2B81%203");
  EXPECT_EQ(join_url("http://h:1", "/healthz"), "http://h:1/healthz");
}

TEST(Submit, SendsMultipartWithDocumentSenderCalledName) {
  TempDir dir;
  const auto file = dir.write("order.PDF", "%PDF-1.4 test");
  FakeTransport t;
  t.answer(201, kSampleJob);
  Ran ran = run_words({"submit", file.string(), "--sender", "+81312345678", "--called",
                       "+81300000001", "--name", "Order 12"},
                      t);
  ASSERT_EQ(ran.code, 0) << ran.err;
  ASSERT_EQ(t.requests.size(), 1u);
  const Request& r = t.requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target(), "/api/v1/jobs");
  EXPECT_FALSE(r.json);
  ASSERT_EQ(r.form.size(), 4u);
  EXPECT_EQ(r.form[0].name, "document");
  ASSERT_TRUE(r.form[0].file);
  EXPECT_EQ(*r.form[0].file, file);
  EXPECT_EQ(r.form[0].filename, "order.PDF");
  EXPECT_EQ(r.form[0].content_type, "application/pdf");
  EXPECT_EQ(r.form[1].name, "sender");
  EXPECT_EQ(r.form[1].value, "+81312345678");
  EXPECT_EQ(r.form[2].name, "called");
  EXPECT_EQ(r.form[2].value, "+81300000001");
  EXPECT_EQ(r.form[3].name, "name");
  EXPECT_EQ(r.form[3].value, "Order 12");
  EXPECT_EQ(r.bearer_token, kToken);
  EXPECT_NE(ran.out.find("01JDX4Q7R8S9T0V1W2X3Y4Z5A6"), std::string::npos);
  EXPECT_NE(ran.out.find("state:"), std::string::npos);
}

TEST(Submit, OptionalFieldsAreLeftOutAndTiffIsRecognised) {
  TempDir dir;
  const auto file = dir.write("fax.tif", "II*\0");
  const Request r = one_request({"submit", file.string(), "--sender", "sip:100@pbx"}, kSampleJob);
  ASSERT_EQ(r.form.size(), 2u);
  EXPECT_EQ(r.form[0].content_type, "image/tiff");
  EXPECT_EQ(r.form[1].value, "sip:100@pbx");
}

TEST(Submit, MissingFileOrSenderIsAUsageError) {
  FakeTransport t;
  EXPECT_EQ(run_words({"submit", "/nonexistent/fax.pdf", "--sender", "1"}, t).code, 2);
  TempDir dir;
  EXPECT_EQ(run_words({"submit", dir.write("a.pdf", "x").string()}, t).code, 2);
  EXPECT_TRUE(t.requests.empty());
}

TEST(Jobs, BuildsQueryFromFilters) {
  const Request r = one_request({"jobs", "--state", "held,Failed", "--recipient",
                                 "user:local:alice", "--sender", "+81312345678", "--limit", "5"},
                                R"({"jobs":[]})");
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target(),
            "/api/v1/jobs?state=held,failed&recipient=user:local:alice&sender=%2B81312345678&"
            "limit=5");
  EXPECT_FALSE(r.json);
}

TEST(Jobs, RepeatedStateOptionsAreJoined) {
  const Request r =
      one_request({"jobs", "--state", "held", "--state", "failed,expired"}, R"({"jobs":[]})");
  EXPECT_EQ(r.target(), "/api/v1/jobs?state=held,failed,expired");
}

TEST(Jobs, NoFiltersNoQueryAndBadValuesAreUsageErrors) {
  EXPECT_EQ(one_request({"jobs"}, R"({"jobs":[]})").target(), "/api/v1/jobs");
  FakeTransport t;
  EXPECT_EQ(run_words({"jobs", "--state", "held,sleeping"}, t).code, 2);
  EXPECT_EQ(run_words({"jobs", "--limit", "0"}, t).code, 2);
  EXPECT_EQ(run_words({"jobs", "--limit", "ten"}, t).code, 2);
  EXPECT_TRUE(t.requests.empty());
}

TEST(Show, GetsJobThenHistoryByFullIdAndCombinesJson) {
  FakeTransport t;
  t.answer(200, kSampleJob);
  t.answer(200, R"({"history":[{"at":"2026-11-24T09:30:00.000Z","from":"stored","to":"held",
                                "actor":"engine","reason":"alice is busy"}]})");
  Ran ran = run_words({"--json", "show", "7"}, t);
  ASSERT_EQ(ran.code, 0) << ran.err;
  ASSERT_EQ(t.requests.size(), 2u);
  EXPECT_EQ(t.requests[0].method, "GET");
  EXPECT_EQ(t.requests[0].target(), "/api/v1/jobs/7");
  EXPECT_EQ(t.requests[1].target(), "/api/v1/jobs/01JDX4Q7R8S9T0V1W2X3Y4Z5A6/history");
  json printed = json::parse(ran.out);
  EXPECT_EQ(printed["job"]["short_id"], "7");
  ASSERT_EQ(printed["history"].size(), 1u);
  EXPECT_EQ(printed["history"][0]["to"], "held");
}

TEST(Show, HumanOutputHasJobAndHistoryTable) {
  FakeTransport t;
  t.answer(200, kSampleJob);
  t.answer(200, R"({"history":[{"at":"T1","from":"stored","to":"held","actor":"engine",
                                "reason":"busy"}]})");
  Ran ran = run_words({"show", "7"}, t);
  ASSERT_EQ(ran.code, 0);
  EXPECT_NE(ran.out.find("state:          held\n"), std::string::npos) << ran.out;
  EXPECT_NE(
      ran.out.find("history:\nAT  FROM    TO    ACTOR   REASON\nT1  stored  held  engine  busy\n"),
      std::string::npos)
      << ran.out;
}

TEST(JobCommands, PathsMethodsAndBodies) {
  Request r = one_request({"history", "a/b"}, R"({"history":[]})");
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target(), "/api/v1/jobs/a%2Fb/history");

  r = one_request({"release", "7"}, kSampleJob);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target(), "/api/v1/jobs/7/release");
  ASSERT_TRUE(r.json);
  EXPECT_EQ(*r.json, json::object());

  r = one_request({"release", "7", "--printer", "office 2"}, kSampleJob);
  EXPECT_EQ(*r.json, (json{{"printer", "office 2"}}));

  r = one_request({"delete", "7"}, kSampleJob);
  EXPECT_EQ(r.method, "DELETE");
  EXPECT_EQ(r.target(), "/api/v1/jobs/7");
  EXPECT_FALSE(r.json);
}

TEST(Binary, PreviewAndDocumentWriteTheBodyToTheFile) {
  TempDir dir;
  const auto png = dir.path() / "p.png";
  FakeTransport t;
  t.answer(200, std::string("\x89PNG\r\n\x1a\n\0data", 13), "image/png");
  Ran ran = run_words({"preview", "7", "-o", png.string()}, t);
  ASSERT_EQ(ran.code, 0) << ran.err;
  EXPECT_EQ(t.requests[0].target(), "/api/v1/jobs/7/preview.png");
  EXPECT_EQ(testing::read_file(png), std::string("\x89PNG\r\n\x1a\n\0data", 13));
  EXPECT_NE(ran.out.find("13 bytes"), std::string::npos);

  Request r = one_request({"preview", "7", "-o", png.string(), "--page", "2", "--size", "800"});
  EXPECT_EQ(r.target(), "/api/v1/jobs/7/pages/2.png?size=800");
  r = one_request({"preview", "7", "-o", png.string(), "--size", "600"});
  EXPECT_EQ(r.target(), "/api/v1/jobs/7/pages/1.png?size=600");

  const auto pdf = dir.path() / "d.pdf";
  r = one_request({"document", "7", "--output", pdf.string()}, "%PDF");
  EXPECT_EQ(r.target(), "/api/v1/jobs/7/document");
  EXPECT_EQ(testing::read_file(pdf), "%PDF");
  r = one_request({"document", "7", "-o", pdf.string(), "--printable"});
  EXPECT_EQ(r.target(), "/api/v1/jobs/7/document?kind=printable");

  FakeTransport to_stdout;
  to_stdout.answer(200, "%PDF-1.7 bytes", "application/pdf");
  ran = run_words({"document", "7", "-o", "-"}, to_stdout);
  ASSERT_EQ(ran.code, 0);
  EXPECT_EQ(ran.out, "%PDF-1.7 bytes");  // nothing else on stdout

  FakeTransport t2;
  EXPECT_EQ(run_words({"preview", "7"}, t2).code, 2);  // -o is required
  EXPECT_EQ(run_words({"preview", "7", "-o", "x", "--page", "0"}, t2).code, 2);
}

TEST(Binary, FailedDownloadLeavesNoFile) {
  TempDir dir;
  const auto png = dir.path() / "p.png";
  FakeTransport t;
  t.answer(404, R"({"error":{"code":"not_found","message":"job 9 not found"}})");
  EXPECT_EQ(run_words({"preview", "9", "-o", png.string()}, t).code, 6);
  EXPECT_FALSE(std::filesystem::exists(png));
}

TEST(Recipients, ListAddRemove) {
  Request r = one_request({"recipients", "list"}, R"({"rules":[]})");
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target(), "/api/v1/recipients");

  r = one_request({"recipients", "add", "prefix:03", "user:local:alice", "--printer", "office",
                   "--note", "Tokyo"},
                  R"({"id":"4","pattern":"prefix:03","recipient":"user:local:alice"})", 201);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target(), "/api/v1/recipients");
  EXPECT_EQ(*r.json, (json{{"pattern", "prefix:03"},
                           {"recipient", "user:local:alice"},
                           {"printer", "office"},
                           {"note", "Tokyo"},
                           {"language", ""}}));
  r = one_request({"recipients", "add", "prefix:03", "user:local:tanaka", "--language", "ja"},
                  R"({"id":"5","pattern":"prefix:03","recipient":"user:local:tanaka"})", 201);
  EXPECT_EQ((*r.json)["language"], "ja");

  FakeTransport t;
  t.answer(204, "");
  Ran ran = run_words({"recipients", "remove", "4"}, t);
  ASSERT_EQ(ran.code, 0) << ran.err;
  EXPECT_EQ(t.requests[0].method, "DELETE");
  EXPECT_EQ(t.requests[0].target(), "/api/v1/recipients/4");
  EXPECT_EQ(ran.out, "removed rule 4\n");
}

TEST(Recipients, ImportAcceptsExportFormatOrBareArray) {
  TempDir dir;
  const json rules = json::array({{{"pattern", "prefix:03"}, {"recipient", "user:local:alice"}}});
  Request r = one_request(
      {"recipients", "import", dir.write("r.json", json{{"rules", rules}}.dump()).string()},
      R"({"rules":[]})");
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.target(), "/api/v1/recipients");
  EXPECT_EQ(*r.json, (json{{"rules", rules}}));

  r = one_request({"recipients", "import", dir.write("a.json", rules.dump()).string()},
                  R"({"rules":[]})");
  EXPECT_EQ(*r.json, (json{{"rules", rules}}));

  FakeTransport t;
  EXPECT_EQ(run_words({"recipients", "import", dir.write("bad.json", "{rules").string()}, t).code,
            2);
  EXPECT_EQ(run_words({"recipients", "import", dir.write("o.json", R"({"x":1})").string()}, t).code,
            2);
  EXPECT_TRUE(t.requests.empty());
}

TEST(Recipients, ExportPrintsJsonEvenWithoutJsonFlag) {
  FakeTransport t;
  t.answer(200, R"({"rules":[{"id":"1","pattern":"any","recipient":"channel:local:desk"}]})");
  Ran ran = run_words({"recipients", "export"}, t);
  ASSERT_EQ(ran.code, 0);
  EXPECT_EQ(json::parse(ran.out)["rules"][0]["recipient"], "channel:local:desk");
}

TEST(Recipients, TomlImportSendsTheFileAsIsAndExportPrintsTheToml) {
  TempDir dir;
  const std::string toml =
      "[[rule]]\npattern = \"prefix:03\"\nrecipient = \"user:local:alice\"\nnote = \"Tokyo\"\n";
  const auto answer =
      R"({"rules":[{"id":7,"pattern":"prefix:03","recipient":"user:local:alice","note":"Tokyo"}]})";
  for (const auto* name : {"rules.toml", "RULES.TOML"}) {
    Request r = one_request({"recipients", "import", dir.write(name, toml).string()}, answer);
    EXPECT_EQ(r.method, "PUT");
    EXPECT_EQ(r.target(), "/api/v1/recipients/import.toml");
    EXPECT_FALSE(r.json);
    ASSERT_TRUE(r.raw_body);
    EXPECT_EQ(*r.raw_body, toml);
    EXPECT_EQ(r.raw_content_type, "application/toml");
  }
  // A .json file still goes to PUT /recipients as JSON.
  Request j = one_request(
      {"recipients", "import", dir.write("rules.json", R"({"rules":[]})").string()}, answer);
  EXPECT_EQ(j.target(), "/api/v1/recipients");
  EXPECT_FALSE(j.raw_body);

  // The server's 400 (naming the rule and key) reaches stderr; exit code 7 (rejected input).
  FakeTransport bad;
  bad.answer(400,
             R"({"error":{"code":"invalid_argument","message":"rule 1: pattern: bad prefix"}})");
  Ran failed = run_words({"recipients", "import", dir.write("bad.toml", "x").string()}, bad);
  EXPECT_EQ(failed.code, 7);
  EXPECT_NE(failed.err.find("rule 1: pattern"), std::string::npos) << failed.err;

  FakeTransport t;
  t.answer(200, toml, "text/plain; charset=utf-8");
  Ran ran = run_words({"recipients", "export", "--toml"}, t);
  ASSERT_EQ(ran.code, 0) << ran.err;
  ASSERT_EQ(t.requests.size(), 1u);
  EXPECT_EQ(t.requests[0].method, "GET");
  EXPECT_EQ(t.requests[0].target(), "/api/v1/recipients/export.toml");
  EXPECT_EQ(ran.out, toml);
}

TEST(Route, SenderAndCalledInQuery) {
  FakeTransport t;
  t.answer(200, R"({"recipients":["user:local:alice","channel:local:desk"]})");
  Ran ran = run_words({"route", "--sender", "+81312345678", "--called", "100"}, t);
  ASSERT_EQ(ran.code, 0);
  EXPECT_EQ(t.requests[0].target(), "/api/v1/route?sender=%2B81312345678&called=100");
  EXPECT_EQ(ran.out, "user:local:alice\nchannel:local:desk\n");
  FakeTransport t2;
  EXPECT_EQ(run_words({"route"}, t2).code, 2);
}

const char* kModes = R"({"active":"weekday","tables":[
  {"name":"weekday","active":true,"cells":{"available":{"office":"print","remote":"hold"},
                                           "busy":{"office":"hold"}}},
  {"name":"night","active":false,"cells":{}}]})";

TEST(Modes, ListShowDelete) {
  Request r = one_request({"modes", "list"}, kModes);
  EXPECT_EQ(r.target(), "/api/v1/modes");

  FakeTransport t;
  t.answer(200, kModes);
  Ran ran = run_words({"--json", "modes", "show", "night"}, t);
  ASSERT_EQ(ran.code, 0);
  EXPECT_EQ(json::parse(ran.out)["name"], "night");

  FakeTransport t2;
  t2.answer(200, kModes);
  ran = run_words({"modes", "show", "holiday"}, t2);
  EXPECT_EQ(ran.code, 6);
  EXPECT_NE(ran.err.find("mode table holiday not found"), std::string::npos);

  FakeTransport t3;
  t3.answer(204, "");
  ran = run_words({"modes", "delete", "night shift"}, t3);
  ASSERT_EQ(ran.code, 0);
  EXPECT_EQ(t3.requests[0].method, "DELETE");
  EXPECT_EQ(t3.requests[0].target(), "/api/v1/modes/night%20shift");
}

TEST(Modes, SetChangesOneCellAndKeepsTheOthers) {
  FakeTransport t;
  t.answer(200, kModes);
  t.answer(200, R"({"name":"weekday","active":true,"cells":{}})");
  Ran ran = run_words({"modes", "set", "weekday", "dnd", "home", "print"}, t);
  ASSERT_EQ(ran.code, 0) << ran.err;
  ASSERT_EQ(t.requests.size(), 2u);
  EXPECT_EQ(t.requests[0].method, "GET");
  EXPECT_EQ(t.requests[1].method, "PUT");
  EXPECT_EQ(t.requests[1].target(), "/api/v1/modes/weekday");
  const json expected = json::parse(R"({"cells":{
      "available":{"office":"print","remote":"hold"},
      "busy":{"office":"hold"},
      "do_not_disturb":{"remote":"print"}}})");
  EXPECT_EQ(*t.requests[1].json, expected);

  FakeTransport t2;
  t2.answer(200, kModes);
  t2.answer(200, R"({"name":"weekday","cells":{}})");
  ASSERT_EQ(run_words({"modes", "set", "weekday", "available", "office", "hold"}, t2).code, 0);
  EXPECT_EQ((*t2.requests[1].json)["cells"]["available"]["office"], "hold");
}

TEST(Modes, SetOnUnknownTableNeedsCreate) {
  FakeTransport t;
  t.answer(200, kModes);
  Ran ran = run_words({"modes", "set", "holiday", "busy", "office", "print"}, t);
  EXPECT_EQ(ran.code, 6);
  EXPECT_EQ(t.requests.size(), 1u);  // no PUT

  FakeTransport t2;
  t2.answer(200, kModes);
  t2.answer(200, R"({"name":"holiday","cells":{}})");
  ASSERT_EQ(run_words({"modes", "set", "holiday", "busy", "office", "print", "--create"}, t2).code,
            0);
  EXPECT_EQ(t2.requests[1].target(), "/api/v1/modes/holiday");
  EXPECT_EQ(*t2.requests[1].json, json::parse(R"({"cells":{"busy":{"office":"print"}}})"));
}

TEST(Modes, SetRejectsUnknownNames) {
  FakeTransport t;
  EXPECT_EQ(run_words({"modes", "set", "w", "sleepy", "office", "print"}, t).code, 2);
  EXPECT_EQ(run_words({"modes", "set", "w", "busy", "moon", "print"}, t).code, 2);
  EXPECT_EQ(run_words({"modes", "set", "w", "busy", "office", "delete"}, t).code, 2);
  EXPECT_TRUE(t.requests.empty());
}

TEST(Schedule, ShowAndSetFromFile) {
  Request r = one_request({"schedule", "show"}, R"({"time_zone":"Asia/Tokyo","rules":[]})");
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target(), "/api/v1/schedule");

  TempDir dir;
  const json schedule = json::parse(R"({"time_zone":"Asia/Tokyo","default_table":"weekday",
      "holiday_table":"night","holidays":["2026-12-25"],
      "rules":[{"table":"weekday","days":["mon","tue"],"start":"08:00","end":"18:00"}]})");
  r = one_request({"schedule", "set", dir.write("s.json", schedule.dump()).string()},
                  schedule.dump());
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.target(), "/api/v1/schedule");
  EXPECT_EQ(*r.json, schedule);
}

TEST(Presence, ListAndSet) {
  Request r = one_request({"presence", "list"}, R"({"recipients":[]})");
  EXPECT_EQ(r.target(), "/api/v1/presence");

  r = one_request({"presence", "set", "alice smith", "DND", "home", "--status", "in a meeting"});
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.target(), "/api/v1/presence/local/alice%20smith");
  EXPECT_EQ(*r.json, (json{{"availability", "do_not_disturb"},
                           {"location", "remote"},
                           {"status_text", "in a meeting"}}));

  r = one_request({"presence", "set", "bob", "available", "--service", "xmpp"});
  EXPECT_EQ(r.target(), "/api/v1/presence/xmpp/bob");
  EXPECT_EQ(*r.json,
            (json{{"availability", "available"}, {"location", "unknown"}, {"status_text", ""}}));

  FakeTransport t;
  EXPECT_EQ(run_words({"presence", "set", "bob"}, t).code, 2);
  EXPECT_EQ(run_words({"presence", "set", "bob", "napping"}, t).code, 2);
}

TEST(Channel, MembersReplacesTheList) {
  Request r = one_request({"channel", "members", "front desk", "alice", "bob"});
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.target(), "/api/v1/channels/local/front%20desk/members");
  EXPECT_EQ(*r.json, (json{{"members", {"alice", "bob"}}}));
  r = one_request({"channel", "members", "desk"});
  EXPECT_EQ(*r.json, (json{{"members", json::array()}}));
}

TEST(Messages, ToAndAfterInQuery) {
  Request r =
      one_request({"messages", "--to", "user:local:alice", "--after", "12"}, R"({"messages":[]})");
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target(), "/api/v1/messages?to=user:local:alice&after=12");
  FakeTransport t;
  EXPECT_EQ(run_words({"messages"}, t).code, 2);
}

TEST(Command, PostsTheReplyAsTyped) {
  FakeTransport t;
  t.answer(202, "");
  Ran ran = run_words({"command", "--from", "alice", "hold", "7"}, t);
  ASSERT_EQ(ran.code, 0) << ran.err;
  const Request& r = t.requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target(), "/api/v1/commands");
  EXPECT_EQ(*r.json, json::parse(R"({"service":"local","from":"alice","channel":null,
                                      "text":"hold 7"})"));
  EXPECT_EQ(ran.out, "accepted\n");

  Request r2 = one_request({"command", "--from", "bob", "--channel", "desk", "print"}, "", 202);
  EXPECT_EQ((*r2.json)["channel"], "desk");
  EXPECT_EQ((*r2.json)["text"], "print");
}

TEST(Misc, PrintersAuditHealth) {
  EXPECT_EQ(one_request({"printers"}, R"({"printers":[]})").target(), "/api/v1/printers");
  EXPECT_EQ(one_request({"audit"}, R"({"entries":[]})").target(), "/api/v1/audit");
  EXPECT_EQ(one_request({"audit", "--limit", "20"}, R"({"entries":[]})").target(),
            "/api/v1/audit?limit=20");

  FakeTransport t;
  t.answer(200, "ok\n", "text/plain");
  Environment no_token;  // health needs none
  no_token.token_file = "/nonexistent/admin.token";
  Ran ran = run_words({"health"}, t, no_token);
  ASSERT_EQ(ran.code, 0) << ran.err;
  EXPECT_EQ(t.requests[0].target(), "/healthz");
  EXPECT_FALSE(t.requests[0].authenticated);
  EXPECT_TRUE(t.requests[0].bearer_token.empty());
  EXPECT_EQ(ran.out, "ok\n");
}

TEST(GlobalOptions, EnvironmentDefaultsAndOverrides) {
  Environment env;
  env.url = "http://fax.example:9000";
  env.token_file = "/etc/atdesk.token";
  ParseOutcome p = parse_command_line({"atdesk", "jobs"}, env);
  ASSERT_TRUE(p.invocation);
  EXPECT_EQ(p.invocation->global.url, "http://fax.example:9000");
  EXPECT_EQ(p.invocation->global.token_file, "/etc/atdesk.token");
  EXPECT_FALSE(p.invocation->global.token);
  EXPECT_FALSE(p.invocation->global.json);
  EXPECT_DOUBLE_EQ(p.invocation->global.timeout_seconds, 30.0);

  // Flags win over the environment, and may follow the command.
  env.token = "from-env";
  p = parse_command_line({"atdesk", "jobs", "--url", "http://other:1", "--json", "--timeout", "2.5",
                          "--token-file", "/tmp/t"},
                         env);
  ASSERT_TRUE(p.invocation);
  EXPECT_EQ(p.invocation->global.url, "http://other:1");
  EXPECT_EQ(p.invocation->global.token_file, "/tmp/t");
  EXPECT_FALSE(p.invocation->global.token);  // --token-file beats ATDESK_TOKEN
  EXPECT_TRUE(p.invocation->global.json);
  EXPECT_DOUBLE_EQ(p.invocation->global.timeout_seconds, 2.5);

  p = parse_command_line({"atdesk", "jobs"}, env);
  ASSERT_TRUE(p.invocation);
  EXPECT_EQ(p.invocation->global.token, "from-env");  // ATDESK_TOKEN beats ATDESK_TOKEN_FILE

  p = parse_command_line({"atdesk", "jobs"}, Environment{});
  ASSERT_TRUE(p.invocation);
  EXPECT_EQ(p.invocation->global.url, kDefaultUrl);
  EXPECT_EQ(p.invocation->global.token_file, kDefaultTokenFile);
}

// The output's language: --lang, else LC_ALL / LC_MESSAGES / LANG (main() picks the first set),
// else English; a language atdesk does not speak is English, a bad --lang a usage error.
TEST(GlobalOptions, Language) {
  Environment env;
  EXPECT_EQ(parse_command_line({"atdesk", "jobs"}, env).invocation->global.language, Language::en);
  env.language = "ja_JP.UTF-8";
  EXPECT_EQ(parse_command_line({"atdesk", "jobs"}, env).invocation->global.language, Language::ja);
  EXPECT_EQ(parse_command_line({"atdesk", "jobs", "--lang", "en"}, env).invocation->global.language,
            Language::en);
  env.language = "de_DE.UTF-8";
  EXPECT_EQ(parse_command_line({"atdesk", "jobs"}, env).invocation->global.language, Language::en);
  EXPECT_EQ(parse_command_line({"atdesk", "--lang", "ja", "jobs"}, env).invocation->global.language,
            Language::ja);
  EXPECT_EQ(parse_command_line({"atdesk", "jobs", "--lang", "jp"}, env).exit_code, 2);
  EXPECT_EQ(parse_command_line(
                {"atdesk", "recipients", "add", "others", "user:local:a", "--language", "de"}, env)
                .exit_code,
            2);
}

TEST(GlobalOptions, UsageErrorsAndHelp) {
  const Environment env;
  EXPECT_EQ(parse_command_line({"atdesk"}, env).exit_code, 2);
  EXPECT_EQ(parse_command_line({"atdesk", "frobnicate"}, env).exit_code, 2);
  EXPECT_EQ(parse_command_line({"atdesk", "recipients"}, env).exit_code, 2);
  EXPECT_EQ(parse_command_line({"atdesk", "--timeout", "-1", "jobs"}, env).exit_code, 2);
  ParseOutcome bad_url = parse_command_line({"atdesk", "--url", "ftp://x", "jobs"}, env);
  EXPECT_EQ(bad_url.exit_code, 2);
  EXPECT_NE(bad_url.err.find("--url"), std::string::npos);

  ParseOutcome help = parse_command_line({"atdesk", "--help"}, env);
  EXPECT_FALSE(help.invocation);
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Exit codes:"), std::string::npos);
  EXPECT_NE(help.out.find("7  rejected input"), std::string::npos);
  EXPECT_NE(help.out.find("ATDESK_TOKEN"), std::string::npos);
}

TEST(ExitCodes, StatusMapping) {
  EXPECT_EQ(exit_code_for_status(200), ExitCode::ok);
  EXPECT_EQ(exit_code_for_status(204), ExitCode::ok);
  EXPECT_EQ(exit_code_for_status(400), ExitCode::rejected_input);
  EXPECT_EQ(exit_code_for_status(413), ExitCode::rejected_input);
  EXPECT_EQ(exit_code_for_status(415), ExitCode::rejected_input);
  EXPECT_EQ(exit_code_for_status(401), ExitCode::not_authorized);
  EXPECT_EQ(exit_code_for_status(403), ExitCode::not_authorized);
  EXPECT_EQ(exit_code_for_status(404), ExitCode::not_found);
  EXPECT_EQ(exit_code_for_status(409), ExitCode::conflict);
  EXPECT_EQ(exit_code_for_status(500), ExitCode::error);
  EXPECT_EQ(exit_code_for_status(503), ExitCode::error);
  EXPECT_EQ(exit_code_for_status(302), ExitCode::error);
  EXPECT_EQ(to_int(ExitCode::usage), 2);
  EXPECT_EQ(to_int(ExitCode::cannot_connect), 3);
  EXPECT_EQ(exit_code_for_transport_error(Errc::unavailable), ExitCode::cannot_connect);
  EXPECT_EQ(exit_code_for_transport_error(Errc::timeout), ExitCode::error);
  // backup, restore and migrate: the failure of a local operation
  EXPECT_EQ(exit_code_for_local_error(Errc::not_found), ExitCode::not_found);
  EXPECT_EQ(exit_code_for_local_error(Errc::conflict), ExitCode::conflict);
  EXPECT_EQ(exit_code_for_local_error(Errc::permission_denied), ExitCode::not_authorized);
  EXPECT_EQ(exit_code_for_local_error(Errc::corrupt), ExitCode::rejected_input);
  EXPECT_EQ(exit_code_for_local_error(Errc::invalid_argument), ExitCode::rejected_input);
  EXPECT_EQ(exit_code_for_local_error(Errc::unavailable), ExitCode::error);
}

struct ServerError {
  long status;
  int exit_code;
};
class ServerErrors : public ::testing::TestWithParam<ServerError> {};

TEST_P(ServerErrors, MessageAndStatusGoToStderrWithTheMappedCode) {
  FakeTransport t;
  t.answer(GetParam().status,
           R"J({"error":{"code":"conflict","message":"job 7 is not held (state printed)"}})J");
  Ran ran = run_words({"release", "7"}, t);
  EXPECT_EQ(ran.code, GetParam().exit_code);
  EXPECT_EQ(ran.out, "");
  EXPECT_EQ(ran.err, "atdesk: job 7 is not held (state printed) (HTTP " +
                         std::to_string(GetParam().status) + ", conflict)\n");
  EXPECT_EQ(ran.err.find(kToken), std::string::npos);
}
INSTANTIATE_TEST_SUITE_P(Statuses, ServerErrors,
                         ::testing::Values(ServerError{400, 7}, ServerError{401, 4},
                                           ServerError{403, 4}, ServerError{404, 6},
                                           ServerError{409, 5}, ServerError{413, 7},
                                           ServerError{415, 7}, ServerError{500, 1},
                                           ServerError{503, 1}));

TEST(Failures, NonJsonErrorBodyAndBadSuccessBody) {
  FakeTransport t;
  t.answer(502, "Bad Gateway\nmore", "text/plain");
  Ran ran = run_words({"jobs"}, t);
  EXPECT_EQ(ran.code, 1);
  EXPECT_EQ(ran.err, "atdesk: Bad Gateway (HTTP 502)\n");

  FakeTransport t2;
  t2.answer(200, "<html>", "text/html");
  ran = run_words({"jobs"}, t2);
  EXPECT_EQ(ran.code, 1);
  EXPECT_NE(ran.err.find("not JSON"), std::string::npos);

  FakeTransport t3;
  t3.answer(200, R"(["unexpected"])");
  ran = run_words({"jobs"}, t3);  // a body of the wrong shape prints an empty table, no crash
  EXPECT_EQ(ran.code, 0);
}

TEST(Failures, CannotConnectIsExitThreeAndNamesTheUrl) {
  FakeTransport t;
  t.fail_with(Errc::unavailable, "Connection refused");
  Ran ran = run_words({"--url", "http://127.0.0.1:1", "printers"}, t);
  EXPECT_EQ(ran.code, 3);
  EXPECT_NE(ran.err.find("cannot connect to atdeskd at http://127.0.0.1:1"), std::string::npos);
  EXPECT_NE(ran.err.find("Connection refused"), std::string::npos);

  FakeTransport t2;
  t2.fail_with(Errc::timeout, "did not answer in time");
  EXPECT_EQ(run_words({"printers"}, t2).code, 1);
}

TEST(Failures, MissingTokenIsExitFourAndSendsNothing) {
  FakeTransport t;
  Environment env;
  env.token_file = "/nonexistent/admin.token";
  Ran ran = run_words({"jobs"}, t, env);
  EXPECT_EQ(ran.code, 4);
  EXPECT_TRUE(t.requests.empty());
  EXPECT_NE(ran.err.find("/nonexistent/admin.token"), std::string::npos);
  EXPECT_NE(ran.err.find("ATDESK_TOKEN_FILE"), std::string::npos);
}

TEST(Token, SentOnEveryAuthenticatedRequestAndReadOnce) {
  FakeTransport t;
  t.answer(200, kSampleJob);
  t.answer(200, R"({"history":[]})");
  ASSERT_EQ(run_words({"show", "7"}, t).code, 0);
  ASSERT_EQ(t.requests.size(), 2u);
  for (const auto& r : t.requests) {
    EXPECT_TRUE(r.authenticated);
    EXPECT_EQ(r.bearer_token, kToken);
  }
}

}  // namespace
}  // namespace atdesk::cli
