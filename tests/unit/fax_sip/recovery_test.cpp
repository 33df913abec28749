// What a crash leaves in the SIP spool folder is handed over when the receiver starts: a call
// killed during page 2 (a child process running the real SpanDSP receiver, SIGKILLed) becomes an
// incomplete job with page 1 and the sender from its call record; a call without a complete page
// becomes a failed reception; files go only once the sink took the job.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <tiffio.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "atdesk/fax_sip/receiver.hpp"
#include "atdesk/testing/process_harness.hpp"
#include "atdesk/testing/sample_fax.hpp"
#include "call_spool.hpp"
#include "fax_terminal.hpp"
#include "tiff_pages.hpp"

namespace atdesk::fax_sip {
namespace {

namespace fs = std::filesystem;

class Recovery : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("atdesk-fax-sip-rec-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    spool_ = dir_ / "spool";
    ASSERT_TRUE(make_private_dir(spool_));
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write_sample(const std::string& name, int pages) {
    const auto path = (dir_ / name).string();
    const auto data = testing::sample_fax(pages);
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
    return path;
  }

  static CallRecord record(const std::string& called) {
    CallRecord r;
    r.caller_id = "+4930555" + called;
    r.sip_uri = "sip:+4930555" + called + "@192.0.2.1";
    r.peer_ip = "192.0.2.1";
    r.called = called;
    r.started = "2024-05-01T10:00:00Z";
    return r;
  }

  // Receives `sent` into spool/<stem>.tif the way the receiver does (call record written at call
  // setup, TSI added in phase B) in a child process that is SIGKILLed `frames_after_page_1`
  // frames after page 1 was confirmed: what atdeskd killed during the call leaves behind.
  void receive_and_get_killed(const std::string& sent, const std::string& stem,
                              const CallRecord& at_setup, int frames_after_page_1) {
    const auto tiff = spool_ / (stem + ".tif");
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      CallRecord r = at_setup;
      if (!write_call_record(record_path(tiff), r)) ::_exit(10);
      auto tx = FaxTerminal::audio(T30Config{true, true, sent, "+49 30 1234567", true}, nullptr);
      auto rx = FaxTerminal::audio(T30Config{false, false, tiff.string(), "atdesk", true}, nullptr);
      if (!tx || !rx) ::_exit(11);
      (*rx)->set_ident_hook([&](const std::string& tsi) {
        r.tsi = tsi;
        (void)write_call_record(record_path(tiff), r);
      });
      std::int16_t a[160];
      std::int16_t b[160];
      int after = -1;
      for (int i = 0; i < 300 * 50; ++i) {
        (*tx)->transmit_audio(a);
        (*rx)->transmit_audio(b);
        (*rx)->receive_audio(a);
        (*tx)->receive_audio(b);
        if (after >= 0 || (*rx)->outcome().pages == 1) ++after;
        if (after == frames_after_page_1) ::kill(::getpid(), SIGKILL);
      }
      ::_exit(12);  // never got to page 1
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the receiving child ended with status " << status;
  }

  SipFaxReceiver::Settings settings() {
    SipFaxReceiver::Settings s;
    s.listen_address = "127.0.0.1";
    s.port = testing::free_sip_port();
    s.allowed_peers = {"127.0.0.1"};
    s.spool_dir = spool_;
    return s;
  }

  std::vector<testing::TiffPage> pages_of(const IncomingDocument& doc) {
    return testing::tiff_pages_of(doc.data, (dir_ / ("got-" + doc.name)).string());
  }

  bool spool_empty() { return fs::is_empty(spool_); }

  fs::path dir_;
  fs::path spool_;
};

TEST_F(Recovery, CallKilledDuringPageTwoIsSubmittedIncompleteWithItsSenderAndRemoved) {
  const auto sent = write_sample("sent.tif", 3);
  receive_and_get_killed(sent, "sip-20240501T100000Z-1-0000abcd", record("1001"), 150);
  ASSERT_TRUE(fs::exists(spool_ / "sip-20240501T100000Z-1-0000abcd.tif"));
  ASSERT_TRUE(fs::exists(spool_ / "sip-20240501T100000Z-1-0000abcd.json"));

  std::vector<IncomingDocument> docs;
  std::vector<SipFaxReceiver::FailedReception> failed;
  SipFaxReceiver receiver(
      settings(),
      [&](IncomingDocument d) -> Result<void> {
        // The files are still there while the engine takes the job.
        EXPECT_FALSE(spool_empty());
        docs.push_back(std::move(d));
        return {};
      },
      {}, [&](const SipFaxReceiver::FailedReception& f) { failed.push_back(f); });
  ASSERT_TRUE(receiver.start());
  receiver.stop();

  ASSERT_EQ(docs.size(), 1u);
  EXPECT_TRUE(failed.empty());
  const auto& doc = docs[0];
  EXPECT_TRUE(doc.incomplete);
  EXPECT_EQ(doc.source, JobSource::sip);
  EXPECT_EQ(doc.sender.tsi, "+49 30 1234567");  // learnt in phase B, before the crash
  EXPECT_EQ(doc.sender.caller_id, "+49305551001");
  EXPECT_EQ(doc.sender.sip_uri, "sip:+49305551001@192.0.2.1");
  EXPECT_EQ(doc.sender.ip, "192.0.2.1");
  ASSERT_TRUE(doc.sender.called);
  EXPECT_EQ(doc.sender.called->digits(), "1001");
  ASSERT_TRUE(doc.sender.fax);
  EXPECT_EQ(doc.sender.fax->digits(), "49305551001");
  const auto pages = pages_of(doc);
  ASSERT_EQ(pages.size(), 1u);
  EXPECT_EQ(pages[0].rows, testing::tiff_pages(sent)[0].rows);
  EXPECT_TRUE(spool_empty());
}

TEST_F(Recovery, FilesStayUntilTheSinkTakesTheJob) {
  const auto sent = write_sample("sent.tif", 2);
  receive_and_get_killed(sent, "sip-a", record("1002"), 20);
  {
    SipFaxReceiver refusing(settings(), [](IncomingDocument) -> Result<void> {
      return fail(Errc::no_space, "disk full");
    });
    ASSERT_TRUE(refusing.start());
  }
  EXPECT_TRUE(fs::exists(spool_ / "sip-a.tif"));
  EXPECT_TRUE(fs::exists(spool_ / "sip-a.json"));
  int taken = 0;
  SipFaxReceiver accepting(settings(), [&](IncomingDocument d) -> Result<void> {
    ++taken;
    EXPECT_EQ(d.sender.called->digits(), "1002");
    EXPECT_EQ(pages_of(d).size(), 1u);
    return {};
  });
  ASSERT_TRUE(accepting.start());
  EXPECT_EQ(taken, 1);
  EXPECT_TRUE(spool_empty());
}

// T.30 had ended normally and the record said so, but the hand-over had not happened: the job is
// complete, not incomplete.
TEST_F(Recovery, CallThatHadCompletedIsSubmittedComplete) {
  const auto data = testing::sample_fax(2);
  {
    std::ofstream out(spool_ / "sip-done.tif", std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
  }
  auto done = record("1005");
  done.tsi = "+49 30 5551005";
  done.completed = true;
  ASSERT_TRUE(write_call_record(spool_ / "sip-done.json", done));
  std::vector<IncomingDocument> docs;
  SipFaxReceiver receiver(settings(), [&](IncomingDocument d) -> Result<void> {
    docs.push_back(std::move(d));
    return {};
  });
  ASSERT_TRUE(receiver.start());
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_FALSE(docs[0].incomplete);
  EXPECT_EQ(docs[0].sender.tsi, "+49 30 5551005");
  EXPECT_EQ(pages_of(docs[0]).size(), 2u);
  EXPECT_TRUE(spool_empty());
}

TEST_F(Recovery, CallsWithoutACompletePageBecomeFailedReceptions) {
  // Killed before any page: only the call record (SpanDSP creates the TIFF at the first page).
  auto before_page = record("1003");
  before_page.tsi = "+49 30 999";
  ASSERT_TRUE(write_call_record(spool_ / "sip-b.json", before_page));
  // A TIFF whose first directory was never written (header only).
  ASSERT_TRUE(write_call_record(spool_ / "sip-c.json", record("1004")));
  {
    std::ofstream out(spool_ / "sip-c.tif", std::ios::binary);
    out.write("II*\0\0\0\0\0", 8);
  }
  std::ofstream(spool_ / "sip-d.json.tmp") << "{";  // a record being replaced
  int taken = 0;
  std::vector<SipFaxReceiver::FailedReception> failed;
  SipFaxReceiver receiver(
      settings(),
      [&](IncomingDocument) -> Result<void> {
        ++taken;
        return {};
      },
      {}, [&](const SipFaxReceiver::FailedReception& f) { failed.push_back(f); });
  ASSERT_TRUE(receiver.start());
  EXPECT_EQ(taken, 0);
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_EQ(failed[0].caller_id, "+49305551003");
  EXPECT_EQ(failed[0].tsi, "+49 30 999");
  EXPECT_EQ(failed[0].called, "1003");
  EXPECT_EQ(failed[0].peer_ip, "192.0.2.1");
  EXPECT_EQ(failed[0].started, "2024-05-01T10:00:00Z");
  EXPECT_NE(failed[0].reason.find("before a complete page"), std::string::npos) << failed[0].reason;
  EXPECT_EQ(failed[1].called, "1004");
  EXPECT_TRUE(spool_empty());
}

TEST_F(Recovery, SpoolFolderIsPrivate) {
  fs::permissions(spool_, fs::perms::all);
  SipFaxReceiver receiver(settings(), [](IncomingDocument) -> Result<void> { return {}; });
  ASSERT_TRUE(receiver.start());
  struct stat st {};
  ASSERT_EQ(::stat(spool_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

// A directory cut short while it was written: the chain is ended after the last complete page.
TEST(CallSpool, KeepCompletePagesEndsTheChainBeforeAPartialDirectory) {
  const auto dir = fs::temp_directory_path() / ("atdesk-fax-sip-cut-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto file = dir / "cut.tif";
  const auto data = testing::sample_fax(2);
  {
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
  }
  const auto want = testing::tiff_pages(file.string());
  ASSERT_EQ(want.size(), 2u);
  toff_t second = 0;
  {
    TIFF* t = TIFFOpen(file.c_str(), "r");
    ASSERT_TRUE(t);
    ASSERT_TRUE(TIFFSetDirectory(t, 1));
    second = TIFFCurrentDirOffset(t);
    TIFFClose(t);
  }
  ASSERT_GT(second, 8u);
  fs::resize_file(file, second + 7);  // the entry count and half an entry
  EXPECT_EQ(keep_complete_pages(file), 1);
  const auto pages = testing::tiff_pages(file.string());
  ASSERT_EQ(pages.size(), 1u);
  EXPECT_EQ(pages[0].rows, want[0].rows);
  EXPECT_EQ(keep_complete_pages(file), 1);  // idempotent
  EXPECT_EQ(keep_complete_pages(dir / "missing.tif"), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace atdesk::fax_sip
