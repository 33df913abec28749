// The [chat.<name>] factory for type "xmpp" (src/app/daemon/chat_xmpp.cpp): keys, checks and the
// password file's permissions.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "atdesk/testing/memory_store.hpp"
#include "chat_factories.hpp"

namespace atdesk::app {
namespace {

class XmppConfig : public ::testing::Test {
 protected:
  XmppConfig() {
    char tmpl[] = "/tmp/atdesk-xmpp-config-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    password_file_ = dir_ + "/password";
    std::ofstream(password_file_) << "s3cret\nignored\n";
    ::chmod(password_file_.c_str(), 0600);
  }
  ~XmppConfig() override { std::filesystem::remove_all(dir_); }

  Result<std::unique_ptr<chat::ChatService>> make(const std::string& body) {
    std::istringstream in(
        "[chat.jabber]\ntype = \"xmpp\"\njid = \"atdesk@example.org\"\n"
        "password_file = \"" +
        password_file_ + "\"\n" + body);
    const auto doc = toml::parse(in, "atdesk.toml");
    ChatContext context{config_, tables_, clock_, {}};
    return make_chat_service("jabber", doc.at("chat").at("jabber"), "atdesk.toml", context);
  }

  std::string dir_;
  std::string password_file_;
  Config config_;
  testing::MemoryTableStore tables_;
  SystemClock clock_;
};

TEST_F(XmppConfig, MinimalAndFullTables) {
  auto minimal = make("");
  ASSERT_TRUE(minimal.has_value()) << minimal.error().message;
  EXPECT_EQ((*minimal)->name(), "jabber");
  EXPECT_EQ((*minimal)->state(), chat::ServiceState::connecting);  // built, not started

  auto full = make(
      "server = \"127.0.0.1\"\nport = 15222\ntls = \"optional\"\ntrust_self_signed = true\n"
      "nick = \"fax\"\nrooms = [\"fax@conference.example.org\"]\ndefault_location = \"remote\"\n"
      "timeout_ms = 2000\nresource = \"atdesk-tokyo\"\nlate_command_max_age_s = 0\n"
      "[chat.jabber.location_keywords]\noffice = [\"desk\"]\ntime_off = [\"vacation\"]\n");
  ASSERT_TRUE(full.has_value()) << full.error().message;
}

TEST_F(XmppConfig, ErrorsNameTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"tls = \"sometimes\"\n", "[chat.jabber] tls"},
      {"port = 0\n", "[chat.jabber] port"},
      {"rooms = [\"not a room\"]\n", "[chat.jabber] rooms"},
      {"default_location = \"moon\"\n", "[chat.jabber] default_location"},
      {"timeout_ms = 10\n", "[chat.jabber] timeout_ms"},
      {"nick = \"a/b\"\n", "[chat.jabber] nick"},
      {"resource = \"a/b\"\n", "[chat.jabber] resource"},
      {"resource = \"\"\n", "[chat.jabber] resource"},
      {"late_command_max_age_s = -1\n", "[chat.jabber] late_command_max_age_s"},
      {"colour = \"blue\"\n", "[chat.jabber] colour: unknown key"},
      {"ca_file = \"/nonexistent/ca.pem\"\n", "[chat.jabber] ca_file"},
      {"[chat.jabber.location_keywords]\nmars = [\"x\"]\n", "location_keywords.mars"},
      {"[chat.jabber.location_keywords]\noffice = \"x\"\n", "location_keywords.office"},
  };
  for (const auto& [body, expected] : cases) {
    auto r = make(body);
    ASSERT_FALSE(r.has_value()) << body;
    EXPECT_NE(r.error().message.find("atdesk.toml"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(expected), std::string::npos) << r.error().message;
  }
}

TEST_F(XmppConfig, PasswordFileMustBePrivate) {
  ::chmod(password_file_.c_str(), 0644);
  auto r = make("");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::permission_denied);
  EXPECT_NE(r.error().message.find("chmod 600"), std::string::npos);
  EXPECT_EQ(r.error().message.find("s3cret"), std::string::npos);

  std::filesystem::remove(password_file_);
  auto missing = make("");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("password_file"), std::string::npos);
}

TEST_F(XmppConfig, BotJidMustBeBare) {
  std::istringstream in(
      "[chat.jabber]\ntype = \"xmpp\"\njid = \"atdesk@example.org/res\"\n"
      "password_file = \"" +
      password_file_ + "\"\n");
  const auto doc = toml::parse(in, "atdesk.toml");
  ChatContext context{config_, tables_, clock_, {}};
  auto r = make_chat_service("jabber", doc.at("chat").at("jabber"), "atdesk.toml", context);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("[chat.jabber] jid"), std::string::npos);
}

}  // namespace
}  // namespace atdesk::app
