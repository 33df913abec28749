// The web UI's server side: password hashing, the sign-in rate limit, sessions and their expiry,
// CSRF refusal, role scoping of the REST API and the UI's pages and headers, all through the
// Router (no socket) with the real engine over in-memory stores.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "atdesk/api/accounts.hpp"
#include "atdesk/api/auth.hpp"
#include "atdesk/api/http_server.hpp"
#include "atdesk/api/ipp_tokens.hpp"
#include "atdesk/api/rest_api.hpp"
#include "atdesk/api/web_assets.hpp"
#include "atdesk/api/web_session.hpp"
#include "atdesk/api/web_ui.hpp"
#include "atdesk/chat/local/local_chat_service.hpp"
#include "atdesk/core/messages.hpp"
#include "atdesk/engine/engine.hpp"
#include "atdesk/testing/fake_printer.hpp"
#include "atdesk/testing/fixed_zone.hpp"
#include "atdesk/testing/manual_clock.hpp"
#include "atdesk/testing/memory_store.hpp"
#include "atdesk/testing/sample_fax.hpp"

namespace atdesk::api {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const Timestamp kStart{std::chrono::sys_days{std::chrono::year{2026} / 11 / 24} + 10h};

std::string header_of(const Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return {};
}

// ---- passwords and accounts

TEST(Passwords, HashIsArgon2idAndVerifiesOnlyTheRightPassword) {
  auto hash = hash_password("correct horse");
  ASSERT_TRUE(hash) << hash.error().message;
  EXPECT_TRUE(hash->starts_with("$argon2id$")) << *hash;
  EXPECT_EQ(hash->find("correct horse"), std::string::npos);
  EXPECT_TRUE(verify_password(*hash, "correct horse"));
  EXPECT_FALSE(verify_password(*hash, "correct horsE"));
  EXPECT_FALSE(verify_password(*hash, ""));
  EXPECT_FALSE(verify_password("not a hash", "correct horse"));
  // Salted: the same password hashes differently each time.
  EXPECT_NE(*hash, *hash_password("correct horse"));
}

TEST(Accounts, CreateFindVerifyUpdateRemove) {
  testing::MemoryTableStore tables;
  AccountStore accounts(tables);
  auto alice = accounts.create("alice", "password-1", Role::user, {"user:local:alice"});
  ASSERT_TRUE(alice) << alice.error().message;
  EXPECT_EQ(accounts.create("alice", "password-2", Role::user, {}).error().code, Errc::conflict);
  EXPECT_EQ(accounts.create("Bad Name", "password-2", Role::user, {}).error().code,
            Errc::invalid_argument);
  EXPECT_EQ(accounts.create("bob", "short", Role::user, {}).error().code, Errc::invalid_argument);
  const auto bad_key = accounts.create("bob", "password-2", Role::user, {"alice"});
  ASSERT_FALSE(bad_key);
  EXPECT_NE(bad_key.error().message.find("recipients[0]"), std::string::npos);

  // The stored value has the hash, never the password.
  const auto stored = tables.get_setting("web.account", "alice");
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->find("password-1"), std::string::npos);

  auto ok = accounts.verify("alice", "password-1");
  ASSERT_TRUE(ok && *ok);
  EXPECT_EQ((*ok)->recipients, std::vector<std::string>{"user:local:alice"});
  EXPECT_FALSE(*accounts.verify("alice", "password-2"));
  EXPECT_FALSE(*accounts.verify("nobody", "password-1"));

  ASSERT_TRUE(accounts.update("alice", Role::admin, std::nullopt, std::string_view("password-3")));
  EXPECT_FALSE(*accounts.verify("alice", "password-1"));
  auto updated = accounts.verify("alice", "password-3");
  ASSERT_TRUE(updated && *updated);
  EXPECT_EQ((*updated)->role, Role::admin);

  ASSERT_TRUE(accounts.remove("alice"));
  EXPECT_FALSE(*accounts.find("alice"));
  EXPECT_TRUE(accounts.list()->empty());
  EXPECT_EQ(accounts.remove("alice").error().code, Errc::not_found);
}

// ---- rate limit

// Personal print queue tokens: made for a person, found by the token, kept only as a hash,
// listed without the token, refused once revoked.
TEST(IppTokens, MadeFoundByTheTokenKeptHashedAndRevoked) {
  testing::MemoryTableStore tables;
  IppTokenStore tokens(tables);
  auto made = tokens.create("alice");
  ASSERT_TRUE(made) << made.error().message;
  EXPECT_EQ(made->token.size(), 40u);
  EXPECT_EQ(made->record.user, "alice");
  auto other = tokens.create("alice");
  ASSERT_TRUE(other);
  EXPECT_NE(other->token, made->token);
  auto user = tokens.user_of(made->token);
  ASSERT_TRUE(user) << user.error().message;
  EXPECT_EQ(*user, "alice");
  auto stored = tables.settings(std::string(IppTokenStore::kNamespace));
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 2u);
  for (const auto& [key, value] : *stored) {
    EXPECT_EQ(key.size(), 64u);  // SHA-256 in hex
    EXPECT_EQ(key.find(made->token), std::string::npos);
    EXPECT_EQ(value, "alice");
  }
  auto list = tokens.list();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ(made->token.find((*list)[0].id), std::string::npos);
  std::string wrong = made->token;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  EXPECT_EQ(tokens.user_of(wrong).error().code, Errc::permission_denied);
  EXPECT_EQ(tokens.user_of("../../etc").error().code, Errc::permission_denied);
  ASSERT_TRUE(tokens.revoke(made->record.id));
  EXPECT_EQ(tokens.user_of(made->token).error().code, Errc::permission_denied);
  EXPECT_TRUE(tokens.user_of(other->token));
  EXPECT_EQ(tokens.revoke(made->record.id).error().code, Errc::not_found);
  EXPECT_EQ(tokens.list()->size(), 1u);
  EXPECT_FALSE(tokens.create(""));
  EXPECT_FALSE(tokens.create("a/b"));
}

TEST(SignInLimiter, LocksAfterFiveFailuresAndTheLockGrows) {
  ManualClock clock(kStart);
  SignInLimiter limiter({}, clock);
  for (int i = 0; i < 4; ++i) limiter.failure("account:alice");
  EXPECT_EQ(limiter.locked_for("account:alice"), 0ms);
  limiter.failure("account:alice");
  EXPECT_EQ(limiter.locked_for("account:alice"), 30s);
  EXPECT_EQ(limiter.locked_for("account:bob"), 0ms);  // keys are separate
  clock.advance(30s);
  EXPECT_EQ(limiter.locked_for("account:alice"), 0ms);
  limiter.failure("account:alice");  // one more failure after the lock: locked again, longer
  EXPECT_EQ(limiter.locked_for("account:alice"), 60s);
  clock.advance(60s);
  limiter.failure("account:alice");
  EXPECT_EQ(limiter.locked_for("account:alice"), 120s);
  limiter.success("account:alice");
  EXPECT_EQ(limiter.locked_for("account:alice"), 0ms);
}

// ---- sessions

TEST(Sessions, ExpireAfterTheirLifetimeAndSignOutRemovesThem) {
  ManualClock clock(kStart);
  SessionStore sessions({std::chrono::hours(8), true}, clock);
  auto [id, session] = sessions.create("alice");
  EXPECT_GE(id.size(), 43u);  // 256 bits in base64url
  EXPECT_NE(id, session.csrf);
  ASSERT_TRUE(sessions.find(id));
  EXPECT_FALSE(sessions.find(id + "x"));
  const auto cookie = sessions.set_cookie(id);
  for (const auto* part : {"HttpOnly", "SameSite=Strict", "Path=/", "Secure", "Max-Age=28800"}) {
    EXPECT_NE(cookie.find(part), std::string::npos) << part << " in " << cookie;
  }
  clock.advance(8h - 1s);
  EXPECT_TRUE(sessions.find(id));
  clock.advance(1s);
  EXPECT_FALSE(sessions.find(id));

  auto [id2, s2] = sessions.create("alice");
  sessions.remove(id2);
  EXPECT_FALSE(sessions.find(id2));
  auto [id3, s3] = sessions.create("bob");
  sessions.remove_account("bob");
  EXPECT_FALSE(sessions.find(id3));
}

// ---- the whole server side through the Router

class WebTest : public ::testing::Test {
 protected:
  static constexpr const char* kToken = "test-token-0123456789";

  void SetUp() override {
    engine::Settings s;
    s.numbers = plan_;
    s.default_printer = "front";
    s.print_track_interval = 5ms;
    s.housekeeping_interval = 1h;
    s.worker_threads = 2;
    engine_ = std::make_unique<engine::Engine>(
        s, engine::Dependencies{
               jobs_, tables_, blobs_, clock_, zone_, {{"front", &front_}}, {{"local", &local_}}});
    ASSERT_TRUE(engine_->start());
    install_rest_api(router_, *engine_, &local_, auth_);
    install_web_api(router_,
                    WebApiContext{*engine_, accounts_, sessions_, limiter_, tables_, auth_});
    install_web_ui(router_, auth_);
    ASSERT_TRUE(accounts_.create("root", "root-password", Role::admin, {}));
    ASSERT_TRUE(accounts_.create("alice", "alice-password", Role::user, {"user:local:alice"}));
    ASSERT_TRUE(accounts_.create("bob", "bob-password", Role::user, {"user:local:bob"}));
  }

  void TearDown() override { engine_->stop(); }

  Response call(const std::string& method, const std::string& target, std::string body = {},
                Fields headers = {}) {
    Request r;
    r.method = method;
    r.target = target;
    auto t = parse_target(target);
    EXPECT_TRUE(t) << target;
    r.path = t->path;
    r.segments = t->segments;
    r.query = t->query;
    r.headers = std::move(headers);
    if (!body.empty()) r.headers.emplace_back("Content-Type", "application/json");
    r.body = std::move(body);
    r.remote = remote_;
    return router_.dispatch(r);
  }

  Response admin(const std::string& method, const std::string& target, std::string body = {}) {
    return call(method, target, std::move(body),
                {{"Authorization", std::string("Bearer ") + kToken}});
  }

  struct Signed {
    std::string cookie;  // "atdesk_session=..."
    std::string csrf;
  };
  Signed sign_in(const std::string& user, const std::string& password) {
    const auto r =
        call("POST", "/api/v1/session", json{{"user", user}, {"password", password}}.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    const auto set = header_of(r, "Set-Cookie");
    return {set.substr(0, set.find(';')), json::parse(r.body).value("csrf", "")};
  }

  Response as(const Signed& s, const std::string& method, const std::string& target,
              std::string body = {}, bool with_csrf = true) {
    Fields h{{"Cookie", "theme=dark; " + s.cookie}};
    if (with_csrf) h.emplace_back("X-CSRF-Token", s.csrf);
    return call(method, target, std::move(body), std::move(h));
  }

  // A held job for `recipient` (every mode-table cell holds in the seed table for "offline").
  std::string held_job_for(const std::string& fax, const std::string& recipient) {
    auto rule = admin("POST", "/api/v1/recipients",
                      json{{"pattern", fax}, {"recipient", recipient}}.dump());
    EXPECT_EQ(rule.status, 201) << rule.body;
    IncomingDocument d;
    d.data = testing::sample_fax(1);
    d.name = "fax.tif";
    d.sender.fax = *FaxNumber::parse(fax, plan_);
    auto job = engine_->submit(std::move(d));
    EXPECT_TRUE(job);
    engine_->drain();
    auto stored = engine_->job(job->id.str());
    EXPECT_EQ(stored->state, JobState::held);
    return job->id.str();
  }

  int sign_in_status(const std::string& user, const std::string& password) {
    return call("POST", "/api/v1/session", json{{"user", user}, {"password", password}}.dump())
        .status;
  }

  std::string remote_ = "192.0.2.7";  // the client address of call()
  const NumberPlan plan_{"81", "0", "00"};
  testing::MemoryJobStore jobs_;
  testing::MemoryTableStore tables_;
  testing::MemoryBlobStore blobs_;
  ManualClock clock_{kStart};
  testing::FixedZone zone_;
  testing::FakePrinter front_{"front"};
  chat::LocalChatService local_{{}, tables_, clock_};
  std::unique_ptr<engine::Engine> engine_;
  AccountStore accounts_{tables_};
  SessionStore sessions_{{std::chrono::hours(8), false}, clock_};
  SignInLimiter limiter_{{}, clock_};
  TokenAuthenticator bearer_{kToken};
  SessionAuthenticator session_auth_{sessions_, accounts_};
  CompositeAuthenticator auth_{bearer_, session_auth_};
  Router router_{auth_};
};

// A target for a route pattern: each {name} becomes "x", the text around it kept.
std::string target_of(const std::string& pattern) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '{') {
      out += pattern[i];
      continue;
    }
    out += 'x';
    i = pattern.find('}', i);
  }
  return out;
}

// Routes are closed by default: every route the server side registers refuses a request without
// credentials (401 for the API, a redirect to the sign-in page for a page), except the ones
// listed here, each on purpose. A new route that is neither authenticated nor on this list fails.
TEST_F(WebTest, EveryRouteRefusesARequestWithoutCredentialsUnlessListedAsPublic) {
  const std::set<std::string> expected_public = {"GET /healthz",         "GET /signin",
                                                 "GET /static/{file}",   "GET /favicon.ico",
                                                 "POST /api/v1/session", "GET /api/v1/ui-messages"};
  std::set<std::string> open;
  const auto routes = router_.routes();
  ASSERT_GT(routes.size(), 40u);
  for (const auto& route : routes) {
    const auto name = route.method + " " + route.pattern;
    if (route.open) {
      open.insert(name);
      EXPECT_FALSE(route.why_open.empty()) << name;
      continue;
    }
    for (const Fields& credentials :
         {Fields{}, Fields{{"Authorization", "Bearer wrong-token"}},
          Fields{{"Cookie", "atdesk_session=forged"}, {"X-CSRF-Token", "forged"}}}) {
      const auto r = call(route.method, target_of(route.pattern), "{}", credentials);
      const bool page = r.status == 303 && header_of(r, "Location").starts_with("/signin");
      EXPECT_TRUE(r.status == 401 || page) << name << " answered " << r.status << ": " << r.body;
    }
  }
  EXPECT_EQ(open, expected_public);
  // The same list, as an administrator reads it from the API.
  const auto listed = admin("GET", "/api/v1/routes");
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(json::parse(listed.body).size(), routes.size());
}

// A router with no authenticator refuses every route that is not public.
TEST(RouterAccess, ClosedRoutesNeedAnAuthenticator) {
  Router router;
  router.add("GET", "/secret", [](const Request&) { return Response::text(200, "secret"); });
  router.add_public(
      "GET", "/open", [](const Request&) { return Response::text(200, "open"); }, "a test");
  for (const auto& [target, status] :
       std::vector<std::pair<std::string, int>>{{"/secret", 401}, {"/open", 200}}) {
    Request r;
    r.method = "GET";
    r.target = target;
    r.path = target;
    r.segments = {target.substr(1)};
    EXPECT_EQ(router.dispatch(r).status, status) << target;
  }
  EXPECT_THROW(router.add_public(
                   "GET", "/x", [](const Request&) { return Response{}; }, ""),
               std::invalid_argument);
  EXPECT_THROW(router.add("GET", "/secret", [](const Request&) { return Response{}; }),
               std::invalid_argument);
}

TEST_F(WebTest, SignInSetsAStrictHttpOnlyCookieAndSessionGivesTheCsrfToken) {
  const auto wrong =
      call("POST", "/api/v1/session", json{{"user", "alice"}, {"password", "nope-nope"}}.dump());
  EXPECT_EQ(wrong.status, 401);
  EXPECT_TRUE(header_of(wrong, "Set-Cookie").empty());
  const auto ok = call("POST", "/api/v1/session",
                       json{{"user", "alice"}, {"password", "alice-password"}}.dump());
  ASSERT_EQ(ok.status, 200) << ok.body;
  const auto cookie = header_of(ok, "Set-Cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  Signed s{cookie.substr(0, cookie.find(';')), json::parse(ok.body).at("csrf")};
  const auto who = as(s, "GET", "/api/v1/session");
  ASSERT_EQ(who.status, 200);
  EXPECT_EQ(json::parse(who.body).at("user"), "alice");
  EXPECT_EQ(json::parse(who.body).at("role"), "user");
  EXPECT_EQ(json::parse(who.body).at("csrf"), s.csrf);
  // Sign-in only as JSON (a cross-site form cannot post JSON).
  Fields form{{"Content-Type", "application/x-www-form-urlencoded"}};
  EXPECT_EQ(call("POST", "/api/v1/session", {}, form).status, 415);

  // Sign out: the session is gone and the cookie cleared.
  const auto out = as(s, "DELETE", "/api/v1/session");
  EXPECT_EQ(out.status, 204);
  EXPECT_NE(header_of(out, "Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(as(s, "GET", "/api/v1/session").status, 401);
  // The audit log names the person.
  const auto audit = json::parse(admin("GET", "/api/v1/audit").body).at("entries");
  bool started = false;
  for (const auto& e : audit)
    started = started || (e.at("action") == "session.start" && e.at("actor") == "user:alice");
  EXPECT_TRUE(started);
}

TEST_F(WebTest, SessionExpires) {
  const auto s = sign_in("alice", "alice-password");
  EXPECT_EQ(as(s, "GET", "/api/v1/jobs").status, 200);
  clock_.advance(8h);
  EXPECT_EQ(as(s, "GET", "/api/v1/jobs").status, 401);
}

TEST_F(WebTest, UnsafeRequestsWithoutTheCsrfTokenGet403) {
  const auto s = sign_in("root", "root-password");
  const std::string rule = json{{"pattern", "+81312340000"}, {"recipient", "user:local:x"}}.dump();
  const auto forged = as(s, "POST", "/api/v1/recipients", rule, false);
  EXPECT_EQ(forged.status, 403) << forged.body;
  EXPECT_NE(forged.body.find("X-CSRF-Token"), std::string::npos);
  Fields wrong{{"Cookie", s.cookie}, {"X-CSRF-Token", s.csrf.substr(1) + "A"}};
  EXPECT_EQ(call("POST", "/api/v1/recipients", rule, wrong).status, 403);
  EXPECT_EQ(call("DELETE", "/api/v1/session", {}, {{"Cookie", s.cookie}}).status, 403);
  EXPECT_TRUE(json::parse(admin("GET", "/api/v1/recipients").body).at("rules").empty());
  // With the token it works; a safe method needs none.
  EXPECT_EQ(as(s, "POST", "/api/v1/recipients", rule).status, 201);
  EXPECT_EQ(as(s, "GET", "/api/v1/recipients", {}, false).status, 200);
}

TEST_F(WebTest, SignInIsRateLimitedPerAccount) {
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(
        call("POST", "/api/v1/session", json{{"user", "bob"}, {"password", "wrong-pass"}}.dump())
            .status,
        401);
  }
  // Locked now: even the right password is refused until the lock ends.
  const auto locked =
      call("POST", "/api/v1/session", json{{"user", "bob"}, {"password", "bob-password"}}.dump());
  EXPECT_EQ(locked.status, 429);
  EXPECT_EQ(header_of(locked, "Retry-After"), "30");
  clock_.advance(30s);
  EXPECT_EQ(
      call("POST", "/api/v1/session", json{{"user", "bob"}, {"password", "bob-password"}}.dump())
          .status,
      200);
}

// The lock is per account and address: the same account from another address, and another
// account from the same address, still sign in.
TEST_F(WebTest, SignInLockIsPerAccountAndAddress) {
  for (int i = 0; i < 5; ++i) EXPECT_EQ(sign_in_status("bob", "wrong-pass"), 401);
  EXPECT_EQ(sign_in_status("bob", "bob-password"), 429);
  EXPECT_EQ(sign_in_status("alice", "alice-password"), 200);
  remote_ = "192.0.2.8";
  EXPECT_EQ(sign_in_status("bob", "bob-password"), 200);
}

// Failures for names that are no account (five or fifteen) never lock a real account out of that
// address; once the address is locked every failure from it answers 429 alike, so the answer
// does not tell which names exist.
TEST_F(WebTest, MadeUpNamesDoNotLockARealAccountOut) {
  for (int i = 0; i < 5; ++i) EXPECT_EQ(sign_in_status("nobody-" + std::to_string(i), "x"), 401);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sign_in_status("nobody-" + std::to_string(i), "x"), 429);
  EXPECT_EQ(sign_in_status("root", "wrong-password"), 429);  // same answer as a made-up name
  EXPECT_EQ(sign_in_status("root", "root-password"), 200);
  EXPECT_EQ(sign_in_status("alice", "alice-password"), 200);
}

// docs/web-ui.md: an admin unlocks an account by saving it (PUT /api/v1/accounts/<name>).
TEST_F(WebTest, AnAdminUnlocksAnAccountBySavingIt) {
  for (int i = 0; i < 5; ++i) EXPECT_EQ(sign_in_status("bob", "wrong-pass"), 401);
  EXPECT_EQ(sign_in_status("bob", "bob-password"), 429);
  remote_ = "198.51.100.1";  // the admin signs in elsewhere
  const auto root = sign_in("root", "root-password");
  EXPECT_EQ(as(root, "PUT", "/api/v1/accounts/bob", "{}").status, 200);
  remote_ = "192.0.2.7";
  EXPECT_EQ(sign_in_status("bob", "bob-password"), 200);
}

TEST_F(WebTest, ScheduleRefusesATimeZoneTheTzDatabaseDoesNotKnow) {
  auto schedule = json::parse(admin("GET", "/api/v1/schedule").body);
  schedule["time_zone"] = "Mars/Olympus";
  const auto bad = admin("PUT", "/api/v1/schedule", schedule.dump());
  EXPECT_EQ(bad.status, 400) << bad.body;
  const auto message = json::parse(bad.body).at("error").at("message").get<std::string>();
  EXPECT_TRUE(message.starts_with("time_zone: ")) << message;
  EXPECT_NE(message.find("\"Mars/Olympus\""), std::string::npos) << message;
  EXPECT_EQ(message.find("time zone: "), std::string::npos) << message;  // no repeated prefix
  EXPECT_NE(json::parse(admin("GET", "/api/v1/schedule").body).at("time_zone"), "Mars/Olympus");
  schedule["time_zone"] = "Asia/Tokyo";
  const auto good = admin("PUT", "/api/v1/schedule", schedule.dump());
  EXPECT_EQ(good.status, 200) << good.body;
}

// A browser asking for a path that is no page gets an HTML page it can show; an API client keeps
// the JSON error; /favicon.ico is the site icon.
TEST_F(WebTest, UnknownPathsAnswerHtmlToBrowsersAndJsonUnderApi) {
  const auto page = call("GET", "/no-such-page");
  EXPECT_EQ(page.status, 404);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<title>Not found"), std::string::npos);
  EXPECT_EQ(page.body.find("<script"), std::string::npos);
  EXPECT_EQ(header_of(page, "X-Frame-Options"), "DENY");
  const auto api = call("GET", "/api/v1/no-such-thing");
  EXPECT_EQ(api.status, 404);
  EXPECT_EQ(json::parse(api.body).at("error").at("code"), "not_found");
  EXPECT_EQ(call("POST", "/no-such-page", "{}").content_type.find("text/html"), std::string::npos);
  const auto icon = call("GET", "/favicon.ico");
  EXPECT_EQ(icon.status, 200);
  EXPECT_EQ(icon.content_type, "image/svg+xml");
  EXPECT_NE(icon.body.find("<svg"), std::string::npos);
}

// Over a real socket (the server adds its own defaults to each response): the sign-in page has
// one X-Content-Type-Options and one Cache-Control, not two that contradict.
// The web UI's texts: every key in both languages, chosen by ?lang=, else Accept-Language, else
// [general] language; every key the pages use (t('key'), data-i18n="key") is served.
TEST_F(WebTest, MessagesInBothLanguagesAndEveryKeyThePagesUseExists) {
  std::size_t web_keys = 0;
  for (const MessageKey key : all_message_keys()) web_keys += message_name(key).starts_with("web_");
  ASSERT_GT(web_keys, 40u);
  std::map<std::string, nlohmann::json> by_language;
  for (const char* lang : {"en", "ja"}) {
    const auto r = call("GET", std::string("/api/v1/ui-messages?lang=") + lang);
    ASSERT_EQ(r.status, 200) << r.body;
    const auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j["language"], lang);
    EXPECT_EQ(j["languages"], nlohmann::json::parse(R"(["en","ja"])"));
    ASSERT_EQ(j["messages"].size(), web_keys + 1) << r.body;  // and "datetime"
    for (const auto& [key, text] : j["messages"].items()) {
      EXPECT_FALSE(text.get<std::string>().empty()) << lang << " " << key;
    }
    by_language[lang] = j["messages"];
  }
  EXPECT_EQ(by_language["ja"]["held_jobs"], "保留中のジョブ");
  EXPECT_EQ(by_language["en"]["held_jobs"], "Held jobs");
  EXPECT_EQ(by_language["ja"]["datetime"], "{year}年{month}月{day}日 {hour}:{minute}");
  // Without ?lang=: the browser's Accept-Language, else the default ([general] language: en).
  auto pick = [&](Fields headers, std::string target = "/api/v1/ui-messages") {
    const auto r = call("GET", target, {}, std::move(headers));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(header_of(r, "Vary"), "Accept-Language");
    return nlohmann::json::parse(r.body)["language"].get<std::string>();
  };
  EXPECT_EQ(pick({{"Accept-Language", "ja-JP,ja;q=0.9,en;q=0.8"}}), "ja");
  EXPECT_EQ(pick({{"Accept-Language", "de-DE,en;q=0.5"}}), "en");
  EXPECT_EQ(pick({{"Accept-Language", "de-DE"}}), "en");
  EXPECT_EQ(pick({}), "en");
  EXPECT_EQ(pick({{"Accept-Language", "en"}}, "/api/v1/ui-messages?lang=ja"), "ja");
  EXPECT_EQ(pick({{"Accept-Language", "ja"}}, "/api/v1/ui-messages?lang=xx"), "ja");

  // The keys the embedded pages ask for: t('key'), data-i18n="key", data-i18n-label="key"; and
  // the prefixes of named('prefix_', value) (a value of the API by its name), each with keys.
  std::set<std::string> used;
  std::set<std::string> prefixes;
  const std::regex call_site(R"(\bt\('([a-z_]+)'[,)])"),
      attribute(R"re(data-i18n(?:-label)?="([a-z_]+)")re"), named(R"(\bnamed\('([a-z_]+)',)");
  for (const auto& asset : web_assets()) {
    const std::string text(asset.body);
    for (const auto* re : {&call_site, &attribute, &named}) {
      for (auto it = std::sregex_iterator(text.begin(), text.end(), *re);
           it != std::sregex_iterator(); ++it) {
        (re == &named ? prefixes : used).insert((*it)[1]);
      }
    }
  }
  ASSERT_GT(used.size(), 150u);
  for (const auto& key : used) {
    EXPECT_TRUE(by_language["en"].contains(key)) << key;
    EXPECT_TRUE(by_language["ja"].contains(key)) << key;
  }
  ASSERT_GE(prefixes.size(), 7u);  // state_, presence_, action_, printer_, service_, role_, day_
  for (const auto& prefix : prefixes) {
    std::size_t found = 0;
    for (const auto& [key, text] : by_language["ja"].items()) found += key.starts_with(prefix);
    EXPECT_GE(found, 2u) << prefix;
  }
}

TEST_F(WebTest, SignInPageSendsEachSecurityHeaderOnce) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  HttpServer server({}, router_);
  ASSERT_TRUE(server.start());
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(
      boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server.port()));
  http::request<http::empty_body> req(http::verb::get, "/signin", 11);
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  EXPECT_EQ(res.result_int(), 200u);
  std::map<std::string, std::vector<std::string>> fields;
  for (const auto& f : res) {
    fields[beast::iequals(f.name_string(), "cache-control") ? "cache-control"
                                                            : std::string(f.name_string())]
        .push_back(std::string(f.value()));
  }
  EXPECT_EQ(fields["X-Content-Type-Options"], std::vector<std::string>{"nosniff"});
  EXPECT_EQ(fields["cache-control"], std::vector<std::string>{"no-cache"});
  EXPECT_EQ(fields["X-Frame-Options"].size(), 1u);
  EXPECT_EQ(fields["Content-Security-Policy"].size(), 1u);
  beast::error_code ignored;
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  server.stop();
}

TEST_F(WebTest, AUserSeesOnlyTheirOwnJobsAndNoAdminRoutes) {
  const auto alices = held_job_for("+81312340001", "user:local:alice");
  const auto bobs = held_job_for("+81312340002", "user:local:bob");
  const auto alice = sign_in("alice", "alice-password");

  const auto list = json::parse(as(alice, "GET", "/api/v1/jobs").body).at("jobs");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("id"), alices);
  EXPECT_TRUE(json::parse(as(alice, "GET", "/api/v1/jobs?recipient=user:local:bob").body)
                  .at("jobs")
                  .empty());
  EXPECT_EQ(as(alice, "GET", "/api/v1/jobs/" + alices).status, 200);
  // Another recipient's job is "not found", whatever the route.
  for (const auto& target :
       {"/api/v1/jobs/" + bobs, "/api/v1/jobs/" + bobs + "/history",
        "/api/v1/jobs/" + bobs + "/pages/1.png", "/api/v1/jobs/" + bobs + "/preview.png",
        "/api/v1/jobs/" + bobs + "/document"}) {
    EXPECT_EQ(as(alice, "GET", target).status, 404) << target;
  }
  EXPECT_EQ(as(alice, "POST", "/api/v1/jobs/" + bobs + "/release", "{}").status, 404);
  EXPECT_EQ(as(alice, "DELETE", "/api/v1/jobs/" + bobs).status, 404);
  EXPECT_EQ(engine_->job(bobs)->state, JobState::held);

  for (const auto& [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/api/v1/recipients"},
                                                        {"POST", "/api/v1/recipients"},
                                                        {"GET", "/api/v1/modes"},
                                                        {"PUT", "/api/v1/modes/weekday"},
                                                        {"PUT", "/api/v1/schedule"},
                                                        {"GET", "/api/v1/audit"},
                                                        {"GET", "/api/v1/accounts"},
                                                        {"POST", "/api/v1/accounts"},
                                                        {"GET", "/metrics"},
                                                        {"PUT", "/api/v1/presence/local/bob"},
                                                        {"POST", "/api/v1/commands"}}) {
    EXPECT_EQ(as(alice, method, target, "{}").status, 403) << method << " " << target;
  }
  // Presence shows only her own recipient key.
  const auto presence = json::parse(as(alice, "GET", "/api/v1/presence").body).at("recipients");
  ASSERT_EQ(presence.size(), 1u);
  EXPECT_EQ(presence[0].at("recipient"), "user:local:alice");

  // Her own job she may release; the history names her.
  const auto released = as(alice, "POST", "/api/v1/jobs/" + alices + "/release", "{}");
  EXPECT_EQ(released.status, 200) << released.body;
  engine_->drain();
  const auto history = json::parse(admin("GET", "/api/v1/jobs/" + alices + "/history").body);
  bool by_alice = false;
  for (const auto& t : history.at("history")) by_alice = by_alice || t.at("actor") == "user:alice";
  EXPECT_TRUE(by_alice);

  // The admin sees both.
  const auto root = sign_in("root", "root-password");
  EXPECT_EQ(json::parse(as(root, "GET", "/api/v1/jobs").body).at("jobs").size(), 2u);
}

TEST_F(WebTest, MySettingsHoldEverythingAndDefaultPrinter) {
  const auto alice = sign_in("alice", "alice-password");
  auto r =
      as(alice, "PUT", "/api/v1/me", json{{"hold_all", true}, {"default_printer", "front"}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(engine_->hold_all("user:local:alice"));
  EXPECT_FALSE(engine_->hold_all("user:local:bob"));
  const auto me = json::parse(as(alice, "GET", "/api/v1/me").body);
  EXPECT_EQ(me.at("hold_all"), true);
  EXPECT_EQ(me.at("default_printer"), "front");
  EXPECT_EQ(as(alice, "PUT", "/api/v1/me", json{{"default_printer", "nowhere"}}.dump()).status,
            400);
  ASSERT_EQ(as(alice, "PUT", "/api/v1/me", json{{"hold_all", false}}.dump()).status, 200);
  EXPECT_FALSE(engine_->hold_all("user:local:alice"));
}

TEST_F(WebTest, AdminManagesAccountsAndADeletedAccountLosesItsSession) {
  const auto root = sign_in("root", "root-password");
  const auto bob = sign_in("bob", "bob-password");
  auto add = as(root, "POST", "/api/v1/accounts",
                json{{"name", "carol"},
                     {"password", "carol-password"},
                     {"role", "user"},
                     {"recipients", {"user:local:carol"}}}
                    .dump());
  ASSERT_EQ(add.status, 201) << add.body;
  EXPECT_EQ(add.body.find("password"), std::string::npos);
  EXPECT_EQ(json::parse(as(root, "GET", "/api/v1/accounts").body).at("accounts").size(), 4u);
  EXPECT_EQ(as(root, "DELETE", "/api/v1/accounts/root").status, 409);  // not yourself
  EXPECT_EQ(as(root, "DELETE", "/api/v1/accounts/bob").status, 204);
  EXPECT_EQ(as(bob, "GET", "/api/v1/jobs").status, 401);
}

TEST_F(WebTest, PagesNeedASessionAndCarrySecurityHeaders) {
  const auto signin = call("GET", "/signin");
  EXPECT_EQ(signin.status, 200);
  EXPECT_EQ(header_of(signin, "X-Frame-Options"), "DENY");
  EXPECT_EQ(header_of(signin, "Referrer-Policy"), "no-referrer");
  EXPECT_TRUE(header_of(signin, "Content-Security-Policy").starts_with("default-src 'self'"));
  EXPECT_EQ(signin.body.find("<script>"), std::string::npos);  // no inline script

  for (const auto* page :
       {"/", "/jobs", "/jobs/abc", "/modes", "/recipients", "/audit", "/settings", "/accounts"}) {
    const auto r = call("GET", page);
    EXPECT_EQ(r.status, 303) << page;
    EXPECT_TRUE(header_of(r, "Location").starts_with("/signin")) << page;
  }
  EXPECT_EQ(header_of(call("GET", "/jobs"), "Location"), "/signin?next=/jobs");
  // Only plain path characters go into `next` (no open redirect through the sign-in page).
  EXPECT_EQ(header_of(call("GET", "/jobs/ab%3A%2F%2Fevil"), "Location"), "/signin?next=/jobs/ab");

  const auto alice = sign_in("alice", "alice-password");
  const auto jobs = as(alice, "GET", "/jobs");
  EXPECT_EQ(jobs.status, 200);
  EXPECT_EQ(jobs.content_type, "text/html; charset=utf-8");
  EXPECT_NE(jobs.body.find("/static/app.js"), std::string::npos);
  EXPECT_EQ(header_of(as(alice, "GET", "/modes"), "Location"), "/");  // admin page
  const auto root = sign_in("root", "root-password");
  EXPECT_EQ(as(root, "GET", "/modes").status, 200);

  const auto js = call("GET", "/static/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(call("GET", "/static/nothing.js").status, 404);
  // Every embedded asset is served, and none refers to another site.
  // (The SVG namespace is a name, not an address: nothing is fetched from it.)
  for (const auto& asset : web_assets()) {
    std::string body(asset.body);
    const std::string svg_ns = "xmlns=\"http://www.w3.org/2000/svg\"";
    if (const auto at = body.find(svg_ns); at != std::string::npos) body.erase(at, svg_ns.size());
    EXPECT_EQ(body.find("http://"), std::string::npos) << asset.path;
    EXPECT_EQ(body.find("https://"), std::string::npos) << asset.path;
  }
}

}  // namespace
}  // namespace atdesk::api
