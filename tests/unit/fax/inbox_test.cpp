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
    return InboxWatcher(s, [this, failure, fail_submit](engine::IncomingDocument d) -> Result<Job> {
      if (fail_submit) return fail(failure, d.name + ": refused (test)");
      submitted_.push_back(std::move(d));
      Job j;
      j.id = *JobId::parse("0123456789abcdef0123456789abcdef");
      return j;
    });
  }

  fs::path dir_;
  std::vector<engine::IncomingDocument> submitted_;
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
  write("c.json", R"({"sender": "call me maybe"})");
  auto inbox = make();
  EXPECT_EQ(inbox.scan_once().rejected, 1);
  EXPECT_TRUE(fs::exists(dir_ / "rejected/c.tif"));
  EXPECT_TRUE(fs::exists(dir_ / "rejected/c.json"));
  auto reason = read(dir_ / "rejected/c.reason.txt");
  EXPECT_NE(reason.find("c.json: sender"), std::string::npos) << reason;
  EXPECT_TRUE(submitted_.empty());
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
