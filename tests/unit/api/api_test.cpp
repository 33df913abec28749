// The API part: router, target decoding, multipart, bearer authentication, JSON mapping, and the
// REST API end to end over a real HttpServer socket on 127.0.0.1 with the real engine, local
// chat service and document pipeline (stores in memory, printer faked).
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "atdesk/api/auth.hpp"
#include "atdesk/api/http_server.hpp"
#include "atdesk/api/json_mapping.hpp"
#include "atdesk/api/multipart.hpp"
#include "atdesk/api/recipients_toml.hpp"
#include "atdesk/api/rest_api.hpp"
#include "atdesk/chat/local/local_chat_service.hpp"
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

Request make_request(std::string method, std::string target) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  auto t = parse_target(r.target);
  EXPECT_TRUE(t) << r.target;
  if (t) {
    r.path = t->path;
    r.segments = t->segments;
    r.query = t->query;
  }
  return r;
}

// ---- Router and targets

TEST(Router, MatchesLiteralsBeforeParametersAndFillsParams) {
  Router router;
  router.add_public(
      "GET", "/jobs/{id}",
      [](const Request& r) { return Response::text(200, "job " + std::string(r.param("id"))); },
      "test");
  router.add_public(
      "GET", "/jobs/export", [](const Request&) { return Response::text(200, "export"); }, "test");
  router.add_public(
      "GET", "/jobs/{id}/pages/{n}.png",
      [](const Request& r) {
        return Response::text(200, std::string(r.param("id")) + "/" + std::string(r.param("n")));
      },
      "test");
  auto a = make_request("GET", "/jobs/export");
  EXPECT_EQ(router.dispatch(a).body, "export");
  auto b = make_request("GET", "/jobs/ab%20c");
  EXPECT_EQ(router.dispatch(b).body, "job ab c");
  auto c = make_request("GET", "/jobs/x1/pages/3.png");
  EXPECT_EQ(router.dispatch(c).body, "x1/3");
}

TEST(Router, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  Router router;
  router.add_public(
      "GET", "/a", [](const Request&) { return Response::text(200, "a"); }, "test");
  router.add_public(
      "DELETE", "/a", [](const Request&) { return Response::no_content(); }, "test");
  auto missing = make_request("GET", "/b");
  EXPECT_EQ(router.dispatch(missing).status, 404);
  auto wrong = make_request("POST", "/a");
  const auto response = router.dispatch(wrong);
  EXPECT_EQ(response.status, 405);
  bool has_allow = false;
  for (const auto& [name, value] : response.headers) {
    if (name == "Allow") {
      has_allow = true;
      EXPECT_NE(value.find("GET"), std::string::npos);
      EXPECT_NE(value.find("DELETE"), std::string::npos);
    }
  }
  EXPECT_TRUE(has_allow);
}

TEST(Router, HandlerExceptionBecomes500WithoutEscaping) {
  Router router;
  router.add_public(
      "GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("x"); }, "test");
  auto r = make_request("GET", "/boom");
  EXPECT_EQ(router.dispatch(r).status, 500);
}

TEST(Target, DecodesQueryAndRejectsBadEscapes) {
  auto t = parse_target("/api/v1/jobs?state=held%2Cprinted&sender=a+b");
  ASSERT_TRUE(t);
  ASSERT_EQ(t->segments.size(), 3u);
  EXPECT_EQ(t->query.at(0).second, "held,printed");
  EXPECT_EQ(t->query.at(1).second, "a b");
  EXPECT_FALSE(parse_target("/jobs/%zz"));
  EXPECT_FALSE(parse_target("/jobs/%00"));
  EXPECT_FALSE(parse_target("jobs"));
}

// ---- Multipart

TEST(Multipart, ParsesFieldsAndFiles) {
  const std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"sender\"\r\n\r\n+81312345678\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"document\"; filename=\"f.tif\"\r\n"
      "Content-Type: image/tiff\r\n\r\nII*data\r\n--XyZ--\r\n";
  auto parts = parse_form_data("multipart/form-data; boundary=XyZ", body);
  ASSERT_TRUE(parts) << parts.error().describe();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "sender");
  EXPECT_EQ((*parts)[0].data, "+81312345678");
  EXPECT_EQ((*parts)[1].filename.value_or(""), "f.tif");
  EXPECT_EQ((*parts)[1].content_type, "image/tiff");
}

TEST(Multipart, RejectsTruncatedBodyAndWrongTypeAndTooManyParts) {
  const std::string truncated =
      "--b\r\nContent-Disposition: form-data; name=\"sender\"\r\n\r\nx\r\n";
  auto r = parse_form_data("multipart/form-data; boundary=b", truncated);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);

  auto wrong = parse_form_data("application/json", "{}");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::unsupported);

  std::string many;
  for (int i = 0; i < 20; ++i) {
    many +=
        "--b\r\nContent-Disposition: form-data; name=\"f" + std::to_string(i) + "\"\r\n\r\nv\r\n";
  }
  many += "--b--\r\n";
  auto over = parse_form_data("multipart/form-data; boundary=b", many);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, Errc::limit_exceeded);
}

// ---- Authentication

TEST(Auth, BearerTokenIsCheckedAndRefusalsCarryAChallenge) {
  TokenAuthenticator auth("s3cret-token");
  auto none = make_request("GET", "/x");
  auto r = auth.authenticate(none);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, 401);

  auto wrong = make_request("GET", "/x");
  wrong.headers.emplace_back("Authorization", "Bearer s3cret-tokeN");
  EXPECT_FALSE(auth.authenticate(wrong));

  auto right = make_request("GET", "/x");
  right.headers.emplace_back("authorization", "Bearer s3cret-token");
  auto actor = auth.authenticate(right);
  ASSERT_TRUE(actor);
  EXPECT_EQ(*actor, "api:admin");

  auto handler =
      authenticated(auth, [](const Request&, const Actor& a) { return Response::text(200, a); });
  const auto refused = handler(none);
  EXPECT_EQ(refused.status, 401);
  EXPECT_NE(refused.body.find("unauthenticated"), std::string::npos);
  bool challenge = false;
  for (const auto& [n, v] : refused.headers) challenge = challenge || n == "WWW-Authenticate";
  EXPECT_TRUE(challenge);
  EXPECT_EQ(handler(right).body, "api:admin");
}

// The router identifies the caller of a closed route once; a handler built with authorized() or
// authenticated() on the same authenticator reuses that answer (a web session is one session
// look-up and one account read per request, not two), and one built on another authenticator
// still asks its own.
TEST(Auth, TheRoutersIdentificationIsReusedOnlyForTheSameAuthenticator) {
  class Counting final : public Authenticator {
   public:
    explicit Counting(std::string_view token) : inner_(token) {}
    std::expected<Actor, Denial> authenticate(const Request& request) const override {
      ++calls;
      return inner_.authenticate(request);
    }
    mutable int calls = 0;

   private:
    TokenAuthenticator inner_;
  };
  Counting auth("s3cret-token");
  Counting other("other-token");
  Router router(auth);
  router.add("GET", "/mine", authorized(auth, [](const Request&, const Principal& p) {
               return Response::text(200, p.actor);
             }));
  router.add("GET", "/actor", authenticated(auth, [](const Request&, const Actor& a) {
               return Response::text(200, a);
             }));
  router.add("GET", "/other", authorized(other, [](const Request&, const Principal& p) {
               return Response::text(200, p.actor);
             }));
  for (const auto* path : {"/mine", "/actor"}) {
    auth.calls = 0;
    auto r = make_request("GET", path);
    r.headers.emplace_back("Authorization", "Bearer s3cret-token");
    const auto response = router.dispatch(r);
    EXPECT_EQ(response.status, 200) << path;
    EXPECT_EQ(response.body, "api:admin") << path;
    EXPECT_EQ(auth.calls, 1) << path;
  }
  // The route's own authenticator is asked too, and refuses a token it does not know.
  auto r = make_request("GET", "/other");
  r.headers.emplace_back("Authorization", "Bearer s3cret-token");
  EXPECT_EQ(router.dispatch(r).status, 401);
  EXPECT_EQ(other.calls, 1);
}

// ---- JSON mapping

TEST(JsonMapping, RuleRoundTripsAndErrorsNameTheField) {
  const NumberPlan plan{"81", "0", "00"};
  auto j = parse_json(
      R"({"pattern":"prefix:03","recipient":"user:local:alice","printer":"","note":"x"})");
  ASSERT_TRUE(j);
  auto rule = rule_from_json(*j, plan);
  ASSERT_TRUE(rule) << rule.error().describe();
  EXPECT_EQ(rule->recipient.key(), "user:local:alice");
  auto back = rule_from_json(to_json(*rule), plan);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, *rule);

  auto bad = parse_json(R"({"rules":[{"pattern":"prefix:03","recipient":"user:local:a"},
                                     {"pattern":"prefix:03","recipient":"nobody"}]})");
  ASSERT_TRUE(bad);
  auto rules = rules_from_json(*bad, plan);
  ASSERT_FALSE(rules);
  EXPECT_NE(rules.error().message.find("rules[1].recipient"), std::string::npos)
      << rules.error().message;
}

// A rule's language: "en", "ja" or none; anything else names the field.
TEST(JsonMapping, RuleLanguage) {
  const NumberPlan plan{"81", "0", "00"};
  auto j = parse_json(R"({"pattern":"prefix:03","recipient":"user:local:tanaka","language":"ja"})");
  ASSERT_TRUE(j);
  auto rule = rule_from_json(*j, plan);
  ASSERT_TRUE(rule) << rule.error().describe();
  EXPECT_EQ(rule->language, Language::ja);
  EXPECT_EQ(to_json(*rule)["language"], "ja");
  auto back = rule_from_json(to_json(*rule), plan);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, *rule);

  auto none =
      rule_from_json(*parse_json(R"({"pattern":"others","recipient":"user:local:a"})"), plan);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->language, std::nullopt);
  EXPECT_EQ(to_json(*none)["language"], "");
  ASSERT_TRUE(rule_from_json(to_json(*none), plan));  // "" reads back as none

  for (const char* bad : {R"("de")", R"("ja-JP")", R"("JA")", "3"}) {
    auto j2 = parse_json(
        std::string(R"({"pattern":"others","recipient":"user:local:a","language":)") + bad + "}");
    ASSERT_TRUE(j2) << bad;
    auto r = rule_from_json(*j2, plan);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("language"), std::string::npos) << r.error().message;
  }
}

// Found by fuzz_json (tests/fuzz/corpus/json/number-overflow.json): nlohmann reports a number
// beyond double's range as out_of_range, which escaped parse_json as an exception.
TEST(JsonMapping, NumberBeyondDoubleIsAnErrorNotAnException) {
  for (const char* body : {R"({"a":[1,21e308]})", "1e400", R"({"observed_at":-1E999})"}) {
    auto j = parse_json(body);
    ASSERT_FALSE(j) << body;
    EXPECT_EQ(j.error().code, Errc::invalid_argument);
    EXPECT_NE(j.error().message.find("request body"), std::string::npos) << j.error().message;
  }
}

TEST(JsonMapping, BrokenJsonNamesTheOffsetAndMissingCellsAreHold) {
  auto broken = parse_json(R"({"cells": {"available": )");
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("byte"), std::string::npos) << broken.error().message;

  auto j = parse_json(R"({"cells":{"available":{"office":"print"}}})");
  ASSERT_TRUE(j);
  auto table = mode_table_from_json(*j, "custom");
  ASSERT_TRUE(table) << table.error().describe();
  EXPECT_EQ(table->lookup(Availability::available, WorkLocation::office), Action::print);
  EXPECT_EQ(table->lookup(Availability::available, WorkLocation::remote), Action::hold);

  auto wrong = parse_json(R"({"cells":{"available":{"office":"maybe"}}})");
  ASSERT_TRUE(wrong);
  auto t2 = mode_table_from_json(*wrong, "custom");
  ASSERT_FALSE(t2);
  EXPECT_NE(t2.error().message.find("available"), std::string::npos) << t2.error().message;
}

// ---- REST API over a socket

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds deadline = 10s) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

struct HttpResult {
  int status = 0;
  std::string body;
  std::string content_type;
  std::map<std::string, std::string> headers;
  json as_json() const { return json::parse(body); }
};

// ---- Recipient table as TOML

RecipientRule toml_rule(std::string_view pattern, std::string_view recipient,
                        std::string printer = {}, std::string note = {}) {
  const NumberPlan plan{"81", "0", "00"};
  RecipientRule r;
  auto p = SenderPattern::parse(pattern, plan);
  EXPECT_TRUE(p) << pattern;
  if (p) r.pattern = *p;
  auto k = Recipient::parse_key(recipient);
  EXPECT_TRUE(k) << recipient;
  if (k) r.recipient = *k;
  r.printer = std::move(printer);
  r.note = std::move(note);
  return r;
}

TEST(RecipientsToml, EveryPatternKindRoundTrips) {
  const NumberPlan plan{"81", "0", "00"};
  const std::vector<RecipientRule> rules = {
      toml_rule("0312345678", "user:local:alice", "front", "Alice's direct line"),
      toml_rule("prefix:03", "channel:local:tokyo"),
      toml_rule("called:+81312340000", "user:local:bob"),
      toml_rule("sip:alice@example.org", "user:local:alice"),
      toml_rule("@example.org", "user:local:carol", "", "quote \" backslash \\ tab\t newline\n"),
      toml_rule("ip:10.0.0.0/8", "user:local:dave"),
      toml_rule("ip:fe80::/10", "user:local:dave"),
      toml_rule("ipp:erin", "user:local:erin", "", "日本語のメモ"),
      toml_rule("others", "user:local:desk"),
      toml_rule("all", "channel:local:archive", "back"),
  };
  std::vector<RecipientRule> with_language = rules;
  with_language[0].language = Language::ja;
  with_language[1].language = Language::en;
  std::set<PatternKind> kinds;
  for (const auto& r : rules) kinds.insert(r.pattern.kind);
  EXPECT_EQ(kinds.size(), 9u) << "every PatternKind is in the table";
  const auto text = rules_to_toml(rules);
  EXPECT_NE(text.find("[[rule]]\npattern = \"prefix:+813\"\nrecipient = \"channel:local:tokyo\"\n"),
            std::string::npos)
      << text;
  const auto back = rules_from_toml(text, plan);
  ASSERT_TRUE(back) << back.error().message << "\n" << text;
  EXPECT_EQ(*back, rules);
  // The language of a rule: written only when set, read back.
  const auto text_ja = rules_to_toml(with_language);
  EXPECT_NE(text_ja.find("note = \"Alice's direct line\"\nlanguage = \"ja\"\n"), std::string::npos)
      << text_ja;
  const auto back_ja = rules_from_toml(text_ja, plan);
  ASSERT_TRUE(back_ja) << back_ja.error().message;
  EXPECT_EQ(*back_ja, with_language);
  const auto german = rules_from_toml(
      "[[rule]]\npattern = \"others\"\nrecipient = \"user:local:a\"\nlanguage = \"de\"\n", plan);
  ASSERT_FALSE(german);
  EXPECT_NE(german.error().message.find("language: expected \"en\" or \"ja\""), std::string::npos)
      << german.error().message;
  // An empty table: an export without rules, and an empty text, read as no rules.
  const auto none = rules_from_toml(rules_to_toml({}), plan);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(rules_from_toml("", plan));
  EXPECT_TRUE(rules_from_toml("", plan)->empty());
}

TEST(RecipientsToml, ErrorsNameTheRuleAndTheKey) {
  const NumberPlan plan{"81", "0", "00"};
  const std::string ok = "[[rule]]\npattern = \"others\"\nrecipient = \"user:local:a\"\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {ok + ok + "[[rule]]\npattern = \"prefix:x\"\nrecipient = \"user:local:a\"\n",
       "rule 3: pattern: prefix: fax number: letter 'x'"},
      {ok + "[[rule]]\npattern = 3\nrecipient = \"user:local:a\"\n",
       "rule 2: pattern: expected a string, got an integer"},
      {"[[rule]]\nrecipient = \"user:local:a\"\n", "rule 1: pattern: missing"},
      {"[[rule]]\npattern = \"others\"\n", "rule 1: recipient: missing"},
      {"[[rule]]\npattern = \"others\"\nrecipient = \"nobody\"\n", "rule 1: recipient: "},
      {ok + "printer = true\n", "rule 1: printer: expected a string, got a boolean"},
      {ok + "note = [1]\n", "rule 1: note: expected a string, got an array"},
      {ok + "id = 7\n", "rule 1: id: unknown key"},
      {ok + "printer = \"" + std::string(65, 'p') + "\"\n", "rule 1: printer: expected at most 64"},
      {"title = \"x\"\n" + ok, "title: unknown key"},
      {"rule = 1\n", "rule: expected [[rule]] tables, got an integer"},
      {"rule = [1]\n", "rule 1: expected a table, got an integer"},
      {"[[rule]\npattern = \"others\"\n", "syntax error"},
  };
  for (const auto& [text, expected] : cases) {
    const auto r = rules_from_toml(text, plan);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << text;
    EXPECT_NE(r.error().message.find(expected), std::string::npos)
        << "text:\n"
        << text << "\nmessage: " << r.error().message;
  }
}

TEST(RecipientsToml, TextThatIsNotUtf8IsRefusedBeforeParsing) {
  const NumberPlan plan{"81", "0", "00"};
  // A lead byte without its continuation bytes at the very end of a literal string (toml11
  // would read past the buffer), a stray continuation byte, and Latin-1 text.
  for (const std::string& text :
       {std::string("[[rule]]\nnote = '\xe3"), std::string("[[rule]]\nnote = \"\x80\"\n"),
        std::string("[[rule]]\nnote = \"caf\xe9\"\n")}) {
    const auto r = rules_from_toml(text, plan);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("not UTF-8"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("line 2"), std::string::npos) << r.error().message;
  }
}

// X-Forwarded-For names the client only when the connection comes from a configured proxy, read
// from the right so that what a client wrote itself on the left cannot choose its address (the
// sign-in limiter and the audit log key on Request::remote).
TEST(HttpServer, ForwardedForIsBelievedOnlyFromTrustedProxies) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  Router router;
  router.add_public(
      "GET", "/whoami", [](const Request& r) { return Response::text(200, r.remote); }, "test");
  auto remote_seen = [&](std::vector<std::string> proxies, const std::string& forwarded) {
    HttpServer::Settings hs;
    hs.trusted_proxies = std::move(proxies);
    HttpServer server(hs, router);
    if (auto ok = server.start(); !ok) return "start failed: " + ok.error().message;
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server.port()));
    http::request<http::string_body> req(http::verb::get, "/whoami", 11);
    req.set(http::field::host, "127.0.0.1");
    if (!forwarded.empty()) req.set("X-Forwarded-For", forwarded);
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    server.stop();
    return res.body();
  };
  EXPECT_EQ(remote_seen({}, "203.0.113.7"), "127.0.0.1");               // no proxy configured
  EXPECT_EQ(remote_seen({"10.0.0.0/8"}, "203.0.113.7"), "127.0.0.1");   // not from the proxy
  EXPECT_EQ(remote_seen({"127.0.0.1"}, "203.0.113.7"), "203.0.113.7");  // from the proxy
  // A client-written left part is not believed past the first address the proxies did not add.
  EXPECT_EQ(remote_seen({"127.0.0.0/8", "10.1.2.0/24"}, "198.51.100.1, 203.0.113.7, 10.1.2.3"),
            "203.0.113.7");
  EXPECT_EQ(remote_seen({"127.0.0.1"}, "garbage"), "127.0.0.1");
  EXPECT_EQ(remote_seen({"::1", "127.0.0.1"}, "2001:db8::5"), "2001:db8::5");
  const auto bad = remote_seen({"10.0.0.0/33"}, "");
  EXPECT_NE(bad.find("trusted_proxies"), std::string::npos) << bad;
}

class RestApiTest : public ::testing::Test {
 protected:
  static constexpr const char* kToken = "test-token-0123456789";

  void SetUp() override {
    engine::Settings s;
    s.numbers = plan_;
    s.default_printer = "front";
    s.print_retry_min = 20ms;
    s.print_retry_max = 100ms;
    s.print_track_interval = 5ms;
    s.housekeeping_interval = 1h;
    s.worker_threads = 2;
    engine_ = std::make_unique<engine::Engine>(
        s, engine::Dependencies{
               jobs_, tables_, blobs_, clock_, zone_, {{"front", &front_}}, {{"local", &local_}}});
    ASSERT_TRUE(engine_->start());
    install_rest_api(router_, *engine_, &local_, auth_);
    HttpServer::Settings hs;
    hs.max_body_bytes = 1 << 20;
    server_ = std::make_unique<HttpServer>(hs, router_);
    ASSERT_TRUE(server_->start());
  }

  void TearDown() override {
    server_->stop();
    engine_->stop();
  }

  HttpResult call(const std::string& method, const std::string& target, std::string body = {},
                  std::string content_type = "application/json", bool with_token = true) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                                  server_->port()));
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, "127.0.0.1");
    if (with_token) req.set(http::field::authorization, std::string("Bearer ") + kToken);
    if (!body.empty()) req.set(http::field::content_type, content_type);
    req.body() = std::move(body);
    req.prepare_payload();
    // The server may answer before the whole body is sent (413); read the answer regardless.
    beast::error_code write_error;
    http::write(stream, req, write_error);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::read(stream, buffer, parser);
    auto res = parser.release();
    HttpResult out;
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    out.content_type = std::string(res[http::field::content_type]);
    for (const auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
    beast::error_code ignored;
    stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    return out;
  }

  static std::string multipart(const std::string& boundary,
                               const std::vector<std::pair<std::string, std::string>>& fields,
                               const std::string& document) {
    std::string body;
    for (const auto& [name, value] : fields) {
      body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name +
              "\"\r\n\r\n" + value + "\r\n";
    }
    body += "--" + boundary +
            "\r\nContent-Disposition: form-data; name=\"document\"; filename=\"fax.tif\"\r\n"
            "Content-Type: image/tiff\r\n\r\n" +
            document + "\r\n--" + boundary + "--\r\n";
    return body;
  }

  HttpResult upload(const std::string& sender, int pages = 1) {
    const auto fax = testing::sample_fax(pages);
    return call("POST", "/api/v1/jobs",
                multipart("BoUnDaRy", {{"sender", sender}},
                          std::string(reinterpret_cast<const char*>(fax.data()), fax.size())),
                "multipart/form-data; boundary=BoUnDaRy");
  }

  std::string state_of(const std::string& id) {
    return call("GET", "/api/v1/jobs/" + id).as_json().at("state").get<std::string>();
  }

  bool reaches(const std::string& id, const std::string& state) {
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < end) {
      if (state_of(id) == state) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  const NumberPlan plan_{"81", "0", "00"};
  testing::MemoryJobStore jobs_;
  testing::MemoryTableStore tables_;
  testing::MemoryBlobStore blobs_;
  ManualClock clock_{Timestamp{std::chrono::sys_days{std::chrono::year{2026} / 11 / 24}} + 10h};
  testing::FixedZone zone_;
  testing::FakePrinter front_{"front"};
  chat::LocalChatService local_{{}, tables_, clock_};
  std::unique_ptr<engine::Engine> engine_;
  TokenAuthenticator auth_{kToken};
  Router router_{auth_};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(RestApiTest, HealthNeedsNoTokenAndEveryOtherRouteDoes) {
  const auto health = call("GET", "/healthz", {}, {}, false);
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  // Every route the REST API registers, walked: without credentials each answers 401 with a
  // challenge, except /healthz and the web UI's texts (the sign-in page needs them).
  for (const auto& route : router_.routes()) {
    if (route.open) {
      EXPECT_TRUE(route.pattern == "/healthz" || route.pattern == "/api/v1/ui-messages")
          << route.pattern;
      continue;
    }
    std::string target;
    for (std::size_t i = 0; i < route.pattern.size(); ++i) {
      if (route.pattern[i] != '{') {
        target += route.pattern[i];
      } else {
        target += 'x';
        i = route.pattern.find('}', i);
      }
    }
    const auto r = call(route.method, target, "{}", "application/json", false);
    EXPECT_EQ(r.status, 401) << route.method << " " << target;
    EXPECT_TRUE(r.headers.contains("WWW-Authenticate")) << route.method << " " << target;
  }
  EXPECT_EQ(call("GET", "/api/v1/nothing-here").status, 404);
}

TEST_F(RestApiTest, UploadedFaxFromUnknownSenderIsStoredAndPrinted) {
  const auto r = upload("+81 3-9999-0000", 2);
  ASSERT_EQ(r.status, 201) << r.body;
  const auto job = r.as_json();
  EXPECT_EQ(job.at("state"), "stored");
  EXPECT_EQ(job.at("pages"), 2);
  EXPECT_EQ(job.at("sender").at("fax"), "+81399990000");
  const auto id = job.at("id").get<std::string>();
  EXPECT_EQ(r.headers.at("Location"), "/api/v1/jobs/" + id);
  ASSERT_TRUE(reaches(id, "printed"));
  EXPECT_EQ(front_.completed(), std::vector<std::string>{"atdesk-" + id});

  const auto history = call("GET", "/api/v1/jobs/" + id + "/history").as_json();
  ASSERT_EQ(history.at("history").size(), 3u);
  EXPECT_EQ(history.at("history")[2].at("to"), "printed");

  const auto preview = call("GET", "/api/v1/jobs/" + id + "/preview.png");
  EXPECT_EQ(preview.status, 200);
  EXPECT_EQ(preview.content_type, "image/png");
  EXPECT_EQ(preview.body.substr(1, 3), "PNG");
  const auto page2 = call("GET", "/api/v1/jobs/" + id + "/pages/2.png?size=300");
  EXPECT_EQ(page2.status, 200) << page2.body;
  EXPECT_EQ(call("GET", "/api/v1/jobs/" + id + "/pages/9.png").status, 404);
  const auto pdf = call("GET", "/api/v1/jobs/" + id + "/document?kind=printable");
  EXPECT_EQ(pdf.status, 200);
  EXPECT_EQ(pdf.body.substr(0, 5), "%PDF-");
  // The short id finds the job too.
  EXPECT_EQ(call("GET", "/api/v1/jobs/" + job.at("short_id").get<std::string>()).status, 200);
}

TEST_F(RestApiTest, BadUploadsAreRefusedWithTheFieldNamedAndNothingStored) {
  auto garbage = call("POST", "/api/v1/jobs",
                      multipart("b", {{"sender", "+81312345678"}}, "this is not a TIFF"),
                      "multipart/form-data; boundary=b");
  EXPECT_EQ(garbage.status, 400) << garbage.body;
  EXPECT_NE(garbage.as_json().at("error").at("message").get<std::string>().find("fax.tif"),
            std::string::npos)
      << garbage.body;

  const auto fax = testing::sample_fax(1);
  auto no_sender =
      call("POST", "/api/v1/jobs",
           multipart("b", {}, std::string(reinterpret_cast<const char*>(fax.data()), fax.size())),
           "multipart/form-data; boundary=b");
  EXPECT_EQ(no_sender.status, 400);
  EXPECT_NE(no_sender.body.find("sender"), std::string::npos);

  auto json_body = call("POST", "/api/v1/jobs", "{}", "application/json");
  EXPECT_EQ(json_body.status, 415);

  auto too_big =
      call("POST", "/api/v1/jobs", std::string(2 << 20, 'x'), "multipart/form-data; boundary=b");
  EXPECT_EQ(too_big.status, 413);

  EXPECT_EQ(call("GET", "/api/v1/jobs").as_json().at("jobs").size(), 0u);
}

TEST_F(RestApiTest, HeldForBusyRecipientThenPrintedWhenPresenceTurnsToPrint) {
  auto rule = call("POST", "/api/v1/recipients",
                   R"({"pattern":"0312345678","recipient":"user:local:alice"})");
  ASSERT_EQ(rule.status, 201) << rule.body;
  auto busy =
      call("PUT", "/api/v1/presence/local/alice", R"({"availability":"busy","location":"office"})");
  ASSERT_EQ(busy.status, 200) << busy.body;
  EXPECT_EQ(busy.as_json().at("availability"), "busy");

  const auto id = upload("0312345678").as_json().at("id").get<std::string>();
  ASSERT_TRUE(reaches(id, "held"));
  EXPECT_NE(
      call("GET", "/api/v1/jobs/" + id).as_json().at("reason").get<std::string>().find("busy"),
      std::string::npos);
  // `reason` is the stored text whatever the reader's language; `reason_text` is in the
  // language asked for (?lang=, else Accept-Language), in the job, the list and the history.
  const auto shown = call("GET", "/api/v1/jobs/" + id + "?lang=ja").as_json();
  const auto stored = shown.at("reason").get<std::string>();
  EXPECT_TRUE(stored.starts_with("held: alice is busy, office")) << stored;
  EXPECT_TRUE(shown.at("reason_text")
                  .get<std::string>()
                  .starts_with("保留: alice は取り込み中・オフィス（モード表「"))
      << shown.at("reason_text");
  EXPECT_EQ(call("GET", "/api/v1/jobs/" + id + "?lang=en").as_json().at("reason_text"), stored);
  const auto listed = call("GET", "/api/v1/jobs?lang=ja").as_json().at("jobs");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].at("reason_text"), shown.at("reason_text"));
  const auto history =
      call("GET", "/api/v1/jobs/" + id + "/history?lang=ja").as_json().at("history");
  ASSERT_FALSE(history.empty());
  EXPECT_EQ(history.back().at("reason_text"), shown.at("reason_text"));
  const auto received = history.front().at("reason_text").get<std::string>();
  EXPECT_TRUE(received.starts_with("+81312345678 から ") && received.ends_with(" ページを受信"))
      << received;
  json messages;
  ASSERT_TRUE(eventually([&] {
    messages = call("GET", "/api/v1/messages?to=user%3Alocal%3Aalice").as_json().at("messages");
    return !messages.empty();
  }));
  EXPECT_EQ(messages[0].at("job_id"), id);
  EXPECT_TRUE(messages[0].at("has_preview").get<bool>());

  const auto presence = call("GET", "/api/v1/presence").as_json().at("recipients");
  ASSERT_EQ(presence.size(), 1u);
  EXPECT_EQ(presence[0].at("action"), "hold");
  EXPECT_EQ(presence[0].at("held_jobs"), 1);

  ASSERT_EQ(call("PUT", "/api/v1/presence/local/alice",
                 R"({"availability":"available","location":"office"})")
                .status,
            200);
  ASSERT_TRUE(reaches(id, "printed"));
  EXPECT_EQ(front_.completed().size(), 1u);

  // Releasing a printed job is a conflict, and says so.
  const auto again = call("POST", "/api/v1/jobs/" + id + "/release", "{}");
  EXPECT_EQ(again.status, 409) << again.body;
}

TEST_F(RestApiTest, ReleaseByRequestAndChatCommandsOnlyFromRecipients) {
  ASSERT_EQ(
      call("POST", "/api/v1/recipients", R"({"pattern":"0311112222","recipient":"user:local:bob"})")
          .status,
      201);
  const auto a = upload("0311112222").as_json().at("id").get<std::string>();
  const auto b = upload("0311112222").as_json().at("id").get<std::string>();
  ASSERT_TRUE(reaches(a, "held"));  // bob's presence is unknown: hold
  ASSERT_TRUE(reaches(b, "held"));

  const auto released = call("POST", "/api/v1/jobs/" + a + "/release", R"({"printer":"front"})");
  ASSERT_EQ(released.status, 200) << released.body;
  ASSERT_TRUE(reaches(a, "printed"));

  const auto bad_body = call("POST", "/api/v1/jobs/" + b + "/release", R"({"printr":"x"})");
  EXPECT_EQ(bad_body.status, 400);
  EXPECT_NE(bad_body.body.find("printr"), std::string::npos);

  // mallory is not a recipient: refused, recorded, nothing printed.
  EXPECT_EQ(
      call("POST", "/api/v1/commands",
           json{{"service", "local"}, {"from", "mallory"}, {"text", "print " + b.substr(0, 8)}}
               .dump())
          .status,
      202);
  engine_->drain();
  EXPECT_EQ(state_of(b), "held");
  const auto audit = call("GET", "/api/v1/audit?limit=50").as_json().at("entries");
  bool refused = false;
  for (const auto& e : audit) refused = refused || e.at("action") == "command.refused";
  EXPECT_TRUE(refused) << audit.dump();

  EXPECT_EQ(
      call("POST", "/api/v1/commands", R"({"service":"local","from":"bob","text":"print"})").status,
      202);
  ASSERT_TRUE(reaches(b, "printed"));
  EXPECT_EQ(front_.completed().size(), 2u);
}

TEST_F(RestApiTest, ModeTablesScheduleRecipientsAndMetrics) {
  const auto modes = call("GET", "/api/v1/modes").as_json();
  const auto tables_before = modes.at("tables").size();
  ASSERT_GE(tables_before, 1u);
  EXPECT_EQ(modes.at("active"), "weekday");
  const auto put = call("PUT", "/api/v1/modes/night", R"({"cells":{"busy":{"office":"print"}}})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.as_json().at("cells").at("busy").at("office"), "print");
  EXPECT_EQ(put.as_json().at("cells").at("available").at("office"), "hold");
  EXPECT_EQ(call("PUT", "/api/v1/modes/bad%20name", R"({"cells":{}})").status, 400);
  EXPECT_EQ(call("GET", "/api/v1/modes").as_json().at("tables").size(), tables_before + 1);
  EXPECT_EQ(call("DELETE", "/api/v1/modes/night").status, 204);

  const auto schedule = call("GET", "/api/v1/schedule");
  ASSERT_EQ(schedule.status, 200);
  EXPECT_EQ(call("PUT", "/api/v1/schedule", schedule.body).status, 200);

  const auto replaced = call("PUT", "/api/v1/recipients",
                             R"({"rules":[{"pattern":"prefix:06","recipient":"channel:local:osaka"},
                                          {"pattern":"others","recipient":"user:local:desk"}]})");
  ASSERT_EQ(replaced.status, 200) << replaced.body;
  const auto route = call("GET", "/api/v1/route?sender=0611112222").as_json();
  EXPECT_EQ(route.at("recipients"), json::array({"channel:local:osaka"}));
  const auto other = call("GET", "/api/v1/route?sender=0311112222").as_json();
  EXPECT_EQ(other.at("recipients"), json::array({"user:local:desk"}));
  const auto rule_id = replaced.as_json().at("rules")[0].at("id").get<std::int64_t>();
  EXPECT_EQ(call("DELETE", "/api/v1/recipients/" + std::to_string(rule_id)).status, 204);
  EXPECT_EQ(call("GET", "/api/v1/recipients").as_json().at("rules").size(), 1u);
  const auto bad =
      call("POST", "/api/v1/recipients", R"({"pattern":"prefix:x","recipient":"user:local:a"})");
  EXPECT_EQ(bad.status, 400);
  // The field is named once, then what is wrong with it.
  EXPECT_NE(bad.body.find("pattern: prefix: fax number: letter 'x'"), std::string::npos)
      << bad.body;
  EXPECT_EQ(bad.body.find("pattern: pattern"), std::string::npos) << bad.body;

  const auto metrics = call("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("atdesk_jobs{state=\"held\"}"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("atdesk_printer_up{printer=\"front\"} 1"), std::string::npos)
      << metrics.body;

  const auto printers = call("GET", "/api/v1/printers").as_json().at("printers");
  ASSERT_EQ(printers.size(), 1u);
  EXPECT_EQ(printers[0].at("default"), true);
}

TEST_F(RestApiTest, RecipientTableExportsAndImportsAsToml) {
  const auto replaced = call("PUT", "/api/v1/recipients",
                             R"({"rules":[{"pattern":"prefix:06","recipient":"channel:local:osaka",
                                           "printer":"front","note":"Osaka office"},
                                          {"pattern":"sip:bob@example.org","recipient":"user:local:bob"},
                                          {"pattern":"ip:10.0.0.0/8","recipient":"user:local:lan"},
                                          {"pattern":"others","recipient":"user:local:desk"}]})");
  ASSERT_EQ(replaced.status, 200) << replaced.body;
  const auto exported = call("GET", "/api/v1/recipients/export.toml");
  ASSERT_EQ(exported.status, 200) << exported.body;
  EXPECT_EQ(exported.content_type.rfind("text/plain", 0), 0u) << exported.content_type;
  EXPECT_EQ(exported.headers.at("Content-Disposition"), "attachment; filename=\"recipients.toml\"");
  EXPECT_NE(exported.body.find("pattern = \"prefix:+816\""), std::string::npos) << exported.body;

  // Clear the table, then import the export: the same rules come back (with new ids).
  ASSERT_EQ(call("PUT", "/api/v1/recipients", R"({"rules":[]})").status, 200);
  const auto imported =
      call("PUT", "/api/v1/recipients/import.toml", exported.body, "application/toml");
  ASSERT_EQ(imported.status, 200) << imported.body;
  auto strip_ids = [](json rules) {
    for (auto& r : rules) r.erase("id");
    return rules;
  };
  EXPECT_EQ(strip_ids(imported.as_json().at("rules")), strip_ids(replaced.as_json().at("rules")));
  EXPECT_EQ(call("GET", "/api/v1/recipients").as_json().at("rules").size(), 4u);
  const auto route = call("GET", "/api/v1/route?sender=0611112222").as_json();
  EXPECT_EQ(route.at("recipients"), json::array({"channel:local:osaka"}));

  // A bad import is 400 naming the rule and key, and leaves the table as it was.
  const auto bad =
      call("PUT", "/api/v1/recipients/import.toml",
           "[[rule]]\npattern = \"others\"\nrecipient = \"user:local:a\"\n"
           "[[rule]]\npattern = \"others\"\nrecipient = \"user:local:a\"\nprinter = 1\n",
           "application/toml");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("rule 2: printer"), std::string::npos) << bad.body;
  const auto not_utf8 =
      call("PUT", "/api/v1/recipients/import.toml", "[[rule]]\nnote = '\xe3", "application/toml");
  EXPECT_EQ(not_utf8.status, 400);
  EXPECT_NE(not_utf8.body.find("not UTF-8"), std::string::npos) << not_utf8.body;
  EXPECT_EQ(call("GET", "/api/v1/recipients").as_json().at("rules").size(), 4u);
  // The import is audited like PUT /recipients: three replacements, the bad imports none.
  const auto audit = call("GET", "/api/v1/audit");
  ASSERT_EQ(audit.status, 200) << audit.body;
  std::size_t replacements = 0;
  for (auto at = audit.body.find("recipient.replace"); at != std::string::npos;
       at = audit.body.find("recipient.replace", at + 1)) {
    ++replacements;
  }
  EXPECT_EQ(replacements, 3u) << audit.body;
}

// A signed-in `user` gets 403 from both routes (they are admin only, like the other recipient
// routes); "export.toml" is matched before "{id}".
TEST_F(RestApiTest, TomlRoutesAreForAdministratorsOnly) {
  struct UserAuth : Authenticator {
    std::expected<Actor, Denial> authenticate(const Request&) const override { return "alice"; }
    std::expected<Principal, Denial> identify(const Request&) const override {
      return Principal{"alice", Role::user, "alice", {"user:local:alice"}};
    }
  };
  UserAuth user;
  Router router(user);
  install_rest_api(router, *engine_, &local_, user);
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/api/v1/recipients/export.toml"}, {"PUT", "/api/v1/recipients/import.toml"}}) {
    auto request = make_request(method, target);
    request.body = "[[rule]]\npattern = \"others\"\nrecipient = \"user:local:alice\"\n";
    const auto r = router.dispatch(request);
    EXPECT_EQ(r.status, 403) << method << " " << target << ": " << r.body;
  }
  EXPECT_TRUE(call("GET", "/api/v1/recipients").as_json().at("rules").empty());
}

}  // namespace
}  // namespace atdesk::api
