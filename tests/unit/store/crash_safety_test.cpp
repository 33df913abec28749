// Crash safety of the store and the spool together. A child process writes jobs the way the
// engine does (document into the spool, then the job row) and, after each commit, writes the job
// id to a pipe: that id is the receipt a sender would get. The parent kills the child with
// SIGKILL at random moments, then reopens both and checks that every receipted job is there,
// committed, with an intact document, and that no half-written file is visible as a blob. With
// several writer threads (as the engine's workers are) the store commits their writes in groups,
// so kills also land while one writer commits a group that holds the others' writes.
//
// The seed is printed on failure; set ATDESK_CRASH_SEED to replay a run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "atdesk/store/spool.hpp"
#include "atdesk/store/sqlite_store.hpp"
#include "store_test_support.hpp"

namespace atdesk::store {
namespace {

namespace fs = std::filesystem;
using testing::content_hash;
using testing::document_bytes;
using testing::job_id;
using testing::TempDir;

constexpr int kRounds = 20;

struct Paths {
  fs::path db, spool, key;
};

// The size of the document of job `n` of a round: a mix of empty, small and multi-chunk ones.
std::size_t document_size(std::uint64_t n) {
  switch (n % 4) {
    case 0:
      return 0;
    case 1:
      return 100 + n % 1000;
    case 2:
      return 64 * 1024 + 7;
    default:
      return 300 * 1024 + n % 4096;
  }
}

std::uint64_t document_seed(const JobId& id) {
  return std::hash<std::string>{}(id.str());
}

std::string hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// One writer of the child: writes jobs until the process is killed. Exit codes say what failed.
void write_jobs(SqliteStore& store, EncryptedSpool& spool, int round, int writer, int receipts) {
  for (std::uint64_t n = 0;; ++n) {
    const auto id = job_id(
        n, static_cast<std::uint64_t>(round + 1) << 32 | static_cast<std::uint64_t>(writer) << 24);
    const auto data = document_bytes(document_size(n), document_seed(id));
    if (!spool.put(id, BlobKind::original, data)) ::_exit(12);

    Job job;
    job.id = id;
    job.source = JobSource::upload;
    job.document_name = hex(content_hash(data));
    job.size_bytes = data.size();
    job.received_at = Timestamp(std::chrono::milliseconds(1'700'000'000'000 + round * 100000 + n));
    job.updated_at = job.received_at;
    const Transition first{id,     job.received_at, JobState::received, JobState::received,
                           "test", "received"};
    if (!store.insert(job, first)) ::_exit(13);

    const std::string receipt = id.str() + "\n";
    if (::write(receipts, receipt.data(), receipt.size()) != static_cast<ssize_t>(receipt.size())) {
      ::_exit(14);
    }
    // More writes after the receipt, so kills also land in the middle of updates.
    auto stored = job;
    stored.state = JobState::stored;
    const Transition next{id,     job.received_at, JobState::received, JobState::stored,
                          "test", "stored"};
    if (!store.update(stored, JobState::received, next)) ::_exit(15);
  }
}

// Runs in the forked child: never returns, never uses gtest.
[[noreturn]] void write_jobs_until_killed(const Paths& paths, int round, int receipts,
                                          int writers) {
  auto store = SqliteStore::open(paths.db, NumberPlan{});
  if (!store) ::_exit(10);
  auto spool = EncryptedSpool::open(paths.spool, paths.key);
  if (!spool) ::_exit(11);
  std::vector<std::thread> threads;
  for (int w = 1; w < writers; ++w) {
    threads.emplace_back([&, w] { write_jobs(**store, **spool, round, w, receipts); });
  }
  write_jobs(**store, **spool, round, 0, receipts);
  ::_exit(16);  // not reached: write_jobs returns only through _exit
}

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  return "status " + std::to_string(status);
}

// Forks a writer process, kills it after `delay`, and returns the receipted job ids.
std::vector<std::string> run_round(const Paths& paths, int round, std::chrono::milliseconds delay,
                                   int writers) {
  int fds[2];
  if (::pipe(fds) != 0) {
    ADD_FAILURE() << "pipe failed";
    return {};
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    return {};
  }
  if (pid == 0) {
    ::close(fds[0]);
    write_jobs_until_killed(paths, round, fds[1], writers);
  }
  ::close(fds[1]);
  // The crash is the point of this test: the child must die at an arbitrary moment.
  std::this_thread::sleep_for(delay);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "round " << round << ": the writer " << describe_exit(status)
      << " before it was killed (10: store open, 11: spool open, 12: put, 13: insert, "
         "14: receipt, 15: update)";

  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, buf + n);
  ::close(fds[0]);
  std::vector<std::string> ids;
  for (std::size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos;
       start = end + 1) {
    ids.push_back(text.substr(start, end - start));
  }
  return ids;
}

// Kills `kRounds` writer processes of `writers` threads each and checks what they left.
void check_kills(int writers) {
  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("ATDESK_CRASH_SEED")) seed = std::strtoull(s, nullptr, 10);
  SCOPED_TRACE("ATDESK_CRASH_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> delay_ms(1, 50);

  TempDir dir;
  const Paths paths{dir / "atdesk.db", dir / "spool", dir / "spool.key"};
  std::vector<std::string> receipts;
  for (int round = 0; round < kRounds; ++round) {
    auto ids = run_round(paths, round, std::chrono::milliseconds(delay_ms(rng)), writers);
    receipts.insert(receipts.end(), ids.begin(), ids.end());
  }
  ::testing::Test::RecordProperty("receipted_jobs", static_cast<int>(receipts.size()));
  ASSERT_FALSE(::testing::Test::HasFailure());
  ASSERT_GT(receipts.size(), 0u) << "no writer got as far as a receipt; the test checked nothing";

  auto store = SqliteStore::open(paths.db, NumberPlan{});
  ASSERT_TRUE(store) << store.error().describe();
  auto spool = EncryptedSpool::open(paths.spool, paths.key);
  ASSERT_TRUE(spool) << spool.error().describe();

  // Every receipted job: its row committed, its history there, its document intact.
  for (const auto& text : receipts) {
    auto id = JobId::parse(text);
    ASSERT_TRUE(id) << "garbled receipt \"" << text << "\"";
    auto job = (*store)->get(*id);
    ASSERT_TRUE(job) << "receipted job lost: " << job.error().describe();
    EXPECT_TRUE(job->state == JobState::received || job->state == JobState::stored)
        << text << " is " << to_string(job->state);
    auto history = (*store)->history(*id);
    ASSERT_TRUE(history);
    EXPECT_GE(history->size(), job->state == JobState::stored ? 2u : 1u) << text;
    auto data = (*spool)->get(*id, BlobKind::original);
    ASSERT_TRUE(data) << "document of receipted job " << text << ": " << data.error().describe();
    EXPECT_EQ(data->size(), job->size_bytes) << text;
    EXPECT_EQ(hex(content_hash(*data)), job->document_name) << text;
    EXPECT_TRUE(*data == document_bytes(data->size(), document_seed(*id))) << text;
  }

  // Every committed row, receipted or not (killed before the receipt), has its document: the
  // document is written before the row.
  JobFilter all;
  all.limit = 1'000'000;
  auto jobs = (*store)->list(all);
  ASSERT_TRUE(jobs) << jobs.error().describe();
  EXPECT_GE(jobs->size(), receipts.size());
  std::set<std::string> rows;
  for (const auto& job : *jobs) {
    rows.insert(job.id.str());
    auto data = (*spool)->get(job.id, BlobKind::original);
    ASSERT_TRUE(data) << "committed job " << job.id.str()
                      << " without its document: " << data.error().describe();
    EXPECT_EQ(hex(content_hash(*data)), job.document_name) << job.id.str();
  }
  for (const auto& text : receipts) EXPECT_TRUE(rows.count(text)) << text;

  // No temporary file is left, and every file in the spool is a complete blob (a document
  // written before the kill but whose row was never committed is allowed, and must be whole).
  std::size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(paths.spool)) {
    if (!entry.is_regular_file()) continue;
    const auto name = entry.path().filename().string();
    if (name == std::string(JobId::kLength, '0') + ".original") continue;  // the key check
    ++files;
    ASSERT_NE(entry.path().extension(), ".tmp") << "left over after open(): " << entry.path();
    const auto dot = name.find('.');
    ASSERT_NE(dot, std::string::npos) << entry.path();
    auto id = JobId::parse(name.substr(0, dot));
    ASSERT_TRUE(id) << "unexpected file in the spool: " << entry.path();
    ASSERT_EQ(name.substr(dot), ".original") << entry.path();
    auto data = (*spool)->get(*id, BlobKind::original);
    ASSERT_TRUE(data) << entry.path() << ": " << data.error().describe();
    EXPECT_TRUE(*data == document_bytes(data->size(), document_seed(*id))) << entry.path();
    EXPECT_EQ(data->size(), document_size(std::stoull(name.substr(16, 16), nullptr, 16)))
        << entry.path();
  }
  EXPECT_GE(files, jobs->size());
  // At most one uncommitted document per writer and kill.
  EXPECT_LE(files, jobs->size() + static_cast<std::size_t>(kRounds * writers));
}

TEST(CrashSafety, EveryReceiptedJobSurvivesAKillAtAnyMoment) {
  check_kills(1);
}

// Four writers, as the engine has workers: their writes share commits.
TEST(CrashSafety, EveryReceiptedJobOfConcurrentWritersSurvivesAKillAtAnyMoment) {
  check_kills(4);
}

}  // namespace
}  // namespace atdesk::store
