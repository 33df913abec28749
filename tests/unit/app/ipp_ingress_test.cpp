// [ipp_server] of atdesk.toml (defaults, personal queues, errors naming the key) and the
// supervisor that keeps atdesk-ippd running (a child that ends is started again; stop ends it).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "config.hpp"
#include "ipp_ingress.hpp"

namespace atdesk::app {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

Result<std::optional<IppServerSettings>> settings_of(const std::string& text) {
  auto c = parse_config("[storage]\nstate_dir = \"/srv/atdesk\"\n" + text, "atdesk.toml");
  if (!c) return fail(c.error());
  return ipp_server_settings(*c);
}

// Waits for `done` with a deadline (no sleep as an assertion).
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

TEST(IppServerConfig, NoTableOrDisabledMeansNoPrinter) {
  auto none = settings_of("");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  auto off = settings_of("[ipp_server]\nenabled = false\n");
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_FALSE(*off);
}

TEST(IppServerConfig, DefaultsAreLoopbackOneQueueNoDnsSdFilesInTheStateFolder) {
  auto s = settings_of("[ipp_server]\n");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(*s);
  const auto& ipp = **s;
  EXPECT_EQ(ipp.listen, "127.0.0.1");
  EXPECT_EQ(ipp.port, 8632);
  EXPECT_EQ(ipp.queues, std::vector<std::string>{"atdesk"});
  EXPECT_FALSE(ipp.dnssd);
  EXPECT_EQ(ipp.socket, fs::path("/srv/atdesk/ippd.sock"));
  EXPECT_EQ(ipp.spool_dir, fs::path("/srv/atdesk/ipp-spool"));
  const auto args = ipp.arguments();
  EXPECT_EQ(std::count(args.begin(), args.end(), "--dnssd"), 0);
  EXPECT_NE(std::find(args.begin(), args.end(), "/srv/atdesk/ippd.sock"), args.end());
}

TEST(IppServerConfig, PersonalQueuesBecomeOwnerArguments) {
  auto s = settings_of(
      "[ipp_server]\nqueues = [\"office\", \"alice-7f3k\"]\nowners = { \"alice-7f3k\" = "
      "\"alice\" }\ndnssd = true\nport = 9100\n[limits]\nmax_file_mb = 2\n");
  ASSERT_TRUE(s) << s.error().message;
  const auto args = (*s)->arguments();
  auto has = [&](const std::string& a, const std::string& b) {
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == a && args[i + 1] == b) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("--queue", "office"));
  EXPECT_TRUE(has("--queue", "alice-7f3k"));
  EXPECT_TRUE(has("--owner", "alice-7f3k=alice"));
  EXPECT_TRUE(has("--port", "9100"));
  EXPECT_TRUE(has("--max-document-bytes", "2097152"));
  EXPECT_EQ(std::count(args.begin(), args.end(), "--dnssd"), 1);
}

RecipientRule rule(const std::string& pattern, const std::string& recipient) {
  RecipientRule r;
  r.pattern = *SenderPattern::parse(pattern, {});
  r.recipient = *Recipient::parse_key(recipient);
  return r;
}

ippd::HandoffHeader job_from(const std::string& user, const std::string& identity) {
  ippd::HandoffHeader h;
  h.queue = "office";
  h.user = user;
  h.identity = identity;
  return h;
}

// Who a print job is for: established by a trusted identity or a trusted name, and an ipp:
// rule; otherwise held for the chosen recipient (or the `others` rule's) with the reason.
TEST(IppOwner, EstablishedOnlyByATrustedIdentityOrNameWithARule) {
  const std::vector<RecipientRule> rules = {rule("ipp:alice", "user:local:alice"),
                                            rule("others", "channel:local:front-desk")};
  auto s = settings_of("[ipp_server]\n");
  ASSERT_TRUE(s && *s);
  IppServerSettings settings = **s;
  EXPECT_FALSE(owner_unknown(job_from("alice", "claimed"), rules, settings));
  EXPECT_FALSE(owner_unknown(job_from("alice", "basic"), rules, settings));
  auto guest = owner_unknown(job_from("guest", "claimed"), rules, settings);
  ASSERT_TRUE(guest);
  EXPECT_EQ(guest->hold_for, std::vector{*Recipient::parse_key("channel:local:front-desk")});
  EXPECT_NE(guest->why.find("\"guest\") is in no ipp: rule"), std::string::npos) << guest->why;
  auto carol = owner_unknown(job_from("carol", "basic"), rules, settings);
  ASSERT_TRUE(carol);
  EXPECT_NE(carol->why.find("signed in"), std::string::npos) << carol->why;
  EXPECT_TRUE(owner_unknown(job_from("", "claimed"), rules, settings));

  auto chosen =
      settings_of("[ipp_server]\nunknown_owner = \"user:local:frank\"\ntrust_user_names = false\n");
  ASSERT_TRUE(chosen && *chosen) << chosen.error().message;
  settings = **chosen;
  auto claimed = owner_unknown(job_from("alice", "claimed"), rules, settings);
  ASSERT_TRUE(claimed);  // a rule exists, but the name is not trusted
  EXPECT_EQ(claimed->hold_for, std::vector{*Recipient::parse_key("user:local:frank")});
  EXPECT_NE(claimed->why.find("not trusted"), std::string::npos) << claimed->why;
  EXPECT_FALSE(owner_unknown(job_from("alice", "token"), rules, settings));
  // An IP-network rule for the computer's address names the owner too.
  auto from_pc = job_from("PC-17", "claimed");
  from_pc.host = "192.0.2.17";
  EXPECT_TRUE(owner_unknown(from_pc, rules, settings));
  auto with_pc = rules;
  with_pc.push_back(rule("192.0.2.0/24", "user:local:carol"));
  EXPECT_FALSE(owner_unknown(from_pc, with_pc, settings));

  auto bad = settings_of("[ipp_server]\nunknown_owner = \"frank\"\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("unknown_owner"), std::string::npos);
}

TEST(IppServerConfig, SignInAndPersonalTokensNeedTlsAndBecomeArguments) {
  auto s = settings_of("[ipp_server]\ntls = true\nsign_in = true\npersonal_tokens = true\n");
  ASSERT_TRUE(s && *s) << s.error().message;
  EXPECT_EQ((*s)->tls_dir, fs::path("/srv/atdesk/ipp-tls"));
  const auto args = (*s)->arguments();
  for (const char* flag : {"--tls", "--sign-in", "--token-queue"}) {
    EXPECT_EQ(std::count(args.begin(), args.end(), flag), 1) << flag;
  }
  for (const char* key : {"sign_in", "personal_tokens"}) {
    auto bad = settings_of("[ipp_server]\n" + std::string(key) + " = true\n");
    ASSERT_FALSE(bad) << key;
    EXPECT_NE(bad.error().message.find(key), std::string::npos) << bad.error().message;
    EXPECT_NE(bad.error().message.find("tls = true"), std::string::npos) << bad.error().message;
  }
  auto taken = settings_of(
      "[ipp_server]\ntls = true\npersonal_tokens = true\nqueues = [\"office\", \"u\"]\n");
  ASSERT_FALSE(taken);
  EXPECT_NE(taken.error().message.find("queues"), std::string::npos);
}

TEST(IppServerConfig, ErrorsNameTheKey) {
  auto error_of = [](const std::string& text) {
    auto s = settings_of(text);
    EXPECT_FALSE(s) << text;
    return s ? std::string{} : s.error().message;
  };
  EXPECT_NE(error_of("[ipp_server]\nqueues = [\"a b\"]\n").find("[ipp_server] queues"),
            std::string::npos);
  EXPECT_NE(error_of("[ipp_server]\nqueues = []\n").find("queues: empty"), std::string::npos);
  EXPECT_NE(error_of("[ipp_server]\nowners = { nope = \"bob\" }\n").find("owners.nope"),
            std::string::npos);
  EXPECT_NE(error_of("[ipp_server]\nport = 0\n").find("[ipp_server] port"), std::string::npos);
  EXPECT_NE(error_of("[ipp_server]\nlog_level = \"loud\"\n").find("log_level"), std::string::npos);
  EXPECT_NE(error_of("[ipp_server]\nlisen = \"0.0.0.0\"\n").find("lisen: unknown key"),
            std::string::npos);
}

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/atdesk-supervisor-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  int lines(const fs::path& file) {
    std::ifstream in(file);
    return static_cast<int>(
        std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n'));
  }
  fs::path dir_;
};

TEST_F(SupervisorTest, AChildThatEndsIsStartedAgain) {
  const auto log = dir_ / "runs";
  ChildSupervisor s({"/bin/sh", "-c", "echo run >> " + log.string() + "; exit 3"}, 100ms);
  s.start();
  EXPECT_TRUE(eventually([&] { return lines(log) >= 3; }));
  s.stop();
  const int runs = lines(log);
  EXPECT_GE(s.starts(), 3);
  // Stopped means stopped: nothing starts it again.
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(lines(log), runs);
}

TEST_F(SupervisorTest, StopEndsARunningChildWithSigterm) {
  const auto pid_file = dir_ / "pid";
  // The child unblocks SIGTERM (atdeskd blocks it for sigwait) and ends on it.
  ChildSupervisor s({"/bin/sh", "-c", "echo $$ > " + pid_file.string() + "; exec sleep 600"},
                    100ms);
  s.start();
  ASSERT_TRUE(eventually([&] { return lines(pid_file) == 1; }));
  pid_t pid = 0;
  std::ifstream(pid_file) >> pid;
  ASSERT_GT(pid, 0);
  const auto before = std::chrono::steady_clock::now();
  s.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);  // SIGTERM, not the SIGKILL fallback
  EXPECT_NE(::kill(pid, 0), 0);
  EXPECT_EQ(s.starts(), 1);
}

}  // namespace
}  // namespace atdesk::app
