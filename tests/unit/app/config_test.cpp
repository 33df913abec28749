// atdesk.toml: defaults, every section, and errors that name the file, the key and what was
// expected.
#include <gtest/gtest.h>

#include "config.hpp"

namespace atdesk::app {
namespace {

Config parse_ok(const std::string& text) {
  auto c = parse_config(text, "atdesk.toml");
  EXPECT_TRUE(c) << c.error().message;
  return c.value_or(Config{});
}

std::string parse_error(const std::string& text) {
  auto c = parse_config(text, "atdesk.toml");
  EXPECT_FALSE(c) << "expected an error for:\n" << text;
  return c ? std::string{} : c.error().message;
}

// Found by fuzz_config (tests/fuzz/corpus/config/invalid-utf8.toml): toml11 read past the end of
// its buffer on a UTF-8 lead byte without continuation bytes; such files are refused first.
TEST(Config, InvalidUtf8IsRefusedWithItsLine) {
  for (const char* text : {"'generp\xf3l''''cumbrer", "'\xf3'", "[server]\nlisten = \"\xc3\"\n"}) {
    auto e = parse_error(text);
    EXPECT_NE(e.find("not UTF-8"), std::string::npos) << e;
  }
  EXPECT_NE(parse_error("[server]\n# \xff\n").find("atdesk.toml, line 2"), std::string::npos);
  EXPECT_EQ(parse_ok("# caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa0\n").port, 8631);
}

TEST(Config, EmptyFileGivesEmbeddedDefaults) {
  auto c = parse_ok("");
  EXPECT_EQ(c.listen_address, "127.0.0.1");
  EXPECT_EQ(c.port, 8631);
  EXPECT_EQ(c.database, std::filesystem::path("/var/lib/atdesk/atdesk.db"));
  EXPECT_EQ(c.key_file, std::filesystem::path("/var/lib/atdesk/spool.key"));
  EXPECT_EQ(c.policy.unknown_sender, Action::print);
  EXPECT_EQ(c.policy.presence_unavailable, Action::hold);
  EXPECT_TRUE(c.local_chat);
  EXPECT_FALSE(c.inbox_dir);
  EXPECT_EQ(c.retention, std::chrono::hours(7 * 24));
  EXPECT_EQ(c.print_retry_min, std::chrono::seconds(2));
  EXPECT_EQ(c.print_retry_max, std::chrono::seconds(300));
  EXPECT_EQ(c.print_stopped_notice, std::chrono::minutes(10));
}

TEST(Config, ReadsEverySection) {
  auto c = parse_ok(R"(
[server]
listen = "[::1]:9000"
threads = 3
[storage]
state_dir = "/srv/atdesk"
key_file = "/etc/atdesk/spool.key"
[general]
time_zone = "Asia/Tokyo"
worker_threads = 8
[numbers]
country_code = "81"
[policy]
unknown_sender = "hold"
presence_unavailable = "print"
match_first = "called"
[retention]
held_days = 30
[printing]
retry_min_s = 5
retry_max_s = 120
stopped_notice_min = 30
[limits]
max_file_mb = 10
max_pages = 50
[[printer]]
name = "lobby"
uri = "ipp://10.0.0.5/ipp/print"
[[printer]]
name = "back-office"
uri = "ipps://printer.example.org/ipp/print"
default = true
[chat.local]
enabled = false
[inbox]
dir = "/var/spool/atdesk/inbox"
poll_ms = 250
)");
  EXPECT_EQ(c.listen_address, "::1");
  EXPECT_EQ(c.port, 9000);
  EXPECT_EQ(c.http_threads, 3);
  EXPECT_EQ(c.database, std::filesystem::path("/srv/atdesk/atdesk.db"));
  EXPECT_EQ(c.key_file, std::filesystem::path("/etc/atdesk/spool.key"));
  EXPECT_EQ(c.time_zone, "Asia/Tokyo");
  EXPECT_EQ(c.numbers.country_code, "81");
  EXPECT_EQ(c.policy.unknown_sender, Action::hold);
  EXPECT_EQ(c.policy.presence_unavailable, Action::print);
  EXPECT_EQ(c.match, MatchPreference::called_first);
  EXPECT_EQ(c.retention, std::chrono::hours(30 * 24));
  EXPECT_EQ(c.print_retry_min, std::chrono::seconds(5));
  EXPECT_EQ(c.print_retry_max, std::chrono::seconds(120));
  EXPECT_EQ(c.print_stopped_notice, std::chrono::minutes(30));
  EXPECT_EQ(c.limits.max_file_bytes, 10u << 20);
  EXPECT_EQ(c.limits.max_pages, 50);
  ASSERT_EQ(c.printers.size(), 2u);
  EXPECT_EQ(c.default_printer(), "back-office");
  EXPECT_FALSE(c.local_chat);
  EXPECT_EQ(c.inbox_dir, std::filesystem::path("/var/spool/atdesk/inbox"));
  EXPECT_EQ(c.inbox_poll, std::chrono::milliseconds(250));
}

TEST(Config, StoreIsSqliteByDefaultOrPostgresqlByUrl) {
  EXPECT_TRUE(parse_ok("").store_url.empty());
  auto c = parse_ok(
      "[store]\nurl = "
      "\"postgresql://atdesk@db1:5432,db2:5432/atdesk?passfile=/etc/atdesk/pgpass\"\n"
      "connections = 12\n");
  EXPECT_EQ(c.store_url,
            "postgresql://atdesk@db1:5432,db2:5432/atdesk?passfile=/etc/atdesk/pgpass");
  EXPECT_EQ(c.store_connections, 12);
  EXPECT_EQ(parse_ok("[store]\nurl = \"host=/run/postgresql dbname=atdesk\"\n").store_url,
            "host=/run/postgresql dbname=atdesk");
  auto e = parse_error("[store]\nurl = \"mysql://x\"\n");
  EXPECT_NE(e.find("atdesk.toml: [store] url: expected \"postgresql://"), std::string::npos) << e;
  for (const char* secret :
       {"postgresql://atdesk:s3cret@db1/atdesk", "postgresql://db1/atdesk?password=s3cret",
        "host=db1 dbname=atdesk password=s3cret"}) {
    e = parse_error(std::string("[store]\nurl = \"") + secret + "\"\n");
    EXPECT_NE(e.find("expected no password in the URL"), std::string::npos) << e;
    EXPECT_EQ(e.find("s3cret"), std::string::npos) << "the secret is not repeated: " << e;
  }
  e = parse_error("[store]\nconnections = 0\n");
  EXPECT_NE(e.find("[store] connections"), std::string::npos) << e;
  e = parse_error("[store]\nuri = \"postgresql://db1/atdesk\"\n");
  EXPECT_NE(e.find("uri"), std::string::npos) << e;
}

// [cluster] lease_s: several nodes on one database (docs/postgresql.md).
TEST(Config, ClusterLease) {
  EXPECT_EQ(parse_ok("").lease, std::chrono::seconds(30));
  EXPECT_EQ(parse_ok("[cluster]\nlease_s = 10\n").lease, std::chrono::seconds(10));
  auto e = parse_error("[cluster]\nlease_s = 1\n");
  EXPECT_NE(e.find("[cluster] lease_s"), std::string::npos) << e;
  e = parse_error("[cluster]\nnode = \"a\"\n");
  EXPECT_NE(e.find("node"), std::string::npos) << e;
}

TEST(Config, FirstPrinterIsDefaultWhenNoneIsMarked) {
  auto c = parse_ok(
      "[[printer]]\nname = \"a\"\nuri = \"ipp://h/ipp/print\"\n"
      "[[printer]]\nname = \"b\"\nuri = \"ipp://h2/ipp/print\"\n");
  EXPECT_EQ(c.default_printer(), "a");
}

TEST(Config, ErrorsNameTheFileKeyAndExpectation) {
  auto e = parse_error("[policy]\nunknown_sender = \"maybe\"\n");
  EXPECT_NE(e.find("atdesk.toml"), std::string::npos) << e;
  EXPECT_NE(e.find("[policy] unknown_sender"), std::string::npos) << e;
  EXPECT_NE(e.find("\"print\" or \"hold\""), std::string::npos) << e;

  e = parse_error("[server]\nlisten = \"localhost\"\n");
  EXPECT_NE(e.find("[server] listen"), std::string::npos) << e;

  e = parse_error("[server]\nlisten = \"127.0.0.1:99999\"\n");
  EXPECT_NE(e.find("port"), std::string::npos) << e;

  e = parse_error("[server]\nlistn = \"127.0.0.1:1\"\n");
  EXPECT_NE(e.find("listn: unknown key"), std::string::npos) << e;

  e = parse_error("[retention]\nheld_days = 0\n");
  EXPECT_NE(e.find("held_days"), std::string::npos) << e;
  EXPECT_NE(e.find("1 to 3650"), std::string::npos) << e;

  e = parse_error("[printing]\nretry_min_s = 30\nretry_max_s = 10\n");
  EXPECT_NE(e.find("[printing] retry_max_s: expected at least retry_min_s (30), got 10"),
            std::string::npos)
      << e;
  e = parse_error("[printing]\nstopped_notice_min = 0\n");
  EXPECT_NE(e.find("stopped_notice_min"), std::string::npos) << e;
  e = parse_error("[printing]\nretry_min = 3\n");
  EXPECT_NE(e.find("retry_min: unknown key"), std::string::npos) << e;

  e = parse_error("[retention]\nheld_days = \"7\"\n");
  EXPECT_NE(e.find("expected an integer"), std::string::npos) << e;

  e = parse_error("[[printer]]\nname = \"x\"\nuri = \"http://h/\"\n");
  EXPECT_NE(e.find("ipp://"), std::string::npos) << e;

  e = parse_error("[[printer]]\nname = \"bad name\"\nuri = \"ipp://h/\"\n");
  EXPECT_NE(e.find("name"), std::string::npos) << e;

  e = parse_error(
      "[[printer]]\nname = \"x\"\nuri = \"ipp://h/\"\n"
      "[[printer]]\nname = \"x\"\nuri = \"ipp://h2/\"\n");
  EXPECT_NE(e.find("configured twice"), std::string::npos) << e;

  e = parse_error("[numbers]\ncountry_code = \"+81\"\n");
  EXPECT_NE(e.find("digits"), std::string::npos) << e;

  e = parse_error("bogus = 1\n");
  EXPECT_NE(e.find("bogus"), std::string::npos) << e;
}

// The service keys: TLS files come in pairs, log levels are spdlog's names, the recipient file is
// a path.
TEST(Config, ServiceKeysAreCheckedAndRead) {
  auto e = parse_error("[server]\ntls_cert = \"/etc/atdesk/cert.pem\"\n");
  EXPECT_NE(e.find("[server] tls_key"), std::string::npos) << e;
  EXPECT_NE(e.find("together"), std::string::npos) << e;
  e = parse_error("[general]\nlog_level = \"verbose\"\n");
  EXPECT_NE(e.find("[general] log_level"), std::string::npos) << e;
  EXPECT_NE(e.find("\"verbose\""), std::string::npos) << e;
  e = parse_error("[server]\ntrusted_proxies = \"127.0.0.1\"\n");
  EXPECT_NE(e.find("trusted_proxies"), std::string::npos) << e;

  auto c = parse_config(
      "[server]\ntls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\n"
      "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n"
      "[general]\nlog_level = \"debug\"\n[recipients]\nfile = \"/etc/atdesk/r.toml\"\n",
      "atdesk.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->tls_cert, "/c.pem");
  EXPECT_EQ(c->tls_key, "/k.pem");
  EXPECT_EQ(c->trusted_proxies, (std::vector<std::string>{"127.0.0.1", "10.0.0.0/8"}));
  EXPECT_EQ(c->log_level, "debug");
  ASSERT_TRUE(c->recipients_file);
  EXPECT_EQ(*c->recipients_file, "/etc/atdesk/r.toml");
}

// [general] language: the default language of chat messages, "en" unless set.
TEST(Config, GeneralLanguage) {
  auto c = parse_config("[general]\nlanguage = \"ja\"\n", "atdesk.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->language, Language::ja);
  auto d = parse_config("", "atdesk.toml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->language, Language::en);
  auto e = parse_error("[general]\nlanguage = \"jp\"\n");
  EXPECT_NE(e.find("[general] language: expected \"en\" or \"ja\", got \"jp\""), std::string::npos)
      << e;
}

TEST(Config, SyntaxErrorNamesTheLine) {
  auto e = parse_error("[server\nlisten = 1\n");
  EXPECT_NE(e.find("atdesk.toml"), std::string::npos) << e;
  EXPECT_NE(e.find("line 1"), std::string::npos) << e;
}

TEST(Config, MissingFileIsNamed) {
  auto c = load_config("/nonexistent/atdesk.toml");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("/nonexistent/atdesk.toml"), std::string::npos);
}

}  // namespace
}  // namespace atdesk::app
