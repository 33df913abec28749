// XmppChatService against a real server, Prosody (scripts/test-prosody) or ejabberd
// (scripts/test-ejabberd) as ATDESK_XMPP_SERVER says: presence pushed with the RFC 6121 mapping,
// direct and room messages, the XEP-0363 preview, commands from a person and from a room
// occupant, JIDs written with capitals, commands that waited in offline storage, verify(), a
// wrong password and an untrusted certificate named in last_error(), and a server restart.
// Waits are on conditions with deadlines.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include "atdesk/chat/xmpp/xmpp_chat_service.hpp"
#include "atdesk/testing/manual_clock.hpp"

#include "cut_proxy.hpp"
#include "test_client.hpp"
#include "test_server.hpp"

namespace atdesk::chat::xmpp::test {
namespace {

using namespace std::chrono_literals;

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Presence events pushed to the watch handler, and commands delivered to on_command.
struct Events {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::pair<std::string, Presence>> presences;
  std::vector<ChatCommand> commands;

  void add(const std::string& user, const Presence& p) {
    {
      std::lock_guard lock(m);
      presences.emplace_back(user, p);
    }
    cv.notify_all();
  }
  void add(const ChatCommand& c) {
    {
      std::lock_guard lock(m);
      commands.push_back(c);
    }
    cv.notify_all();
  }
  // The latest presence of `user` matches: waits until it does or the deadline passes.
  bool wait_presence(const std::string& user, Availability a, WorkLocation w,
                     std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, timeout, [&] {
      for (auto it = presences.rbegin(); it != presences.rend(); ++it) {
        if (it->first == user) return it->second.availability == a && it->second.location == w;
      }
      return false;
    });
  }
  std::optional<ChatCommand> wait_command(const std::string& text,
                                          std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(m);
    std::optional<ChatCommand> found;
    cv.wait_for(lock, timeout, [&] {
      for (const auto& c : commands) {
        if (c.text == text) {
          found = c;
          return true;
        }
      }
      return false;
    });
    return found;
  }
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// GETs `url` trusting only `ca_file`; returns the HTTP status and body.
std::pair<long, std::string> fetch(const std::string& url, const std::string& ca_file) {
  CURL* c = curl_easy_init();
  std::string body;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  return {status, body};
}

class Xmpp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(server_.known()) << "ATDESK_XMPP_SERVER: expected prosody or ejabberd";
    const std::string tmpl_text = "/tmp/atdesk-" + server_.kind() + "-XXXXXX";
    std::vector<char> tmpl(tmpl_text.begin(), tmpl_text.end());
    tmpl.push_back('\0');
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl.data();
    c2s_port_ = free_port();
    http_port_ = free_port();
    ASSERT_TRUE(start_server(true)) << "see " << server_.log(dir_);
    ca_file_ = dir_ + "/ca.pem";
  }

  static bool start_server(bool with_accounts) {
    return server_.start(dir_, c2s_port_, http_port_,
                         with_accounts ? "bot botpw alice alicepw bob bobpw carol carolpw dave "
                                         "davepw erin erinpw"
                                       : "");
  }
  static void stop_server() { server_.stop(dir_); }

  static void TearDownTestSuite() {
    stop_server();
    std::error_code ec;
    if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir_, ec);
  }

  XmppChatService::Settings bot_settings() const {
    XmppChatService::Settings s;
    s.name = "xmpp";
    s.jid = "bot@localhost";
    s.password = "botpw";
    s.server = "127.0.0.1";
    s.port = static_cast<std::uint16_t>(c2s_port_);
    s.ca_file = ca_file_;
    s.nick = "atdesk";
    s.default_location = WorkLocation::unknown;
    s.timeout = 5s;
    s.reconnect_min = 200ms;
    s.reconnect_max = 1s;
    return s;
  }

  // A started bot whose presence and command events go to `events_`.
  std::unique_ptr<XmppChatService> start_bot(XmppChatService::Settings s) {
    auto bot = std::make_unique<XmppChatService>(std::move(s), clock_);
    bot->on_command([this](const ChatCommand& c) { events_.add(c); });
    EXPECT_TRUE(bot->start().has_value());
    EXPECT_TRUE(wait_state(*bot, ServiceState::connected, 10s));
    return bot;
  }

  static bool wait_state(const ChatService& s, ServiceState want, std::chrono::milliseconds t) {
    const auto until = std::chrono::steady_clock::now() + t;
    while (std::chrono::steady_clock::now() < until) {
      if (s.state() == want) return true;
      std::this_thread::sleep_for(20ms);  // polling a state, not waiting for time to pass
    }
    return s.state() == want;
  }

  std::unique_ptr<TestClient> person(const std::string& user) {
    auto c = std::make_unique<TestClient>(user + "@localhost", user + "pw", c2s_port_, ca_file_);
    EXPECT_TRUE(c->wait_connected());
    return c;
  }

  static inline TestServer server_{ATDESK_SOURCE_DIR "/scripts"};
  static inline std::string dir_;
  static inline std::string ca_file_;
  static inline int c2s_port_ = 0;
  static inline int http_port_ = 0;
  SystemClock clock_;
  Events events_;
};

TEST_F(Xmpp, PresenceChangesArePushedWithTheMapping) {
  auto bot = start_bot(bot_settings());
  auto alice = person("alice");
  alice->set_presence("", "in office");
  bot->watch({"alice@localhost"},
             [this](const std::string& u, const Presence& p) { events_.add(u, p); });
  EXPECT_TRUE(
      events_.wait_presence("alice@localhost", Availability::available, WorkLocation::office));
  alice->set_presence("away", "WFH today");
  EXPECT_TRUE(events_.wait_presence("alice@localhost", Availability::away, WorkLocation::remote));
  alice->set_presence("xa", "");
  EXPECT_TRUE(events_.wait_presence("alice@localhost", Availability::away, WorkLocation::unknown));
  alice->set_presence("dnd", "im Büro");
  EXPECT_TRUE(
      events_.wait_presence("alice@localhost", Availability::do_not_disturb, WorkLocation::office));
  alice->set_presence("chat", "出社");
  EXPECT_TRUE(
      events_.wait_presence("alice@localhost", Availability::available, WorkLocation::office));

  // A second resource that is less available does not change the result; it wins once the
  // first one leaves.
  auto alice_phone = person("alice");
  alice_phone->set_presence("away", "home");
  alice.reset();
  EXPECT_TRUE(events_.wait_presence("alice@localhost", Availability::away, WorkLocation::remote));
  alice_phone.reset();
  EXPECT_TRUE(
      events_.wait_presence("alice@localhost", Availability::offline, WorkLocation::unknown));

  const std::vector<std::string> users{"alice@localhost", "nobody@localhost"};
  auto cached = bot->presence(users);
  ASSERT_TRUE(cached.has_value());
  ASSERT_TRUE(cached->contains("alice@localhost"));
  EXPECT_EQ(cached->at("alice@localhost").availability, Availability::offline);
  EXPECT_FALSE(cached->contains("nobody@localhost"));
}

TEST_F(Xmpp, DirectMessageAndReplyCommand) {
  auto bot = start_bot(bot_settings());
  auto bob = person("bob");
  ChatMessage m;
  m.text = "Fax from +49 30 1234 (2 pages) held: reply 'print' to print it";
  m.job_id = "3fa2c9d1";
  ASSERT_TRUE(bot->send(Recipient{RecipientKind::user, "xmpp", "bob@localhost"}, m).has_value());
  auto got = bob->wait_message([&](const Received& r) { return r.body == m.text; });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->type, "chat");
  EXPECT_EQ(got->from.substr(0, got->from.find('/')), "bot@localhost");

  bob->send_message("bot@localhost", "chat", "print");
  auto command = events_.wait_command("print");
  ASSERT_TRUE(command.has_value());
  EXPECT_EQ(command->service, "xmpp");
  EXPECT_EQ(command->from, "bob@localhost");
  EXPECT_FALSE(command->channel.has_value());

  // Malformed and huge stanzas are ignored and the connection stays up.
  bob->send_raw("<message type='chat' to='bot@localhost'><body>no from is fine</body></message>");
  bob->send_message("bot@localhost", "chat", std::string(100000, 'x'));
  bob->send_message("bot@localhost", "chat", "list");
  ASSERT_TRUE(events_.wait_command("list").has_value());
  EXPECT_EQ(bot->state(), ServiceState::connected);
  std::lock_guard lock(events_.m);
  for (const auto& c : events_.commands) EXPECT_LT(c.text.size(), 5000u);
}

TEST_F(Xmpp, PreviewIsUploadedAndLinkedWithOob) {
  auto bot = start_bot(bot_settings());
  auto carol = person("carol");
  ChatMessage m;
  m.text = "Fax with preview";
  m.job_id = "feedf00d";
  for (int i = 0; i < 3000; ++i) m.preview_png.push_back(static_cast<std::byte>(i * 7));
  // Right after connecting: the slot request waits for the upload service's discovery.
  ASSERT_TRUE(bot->send(Recipient{RecipientKind::user, "xmpp", "carol@localhost"}, m).has_value());
  auto link = carol->wait_message([](const Received& r) { return !r.oob_url.empty(); });
  ASSERT_TRUE(link.has_value());
  EXPECT_EQ(link->oob_url.rfind("https://", 0), 0u) << link->oob_url;
  EXPECT_EQ(link->body, link->oob_url);
  const auto [status, body] = fetch(link->oob_url, ca_file_);
  EXPECT_EQ(status, 200);
  ASSERT_EQ(body.size(), m.preview_png.size());
  EXPECT_EQ(std::memcmp(body.data(), m.preview_png.data(), body.size()), 0);
}

TEST_F(Xmpp, RoomMessagesCarryTheRealJid) {
  const std::string room = "fax@conference.localhost";
  auto alice = person("alice");
  alice->join_room(room, "Alice");
  ASSERT_TRUE(alice->wait_joined(room));
  auto settings = bot_settings();
  settings.rooms = {room};
  auto bot = start_bot(settings);

  auto members = bot->channel_members(room);
  ASSERT_TRUE(members.has_value()) << members.error().message;
  EXPECT_EQ(*members, std::vector<std::string>{"alice@localhost"});

  ChatMessage m;
  m.text = "Fax for the room";
  ASSERT_TRUE(bot->send(Recipient{RecipientKind::channel, "xmpp", room}, m).has_value());
  auto got = alice->wait_message([&](const Received& r) { return r.body == m.text; });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->type, "groupchat");
  EXPECT_EQ(got->from, room + "/atdesk");

  alice->send_message(room, "groupchat", "print at lobby");
  auto command = events_.wait_command("print at lobby");
  ASSERT_TRUE(command.has_value());
  EXPECT_EQ(command->from, "alice@localhost");
  EXPECT_EQ(command->channel, std::optional<std::string>(room));

  // A member who never approved a subscription: the room tells their presence.
  auto dave = person("dave");
  dave->join_room(room, "Dave", "dnd");
  ASSERT_TRUE(dave->wait_joined(room));
  const std::vector<std::string> dave_jid{"dave@localhost"};
  bool dave_seen = false;
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!dave_seen && std::chrono::steady_clock::now() < until) {
    auto p = bot->presence(dave_jid);
    dave_seen = p && p->contains("dave@localhost") &&
                p->at("dave@localhost").availability == Availability::do_not_disturb;
    if (!dave_seen) std::this_thread::sleep_for(20ms);  // polling the cache, with a deadline
  }
  EXPECT_TRUE(dave_seen);
  members = bot->channel_members(room);
  ASSERT_TRUE(members.has_value());
  EXPECT_EQ(*members, (std::vector<std::string>{"alice@localhost", "dave@localhost"}));

  EXPECT_TRUE(bot->verify(Recipient{RecipientKind::channel, "xmpp", room}).has_value());
  auto missing =
      bot->verify(Recipient{RecipientKind::channel, "xmpp", "nope@conference.localhost"});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

TEST_F(Xmpp, VerifyUsers) {
  auto bot = start_bot(bot_settings());
  auto bad = bot->verify(Recipient{RecipientKind::user, "xmpp", "not a jid"});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  auto bob = person("bob");  // approves subscription requests
  auto ok = bot->verify(Recipient{RecipientKind::user, "xmpp", "bob@localhost"});
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
}

TEST_F(Xmpp, ReconnectsAfterServerRestartAndPresenceResumes) {
  auto bot = start_bot(bot_settings());
  bot->watch({"alice@localhost"},
             [this](const std::string& u, const Presence& p) { events_.add(u, p); });
  {
    auto alice = person("alice");
    alice->set_presence("dnd", "remote");
    ASSERT_TRUE(events_.wait_presence("alice@localhost", Availability::do_not_disturb,
                                      WorkLocation::remote));
  }
  stop_server();
  EXPECT_TRUE(wait_state(*bot, ServiceState::broken, 10s) ||
              bot->state() == ServiceState::connecting);
  EXPECT_FALSE(bot->presence(std::vector<std::string>{"alice@localhost"}).has_value());
  auto refused = bot->send(Recipient{RecipientKind::user, "xmpp", "alice@localhost"},
                           ChatMessage{"while down", "", {}});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, Errc::unavailable);

  ASSERT_TRUE(start_server(false));
  ASSERT_TRUE(wait_state(*bot, ServiceState::connected, 30s));
  auto alice = person("alice");
  alice->set_presence("", "office");
  EXPECT_TRUE(
      events_.wait_presence("alice@localhost", Availability::available, WorkLocation::office));
}

// The same person and room whatever the case they are written in (RFC 7622 3.2.2/3.3.2):
// ejabberd sends local parts lower-cased, so a rule for "Erin@LocalHost" and a room
// "Tokyo@Conference.Localhost" must still find presence, members and commands, each under the
// spelling the engine used.
TEST_F(Xmpp, JidsWithCapitals) {
  const std::string room_as_written = "Tokyo@Conference.Localhost";
  auto erin = person("erin");
  erin->set_presence("dnd", "in office");
  erin->join_room("tokyo@conference.localhost", "Erin");
  ASSERT_TRUE(erin->wait_joined("tokyo@conference.localhost"));
  auto settings = bot_settings();
  settings.jid = "Bot@LocalHost";
  auto bot = start_bot(settings);

  auto ok = bot->verify(Recipient{RecipientKind::user, "xmpp", "Erin@LocalHost"});
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
  bot->watch({"Erin@LocalHost"},
             [this](const std::string& u, const Presence& p) { events_.add(u, p); });
  EXPECT_TRUE(
      events_.wait_presence("Erin@LocalHost", Availability::do_not_disturb, WorkLocation::office));
  auto cached = bot->presence(std::vector<std::string>{"Erin@LocalHost"});
  ASSERT_TRUE(cached.has_value());
  EXPECT_TRUE(cached->contains("Erin@LocalHost"));

  erin->send_message("bot@localhost", "chat", "list");
  auto direct = events_.wait_command("list");
  ASSERT_TRUE(direct.has_value());
  EXPECT_EQ(direct->from, "Erin@LocalHost");  // the engine's spelling, from the watched set

  EXPECT_TRUE(bot->verify(Recipient{RecipientKind::channel, "xmpp", room_as_written}).has_value());
  auto members = bot->channel_members(room_as_written);
  ASSERT_TRUE(members.has_value()) << members.error().message;
  EXPECT_EQ(*members, std::vector<std::string>{"erin@localhost"});
  ChatMessage m;
  m.text = "Fax for Tokyo";
  ASSERT_TRUE(bot->send(Recipient{RecipientKind::channel, "xmpp", room_as_written}, m));
  ASSERT_TRUE(erin->wait_message([&](const Received& r) { return r.body == m.text; }));
  erin->send_message("tokyo@conference.localhost", "groupchat", "help");
  auto in_room = events_.wait_command("help");
  ASSERT_TRUE(in_room.has_value());
  EXPECT_EQ(in_room->channel, std::optional<std::string>(room_as_written));
}

// Commands sent while atdesk was away wait in the server's offline storage and arrive with a
// XEP-0203 <delay/>: carried out when recent, answered with why not when older than
// late_command_max_age.
TEST_F(Xmpp, CommandsFromOfflineStorage) {
  auto carol = person("carol");
  {
    auto bot = start_bot(bot_settings());
    ASSERT_TRUE(bot->verify(Recipient{RecipientKind::user, "xmpp", "carol@localhost"}));
    bot->stop();
  }
  carol->send_message("bot@localhost", "chat", "print 0ff1ce01");
  // The server stores it (the bot has no session); a second message proves the first arrived.
  carol->send_message("bot@localhost", "chat", "list 0ff1ce02");
  auto bot = start_bot(bot_settings());
  auto late = events_.wait_command("print 0ff1ce01", 20s);
  ASSERT_TRUE(late.has_value()) << "a command from offline storage was lost";
  EXPECT_EQ(late->from, "carol@localhost");
  ASSERT_TRUE(events_.wait_command("list 0ff1ce02", 10s).has_value());
  bot->stop();

  // The same, seen by a bot whose clock is an hour later: answered, not carried out.
  carol->send_message("bot@localhost", "chat", "print 0ff1ce03");
  ManualClock later(SystemClock().now() + std::chrono::hours(1));
  auto old_bot = std::make_unique<XmppChatService>(bot_settings(), later);
  old_bot->on_command([this](const ChatCommand& c) { events_.add(c); });
  ASSERT_TRUE(old_bot->start().has_value());
  ASSERT_TRUE(wait_state(*old_bot, ServiceState::connected, 10s));
  auto answer = carol->wait_message(
      [](const Received& r) {
        return r.body.find("print 0ff1ce03") != std::string::npos &&
               r.body.find("did nothing") != std::string::npos;
      },
      20s);
  EXPECT_TRUE(answer.has_value()) << "no answer for a late command";
  std::this_thread::sleep_for(300ms);  // a command delivered by mistake would be here by now
  EXPECT_FALSE(events_.wait_command("print 0ff1ce03", 10ms).has_value());
}

// A network outage: the bot's connection is cut without an XMPP goodbye, and a person answers a
// notice (to the bot's full JID, as clients do) meanwhile. The command is carried out once the
// bot is back: on ejabberd the stream is resumed (XEP-0198) and the server hands on what it had
// queued; on Prosody 0.12 (no stream management) the message waited in offline storage.
TEST_F(Xmpp, ConnectionCutCommandSentMeanwhileIsCarriedOut) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(500);
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("cut", sink));
  CutProxy proxy(c2s_port_);
  auto settings = bot_settings();
  settings.port = static_cast<std::uint16_t>(proxy.port());
  auto bot = start_bot(settings);
  auto bob = person("bob");
  ChatMessage notice{"Fax held for you: reply 'print cafe0001'", "cafe0001", {}};
  ASSERT_TRUE(bot->send(Recipient{RecipientKind::user, "xmpp", "bob@localhost"}, notice));
  auto got = bob->wait_message([&](const Received& r) { return r.body == notice.text; });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->from, "bot@localhost/atdesk");  // the stable resource

  proxy.cut();
  ASSERT_TRUE(wait_state(*bot, ServiceState::broken, 10s) ||
              bot->state() == ServiceState::connecting);
  bob->send_message(got->from, "chat", "print cafe0001");
  auto command = events_.wait_command("print cafe0001", 30s);
  ASSERT_TRUE(command.has_value()) << "the command sent during the outage was lost";
  EXPECT_EQ(command->from, "bob@localhost");
  ASSERT_TRUE(wait_state(*bot, ServiceState::connected, 10s));
  // The bot still works after the outage.
  bob->send_message("bot@localhost", "chat", "list cafe0002");
  EXPECT_TRUE(events_.wait_command("list cafe0002").has_value());

  const auto lines = sink->last_formatted();
  spdlog::set_default_logger(previous);
  const auto logged = [&](const std::string& needle) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(needle) != std::string::npos; });
  };
  EXPECT_TRUE(logged("lost the connection"));
  if (server_.kind() == "ejabberd") {
    EXPECT_TRUE(logged("stream resumed (XEP-0198)")) << "ejabberd offers XEP-0198 resumption";
  } else {
    EXPECT_TRUE(logged("(new session)"));
  }
}

// A refused password and an untrusted certificate: the service stays broken and says why.
TEST_F(Xmpp, WrongPasswordIsNamed) {
  auto settings = bot_settings();
  settings.password = "not-the-password";
  XmppChatService bot(settings, clock_);
  ASSERT_TRUE(bot.start().has_value());
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (bot.last_error().empty() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);  // polling last_error(), with a deadline
  }
  const auto error = bot.last_error();
  EXPECT_NE(error.find("authentication of bot@localhost refused"), std::string::npos) << error;
  EXPECT_EQ(error.find("not-the-password"), std::string::npos) << "the password was shown";
  EXPECT_NE(bot.state(), ServiceState::connected);
}

TEST_F(Xmpp, UntrustedCertificateIsNamed) {
  auto settings = bot_settings();
  settings.ca_file.clear();  // the test server's certificate is self-signed
  XmppChatService bot(settings, clock_);
  ASSERT_TRUE(bot.start().has_value());
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (bot.last_error().empty() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);  // polling last_error(), with a deadline
  }
  const auto error = bot.last_error();
  EXPECT_NE(error.find("TLS: the certificate of 127.0.0.1"), std::string::npos) << error;
  EXPECT_NE(error.find("not trusted"), std::string::npos) << error;
  EXPECT_NE(bot.state(), ServiceState::connected);
}

}  // namespace
}  // namespace atdesk::chat::xmpp::test
