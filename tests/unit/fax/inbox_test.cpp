// The watched inbox folder: pairs are submitted and moved to processed/, bad ones to rejected/
// with a reason, transient failures stay for the next scan, nothing is deleted.
#include <gtest/gtest.h>

#include <fstream>

#include "atdesk/fax/inbox.hpp"

namespace atdesk::fax {
namespace {

namespace fs = std::filesystem;

class InboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("atdesk-inbox-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "processed");
    fs::create_directories(dir_ / "rejected");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ / name, std::ios::binary) << content;
  }
  std::string read(const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  InboxWatcher make(Errc failure = Errc::internal, bool fail_submit = false) {
    InboxWatcher::Settings s;
    s.dir = dir_;
    s.numbers = NumberPlan{"81", "0", "00"};
    s.max_file_bytes = 1024;
    return InboxWatcher(
        s,
        [this, failure, fail_submit](IncomingDocument d) -> Result<Job> {
          if (fail_submit) return fail(failure, d.name + ": refused (test)");
          submitted_.push_back(std::move(d));
          Job j;
          j.id = *JobId::parse("0123456789abcdef0123456789abcdef");
          return j;
        },
        [this](const std::string& action, const std::string& subject,
               const std::string& detail) -> Result<void> {
          if (audit_down_) return fail(Errc::unavailable, "audit log: down (test)");
          audit_.push_back({action, subject, detail});
          return {};
        });
  }

  struct AuditEntry {
    std::string action, subject, detail;
  };
  fs::path dir_;
  std::vector<IncomingDocument> submitted_;
  std::vector<AuditEntry> audit_;
  bool audit_down_ = false;
};

TEST_F(InboxTest, PairIsSubmittedAndMovedToProcessed) {
  write("a.tif", "TIFFDATA");
  write("a.json", R"({"sender": "+81 3-1234-5678", "called": "0355550000", "tsi": "ACME"})");
  auto inbox = make();
  auto r = inbox.scan_once();
  EXPECT_EQ(r.submitted, 1);
  ASSERT_EQ(submitted_.size(), 1u);
  EXPECT_EQ(submitted_[0].sender.fax->digits(), "81312345678");
  EXPECT_EQ(submitted_[0].sender.called->digits(), "81355550000");
  EXPECT_EQ(submitted_[0].sender.tsi, "ACME");
  EXPECT_EQ(submitted_[0].source, JobSource::inbox);
  EXPECT_EQ(submitted_[0].name, "a.tif");
  EXPECT_TRUE(fs::exists(dir_ / "processed/a.tif"));
  EXPECT_TRUE(fs::exists(dir_ / "processed/a.json"));
  EXPECT_FALSE(fs::exists(dir_ / "a.tif"));
}

TEST_F(InboxTest, DocumentWithoutMetadataIsLeftAlone) {
  write("b.tif", "TIFFDATA");
  auto inbox = make();
  auto r = inbox.scan_once();
  EXPECT_EQ(r.submitted + r.rejected + r.deferred, 0);
  EXPECT_TRUE(fs::exists(dir_ / "b.tif"));
}

TEST_F(InboxTest, BadMetadataIsRejectedWithReason) {
  write("c.tif", "TIFFDATA");
  write("c.json", R"({"sender": 42})");
  auto inbox = make();
  EXPECT_EQ(inbox.scan_once().rejected, 1);
  EXPECT_TRUE(fs::exists(dir_ / "rejected/c.tif"));
  EXPECT_TRUE(fs::exists(dir_ / "rejected/c.json"));
  auto reason = read(dir_ / "rejected/c.reason.txt");
  EXPECT_NE(reason.find("c.json: sender"), std::string::npos) << reason;
  EXPECT_TRUE(submitted_.empty());
  ASSERT_EQ(audit_.size(), 1u);  // a rejection is in the audit log, not only in a folder
  EXPECT_EQ(audit_[0].action, "inbox.rejected");
  EXPECT_EQ(audit_[0].subject, "c.json");
}

// Issue 22: nothing that arrived is dropped for its metadata. A sender that is not a number is an
// unknown sender with a note in the job's history.
TEST_F(InboxTest, SenderThatIsNotANumberIsAnUnknownSender) {
  write("c.tif", "TIFFDATA");
  write("c.json", R"({"sender": "call me maybe", "called": "front desk"})");
  auto inbox = make();
  EXPECT_EQ(inbox.scan_once().submitted, 1);
  ASSERT_EQ(submitted_.size(), 1u);
  EXPECT_FALSE(submitted_[0].sender.fax);
  EXPECT_FALSE(submitted_[0].sender.called);
  EXPECT_EQ(submitted_[0].sender.caller_id, "call me maybe");
  EXPECT_NE(submitted_[0].note.find("sender"), std::string::npos) << submitted_[0].note;
  EXPECT_NE(submitted_[0].note.find("called number not used"), std::string::npos)
      << submitted_[0].note;
  EXPECT_TRUE(fs::exists(dir_ / "processed/c.tif"));
}

// What modems (P, O) and Asterisk (anonymous, Restricted) put in CIDNumber: the fax is a job with
// an unknown sender, or the TSI's number when it has one.
TEST_F(InboxTest, WithheldCallerIdIsAJobWithAnUnknownSender) {
  auto inbox = make();
  int n = 0;
  for (std::string cid : {"P", "O", "anonymous", "Restricted", "<UNSPECIFIED>"}) {
    const auto stem = "w" + std::to_string(n++);
    write(stem + ".tif", "TIFFDATA");
    write(stem + ".json",
          R"({"sender": ")" + cid + R"(", "tsi": "<UNSPECIFIED>", "source": "hylafax"})");
    EXPECT_EQ(inbox.scan_once().submitted, 1) << cid;
    ASSERT_EQ(submitted_.size(), static_cast<std::size_t>(n)) << cid;
    const auto& d = submitted_.back();
    EXPECT_FALSE(d.sender.fax) << cid;
    EXPECT_EQ(d.sender.tsi, "") << cid;
    EXPECT_EQ(d.sender.display(), "an unknown sender") << cid;
    EXPECT_NE(d.note.find("withheld"), std::string::npos) << d.note;
  }
  write("t.tif", "TIFFDATA");
  write("t.json", R"({"sender": "P", "tsi": "+81 3 9876 5432"})");
  EXPECT_EQ(inbox.scan_once().submitted, 1);
  EXPECT_EQ(submitted_.back().sender.fax->digits(), "81398765432");
  EXPECT_TRUE(audit_.empty());
}

// What the HylaFAX hook writes: the source, the caller name, a partial fax and its error message.
TEST_F(InboxTest, HylaFaxFieldsReachTheJob) {
  write("h.tif", "TIFFDATA");
  write("h.json", R"j({"sender": "9175550142", "called": "0355550001", "caller_name": "ACME CORP",
      "tsi": "ACME", "source": "hylafax", "incomplete": true,
      "error": "RSPREC error/got DCN (sender abort)", "name": "fax000000012 from ACME"})j");
  auto inbox = make();
  EXPECT_EQ(inbox.scan_once().submitted, 1);
  ASSERT_EQ(submitted_.size(), 1u);
  const auto& d = submitted_[0];
  EXPECT_EQ(d.source, JobSource::hylafax);
  EXPECT_TRUE(d.incomplete);
  EXPECT_EQ(d.sender.fax->digits(), "9175550142");
  EXPECT_EQ(d.sender.called->digits(), "81355550001");
  EXPECT_EQ(d.name, "fax000000012 from ACME");
  EXPECT_NE(d.note.find("caller name \"ACME CORP\""), std::string::npos) << d.note;
  EXPECT_NE(d.note.find("RSPREC error/got DCN"), std::string::npos) << d.note;
}

TEST_F(InboxTest, UnknownSourceOrBadFlagIsRejected) {
  write("s.tif", "TIFFDATA");
  write("s.json", R"({"source": "carrier pigeon"})");
  write("u.tif", "TIFFDATA");
  write("u.json", R"({"incomplete": "yes"})");
  auto inbox = make();
  EXPECT_EQ(inbox.scan_once().rejected, 2);
  EXPECT_NE(read(dir_ / "rejected/s.reason.txt").find("source"), std::string::npos);
  EXPECT_NE(read(dir_ / "rejected/u.reason.txt").find("incomplete"), std::string::npos);
}

// A call that brought no page (HylaFAX still runs faxrcvd, with the error): an audit entry, the
// marker moved to processed/, no job.
TEST_F(InboxTest, CallWithoutPagesIsAFailedReceptionInTheAuditLog) {
  write("n.json", R"({"sender": "0312345678", "called": "0355550001", "failed_reception": true,
      "error": "No carrier detected", "source": "hylafax", "name": "fax 000000124 on ttyIAX0"})");
  auto inbox = make();
  audit_down_ = true;  // the audit log cannot take it: the marker waits for the next scan
  EXPECT_EQ(inbox.scan_once().deferred, 1);
  EXPECT_TRUE(fs::exists(dir_ / "n.json"));
  audit_down_ = false;
  EXPECT_EQ(inbox.scan_once().failed_receptions, 1);
  EXPECT_TRUE(submitted_.empty());
  ASSERT_EQ(audit_.size(), 1u);
  EXPECT_EQ(audit_[0].action, "fax.failed_reception");
  EXPECT_EQ(audit_[0].subject, "caller +81312345678");
  EXPECT_NE(audit_[0].detail.find("No carrier detected"), std::string::npos) << audit_[0].detail;
  EXPECT_NE(audit_[0].detail.find("+81355550001"), std::string::npos) << audit_[0].detail;
  EXPECT_TRUE(fs::exists(dir_ / "processed/n.json"));
}

// The rejection of a file atdeskd may not read names the errno (as root every file is readable,
// so this runs only as another user; the HylaFAX integration suite runs it as a non-root atdeskd).
TEST_F(InboxTest, UnreadableMetadataRejectionNamesTheErrno) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files of mode 0000";
  write("p.tif", "TIFFDATA");
  write("p.json", R"({"sender": "0312345678"})");
  fs::permissions(dir_ / "p.json", fs::perms::none);
  auto inbox = make();
  EXPECT_EQ(inbox.scan_once().rejected, 1);
  const auto reason = read(dir_ / "rejected/p.reason.txt");
  EXPECT_NE(reason.find("Permission denied (errno 13 EACCES"), std::string::npos) << reason;
}

TEST_F(InboxTest, BrokenJsonAndMissingDocumentAreRejected) {
  write("d.tif", "TIFFDATA");
  write("d.json", "{not json");
  write("e.json", R"({"sender": "0312345678"})");
  auto inbox = make();
  EXPECT_EQ(inbox.scan_once().rejected, 2);
  EXPECT_NE(read(dir_ / "rejected/d.reason.txt").find("JSON"), std::string::npos);
  EXPECT_NE(read(dir_ / "rejected/e.reason.txt").find("no document"), std::string::npos);
}

TEST_F(InboxTest, OversizedDocumentIsRejected) {
  write("f.pdf", std::string(2048, 'x'));
  write("f.json", R"({"sender": "0312345678"})");
  auto inbox = make();
  EXPECT_EQ(inbox.scan_once().rejected, 1);
  EXPECT_NE(read(dir_ / "rejected/f.reason.txt").find("exceeds the limit"), std::string::npos);
}

TEST_F(InboxTest, RefusedDocumentIsRejectedWithTheEngineReason) {
  write("g.tif", "TIFFDATA");
  write("g.json", R"({"sender": "0312345678"})");
  auto inbox = make(Errc::invalid_argument, true);
  EXPECT_EQ(inbox.scan_once().rejected, 1);
  EXPECT_NE(read(dir_ / "rejected/g.reason.txt").find("refused (test)"), std::string::npos);
}

TEST_F(InboxTest, TransientFailureLeavesThePairForTheNextScan) {
  write("h.tif", "TIFFDATA");
  write("h.json", R"({"sender": "0312345678"})");
  auto inbox = make(Errc::io, true);
  EXPECT_EQ(inbox.scan_once().deferred, 1);
  EXPECT_TRUE(fs::exists(dir_ / "h.tif"));
  EXPECT_TRUE(fs::exists(dir_ / "h.json"));
}

TEST_F(InboxTest, SameNameTwiceKeepsBothInProcessed) {
  auto inbox = make();
  for (int i = 0; i < 2; ++i) {
    write("i.tif", "TIFFDATA" + std::to_string(i));
    write("i.json", R"({"sender": "0312345678"})");
    EXPECT_EQ(inbox.scan_once().submitted, 1);
  }
  EXPECT_TRUE(fs::exists(dir_ / "processed/i.tif"));
  EXPECT_TRUE(fs::exists(dir_ / "processed/i.1.tif"));
}

}  // namespace
}  // namespace atdesk::fax
