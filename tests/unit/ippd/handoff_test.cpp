// The hand-off between atdesk-ippd and atdeskd: the frames and their checks, and atdeskd's
// socket server with a real Unix socket (acknowledged only after submit returned a job, peers by
// uid, a document cut short is never submitted).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <vector>

#include "atdesk/ippd/handoff.hpp"
#include "atdesk/ippd/handoff_client.hpp"
#include "atdesk/ippd/handoff_server.hpp"

namespace atdesk::ippd {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::vector<std::byte> bytes(std::string_view s) {
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

HandoffHeader sample_header() {
  HandoffHeader h;
  h.queue = "office";
  h.ipp_job_id = 7;
  h.job_name = "Quarterly report";
  h.user = "alice";
  h.host = "192.0.2.7";
  h.ipp_format = "image/pwg-raster";
  h.format = "image/tiff";
  h.pages = 3;
  h.size = 5;
  return h;
}

Job job_with_id(unsigned char seed) {
  std::array<unsigned char, 16> raw{};
  raw.fill(seed);
  Job job;
  job.id = JobId::from_bytes(raw);
  return job;
}

TEST(HandoffProtocol, HeaderRoundTripsAndBecomesAnIppDocumentForTheRecipientTable) {
  const auto h = sample_header();
  auto parsed = parse_header(encode_header(h), 1000);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->queue, "office");
  EXPECT_EQ(parsed->ipp_job_id, 7);
  EXPECT_EQ(parsed->user, "alice");
  EXPECT_EQ(parsed->pages, 3);
  EXPECT_EQ(parsed->size, 5u);
  const auto doc = to_incoming(*parsed, bytes("II*\0x"));
  EXPECT_EQ(doc.source, JobSource::ipp);
  EXPECT_EQ(doc.sender.ipp_user, "alice");
  EXPECT_EQ(doc.sender.ip, "192.0.2.7");
  EXPECT_EQ(doc.name, "Quarterly report");
  EXPECT_NE(doc.note.find("queue office"), std::string::npos);
  EXPECT_NE(doc.note.find("3 page(s)"), std::string::npos);
}

TEST(HandoffProtocol, AHostThatIsNotAnAddressIsNotASenderAddress) {
  auto h = sample_header();
  h.host = "pc-17.example.org";
  h.job_name.clear();
  const auto doc = to_incoming(h, bytes("x"));
  EXPECT_TRUE(doc.sender.ip.empty());
  EXPECT_EQ(doc.name, "IPP job 7");
}

TEST(HandoffProtocol, HeaderFieldsAreCheckedAndErrorsNameTheField) {
  auto expect_error = [](std::string_view json, std::string_view field) {
    auto r = parse_header(json, 100);
    ASSERT_FALSE(r) << json;
    EXPECT_NE(r.error().message.find(field), std::string::npos) << r.error().message;
  };
  expect_error("[]", "JSON object");
  expect_error("not json", "JSON object");
  expect_error(R"({"format":"image/tiff","ipp_job_id":1,"pages":0,"size":1})", "queue");
  expect_error(R"({"queue":"q","format":"text/plain","ipp_job_id":1,"pages":0,"size":1})",
               "format");
  expect_error(R"({"queue":"q","format":"image/tiff","ipp_job_id":1,"pages":0,"size":101})",
               "size");
  expect_error(R"({"queue":"q","format":"image/tiff","ipp_job_id":1,"pages":0,"size":0})", "size");
  expect_error(R"({"queue":"q","format":"image/tiff","ipp_job_id":-1,"pages":0,"size":1})",
               "ipp_job_id");
  expect_error(
      R"({"queue":"q","format":"image/tiff","ipp_job_id":1,"pages":0,"size":18446744073709551615})",
      "size");
  expect_error(R"({"queue":"q\n","format":"image/tiff","ipp_job_id":1,"pages":0,"size":1})",
               "control characters");
  expect_error(R"({"queue":"q","user":7,"format":"image/tiff","ipp_job_id":1,"pages":0,"size":1})",
               "user");
}

TEST(HandoffProtocol, LengthsAreBigEndian) {
  const auto b4 = encode_u32(0x01020304);
  EXPECT_EQ(std::to_integer<int>(b4[0]), 1);
  EXPECT_EQ(decode_u32(b4), 0x01020304u);
  const auto b8 = encode_u64(0x0102030405060708ull);
  EXPECT_EQ(std::to_integer<int>(b8[7]), 8);
  EXPECT_EQ(decode_u64(b8), 0x0102030405060708ull);
}

TEST(HandoffProtocol, AnswerRoundTrips) {
  auto stored = parse_answer(encode_answer({true, "abc", {}}));
  ASSERT_TRUE(stored);
  EXPECT_TRUE(stored->stored);
  EXPECT_EQ(stored->job, "abc");
  auto refused = parse_answer(encode_answer({false, {}, "disk full"}));
  ASSERT_TRUE(refused);
  EXPECT_FALSE(refused->stored);
  EXPECT_EQ(refused->error, "disk full");
  EXPECT_FALSE(parse_answer(R"({"stored":true})"));  // stored without a job id
  EXPECT_FALSE(parse_answer(R"({"ok":1})"));
}

TEST(HandoffProtocol, TheIdentityRoundTripsIsClaimedWhenMissingAndGoesIntoTheNote) {
  auto h = sample_header();
  h.identity = "basic";
  auto parsed = parse_header(encode_header(h), 1000);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->identity, "basic");
  EXPECT_NE(to_incoming(*parsed, bytes("x")).note.find("(signed in)"), std::string::npos);
  auto old =
      parse_header(R"({"queue":"q","format":"image/tiff","ipp_job_id":1,"pages":0,"size":1})", 100);
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_EQ(old->identity, "claimed");
  EXPECT_FALSE(is_trusted_identity("claimed"));
  EXPECT_TRUE(is_trusted_identity("token"));
  auto bad = parse_header(
      R"({"queue":"q","identity":"root","format":"image/tiff","ipp_job_id":1,"pages":0,"size":1})",
      100);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("identity"), std::string::npos);
}

TEST(HandoffProtocol, IdentifyRequestsRoundTripAndAreToldFromDocumentHeaders) {
  auto basic = parse_identify(encode_identify({"basic", "alice", "pa:ss\u00e9", {}}));
  ASSERT_TRUE(basic) << basic.error().message;
  EXPECT_EQ(basic->user, "alice");
  EXPECT_EQ(basic->password, "pa:ss\u00e9");
  auto token = parse_identify(encode_identify({"token", {}, {}, "k3Y"}));
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(token->token, "k3Y");
  auto header = parse_identify(encode_header(sample_header()));
  ASSERT_FALSE(header);
  EXPECT_EQ(header.error().code, Errc::not_found);  // a document header, not a request
  EXPECT_FALSE(parse_identify(R"({"op":"identify","kind":"token","token":""})"));
  EXPECT_FALSE(parse_identify(R"({"op":"identify","kind":"pam"})"));
  EXPECT_FALSE(parse_identify(R"({"op":"delete"})"));
  auto yes = parse_identify_answer(encode_identify_answer({true, "alice", {}}));
  ASSERT_TRUE(yes);
  EXPECT_EQ(yes->user, "alice");
  EXPECT_FALSE(parse_identify_answer(R"({"ok":true})"));  // ok without a user
}

class HandoffServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/atdesk-handoff-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ / "ippd.sock";
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }
  void start(HandoffServer::Settings settings, SubmitFn submit, HandoffServer::Hooks hooks = {}) {
    settings.socket_path = socket_;
    server_ =
        std::make_unique<HandoffServer>(std::move(settings), std::move(submit), std::move(hooks));
    auto ok = server_->start();
    ASSERT_TRUE(ok) << ok.error().message;
  }
  fs::path dir_;
  fs::path socket_;
  std::unique_ptr<HandoffServer> server_;
};

TEST_F(HandoffServerTest, StoresTheDocumentAndAnswersWithTheJobAfterSubmitReturned) {
  std::mutex m;
  std::vector<IncomingDocument> submitted;
  std::promise<void> release;
  auto released = release.get_future().share();
  start({}, [&](IncomingDocument d) -> Result<Job> {
    released.wait();  // submit has not returned yet: no answer may reach the client
    std::lock_guard lock(m);
    submitted.push_back(std::move(d));
    return job_with_id(1);
  });
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  const auto doc = bytes("%PDF-1.4 hello");
  auto h = sample_header();
  h.format = "application/pdf";
  auto answer = std::async(std::launch::async, [&] { return hand_off(socket_, h, doc, 10s); });
  EXPECT_EQ(answer.wait_for(0s), std::future_status::timeout);
  release.set_value();
  auto a = answer.get();
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_TRUE(a->stored);
  EXPECT_EQ(a->job, job_with_id(1).id.str());
  std::lock_guard lock(m);
  ASSERT_EQ(submitted.size(), 1u);
  EXPECT_EQ(submitted[0].data, doc);
  EXPECT_EQ(submitted[0].sender.ipp_user, "alice");
  EXPECT_EQ(server_->stats().stored, 1);
}

TEST_F(HandoffServerTest, ASubmitThatFailsIsAnsweredNotStoredWithTheReason) {
  start({}, [](IncomingDocument) -> Result<Job> {
    return fail(Errc::no_space, "spool: no space left on device");
  });
  auto a = hand_off(socket_, sample_header(), bytes("abcde"), 10s);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_FALSE(a->stored);
  EXPECT_NE(a->error.find("no space"), std::string::npos);
  EXPECT_EQ(server_->stats().refused, 1);
}

TEST_F(HandoffServerTest, APeerWithAnotherUidIsRefusedBeforeAnythingIsRead) {
  int submits = 0;
  HandoffServer::Settings s;
  s.allowed_uids = {::geteuid() + 1};
  start(s, [&](IncomingDocument) -> Result<Job> {
    ++submits;
    return job_with_id(2);
  });
  auto a = hand_off(socket_, sample_header(), bytes("abcde"), 10s);
  EXPECT_FALSE(a && a->stored);
  EXPECT_EQ(submits, 0);
  EXPECT_EQ(server_->stats().dropped, 1);
}

// A document over the limit is refused from its header. With 5 bytes the client has written
// everything before the answer comes; with 8 MiB, far more than the socket buffer, atdeskd answers
// and closes while the client is still writing, so that write fails every time: the client must
// still report atdeskd's answer, not a broken pipe.
TEST_F(HandoffServerTest, ADocumentOverTheLimitIsRefusedEvenBeforeItWasAllSent) {
  int submits = 0;
  HandoffServer::Settings s;
  s.max_document_bytes = 4;
  start(s, [&](IncomingDocument) -> Result<Job> {
    ++submits;
    return job_with_id(3);
  });
  for (const std::size_t size : {std::size_t{5}, std::size_t{8} << 20U}) {
    const std::vector<std::byte> document(size, std::byte{'x'});
    auto a = hand_off(socket_, sample_header(), document, 10s);
    ASSERT_TRUE(a) << size << " bytes: " << a.error().message;
    EXPECT_FALSE(a->stored);
    EXPECT_NE(a->error.find("size"), std::string::npos) << a->error;
  }
  EXPECT_EQ(submits, 0);
}

// atdesk-ippd killed while sending: the connection ends inside the document; nothing is stored.
TEST(HandoffServe, ADocumentCutShortIsNeverSubmitted) {
  int submits = 0;
  HandoffServer server({"/nonexistent/unused.sock", 1000, 5s, {}},
                       [&](IncomingDocument) -> Result<Job> {
                         ++submits;
                         return job_with_id(4);
                       });
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  auto h = sample_header();
  h.size = 100;
  const auto text = encode_header(h);
  const auto n4 = encode_u32(static_cast<std::uint32_t>(text.size()));
  const auto n8 = encode_u64(100);
  ASSERT_EQ(::write(sv[1], n4.data(), 4), 4);
  ASSERT_EQ(::write(sv[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ASSERT_EQ(::write(sv[1], n8.data(), 8), 8);
  ASSERT_EQ(::write(sv[1], "only forty bytes of the hundred promised", 40), 40);
  ::close(sv[1]);
  server.serve(sv[0]);
  EXPECT_EQ(submits, 0);
  EXPECT_EQ(server.stats().dropped, 1);
}

TEST(HandoffServe, AHeaderLengthOutOfRangeIsRefused) {
  int submits = 0;
  HandoffServer server({"/nonexistent/unused.sock", 1000, 5s, {}},
                       [&](IncomingDocument) -> Result<Job> {
                         ++submits;
                         return job_with_id(5);
                       });
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  const auto n4 = encode_u32(kMaxHeaderBytes + 1);
  ASSERT_EQ(::write(sv[1], n4.data(), 4), 4);
  ::shutdown(sv[1], SHUT_WR);
  server.serve(sv[0]);
  std::array<std::byte, 4> len{};
  ASSERT_EQ(::read(sv[1], len.data(), 4), 4);
  std::string answer(decode_u32(len), '\0');
  ASSERT_EQ(::read(sv[1], answer.data(), answer.size()), static_cast<ssize_t>(answer.size()));
  ::close(sv[1]);
  auto a = parse_answer(answer);
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->stored);
  EXPECT_EQ(submits, 0);
}

TEST_F(HandoffServerTest, AStaleSocketFileIsReplacedButNotAnOrdinaryFile) {
  start({}, [](IncomingDocument) -> Result<Job> { return job_with_id(6); });
  server_.reset();  // removes its socket
  { std::ofstream(socket_) << "not a socket"; }
  HandoffServer other({socket_, 1000, 5s, {}},
                      [](IncomingDocument) -> Result<Job> { return job_with_id(7); });
  auto ok = other.start();
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message.find("not a socket"), std::string::npos);
}

// atdeskd's hooks: the owner decision goes with the submitted document, and identify requests
// are answered with the person or refused with the reason, nothing submitted either way.
TEST_F(HandoffServerTest, HooksDecideTheOwnerAndAnswerIdentifyRequests) {
  std::vector<IncomingDocument> submitted;
  HandoffServer::Hooks hooks;
  hooks.owner_unknown =
      [](const HandoffHeader& h) -> std::optional<IncomingDocument::OwnerUnknown> {
    if (h.identity != "claimed") return std::nullopt;
    return IncomingDocument::OwnerUnknown{{}, "nobody signed in"};
  };
  hooks.identify = [](const IdentifyRequest& r) -> Result<std::string> {
    if (r.kind == "basic" && r.user == "alice" && r.password == "right horse") return "alice";
    if (r.kind == "token" && r.token == "t0k3n") return "bob";
    return fail(Errc::permission_denied, "wrong user name or password");
  };
  start(
      {},
      [&](IncomingDocument d) -> Result<Job> {
        submitted.push_back(std::move(d));
        return job_with_id(4);
      },
      std::move(hooks));
  auto claimed = hand_off(socket_, sample_header(), bytes("abcde"), 10s);
  ASSERT_TRUE(claimed && claimed->stored);
  auto h = sample_header();
  h.identity = "token";
  auto token = hand_off(socket_, h, bytes("abcde"), 10s);
  ASSERT_TRUE(token && token->stored);
  ASSERT_EQ(submitted.size(), 2u);
  ASSERT_TRUE(submitted[0].owner_unknown);
  EXPECT_EQ(submitted[0].owner_unknown->why, "nobody signed in");
  EXPECT_FALSE(submitted[1].owner_unknown);

  auto alice = identify(socket_, {"basic", "alice", "right horse", {}}, 10s);
  ASSERT_TRUE(alice) << alice.error().message;
  EXPECT_EQ(*alice, "alice");
  auto wrong = identify(socket_, {"basic", "alice", "wrong", {}}, 10s);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::permission_denied);
  EXPECT_NE(wrong.error().message.find("wrong user name or password"), std::string::npos);
  auto bob = identify(socket_, {"token", {}, {}, "t0k3n"}, 10s);
  ASSERT_TRUE(bob) << bob.error().message;
  EXPECT_EQ(*bob, "bob");
  EXPECT_FALSE(identify(socket_, {"token", {}, {}, "guess"}, 10s));
  EXPECT_EQ(submitted.size(), 2u);
  EXPECT_EQ(server_->stats().identified, 2);
  EXPECT_EQ(server_->stats().not_identified, 2);
}

}  // namespace
}  // namespace atdesk::ippd
