// SqliteStore against real database files in temporary folders: schema and seed, reopening,
// migrations, jobs (insert, find, compare-and-set, history, filters), the tables users edit,
// settings, the audit log, and the errors a damaged or unreachable database gives.
#include "atdesk/store/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "store_test_support.hpp"

namespace atdesk::store {
namespace {

using testing::at_ms;
using testing::job_id;
using testing::TempDir;

using testing::expect_same_job;
using testing::first_transition;
using testing::kJapan;
using testing::make_job;
using testing::user;

// Raw SQL on the database file, for what the port does not offer (triggers, fake versions).
void raw_sql(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string message = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { reopen(); }
  void reopen() {
    store_.reset();
    auto opened = SqliteStore::open(file_, kJapan);
    ASSERT_TRUE(opened) << opened.error().describe();
    store_ = std::move(*opened);
  }
  void insert(const Job& j) {
    auto ok = store_->insert(j, first_transition(j));
    ASSERT_TRUE(ok) << ok.error().describe();
  }

  TempDir dir_;
  std::filesystem::path file_ = dir_ / "atdesk.db";
  std::unique_ptr<SqliteStore> store_;
};

// ---------------------------------------------------------------------------------------------
// Schema, seed, reopening, migrations

TEST_F(SqliteStoreTest, OpenCreatesSchemaAndSeedsTheDefaultModeTables) {
  EXPECT_TRUE(std::filesystem::exists(file_));
  EXPECT_EQ(store_->schema_version(), 3);
  auto tables = store_->mode_tables();
  ASSERT_TRUE(tables) << tables.error().describe();
  ASSERT_EQ(tables->size(), 2u);
  EXPECT_EQ((*tables)[0], ModeTable("holiday"));  // ordered by name; every cell holds
  EXPECT_EQ((*tables)[1], ModeTable::seed_default("weekday"));
  EXPECT_EQ((*tables)[1].lookup(Availability::available, WorkLocation::office), Action::print);
  EXPECT_EQ((*tables)[1].lookup(Availability::busy, WorkLocation::office), Action::hold);
  auto sched = store_->schedule();
  ASSERT_TRUE(sched);
  EXPECT_FALSE(sched->has_value());
  auto jobs = store_->list({});
  ASSERT_TRUE(jobs);
  EXPECT_TRUE(jobs->empty());
}

TEST_F(SqliteStoreTest, OpenCreatesMissingParentFolders) {
  const auto nested = dir_ / "a" / "b" / "c.db";
  auto opened = SqliteStore::open(nested, kJapan);
  ASSERT_TRUE(opened) << opened.error().describe();
  EXPECT_TRUE(std::filesystem::exists(nested));
}

TEST_F(SqliteStoreTest, ReopenKeepsData) {
  const auto j = make_job(job_id(1), 1000);
  insert(j);
  ASSERT_TRUE(store_->put_setting("presence.local", "alice", R"({"a":"busy"})"));
  auto rule = store_->add_recipient_rule(
      {0, *SenderPattern::parse("prefix:03", kJapan), user("bob"), "", "Tokyo"});
  ASSERT_TRUE(rule);
  reopen();
  auto got = store_->get(j.id);
  ASSERT_TRUE(got) << got.error().describe();
  expect_same_job(*got, j);
  EXPECT_EQ(store_->get_setting("presence.local", "alice").value(),
            std::optional<std::string>(R"({"a":"busy"})"));
  auto rules = store_->recipient_rules();
  ASSERT_TRUE(rules);
  ASSERT_EQ(rules->size(), 1u);
  EXPECT_EQ((*rules)[0], *rule);
  EXPECT_EQ(store_->history(j.id).value().size(), 1u);
}

TEST_F(SqliteStoreTest, MigrationsAreIdempotentAndDoNotReseed) {
  // A user removes the seeded holiday table and changes the weekday one; reopening must neither
  // re-run migration 1 nor bring the seed back.
  ASSERT_TRUE(store_->remove_mode_table("holiday"));
  ModeTable weekday("weekday");
  weekday.set(Availability::busy, WorkLocation::remote, Action::print);
  ASSERT_TRUE(store_->put_mode_table(weekday));
  for (int i = 0; i < 3; ++i) {
    reopen();
    EXPECT_EQ(store_->schema_version(), 3);
    auto tables = store_->mode_tables();
    ASSERT_TRUE(tables);
    ASSERT_EQ(tables->size(), 1u);
    EXPECT_EQ((*tables)[0], weekday);
  }
}

// Why a job is held by printing is data (#11): an unknown value is a corrupt row naming the job
// and the column, not silently "none".
TEST_F(SqliteStoreTest, AnUnknownPrintProblemIsACorruptRowNamingTheJob) {
  auto j = make_job(job_id(3), 1000);
  insert(j);
  store_.reset();
  raw_sql(file_, "UPDATE jobs SET print_problem = 'will retry' WHERE id = '" + j.id.str() + "'");
  reopen();
  auto got = store_->get(j.id);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::corrupt);
  EXPECT_NE(got.error().message.find(j.id.str()), std::string::npos) << got.error().message;
  EXPECT_NE(got.error().message.find("print_problem"), std::string::npos) << got.error().message;
}

TEST_F(SqliteStoreTest, ADatabaseFromANewerAtdeskIsRefused) {
  store_.reset();
  raw_sql(file_, "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)");
  auto opened = SqliteStore::open(file_, kJapan);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, Errc::unsupported);
  EXPECT_NE(opened.error().message.find(file_.string()), std::string::npos)
      << opened.error().message;
  EXPECT_NE(opened.error().message.find("99"), std::string::npos) << opened.error().message;
}

// A row that cannot be read is Errc::corrupt naming the job and the column, never read as a
// default (an unknown state used to become `failed`, unknown recipients were skipped).
TEST_F(SqliteStoreTest, AnUnreadableColumnIsCorruptNamingTheJobAndTheColumn) {
  const auto j = make_job(job_id(7), 1000);
  insert(j);
  for (const auto& [column, value] : std::vector<std::pair<std::string, std::string>>{
           {"state", "'shredded'"},
           {"source", "'pigeon'"},
           {"format", "'docx'"},
           {"sender", "'not json'"},
           {"recipients", "'[\"user:local:alice\", 42]'"}}) {
    SCOPED_TRACE(column);
    store_.reset();
    raw_sql(file_, "UPDATE jobs SET " + column + " = " + value);
    reopen();
    auto got = store_->get(j.id);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, Errc::corrupt);
    EXPECT_NE(got.error().message.find(j.id.str()), std::string::npos) << got.error().message;
    EXPECT_NE(got.error().message.find("column " + column), std::string::npos)
        << got.error().message;
    auto listed = store_->list({});
    EXPECT_FALSE(listed);
    store_.reset();
    // Put the row back as it was for the next column.
    raw_sql(file_,
            "UPDATE jobs SET state = 'received', source = 'inbox', format = 'tiff', "
            "sender = '{\"fax\":\"81312345678\"}', recipients = '[\"user:local:alice\"]'");
    reopen();
    ASSERT_TRUE(store_->get(j.id)) << column;
  }
}

// A mode table with a missing or unknown cell, or a schedule with a field of the wrong type, is
// Errc::corrupt naming it: never a table that quietly holds (or prints) where nobody chose so.
TEST_F(SqliteStoreTest, AnUnreadableModeTableOrScheduleIsCorruptNamingTheField) {
  store_.reset();
  raw_sql(file_, R"(UPDATE mode_tables SET cells = json_set(cells, '$.busy.office', 'maybe')
                    WHERE name = 'holiday')");
  reopen();
  auto tables = store_->mode_tables();
  ASSERT_FALSE(tables);
  EXPECT_EQ(tables.error().code, Errc::corrupt);
  EXPECT_NE(tables.error().message.find("mode table 'holiday', cells.busy.office"),
            std::string::npos)
      << tables.error().message;

  Schedule schedule;
  schedule.rules.push_back(
      {"weekday", 0x3e, std::chrono::minutes(540), std::chrono::minutes(1080)});
  ASSERT_TRUE(store_->put_schedule(schedule));
  ASSERT_EQ(store_->schedule().value(), std::optional<Schedule>(schedule));
  store_.reset();
  raw_sql(file_, R"(UPDATE schedule SET body = json_set(body, '$.rules[0].days', 'weekdays'))");
  reopen();
  auto read = store_->schedule();
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, Errc::corrupt);
  EXPECT_NE(read.error().message.find("rules[].days"), std::string::npos) << read.error().message;
}

// Notices a chat service could not take are kept across a reopen (a restart of atdeskd), oldest
// first, until removed.
TEST_F(SqliteStoreTest, QueuedNoticesSurviveAReopenInOrder) {
  const auto j = make_job(job_id(8), 1000);
  insert(j);
  QueuedNotice first{0, j.id, JobState::held, user("alice"), "held", true, 1, at_ms(2000)};
  QueuedNotice second{0, j.id, JobState::printed, user("bob"), "printed", false, 1, at_ms(3000)};
  auto a = store_->queue_notice(first);
  auto b = store_->queue_notice(second);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(store_->note_notice_attempt(*a));
  reopen();
  EXPECT_EQ(store_->count_notices().value(), 2);
  auto waiting = store_->queued_notices(10);
  ASSERT_TRUE(waiting) << waiting.error().describe();
  ASSERT_EQ(waiting->size(), 2u);
  EXPECT_EQ((*waiting)[0].id, *a);
  EXPECT_EQ((*waiting)[0].job, j.id);
  EXPECT_EQ((*waiting)[0].state, JobState::held);
  EXPECT_EQ((*waiting)[0].to, user("alice"));
  EXPECT_EQ((*waiting)[0].text, "held");
  EXPECT_TRUE((*waiting)[0].with_preview);
  EXPECT_EQ((*waiting)[0].attempts, 2);
  EXPECT_EQ((*waiting)[0].queued_at, at_ms(2000));
  EXPECT_EQ((*waiting)[1].text, "printed");
  EXPECT_FALSE((*waiting)[1].with_preview);
  ASSERT_TRUE(store_->remove_notice(*a));
  EXPECT_EQ(store_->queued_notices(10).value().size(), 1u);
  EXPECT_EQ(store_->queued_notices(10).value().front().id, *b);
}

TEST(SqliteStoreErrors, AGarbageFileIsACorruptDatabaseNamingTheFile) {
  TempDir dir;
  const auto file = dir / "garbage.db";
  std::string garbage(8192, '\0');
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 7 + 3);
  testing::write_file(file, garbage);
  auto opened = SqliteStore::open(file, kJapan);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, Errc::corrupt) << opened.error().describe();
  EXPECT_NE(opened.error().message.find(file.string()), std::string::npos)
      << opened.error().message;
  EXPECT_NE(opened.error().message.find("not a database"), std::string::npos)
      << opened.error().message;
  // The file is left as it was, for a person to look at.
  EXPECT_EQ(testing::read_file(file), garbage);
}

TEST(SqliteStoreErrors, AFolderThatCannotBeCreatedIsNamed) {
  TempDir dir;
  testing::write_file(dir / "plain-file", "not a folder");
  const auto file = dir / "plain-file" / "sub" / "atdesk.db";
  auto opened = SqliteStore::open(file, kJapan);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, Errc::io);
  EXPECT_NE(opened.error().message.find((dir / "plain-file" / "sub").string()), std::string::npos)
      << opened.error().message;
}

// Root may write into any folder, so the read-only case runs as an unprivileged user: in a
// child process when the test runs as root. Returns the error message, or "" when open worked.
std::string open_in_read_only_folder(const std::filesystem::path& folder) {
  const auto file = folder / "atdesk.db";
  if (::geteuid() != 0) {
    auto opened = SqliteStore::open(file, kJapan);
    return opened ? std::string() : opened.error().message;
  }
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    auto opened = SqliteStore::open(file, kJapan);
    const std::string message = opened ? std::string() : opened.error().message;
    const auto w = ::write(fds[1], message.data(), message.size());
    ::_exit(w == static_cast<ssize_t>(message.size()) ? 0 : 3);
  }
  ::close(fds[1]);
  std::string message;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) message.append(buf, buf + n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "child failed";
  return message;
}

TEST(SqliteStoreErrors, AReadOnlyFolderGivesAnErrorNamingTheFile) {
  TempDir dir;
  const auto folder = dir / "ro";
  std::filesystem::create_directory(folder);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(folder.c_str(), 0555), 0);
  const auto message = open_in_read_only_folder(folder);
  ASSERT_NE(message, "child failed");
  ASSERT_FALSE(message.empty()) << "the store opened in a read-only folder";
  EXPECT_NE(message.find((folder / "atdesk.db").string()), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(folder / "atdesk.db"));
}

// ---------------------------------------------------------------------------------------------
// Jobs

TEST_F(SqliteStoreTest, ASenderNumberWithoutCountryCodeRoundTrips) {
  auto j = make_job(job_id(8), 1000);
  j.sender.fax = *FaxNumber::parse("0312345678", NumberPlan{});  // kept as written
  j.sender.called = *FaxNumber::parse("1234", NumberPlan{});
  insert(j);
  auto got = store_->get(j.id);
  ASSERT_TRUE(got);
  expect_same_job(*got, j);
}

TEST_F(SqliteStoreTest, TheLargestLimitMeansEveryJob) {
  insert(make_job(job_id(1), 1000));
  insert(make_job(job_id(2), 2000));
  JobFilter f;
  f.limit = std::numeric_limits<std::size_t>::max();
  auto jobs = store_->list(f);
  ASSERT_TRUE(jobs) << jobs.error().describe();
  EXPECT_EQ(jobs->size(), 2u);
  TableStore& tables = *store_;
  ASSERT_TRUE(tables.append_audit({0, at_ms(1), "a", "b", "c", "d"}));
  auto audit = tables.audit(std::numeric_limits<std::size_t>::max());
  ASSERT_TRUE(audit) << audit.error().describe();
  EXPECT_EQ(audit->size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Group commit

// Waits (up to 10 s) until `done()` holds; false if it never did.
template <class F>
bool eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Writers that arrive while a group is being committed go into the next group together; in it a
// lost compare-and-set and a write that fails half-way (its job row changed, its history row
// refused) fail alone, with their changes rolled back, and the good writes are committed.
TEST_F(SqliteStoreTest, GroupedWritesCommitTogetherAndAFailingOneFailsAlone) {
  for (std::uint64_t n = 1; n <= 4; ++n) insert(make_job(job_id(n), 1000 * static_cast<int>(n)));
  raw_sql(file_,
          "CREATE TRIGGER refuse_poison BEFORE INSERT ON job_history WHEN NEW.reason = 'poison' "
          "BEGIN SELECT RAISE(ABORT, 'poisoned history row'); END");
  // Another connection holds the write lock, so the first group waits in BEGIN IMMEDIATE (the
  // store's busy timeout is 5 s) and the writers after it queue up for the next group.
  sqlite3* blocker = nullptr;
  ASSERT_EQ(sqlite3_open(file_.c_str(), &blocker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

  auto move = [&](std::uint64_t n, JobState expected, const std::string& reason) {
    auto job = make_job(job_id(n), 1000 * static_cast<int>(n));
    job.state = JobState::stored;
    job.reason = reason;
    job.printer = "changed";
    const Transition t{job.id, at_ms(9000), expected, JobState::stored, "engine", reason};
    return store_->update(job, expected, t);
  };
  const auto before = store_->group_commit_stats();
  std::optional<Result<void>> r1, r2, r3, r4;
  std::thread first([&] { r1 = move(1, JobState::received, "stored"); });
  ASSERT_TRUE(eventually([&] { return store_->group_commit_stats().groups == before.groups + 1; }));
  std::thread good([&] { r2 = move(2, JobState::received, "stored"); });
  std::thread stale([&] { r3 = move(3, JobState::held, "stored"); });
  std::thread poisoned([&] { r4 = move(4, JobState::received, "poison"); });
  const bool queued = eventually([&] { return store_->group_commit_stats().waiting == 3; });
  EXPECT_EQ(sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(blocker);
  for (auto* t : {&first, &good, &stale, &poisoned}) t->join();
  ASSERT_TRUE(queued) << "the three writers never queued behind the first group";

  ASSERT_TRUE(r1 && *r1) << r1->error().describe();
  ASSERT_TRUE(r2 && *r2) << r2->error().describe();
  ASSERT_TRUE(r3 && !*r3);
  EXPECT_EQ(r3->error().code, Errc::conflict) << r3->error().describe();
  ASSERT_TRUE(r4 && !*r4);
  EXPECT_EQ(r4->error().code, Errc::io);
  EXPECT_NE(r4->error().message.find("poisoned history row"), std::string::npos)
      << r4->error().message;
  const auto after = store_->group_commit_stats();
  EXPECT_EQ(after.groups, before.groups + 2) << "the last three writes were not one group";
  EXPECT_EQ(after.writes, before.writes + 4);

  // Durable: read back through a new connection.
  reopen();
  for (std::uint64_t n : {1, 2}) {
    auto job = store_->get(job_id(n));
    ASSERT_TRUE(job) << job.error().describe();
    EXPECT_EQ(job->state, JobState::stored) << n;
    EXPECT_EQ(job->printer, "changed") << n;
    EXPECT_EQ(store_->history(job_id(n)).value().size(), 2u) << n;
  }
  for (std::uint64_t n : {3, 4}) {
    auto job = store_->get(job_id(n));
    ASSERT_TRUE(job) << job.error().describe();
    EXPECT_EQ(job->state, JobState::received) << n;
    EXPECT_EQ(job->printer, "") << n << ": the failed write's row change was not rolled back";
    EXPECT_EQ(store_->history(job_id(n)).value().size(), 1u) << n;
  }
}

// ---------------------------------------------------------------------------------------------
// Recipient rules, mode tables, schedule

RecipientRule rule(const std::string& pattern, const std::string& who, const std::string& note) {
  return RecipientRule{0, SenderPattern::parse(pattern, kJapan).value(), user(who), "", note};
}

TEST_F(SqliteStoreTest, ReplaceRecipientRulesIsAtomic) {
  auto before = store_->replace_recipient_rules({rule("others", "old", ""), rule("all", "x", "")});
  ASSERT_TRUE(before);
  // Make the database refuse the second new rule: the import must fail as a whole.
  store_.reset();
  raw_sql(file_,
          "CREATE TRIGGER refuse BEFORE INSERT ON recipient_rules WHEN NEW.note = 'refuse' "
          "BEGIN SELECT RAISE(ABORT, 'refused by test'); END");
  reopen();
  auto failed =
      store_->replace_recipient_rules({rule("prefix:03", "new", ""), rule("all", "y", "refuse")});
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("refused by test"), std::string::npos);
  EXPECT_EQ(store_->recipient_rules().value(), *before);
  // The store is still usable afterwards (no transaction left open).
  ASSERT_TRUE(store_->add_recipient_rule(rule("prefix:06", "osaka", "")));
  EXPECT_EQ(store_->recipient_rules().value().size(), 3u);
}

TEST_F(SqliteStoreTest, ModeTablesPutReplaceAndRemove) {
  ModeTable night("night");
  night.set(Availability::offline, WorkLocation::unknown, Action::print);
  ASSERT_TRUE(store_->put_mode_table(night));
  ModeTable weekday = ModeTable::seed_default("weekday");
  weekday.set(Availability::available, WorkLocation::office, Action::hold);
  weekday.set(Availability::busy, WorkLocation::remote, Action::print);
  ASSERT_TRUE(store_->put_mode_table(weekday));
  EXPECT_EQ(store_->mode_tables().value(),
            (std::vector<ModeTable>{ModeTable("holiday"), night, weekday}));

  ASSERT_TRUE(store_->remove_mode_table("night"));
  auto again = store_->remove_mode_table("night");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::not_found);
  EXPECT_NE(again.error().message.find("night"), std::string::npos);
  reopen();
  EXPECT_EQ(store_->mode_tables().value(), (std::vector<ModeTable>{ModeTable("holiday"), weekday}));
}

// ---------------------------------------------------------------------------------------------
// Settings and audit log

TEST_F(SqliteStoreTest, AuditLogAppendsAndPagesNewestFirst) {
  for (int i = 1; i <= 7; ++i) {
    ASSERT_TRUE(store_->append_audit({0, at_ms(1000 * i), "user:alice", "job.release",
                                      "job " + std::to_string(i), "entry " + std::to_string(i)}));
  }
  TableStore& tables = *store_;  // the port's default before_id
  auto all = tables.audit(100).value();
  ASSERT_EQ(all.size(), 7u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    const int n = 7 - static_cast<int>(i);
    EXPECT_EQ(all[i].detail, "entry " + std::to_string(n));
    EXPECT_EQ(all[i].at, at_ms(1000 * n));
    EXPECT_EQ(all[i].actor, "user:alice");
    EXPECT_EQ(all[i].action, "job.release");
    EXPECT_EQ(all[i].subject, "job " + std::to_string(n));
    if (i > 0) {
      EXPECT_LT(all[i].id, all[i - 1].id);
    }
  }

  // Paging with before_id visits every entry once, newest first.
  std::vector<std::int64_t> paged;
  std::int64_t before = 0;
  for (;;) {
    auto page = store_->audit(3, before).value();
    if (page.empty()) break;
    EXPECT_LE(page.size(), 3u);
    for (const auto& e : page) paged.push_back(e.id);
    before = page.back().id;
  }
  std::vector<std::int64_t> ids;
  for (const auto& e : all) ids.push_back(e.id);
  EXPECT_EQ(paged, ids);
  EXPECT_TRUE(tables.audit(0).value().empty());
}

}  // namespace
}  // namespace atdesk::store
