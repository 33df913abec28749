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
#include <iostream>

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
  std::size_t count(const std::string& text) {
    std::lock_guard lock(m);
    return static_cast<std::size_t>(std::count_if(
        commands.begin(), commands.end(), [&](const ChatCommand& c) { return c.text == text; }));
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

  // A node of several on the bot's account: primary or standby from the start (atdeskd calls
  // set_primary before start), its commands and presence changes going to `events`.
  std::unique_ptr<XmppChatService> start_node(XmppChatService::Settings s, bool primary,
                                              Events& events) {
    auto bot = std::make_unique<XmppChatService>(std::move(s), clock_);
    bot->set_primary(primary);
    bot->on_command([&events](const ChatCommand& c) { events.add(c); });
    EXPECT_TRUE(bot->start().has_value());
    EXPECT_TRUE(wait_role(*bot, primary, 20s)) << bot->name();
    return bot;
  }

  static bool wait_role(const XmppChatService& s, bool primary, std::chrono::milliseconds t) {
    const auto until = std::chrono::steady_clock::now() + t;
    while (std::chrono::steady_clock::now() < until) {
      if (s.serving_as(primary)) return true;
      std::this_thread::sleep_for(20ms);  // polling a state, not waiting for time to pass
    }
    return s.serving_as(primary);
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

// Several atdeskd nodes on one bot account (docs/xmpp.md, "Several nodes"). The server delivers a
// message sent to the bare address to the available resources of the highest non-negative
// priority (RFC 6121 8.5.2.1.1; ejabberd to every one of them, which is how a command was run
// once per node), never to a negative priority (4.7.2.3), and keeps it in offline storage when no
// resource is non-negative. The primary binds the configured resource with priority 1, a standby
// "<resource>-<random>" with -1.
//
// "Did not reach the other node" is checked with a barrier: the person then writes to that node's
// own full address; the server routes a sender's stanzas to one session in order, so once the
// barrier arrived there, the earlier command would have arrived before it.
class XmppNodes : public Xmpp {
 protected:
  XmppChatService::Settings node_settings(const std::string& name) const {
    auto s = bot_settings();
    s.name = name;
    return s;
  }

  // The node's full address as people see it: the `from` of a message it sends.
  std::string full_jid_of(XmppChatService& node, TestClient& person_client,
                          const std::string& person_jid) {
    const std::string text = "hello from " + node.name() + " " + std::to_string(++hello_);
    EXPECT_TRUE(node.send(Recipient{RecipientKind::user, node.name(), person_jid},
                          ChatMessage{text, "", {}}));
    auto got = person_client.wait_message([&](const Received& r) { return r.body == text; });
    return got ? got->from : std::string();
  }

  // A command to `node`'s own address (a client that locked on the resource of a notice,
  // XEP-0296): that node runs it, and the barrier above holds.
  void barrier(XmppChatService& node, Events& events, TestClient& person_client,
               const std::string& person_jid) {
    const auto jid = full_jid_of(node, person_client, person_jid);
    ASSERT_FALSE(jid.empty());
    const std::string text = "list barrier-" + std::to_string(++hello_);
    person_client.send_message(jid, "chat", text);
    ASSERT_TRUE(events.wait_command(text, 15s).has_value())
        << node.name() << " did not run a command sent to its own address " << jid;
  }

  int hello_ = 0;
};

TEST_F(XmppNodes, OnlyThePrimaryRunsCommandsSentToTheBareAddress) {
  Events one, two;
  auto node1 = start_node(node_settings("node1"), true, one);
  auto node2 = start_node(node_settings("node2"), false, two);
  auto alice = person("alice");
  const std::string alice_jid = "alice@localhost";

  // Both subscribe (approving and asking on every node is harmless) and both see her presence.
  ASSERT_TRUE(node1->verify(Recipient{RecipientKind::user, "node1", alice_jid}));
  ASSERT_TRUE(node2->verify(Recipient{RecipientKind::user, "node2", alice_jid}));
  node1->watch({alice_jid}, [&](const std::string& u, const Presence& p) { one.add(u, p); });
  node2->watch({alice_jid}, [&](const std::string& u, const Presence& p) { two.add(u, p); });
  alice->set_presence("dnd", "in office");
  EXPECT_TRUE(one.wait_presence(alice_jid, Availability::do_not_disturb, WorkLocation::office));
  EXPECT_TRUE(two.wait_presence(alice_jid, Availability::do_not_disturb, WorkLocation::office));

  // The primary binds the configured resource, the standby one of its own.
  EXPECT_EQ(full_jid_of(*node1, *alice, alice_jid), "bot@localhost/atdesk");
  const auto standby_jid = full_jid_of(*node2, *alice, alice_jid);
  EXPECT_EQ(standby_jid.rfind("bot@localhost/atdesk-", 0), 0u) << standby_jid;

  alice->send_message("bot@localhost", "chat", "list 1");
  ASSERT_TRUE(one.wait_command("list 1").has_value());
  barrier(*node2, two, *alice, alice_jid);
  EXPECT_EQ(two.count("list 1"), 0u) << "the standby ran a command sent to the bare address";
  EXPECT_EQ(one.count("list 1"), 1u);

  // Roles switched: the next command reaches the new primary only.
  node1->set_primary(false);
  node2->set_primary(true);
  ASSERT_TRUE(wait_role(*node1, false, 20s));
  ASSERT_TRUE(wait_role(*node2, true, 20s));
  alice->send_message("bot@localhost", "chat", "list 2");
  ASSERT_TRUE(two.wait_command("list 2", 15s).has_value());
  barrier(*node1, one, *alice, alice_jid);
  EXPECT_EQ(one.count("list 2"), 0u);
  EXPECT_EQ(two.count("list 2"), 1u);

  // Both standby (the primary died, its lease not yet taken): the command waits in offline
  // storage and is run once, by the node made primary afterwards.
  node2->set_primary(false);
  ASSERT_TRUE(wait_role(*node2, false, 20s));
  alice->send_message("bot@localhost", "chat", "list 3");
  barrier(*node1, one, *alice, alice_jid);
  barrier(*node2, two, *alice, alice_jid);
  EXPECT_EQ(one.count("list 3") + two.count("list 3"), 0u) << "a standby ran it";
  node1->set_primary(true);
  ASSERT_TRUE(one.wait_command("list 3", 20s).has_value())
      << "the new primary did not get the command from offline storage";
  barrier(*node2, two, *alice, alice_jid);
  EXPECT_EQ(two.count("list 3"), 0u);
  EXPECT_EQ(one.count("list 3"), 1u);

  // Still both see presence after their reconnections.
  alice->set_presence("", "home");
  EXPECT_TRUE(one.wait_presence(alice_jid, Availability::available, WorkLocation::remote));
  EXPECT_TRUE(two.wait_presence(alice_jid, Availability::available, WorkLocation::remote));
}

// The primary's connection dies without a goodbye (as when its process is killed: the kernel
// closes the socket; ejabberd then keeps the session for XEP-0198 resumption, 300 s, with its
// priority, and queues what it routes to it). The standby made primary binds the configured
// resource, which replaces that session (RFC 6120 7.7.2.2): commands sent before and after the
// takeover are run once, by the new primary.
TEST_F(XmppNodes, NewPrimaryTakesOverFromADeadOne) {
  Events one, two;
  auto proxy = std::make_unique<CutProxy>(c2s_port_);
  auto s1 = node_settings("node1");
  s1.port = static_cast<std::uint16_t>(proxy->port());
  auto node1 = start_node(s1, true, one);
  auto node2 = start_node(node_settings("node2"), false, two);
  auto bob = person("bob");
  const std::string bob_jid = "bob@localhost";
  const auto primary_jid = full_jid_of(*node1, *bob, bob_jid);
  ASSERT_EQ(primary_jid, "bot@localhost/atdesk");
  // Bob follows the bot's presence (the nodes accept requests from people they watch), to see
  // when the server dropped node1's session.
  node1->watch({bob_jid}, [](const std::string&, const Presence&) {});
  node2->watch({bob_jid}, [](const std::string&, const Presence&) {});
  bob->send_raw("<presence to='bot@localhost' type='subscribe'/>");
  ASSERT_TRUE(bob->wait_presence_from(primary_jid, ""));

  proxy.reset();  // connections reset, and no new one: node1 is gone for the server
  node1->stop();
  if (server_.kind() == "prosody") {
    // Prosody 0.12 (no stream management here) ends the session at once; a command routed to it
    // before then would be written to a dead socket, as with any client that vanishes.
    ASSERT_TRUE(bob->wait_presence_from(primary_jid, "unavailable"));
  }  // ejabberd keeps the session for resumption and queues what it routes to it
  bob->send_message("bot@localhost", "chat", "list gap");
  node2->set_primary(true);
  ASSERT_TRUE(wait_role(*node2, true, 20s));
  bob->send_message("bot@localhost", "chat", "list after");
  EXPECT_TRUE(two.wait_command("list after", 15s).has_value());
  EXPECT_TRUE(two.wait_command("list gap", 15s).has_value())
      << "a command sent while there was no primary was lost";
  EXPECT_EQ(two.count("list after"), 1u);
  EXPECT_EQ(two.count("list gap"), 1u);
  EXPECT_EQ(one.count("list gap") + one.count("list after"), 0u);
}

// Two nodes told they are both primary with one configured resource (two single-node
// installations on one account, or a frozen primary that has not heard it lost its lease): the
// second bind replaces the first session (conflict); the first then binds a resource of its own
// instead of taking the configured one back, so they do not replace each other for ever.
TEST_F(XmppNodes, AConflictIsNotFoughtBack) {
  Events one, two;
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(500);
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("conflict", sink));
  const auto connections = [&](const std::string& node) {
    const auto lines = sink->last_formatted();
    return std::count_if(lines.begin(), lines.end(), [&](const std::string& l) {
      return l.find("chat " + node + ": connected to") != std::string::npos;
    });
  };
  auto node1 = start_node(node_settings("node1"), true, one);
  auto node2 = start_node(node_settings("node2"), true, two);
  // node1's session is closed with <conflict/>; it connects again, once, with a resource of its
  // own.
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (!(connections("node1") == 2 && node1->serving_as(true)) &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);  // polling the log and the state, with a deadline
  }
  auto carol = person("carol");
  const std::string carol_jid = "carol@localhost";
  const auto first = full_jid_of(*node1, *carol, carol_jid);
  EXPECT_EQ(first.rfind("bot@localhost/atdesk-", 0), 0u) << first;
  EXPECT_EQ(full_jid_of(*node2, *carol, carol_jid), "bot@localhost/atdesk");
  // Both stay connected over a few round trips, without connecting again.
  for (int i = 0; i < 3; ++i) barrier(*node1, one, *carol, carol_jid);
  EXPECT_TRUE(node1->serving_as(true));
  EXPECT_TRUE(node2->serving_as(true));
  EXPECT_EQ(connections("node1"), 2) << "node1: the first session and the one after the conflict";
  EXPECT_EQ(connections("node2"), 1);
  const auto lines = sink->last_formatted();
  spdlog::set_default_logger(previous);
  if (::testing::Test::HasFailure()) {
    for (const auto& l : lines) std::cerr << l;
  }
}

// Rooms: every node joins (a standby sends its notices there and reads the members), sharing the
// nick (XEP-0045 multi-session nick from one bare JID), so every node receives every room
// message: only the primary runs a room command.
TEST_F(XmppNodes, RoomCommandsAreRunByThePrimaryOnly) {
  const std::string room = "nodes@conference.localhost";
  auto alice = person("alice");
  alice->join_room(room, "Alice");
  ASSERT_TRUE(alice->wait_joined(room));
  Events one, two;
  auto s1 = node_settings("node1");
  s1.rooms = {room};
  auto s2 = node_settings("node2");
  s2.rooms = {room};
  auto node1 = start_node(s1, true, one);
  auto node2 = start_node(s2, false, two);
  for (auto* node : {node1.get(), node2.get()}) {
    auto members = node->channel_members(room);
    ASSERT_TRUE(members.has_value()) << node->name() << ": " << members.error().message;
    EXPECT_EQ(*members, std::vector<std::string>{"alice@localhost"}) << node->name();
  }
  ChatMessage m{"Fax for the room, from the standby", "", {}};
  ASSERT_TRUE(node2->send(Recipient{RecipientKind::channel, "node2", room}, m));
  auto got = alice->wait_message([&](const Received& r) { return r.body == m.text; });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->from, room + "/atdesk");

  alice->send_message(room, "groupchat", "list room1");
  ASSERT_TRUE(one.wait_command("list room1").has_value());
  // node2 got it as a standby (or while closing that session): switching it to primary now
  // shows that it did not run it, since its new session does not receive the room's history.
  node1->set_primary(false);
  node2->set_primary(true);
  ASSERT_TRUE(wait_role(*node1, false, 20s));
  ASSERT_TRUE(wait_role(*node2, true, 20s));
  EXPECT_EQ(two.count("list room1"), 0u) << "the standby ran a room command";
  EXPECT_EQ(one.count("list room1"), 1u);
  // Rejoined after the change of role: the new primary runs the next one.
  ASSERT_TRUE(node2->channel_members(room).has_value());
  alice->send_message(room, "groupchat", "list room2");
  ASSERT_TRUE(two.wait_command("list room2").has_value());
  node1->set_primary(true);
  node2->set_primary(false);
  ASSERT_TRUE(wait_role(*node1, true, 20s));
  ASSERT_TRUE(wait_role(*node2, false, 20s));
  EXPECT_EQ(one.count("list room2"), 0u) << "the standby ran a room command";
}

}  // namespace
}  // namespace atdesk::chat::xmpp::test
