// The store CONTRACT: what every adapter of JobStore, TableStore and BlobStore must do, as one
// typed GoogleTest suite. Instantiated for the in-memory fakes and SQLite + spool in store_test
// (tests/unit/store/store_contract_test.cpp), and for PostgreSQL in the store_pg integration
// suite (tests/integration/store_pg). A Backend provides:
//   void open();                 a fresh, empty store (called once per test)
//   void reopen();               the same data through new handles (a restart)
//   store::JobStore& jobs();  store::TableStore& tables();  store::BlobStore& blobs();
//   store::JobStore& writer(int i);  the i-th of several independent handles (connections)
//   void expire_leases();        every lease held now has expired (by the store's clock)
//   static constexpr bool kSeveralNodes;  writer(i) is another node on the same data (leases)
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "atdesk/store/blob_store.hpp"
#include "atdesk/store/job_store.hpp"
#include "atdesk/store/table_store.hpp"
#include "store_test_support.hpp"

namespace atdesk::store::contract {

using testing::expect_same_job;
using testing::first_transition;
using testing::kJapan;
using testing::make_job;
using testing::user;

inline std::vector<JobId> ids_of(const std::vector<Job>& jobs) {
  std::vector<JobId> out;
  for (const auto& j : jobs) out.push_back(j.id);
  return out;
}

inline RecipientRule rule(const std::string& pattern, const std::string& who,
                          const std::string& note) {
  return RecipientRule{0, SenderPattern::parse(pattern, kJapan).value(), user(who), "", note};
}

template <class Backend>
class StoreContract : public ::testing::Test {
 protected:
  void SetUp() override { backend_.open(); }
  JobStore& jobs() { return backend_.jobs(); }
  TableStore& tables() { return backend_.tables(); }
  BlobStore& blobs() { return backend_.blobs(); }
  void insert(const Job& j) {
    auto ok = jobs().insert(j, first_transition(j));
    ASSERT_TRUE(ok) << ok.error().describe();
  }
  Backend backend_;
};

TYPED_TEST_SUITE_P(StoreContract);

using testing::at_ms;
using testing::job_id;

TYPED_TEST_P(StoreContract, InsertAndGetKeepEveryField) {
  auto j = make_job(job_id(7), 1'700'000'000'123);
  j.source = JobSource::sip;
  j.sender.caller_id = "0312345678";
  j.sender.sip_uri = "sip:fax@example.org";
  j.sender.email = "sales@example.org";
  j.sender.ip = "2001:db8::1";
  j.sender.ipp_user = "carol";
  j.sender.called = *FaxNumber::parse("+81 3 1234 0000", kJapan);
  j.document_name = "Angebot \"Q3\" – Ünïcødé {a,b} \\ 'x'.pdf";
  j.format = DocumentFormat::pdf;
  j.pages = 17;
  j.incomplete = true;
  j.size_bytes = 5'000'000'000ull;  // over 32 bits
  j.updated_at = at_ms(1'700'000'000'999);
  j.recipients = {user("alice"), Recipient{RecipientKind::channel, "xmpp", "fax@rooms.example"},
                  user("o\"brien,{x}\\y")};  // characters an array literal must escape
  j.printer = "office-2f";
  j.reason = "stored; Alice is available";
  j.print_attempts = 3;
  j.printer_job = "ipp://printer/jobs/42";
  j.print_problem = PrintProblem::aborted;
  j.print_failures = 2;
  this->insert(j);
  auto got = this->jobs().get(j.id);
  ASSERT_TRUE(got) << got.error().describe();
  expect_same_job(*got, j);
  this->backend_.reopen();
  expect_same_job(this->jobs().get(j.id).value(), j);
  JobFilter f;
  f.recipient = user("o\"brien,{x}\\y").key();
  EXPECT_EQ(ids_of(this->jobs().list(f).value()), std::vector<JobId>{j.id});
}

TYPED_TEST_P(StoreContract, InsertingAnExistingIdIsAConflictAndKeepsTheFirst) {
  const auto j = make_job(job_id(1), 1000);
  this->insert(j);
  auto other = make_job(job_id(1), 2000);
  other.document_name = "other.tif";
  auto again = this->jobs().insert(other, first_transition(other));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::conflict);
  EXPECT_NE(again.error().message.find(j.id.str()), std::string::npos) << again.error().message;
  expect_same_job(this->jobs().get(j.id).value(), j);
  EXPECT_EQ(this->jobs().history(j.id).value().size(), 1u);
}

TYPED_TEST_P(StoreContract, GetOfAnUnknownJobIsNotFoundNamingIt) {
  auto got = this->jobs().get(job_id(99));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::not_found);
  EXPECT_NE(got.error().message.find(job_id(99).str()), std::string::npos);
}

TYPED_TEST_P(StoreContract, FindResolvesUniquePrefixesAndRefusesAmbiguousOnes) {
  const auto a = make_job(job_id(1, 0xabcd000100000000ull), 1000);
  const auto b = make_job(job_id(2, 0xabcd000200000000ull), 2000);
  const auto c = make_job(job_id(3, 0x1234000000000000ull), 3000);
  this->insert(a);
  this->insert(b);
  this->insert(c);
  auto& s = this->jobs();
  EXPECT_EQ(s.find("abcd0001").value().id, a.id);
  EXPECT_EQ(s.find(b.id.short_id()).value().id, b.id);
  EXPECT_EQ(s.find("1234").value().id, c.id);
  EXPECT_EQ(s.find(a.id.str()).value().id, a.id);
  EXPECT_EQ(s.find("ABCD0002").value().id, b.id);  // case-insensitive
  auto ambiguous = s.find("abcd");
  ASSERT_FALSE(ambiguous);
  EXPECT_EQ(ambiguous.error().code, Errc::conflict);
  EXPECT_NE(ambiguous.error().message.find("ambiguous"), std::string::npos)
      << ambiguous.error().message;
  auto missing = s.find("ffff");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  for (const char* bad : {"abc", "", "abcg", "abcd-0001", "0123456789abcdef0123456789abcdef0"}) {
    auto r = s.find(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << bad;
  }
}

TYPED_TEST_P(StoreContract, UpdateIsACompareAndSet) {
  auto& s = this->jobs();
  auto j = make_job(job_id(1), 1000);
  this->insert(j);
  auto stored = j;
  stored.state = JobState::stored;
  stored.updated_at = at_ms(2000);
  stored.reason = "stored";
  stored.recipients = {user("alice"), user("bob")};
  const Transition t1{j.id, at_ms(2000), JobState::received, JobState::stored, "engine", "stored"};
  ASSERT_TRUE(s.update(stored, JobState::received, t1));
  expect_same_job(s.get(j.id).value(), stored);

  // A second writer that still believes the job is `received` loses, and changes nothing.
  auto stale = j;
  stale.state = JobState::printing;
  stale.printer = "someone-else";
  stale.recipients = {user("mallory")};
  const Transition t2{j.id, at_ms(3000), JobState::received, JobState::printing, "engine", "x"};
  auto lost = s.update(stale, JobState::received, t2);
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().code, Errc::conflict);
  EXPECT_NE(lost.error().message.find("stored"), std::string::npos) << lost.error().message;
  expect_same_job(s.get(j.id).value(), stored);
  EXPECT_EQ(s.history(j.id).value().size(), 2u);
  JobFilter by;
  by.recipient = user("mallory").key();
  EXPECT_TRUE(s.list(by).value().empty());
  by.recipient = user("bob").key();
  EXPECT_EQ(ids_of(s.list(by).value()), std::vector<JobId>{j.id});

  auto unknown = make_job(job_id(42), 1000);
  auto missing = s.update(unknown, JobState::received, first_transition(unknown));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

// "A released job prints once": writers with their own handles race to move the same held job
// on; exactly one wins, the others get Errc::conflict.
TYPED_TEST_P(StoreContract, OnlyOneOfManyConcurrentWritersWinsTheCompareAndSet) {
  auto j = make_job(job_id(1), 1000);
  j.state = JobState::held;
  this->insert(j);
  constexpr int kWriters = 8;
  std::vector<JobStore*> writers;
  for (int i = 0; i < kWriters; ++i) writers.push_back(&this->backend_.writer(i));
  std::atomic<int> wins{0}, conflicts{0}, others{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      auto next = j;
      next.state = JobState::releasing;
      next.reason = "released by writer " + std::to_string(i);
      const Transition t{j.id,
                         at_ms(2000 + i),
                         JobState::held,
                         JobState::releasing,
                         "user:" + std::to_string(i),
                         next.reason};
      auto r = writers[static_cast<std::size_t>(i)]->update(next, JobState::held, t);
      if (r) {
        ++wins;
      } else if (r.error().code == Errc::conflict) {
        ++conflicts;
      } else {
        ++others;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(conflicts.load(), kWriters - 1);
  EXPECT_EQ(others.load(), 0);
  auto history = this->jobs().history(j.id).value();
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(this->jobs().get(j.id).value().reason, history[1].reason);
}

TYPED_TEST_P(StoreContract, SaveChangesMutableColumnsButNeverTheState) {
  auto& s = this->jobs();
  auto j = make_job(job_id(1), 1000);
  this->insert(j);
  auto saved = j;
  saved.print_attempts = 2;
  saved.printer_job = "job-7";
  saved.print_problem = PrintProblem::unavailable;
  saved.print_failures = 4;
  saved.reason = "printer busy";
  saved.recipients = {user("bob")};
  saved.state = JobState::printed;  // ignored: only update() changes the state
  ASSERT_TRUE(s.save(saved));
  auto got = s.get(j.id).value();
  EXPECT_EQ(got.state, JobState::received);
  EXPECT_EQ(got.print_attempts, 2);
  EXPECT_EQ(got.printer_job, "job-7");
  EXPECT_EQ(got.print_problem, PrintProblem::unavailable);
  EXPECT_EQ(got.print_failures, 4);
  EXPECT_EQ(got.reason, "printer busy");
  EXPECT_EQ(got.recipients, saved.recipients);
  EXPECT_EQ(s.history(j.id).value().size(), 1u);
  JobFilter by;
  by.recipient = user("bob").key();
  EXPECT_EQ(ids_of(s.list(by).value()), std::vector<JobId>{j.id});
  by.recipient = user("alice").key();
  EXPECT_TRUE(s.list(by).value().empty());
  auto missing = s.save(make_job(job_id(2), 1000));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

TYPED_TEST_P(StoreContract, HistoryListsTransitionsInOrder) {
  auto& s = this->jobs();
  auto j = make_job(job_id(1), 1000);
  this->insert(j);
  std::vector<Transition> expected{first_transition(j)};
  const std::vector<std::pair<JobState, JobState>> path{{JobState::received, JobState::stored},
                                                        {JobState::stored, JobState::held},
                                                        {JobState::held, JobState::releasing},
                                                        {JobState::releasing, JobState::printing},
                                                        {JobState::printing, JobState::printed}};
  std::int64_t ms = 1000;
  for (const auto& [from, to] : path) {
    ms += 10;
    auto next = j;
    next.state = to;
    // Same timestamp for two rows on purpose: the order must not depend on the time.
    const Transition t{j.id,         at_ms(ms - (to == JobState::printed ? 10 : 0)), from, to,
                       "user:alice", std::string("to ") + std::string(to_string(to))};
    ASSERT_TRUE(s.update(next, from, t));
    expected.push_back(t);
  }
  EXPECT_EQ(s.history(j.id).value(), expected);
  EXPECT_TRUE(s.history(job_id(2)).value().empty());
}

TYPED_TEST_P(StoreContract, ListFiltersByStateRecipientSenderTimeAndLimit) {
  auto& s = this->jobs();
  std::vector<Job> jobs;
  for (int i = 0; i < 6; ++i) jobs.push_back(make_job(job_id(static_cast<std::uint64_t>(i)), 0));
  const std::int64_t t0 = 1'700'000'000'000;
  const int order[] = {3, 0, 5, 1, 4, 2};  // inserted out of order
  for (int i : order) {
    auto& j = jobs[static_cast<std::size_t>(i)];
    j.received_at = at_ms(t0 + i * 1000);
    j.state = (i % 2 == 0) ? JobState::held : JobState::printed;
    j.recipients = i < 3 ? std::vector<Recipient>{user("alice")}
                         : std::vector<Recipient>{user("bob"), user("carol")};
    if (i == 4) {
      j.sender = Sender{};
      j.sender.email = "orders_100%@example.org";
    }
    this->insert(j);
  }
  const auto id = [&](int i) { return jobs[static_cast<std::size_t>(i)].id; };
  EXPECT_EQ(ids_of(s.list({}).value()),
            (std::vector<JobId>{id(5), id(4), id(3), id(2), id(1), id(0)}));
  JobFilter f;
  f.oldest_first = true;
  f.limit = 3;
  EXPECT_EQ(ids_of(s.list(f).value()), (std::vector<JobId>{id(0), id(1), id(2)}));
  f = {};
  f.limit = 2;
  EXPECT_EQ(ids_of(s.list(f).value()), (std::vector<JobId>{id(5), id(4)}));
  f = {};
  f.states = {JobState::held};
  EXPECT_EQ(ids_of(s.list(f).value()), (std::vector<JobId>{id(4), id(2), id(0)}));
  f.states = {JobState::held, JobState::printed};
  EXPECT_EQ(s.list(f).value().size(), 6u);
  f.states = {JobState::failed};
  EXPECT_TRUE(s.list(f).value().empty());
  f = {};
  f.recipient = user("carol").key();
  EXPECT_EQ(ids_of(s.list(f).value()), (std::vector<JobId>{id(5), id(4), id(3)}));
  f.states = {JobState::printed};
  EXPECT_EQ(ids_of(s.list(f).value()), (std::vector<JobId>{id(5), id(3)}));
  f = {};
  f.sender = "100%@";  // wildcards in the text are literal
  EXPECT_EQ(ids_of(s.list(f).value()), (std::vector<JobId>{id(4)}));
  f.sender = "_";
  EXPECT_EQ(ids_of(s.list(f).value()), (std::vector<JobId>{id(4)}));
  f.sender = "acme";  // the TSI, not only the display; case does not matter
  EXPECT_EQ(s.list(f).value().size(), 5u);
  f.sender = "+81312345678";
  EXPECT_EQ(s.list(f).value().size(), 5u);
  f.sender = "ip";  // a key of the stored identifiers, not a value
  EXPECT_TRUE(s.list(f).value().empty());
  f = {};
  f.received_after = at_ms(t0 + 1000);   // inclusive
  f.received_before = at_ms(t0 + 4000);  // exclusive
  EXPECT_EQ(ids_of(s.list(f).value()), (std::vector<JobId>{id(3), id(2), id(1)}));
  f = {};
  f.limit = 0;
  EXPECT_TRUE(s.list(f).value().empty());
  f.limit = std::numeric_limits<std::size_t>::max();
  EXPECT_EQ(s.list(f).value().size(), 6u);
  auto counts = s.count_by_state().value();
  std::sort(counts.begin(), counts.end());
  EXPECT_EQ(counts, (std::vector<std::pair<JobState, std::int64_t>>{{JobState::held, 3},
                                                                    {JobState::printed, 3}}));
}

TYPED_TEST_P(StoreContract, QueuedNoticesKeepTheirOrderAndAttempts) {
  auto& s = this->jobs();
  const auto j = make_job(job_id(1), 1000);
  this->insert(j);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    QueuedNotice n;
    n.job = j.id;
    n.state = JobState::held;
    n.to = user("alice");
    n.text = "notice " + std::to_string(i);
    n.with_preview = i == 1;
    n.queued_at = at_ms(5000 + i);
    auto id = s.queue_notice(n);
    ASSERT_TRUE(id) << id.error().describe();
    ids.push_back(*id);
  }
  EXPECT_LT(ids[0], ids[1]);
  ASSERT_TRUE(s.note_notice_attempt(ids[1]));
  ASSERT_TRUE(s.remove_notice(ids[0]));
  this->backend_.reopen();
  auto& r = this->jobs();
  EXPECT_EQ(r.count_notices().value(), 2);
  auto queued = r.queued_notices(10).value();
  ASSERT_EQ(queued.size(), 2u);
  EXPECT_EQ(queued[0].id, ids[1]);
  EXPECT_EQ(queued[0].text, "notice 1");
  EXPECT_TRUE(queued[0].with_preview);
  EXPECT_EQ(queued[0].attempts, 2);
  EXPECT_EQ(queued[0].to, user("alice"));
  EXPECT_EQ(queued[0].state, JobState::held);
  EXPECT_EQ(queued[0].queued_at, at_ms(5001));
  EXPECT_EQ(queued[1].text, "notice 2");
  EXPECT_EQ(r.queued_notices(1).value().size(), 1u);
}

TYPED_TEST_P(StoreContract, RecipientRulesCrud) {
  auto& s = this->tables();
  EXPECT_TRUE(s.recipient_rules().value().empty());
  auto a = s.add_recipient_rule(rule("03-1234-5678", "alice", "Sales"));
  auto b = s.add_recipient_rule(rule("@example.org", "bob", ""));
  auto c = s.add_recipient_rule(rule("others", "carol", "catch-all"));
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->pattern.value, "81312345678");  // kept as parsed, in international form
  EXPECT_NE(a->id, 0);
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ(s.recipient_rules().value(), (std::vector<RecipientRule>{*a, *b, *c}));
  auto changed = *b;
  changed.pattern = SenderPattern::parse("10.1.0.0/16", kJapan).value();
  changed.recipient = Recipient{RecipientKind::channel, "xmpp", "fax@rooms.example.org"};
  changed.printer = "office-3f";
  changed.note = "network";
  ASSERT_TRUE(s.update_recipient_rule(changed));
  EXPECT_EQ(s.recipient_rules().value(), (std::vector<RecipientRule>{*a, changed, *c}));
  ASSERT_TRUE(s.remove_recipient_rule(a->id));
  EXPECT_EQ(s.recipient_rules().value(), (std::vector<RecipientRule>{changed, *c}));
  auto gone = s.remove_recipient_rule(a->id);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::not_found);
  auto not_there = s.update_recipient_rule(*a);
  ASSERT_FALSE(not_there);
  EXPECT_EQ(not_there.error().code, Errc::not_found);
  auto d = s.add_recipient_rule(rule("prefix:06", "dave", ""));  // still goes to the end
  ASSERT_TRUE(d);
  EXPECT_EQ(s.recipient_rules().value(), (std::vector<RecipientRule>{changed, *c, *d}));
}

TYPED_TEST_P(StoreContract, ReplaceRecipientRulesReplacesTheWholeTableInOrder) {
  auto& s = this->tables();
  ASSERT_TRUE(s.add_recipient_rule(rule("others", "old", "")));
  const std::vector<RecipientRule> wanted{
      rule("all", "audit", "copy"), rule("prefix:03", "tokyo", ""), rule("ipp:alice", "alice", "")};
  auto replaced = s.replace_recipient_rules(wanted);
  ASSERT_TRUE(replaced) << replaced.error().describe();
  ASSERT_EQ(replaced->size(), 3u);
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    EXPECT_NE((*replaced)[i].id, 0);
    auto expect = wanted[i];
    expect.id = (*replaced)[i].id;
    EXPECT_EQ((*replaced)[i], expect);
  }
  EXPECT_EQ(s.recipient_rules().value(), *replaced);
  EXPECT_TRUE(s.replace_recipient_rules({}).value().empty());
  EXPECT_TRUE(s.recipient_rules().value().empty());
}

TYPED_TEST_P(StoreContract, ModeTablesPutReplaceAndRemove) {
  auto& s = this->tables();
  const auto initial = s.mode_tables().value();
  const auto seeded = std::find_if(initial.begin(), initial.end(),
                                   [](const ModeTable& t) { return t.name() == "weekday"; });
  ASSERT_NE(seeded, initial.end()) << "a new store has the seed's table";
  EXPECT_EQ(*seeded, ModeTable::seed_default("weekday"));
  for (const auto& t : initial) ASSERT_TRUE(s.remove_mode_table(t.name()));
  ModeTable night("night");
  night.set(Availability::offline, WorkLocation::unknown, Action::print);
  ASSERT_TRUE(s.put_mode_table(night));
  ModeTable weekday = ModeTable::seed_default("weekday");
  weekday.set(Availability::available, WorkLocation::office, Action::hold);
  ASSERT_TRUE(s.put_mode_table(weekday));
  ModeTable day("Day");  // sorted by bytes: upper case first
  ASSERT_TRUE(s.put_mode_table(day));
  weekday.set(Availability::busy, WorkLocation::remote, Action::print);
  ASSERT_TRUE(s.put_mode_table(weekday));  // replaces
  EXPECT_EQ(s.mode_tables().value(), (std::vector<ModeTable>{day, night, weekday}));
  ASSERT_TRUE(s.remove_mode_table("night"));
  auto again = s.remove_mode_table("night");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::not_found);
  EXPECT_NE(again.error().message.find("night"), std::string::npos);
  this->backend_.reopen();
  EXPECT_EQ(this->tables().mode_tables().value(), (std::vector<ModeTable>{day, weekday}));
}

TYPED_TEST_P(StoreContract, ScheduleRoundTrips) {
  auto& s = this->tables();
  EXPECT_EQ(s.schedule().value(), std::nullopt);
  Schedule a;
  a.time_zone = "Asia/Tokyo";
  a.default_table = "weekday";
  a.holidays = {std::chrono::year{2024} / 1 / 1, std::chrono::year{2024} / 12 / 31};
  a.rules = {
      ScheduleRule{"night", 0x3e, std::chrono::minutes(22 * 60), std::chrono::minutes(6 * 60)},
      ScheduleRule{"weekend", 0x41, std::chrono::minutes(0), std::chrono::minutes(1440)}};
  ASSERT_TRUE(s.put_schedule(a));
  EXPECT_EQ(s.schedule().value(), std::optional<Schedule>(a));
  Schedule b;
  b.rules = {ScheduleRule{"weekday", 0x01, std::chrono::minutes(1), std::chrono::minutes(2)}};
  ASSERT_TRUE(s.put_schedule(b));
  this->backend_.reopen();
  EXPECT_EQ(this->tables().schedule().value(), std::optional<Schedule>(b));
}

TYPED_TEST_P(StoreContract, SettingsAreKeptPerNamespaceInKeyOrder) {
  auto& s = this->tables();
  EXPECT_EQ(s.get_setting("presence.local", "alice").value(), std::nullopt);
  ASSERT_TRUE(s.put_setting("presence.local", "bob", "2"));
  ASSERT_TRUE(s.put_setting("presence.local", "alice", "1"));
  ASSERT_TRUE(s.put_setting("presence.local", "Zed", "3"));
  ASSERT_TRUE(s.put_setting("presence.xmpp", "alice", "other"));
  ASSERT_TRUE(s.put_setting("presence.local", "alice", "1b"));  // overwrite
  EXPECT_EQ(s.get_setting("presence.local", "alice").value(), std::optional<std::string>("1b"));
  EXPECT_EQ(s.get_setting("presence.xmpp", "bob").value(), std::nullopt);
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(s.settings("presence.local").value(),
            (Pairs{{"Zed", "3"}, {"alice", "1b"}, {"bob", "2"}}));
  EXPECT_EQ(s.settings("presence.xmpp").value(), (Pairs{{"alice", "other"}}));
  EXPECT_TRUE(s.settings("nothing").value().empty());
  ASSERT_TRUE(s.put_setting("ns", "empty", ""));
  EXPECT_EQ(s.get_setting("ns", "empty").value(), std::optional<std::string>(""));
}

TYPED_TEST_P(StoreContract, AuditLogAppendsAndPagesNewestFirst) {
  auto& s = this->tables();
  for (int i = 1; i <= 7; ++i) {
    ASSERT_TRUE(s.append_audit({0, at_ms(1000 * i), "user:alice", "job.release",
                                "job " + std::to_string(i), "entry " + std::to_string(i)}));
  }
  auto all = s.audit(100).value();
  ASSERT_EQ(all.size(), 7u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    const int n = 7 - static_cast<int>(i);
    EXPECT_EQ(all[i].detail, "entry " + std::to_string(n));
    EXPECT_EQ(all[i].at, at_ms(1000 * n));
    EXPECT_EQ(all[i].subject, "job " + std::to_string(n));
    if (i > 0) {
      EXPECT_LT(all[i].id, all[i - 1].id);
    }
  }
  std::vector<std::int64_t> paged;
  std::int64_t before = 0;
  for (;;) {
    auto page = s.audit(3, before).value();
    if (page.empty()) break;
    EXPECT_LE(page.size(), 3u);
    for (const auto& e : page) paged.push_back(e.id);
    before = page.back().id;
  }
  std::vector<std::int64_t> ids;
  for (const auto& e : all) ids.push_back(e.id);
  EXPECT_EQ(paged, ids);
  EXPECT_TRUE(s.audit(0).value().empty());
  EXPECT_EQ(s.audit(std::numeric_limits<std::size_t>::max()).value().size(), 7u);
}

TYPED_TEST_P(StoreContract, BlobsRoundTripReplaceAndRemove) {
  auto& b = this->blobs();
  const auto a = job_id(1), other = job_id(2);
  // Sizes around the chunk sizes of the adapters (64 KiB sealing chunks, 1 MiB rows).
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{65536},
                           std::size_t{1024 * 1024 + 17}, std::size_t{3 * 1024 * 1024}}) {
    const auto data = testing::document_bytes(size, size + 1);
    ASSERT_TRUE(b.put(a, BlobKind::original, data)) << size;
    auto got = b.get(a, BlobKind::original);
    ASSERT_TRUE(got) << size << ": " << got.error().describe();
    EXPECT_EQ(got->size(), size);
    EXPECT_EQ(testing::content_hash(*got), testing::content_hash(data)) << size;
  }
  const auto preview = testing::document_bytes(1000, 7);
  ASSERT_TRUE(b.put(a, BlobKind::preview, preview));
  ASSERT_TRUE(b.put(other, BlobKind::original, testing::document_bytes(10, 8)));
  this->backend_.reopen();
  auto& r = this->blobs();
  EXPECT_TRUE(r.exists(a, BlobKind::original).value());
  EXPECT_TRUE(r.exists(a, BlobKind::preview).value());
  EXPECT_FALSE(r.exists(a, BlobKind::printable).value());
  EXPECT_EQ(testing::content_hash(r.get(a, BlobKind::preview).value()),
            testing::content_hash(preview));
  auto missing = r.get(a, BlobKind::printable);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  ASSERT_TRUE(r.remove(a));
  EXPECT_FALSE(r.exists(a, BlobKind::original).value());
  EXPECT_FALSE(r.exists(a, BlobKind::preview).value());
  EXPECT_TRUE(r.exists(other, BlobKind::original).value());
  EXPECT_TRUE(r.remove(a)) << "removing what is absent is not an error";
}

// Leases, one node after another: the jobs a node writes into a working state are its own
// while it lives; after a restart (a new node) whose leases lapsed, the jobs left in stored,
// releasing or printing are claimed once each, oldest first, `limit` at a time; held and final
// jobs never are.
TYPED_TEST_P(StoreContract, JobsLeftInAWorkingStateAreClaimedOnceAfterTheirLeaseExpired) {
  auto& s = this->jobs();
  auto in_state = [&](int n, JobState state) {
    auto j = make_job(job_id(n), 1000 + n);
    j.state = state;
    this->insert(j);
    return j;
  };
  const auto stored = in_state(1, JobState::stored);
  in_state(2, JobState::held);  // neither held nor final jobs are ever claimed
  auto printing = in_state(3, JobState::held);
  in_state(4, JobState::printed);
  const auto releasing = in_state(5, JobState::releasing);
  auto moved = printing;
  moved.state = JobState::printing;
  ASSERT_TRUE(s.update(moved, JobState::held,
                       {printing.id, at_ms(5000), JobState::held, JobState::printing, "e", "x"}));

  auto mine = s.claim_expired(10);
  ASSERT_TRUE(mine) << mine.error().describe();
  EXPECT_TRUE(mine->empty()) << "a node's own live leases are not claimable";
  ASSERT_TRUE(s.renew_leases());

  this->backend_.reopen();  // a restart: a new node
  this->backend_.expire_leases();
  auto& after = this->jobs();
  auto first = after.claim_expired(2);
  ASSERT_TRUE(first) << first.error().describe();
  EXPECT_EQ(ids_of(*first), (std::vector<JobId>{stored.id, printing.id}));
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[1].state, JobState::printing);
  auto rest = after.claim_expired(2);
  ASSERT_TRUE(rest) << rest.error().describe();
  EXPECT_EQ(ids_of(*rest), std::vector<JobId>{releasing.id});
  EXPECT_TRUE(after.claim_expired(10).value().empty()) << "each job is claimed once";

  // The claimed jobs are this node's now: it moves them on.
  auto next = (*rest)[0];
  next.state = JobState::printing;
  auto ok = after.update(next, JobState::releasing,
                         {next.id, at_ms(6000), JobState::releasing, JobState::printing, "e", "y"});
  EXPECT_TRUE(ok) << ok.error().describe();
  EXPECT_TRUE(after.claim_expired(10).value().empty());
}

// Several nodes on one database: an expired job is claimed by exactly one of the nodes trying at
// once, the node that lost it can no longer write it (fenced), and a named lease has one holder
// at a time.
TYPED_TEST_P(StoreContract, AnExpiredJobGoesToOneNodeAndItsOldOwnerIsFencedOff) {
  if constexpr (!TypeParam::kSeveralNodes) {
    GTEST_SKIP() << "one node per store";
  } else {
    auto& a = this->jobs();
    auto j = make_job(job_id(1), 1000);
    j.state = JobState::stored;
    this->insert(j);
    auto& b = this->backend_.writer(1);
    auto& c = this->backend_.writer(2);
    EXPECT_TRUE(b.claim_expired(10).value().empty()) << "a's lease is live";

    this->backend_.expire_leases();
    std::vector<Job> by_b, by_c;
    std::thread tb([&] { by_b = b.claim_expired(10).value_or(std::vector<Job>{}); });
    std::thread tc([&] { by_c = c.claim_expired(10).value_or(std::vector<Job>{}); });
    tb.join();
    tc.join();
    ASSERT_EQ(by_b.size() + by_c.size(), 1u) << "one node takes the job";
    auto& winner = by_b.empty() ? c : b;

    auto late = j;
    late.state = JobState::printing;
    auto fenced = a.update(late, JobState::stored,
                           {j.id, at_ms(2000), JobState::stored, JobState::printing, "a", "late"});
    ASSERT_FALSE(fenced);
    EXPECT_EQ(fenced.error().code, Errc::conflict);
    EXPECT_NE(fenced.error().message.find("node"), std::string::npos) << fenced.error().message;
    late.state = JobState::stored;
    late.print_attempts = 7;
    auto saved = a.save(late);
    ASSERT_FALSE(saved);
    EXPECT_EQ(saved.error().code, Errc::conflict);
    EXPECT_EQ(a.renew_leases().value(), 0u) << "a holds nothing any more";
    EXPECT_EQ(this->jobs().get(j.id).value().print_attempts, 0);
    auto moved = j;
    moved.state = JobState::printing;
    auto ok = winner.update(moved, JobState::stored,
                            {j.id, at_ms(2100), JobState::stored, JobState::printing, "w", "ok"});
    EXPECT_TRUE(ok) << ok.error().describe();
    EXPECT_EQ(winner.renew_leases().value(), 1u);

    // Named leases.
    using std::chrono::seconds;
    EXPECT_TRUE(a.hold_lease("task", seconds(60)).value());
    EXPECT_FALSE(b.hold_lease("task", seconds(60)).value());
    EXPECT_TRUE(a.hold_lease("task", seconds(60)).value()) << "renewed by its holder";
    EXPECT_TRUE(b.hold_lease("other", seconds(60)).value()) << "names are independent";
    this->backend_.expire_leases();
    EXPECT_TRUE(b.hold_lease("task", seconds(60)).value()) << "taken once expired";
    EXPECT_FALSE(a.hold_lease("task", seconds(60)).value());
    ASSERT_TRUE(a.drop_lease("task"));  // not a's: changes nothing
    EXPECT_FALSE(c.hold_lease("task", seconds(60)).value());
    ASSERT_TRUE(b.drop_lease("task"));
    EXPECT_TRUE(c.hold_lease("task", seconds(60)).value()) << "free at once after a drop";
  }
}

REGISTER_TYPED_TEST_SUITE_P(
    StoreContract, InsertAndGetKeepEveryField, InsertingAnExistingIdIsAConflictAndKeepsTheFirst,
    GetOfAnUnknownJobIsNotFoundNamingIt, FindResolvesUniquePrefixesAndRefusesAmbiguousOnes,
    UpdateIsACompareAndSet, OnlyOneOfManyConcurrentWritersWinsTheCompareAndSet,
    SaveChangesMutableColumnsButNeverTheState, HistoryListsTransitionsInOrder,
    ListFiltersByStateRecipientSenderTimeAndLimit, QueuedNoticesKeepTheirOrderAndAttempts,
    RecipientRulesCrud, ReplaceRecipientRulesReplacesTheWholeTableInOrder,
    ModeTablesPutReplaceAndRemove, ScheduleRoundTrips, SettingsAreKeptPerNamespaceInKeyOrder,
    AuditLogAppendsAndPagesNewestFirst, BlobsRoundTripReplaceAndRemove,
    JobsLeftInAWorkingStateAreClaimedOnceAfterTheirLeaseExpired,
    AnExpiredJobGoesToOneNodeAndItsOldOwnerIsFencedOff);

}  // namespace atdesk::store::contract
