// Printing through the engine (printing.cpp): one queue per printer, oldest first, nothing
// printed twice; a connection lost after the document, aborted jobs, printers that restart and
// reuse job ids; the retry cause kept as data; people told only when no retry follows.
// In-memory stores, the fake printer (tests/fakes) and the real local chat service.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "atdesk/chat/local/local_chat_service.hpp"
#include "atdesk/engine/engine.hpp"
#include "atdesk/testing/fake_printer.hpp"
#include "atdesk/testing/fixed_zone.hpp"
#include "atdesk/testing/manual_clock.hpp"
#include "atdesk/testing/memory_store.hpp"
#include "atdesk/testing/sample_fax.hpp"
#include "wait_for.hpp"

namespace atdesk {
namespace {

using namespace std::chrono_literals;
using testing::FakePrinter;

const NumberPlan kPlan{"81", "0", "00"};
constexpr const char* kAlice = "user:local:alice";

using testing::eventually;

class PrintingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    start();
    RecipientRule rule;
    rule.pattern = *SenderPattern::parse("0312345678", kPlan);
    rule.recipient = *Recipient::parse_key(kAlice);
    ASSERT_TRUE(engine_->add_recipient_rule(rule, "test"));
  }
  void TearDown() override {
    if (engine_) engine_->stop();
  }

  void start() {
    jobs_.new_life();  // a new process: the job leases of the one before have expired
    engine::Settings s;
    s.numbers = kPlan;
    s.default_printer = "front";
    s.print_retry_min = retry_min_;
    s.print_retry_max = retry_max_;
    s.print_track_interval = track_interval_;
    s.reconcile_grace = 20ms;
    s.housekeeping_interval = 1h;
    s.retention = 24h;
    s.worker_threads = 3;
    engine_ = std::make_unique<engine::Engine>(
        s, engine::Dependencies{
               jobs_, tables_, blobs_, clock_, zone_, {{"front", &front_}}, {{"local", &local_}}});
    ASSERT_TRUE(engine_->start());
  }
  void restart() {
    engine_->stop();  // as if killed: jobs stay as the store has them
    engine_.reset();
    start();
  }

  void set_alice(Availability a, WorkLocation w) {
    Presence p;
    p.availability = a;
    p.location = w;
    ASSERT_TRUE(local_.set_presence("alice", p));
  }

  Job fax_for_alice() {
    IncomingDocument doc;
    doc.data = testing::sample_fax(1);
    doc.name = "fax.tif";
    doc.sender = *parse_sender("0312345678", kPlan);
    auto job = engine_->submit(std::move(doc));
    EXPECT_TRUE(job) << job.error().describe();
    return *job;
  }

  Job stored(const Job& job) { return *jobs_.get(job.id); }
  bool reaches(const Job& job, JobState s) {
    return eventually([&] { return stored(job).state == s; });
  }
  static std::string name_of(const Job& job) { return "atdesk-" + job.id.str(); }

  std::size_t told(const std::string& text) {
    auto all = local_.messages(kAlice);
    return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [&](const auto& m) {
      return m.text.find(text) != std::string::npos;
    }));
  }
  std::size_t holds(const Job& job) {
    auto h = engine_->history(job.id.str());
    if (!h) return 0;
    return static_cast<std::size_t>(std::count_if(h->begin(), h->end(), [](const Transition& t) {
      return t.to == JobState::held && t.actor.starts_with("printer:");
    }));
  }

  std::chrono::milliseconds track_interval_ = 5ms;
  std::chrono::milliseconds retry_min_ = 10ms;
  std::chrono::milliseconds retry_max_ = 40ms;
  testing::MemoryJobStore jobs_;
  testing::MemoryTableStore tables_;
  testing::MemoryBlobStore blobs_;
  ManualClock clock_{Timestamp{std::chrono::sys_days{std::chrono::year{2026} / 11 / 24}} + 10h};
  testing::FixedZone zone_;
  FakePrinter front_{"front"};
  chat::LocalChatService local_{{}, tables_, clock_};
  std::unique_ptr<engine::Engine> engine_;
};

// One queue per printer: released jobs print oldest first, one at a time (the next is sent only
// when the printer has finished the previous one), each exactly once.
TEST_F(PrintingTest, ReleasedJobsPrintOldestFirstOneAtATimeEachOnce) {
  set_alice(Availability::busy, WorkLocation::office);
  front_.polls_to_complete = 3;
  std::vector<Job> jobs;
  for (int i = 0; i < 8; ++i) {
    jobs.push_back(fax_for_alice());
    ASSERT_TRUE(reaches(jobs.back(), JobState::held));
    clock_.advance(1min);
  }
  // Three ways of releasing at once: presence, and a person releasing two of them by hand.
  set_alice(Availability::available, WorkLocation::office);
  (void)engine_->release(jobs[5].id.str(), std::nullopt, "api:admin");  // may be printing already
  (void)engine_->release(jobs[2].id.str(), std::nullopt, "api:admin");  // may be printing already
  for (const auto& job : jobs) ASSERT_TRUE(reaches(job, JobState::printed));
  engine_->drain();
  std::vector<std::string> expected;
  for (const auto& job : jobs) expected.push_back(name_of(job));
  auto done = front_.completed();
  EXPECT_EQ(done.size(), jobs.size());
  for (const auto& job : jobs) EXPECT_EQ(front_.received(name_of(job)), 1u);
  EXPECT_EQ(front_.most_unfinished_at_submit.load(), 0u);
  // The jobs released by presence keep their order (the two released by hand may go first).
  std::vector<std::string> by_presence;
  for (const auto& name : done) {
    if (name != name_of(jobs[5]) && name != name_of(jobs[2])) by_presence.push_back(name);
  }
  std::vector<std::string> want;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (i != 5 && i != 2) want.push_back(name_of(jobs[i]));
  }
  EXPECT_EQ(by_presence, want);
}

// #15: a printer that pushes job events (IPP Get-Notifications) has its job recorded printed
// when it says the job completed, not at the next status call (here an hour away).
TEST_F(PrintingTest, APrintersJobEventRecordsPrintedWithoutWaitingForThePoll) {
  track_interval_ = 1h;
  front_.pushes_events = true;
  restart();
  front_.polls_to_complete = 1'000'000;  // status calls alone never see it completed
  set_alice(Availability::available, WorkLocation::office);
  auto job = fax_for_alice();
  ASSERT_TRUE(eventually([&] { return front_.received(name_of(job)) == 1; }));
  ASSERT_EQ(stored(job).state, JobState::printing);
  front_.finish(name_of(job));
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_EQ(front_.received(name_of(job)), 1u);
}

// #15: without job events a young job is asked for every 25 ms (then every 1/20 of its age), so
// a job the printer finishes within a second is recorded printed within ~50 ms of that, however
// long print_track_interval (the slowest pace, for old jobs) is.
TEST_F(PrintingTest, WithoutJobEventsAYoungJobIsPolledOftenButNotWithoutPause) {
  track_interval_ = 1h;
  restart();
  front_.polls_to_complete = 12;
  set_alice(Availability::available, WorkLocation::office);
  const auto start = std::chrono::steady_clock::now();
  auto job = fax_for_alice();
  ASSERT_TRUE(reaches(job, JobState::printed));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(front_.status_calls.load(), 12);
  // 12 status calls at least 25 ms apart: never faster than the printer can bear.
  EXPECT_GE(took, 12 * 25ms);
}

// #20 item 3: the connection drops after the document went out; the printer has the job. The
// retry looks it up and tracks it instead of sending it again.
TEST_F(PrintingTest, ConnectionLostAfterTheDocumentIsLookedUpNotSentAgain) {
  set_alice(Availability::available, WorkLocation::office);
  front_.reset_after_document = true;
  auto job = fax_for_alice();
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_EQ(front_.submit_calls.load(), 1);
  EXPECT_EQ(front_.received(name_of(job)), 1u);
  EXPECT_EQ(holds(job), 1u);
  EXPECT_EQ(told("Could not print"), 0u);  // a retry followed, and it printed
}

// #17: a printer that is briefly unavailable (busy) is retried; the person is not told.
TEST_F(PrintingTest, BriefPrinterTroubleIsNotToldToPeople) {
  retry_min_ = 1s;  // the printer is back before the second attempt
  restart();
  set_alice(Availability::available, WorkLocation::office);
  front_.online = false;
  auto job = fax_for_alice();
  ASSERT_TRUE(reaches(job, JobState::held));
  EXPECT_EQ(stored(job).print_problem, PrintProblem::unavailable);
  front_.online = true;
  ASSERT_TRUE(reaches(job, JobState::printed));
  ASSERT_TRUE(eventually([&] { return told("Printed") == 1; }));
  EXPECT_EQ(told("Could not print"), 0u);
}

// #20 item 6: a job waiting for an unreachable printer is sent as soon as the printer is idle
// again (its state is looked at every print_retry_min), not after the backoff, which has grown
// to seconds here.
TEST_F(PrintingTest, JobsWaitingForAPrinterAreSentWhenItIsIdleAgain) {
  retry_max_ = 1h;
  restart();
  set_alice(Availability::available, WorkLocation::office);
  front_.online = false;
  auto job = fax_for_alice();
  ASSERT_TRUE(eventually([&] { return stored(job).print_failures >= 8; }, 20s));
  front_.online = true;
  ASSERT_TRUE(reaches(job, JobState::printed));
  auto history = *engine_->history(job.id.str());
  EXPECT_TRUE(std::any_of(history.begin(), history.end(), [](const Transition& t) {
    return t.reason.find("printer 'front' is idle again") != std::string::npos;
  }));
  EXPECT_EQ(front_.received(name_of(job)), 1u);
}

// #20 item 4: a printer that aborts the job is retried a bounded number of times, each said in
// the history; then the job is held with the reason, the person is told once, and presence
// changes do not send it again. A person's release does.
TEST_F(PrintingTest, AbortedJobsAreRetriedThreeTimesThenHeldForAPerson) {
  set_alice(Availability::available, WorkLocation::office);
  front_.abort_jobs = true;
  auto job = fax_for_alice();
  ASSERT_TRUE(eventually([&] { return stored(job).print_problem == PrintProblem::gave_up; }));
  ASSERT_TRUE(reaches(job, JobState::held));
  EXPECT_EQ(front_.received(name_of(job)), 3u);
  EXPECT_EQ(holds(job), 3u);
  auto history = *engine_->history(job.id.str());
  EXPECT_NE(history.back().reason.find("aborted the print"), std::string::npos)
      << history.back().reason;
  EXPECT_NE(history.back().reason.find("3 of 3"), std::string::npos) << history.back().reason;
  EXPECT_NE(history.back().reason.find("not retried"), std::string::npos);
  ASSERT_TRUE(eventually([&] { return told("Could not print") == 1; }));

  set_alice(Availability::busy, WorkLocation::office);
  set_alice(Availability::available, WorkLocation::office);
  engine_->drain();
  EXPECT_EQ(stored(job).state, JobState::held);
  EXPECT_EQ(front_.received(name_of(job)), 3u);

  front_.abort_jobs = false;
  ASSERT_TRUE(engine_->release(job.id.str(), std::nullopt, "api:admin"));
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_EQ(front_.received(name_of(job)), 4u);
}

// #20 item 2: the printer restarts while a job is tracked, forgets it and gives its id to
// someone else's job. The other job's completion is not taken as ours, and the job is not sent
// again blindly: it is held for a person, who is told.
TEST_F(PrintingTest, PrinterRestartReusingTheIdIsNotTakenAsPrinted) {
  set_alice(Availability::available, WorkLocation::office);
  front_.polls_to_complete = 1000000;
  auto job = fax_for_alice();
  ASSERT_TRUE(eventually([&] { return front_.received(name_of(job)) == 1; }));
  ASSERT_TRUE(eventually([&] { return stored(job).printer_job == "1"; }));
  front_.restart();
  front_.polls_to_complete = 1;
  front_.foreign_job("someone-elses-report");  // takes job id 1
  ASSERT_TRUE(eventually([&] { return stored(job).print_problem == PrintProblem::lost; }));
  EXPECT_EQ(stored(job).state, JobState::held);
  EXPECT_NE(stored(job).reason.find("may have printed"), std::string::npos) << stored(job).reason;
  EXPECT_EQ(front_.received(name_of(job)), 1u);
  ASSERT_TRUE(eventually([&] { return told("Could not print") == 1; }));

  set_alice(Availability::busy, WorkLocation::office);
  set_alice(Availability::available, WorkLocation::office);
  engine_->drain();
  EXPECT_EQ(stored(job).state, JobState::held);

  ASSERT_TRUE(engine_->release(job.id.str(), std::nullopt, "api:admin"));
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_EQ(front_.received(name_of(job)), 2u);  // sent again because a person said so
}

// #20 item 2, after a crash: the job was accepted as job 1, atdesk was killed, the printer
// restarted and forgot it. At start-up it is held for a person, not sent again.
TEST_F(PrintingTest, RecordedJobUnknownAfterRestartIsHeldNotResent) {
  set_alice(Availability::available, WorkLocation::office);
  front_.polls_to_complete = 1000000;
  auto job = fax_for_alice();
  ASSERT_TRUE(eventually([&] { return stored(job).printer_job == "1"; }));
  engine_->stop();
  engine_.reset();
  front_.restart();
  start();
  ASSERT_TRUE(eventually([&] { return stored(job).print_problem == PrintProblem::lost; }));
  EXPECT_EQ(stored(job).state, JobState::held);
  EXPECT_EQ(front_.received(name_of(job)), 1u);
}

// #20: the printer stops the job (a CUPS queue whose backend failed: job-state
// processing-stopped, RFC 8011 5.3.7, until an administrator restarts the queue). The job is not
// printed: that is said once in its history and the log, the recipient is told once after
// print_stopped_notice, and the job is followed, never sent a second time, also across a restart
// of atdeskd. When the queue is restarted it prints, once.
TEST_F(PrintingTest, AJobThePrinterStoppedIsFollowedToldOnceAndNeverSentAgain) {
  set_alice(Availability::available, WorkLocation::office);
  front_.stop_jobs = true;
  auto job = fax_for_alice();
  auto notes = [&] {
    auto h = engine_->history(job.id.str());
    if (!h) return std::size_t{0};
    return static_cast<std::size_t>(std::count_if(h->begin(), h->end(), [](const Transition& t) {
      return t.from == JobState::printing && t.to == JobState::printing &&
             t.reason.find("stopped its job 1") != std::string::npos;
    }));
  };
  ASSERT_TRUE(eventually([&] { return stored(job).print_problem == PrintProblem::stopped; }));
  EXPECT_EQ(stored(job).state, JobState::printing);
  EXPECT_NE(stored(job).reason.find("backend failed (simulated)"), std::string::npos)
      << stored(job).reason;
  const int polls = front_.status_calls.load();
  ASSERT_TRUE(eventually([&] { return front_.status_calls.load() > polls + 20; }));
  EXPECT_EQ(notes(), 1u);
  EXPECT_EQ(told("Not printed yet"), 0u);  // not before print_stopped_notice

  clock_.advance(11min);
  ASSERT_TRUE(eventually([&] { return told("Not printed yet") == 1; }));
  const int later = front_.status_calls.load();
  ASSERT_TRUE(eventually([&] { return front_.status_calls.load() > later + 20; }));
  EXPECT_EQ(told("Not printed yet"), 1u);
  EXPECT_EQ(notes(), 1u);

  const int finds = front_.find_calls.load();
  restart();  // atdeskd stopped and started while the printer holds the job
  ASSERT_TRUE(eventually([&] { return front_.find_calls.load() > finds; }));
  const int after = front_.status_calls.load();
  ASSERT_TRUE(eventually([&] { return front_.status_calls.load() > after + 20; }));
  EXPECT_EQ(stored(job).state, JobState::printing);
  EXPECT_EQ(front_.received(name_of(job)), 1u);
  EXPECT_EQ(front_.submit_calls.load(), 1);
  EXPECT_EQ(notes(), 1u);
  EXPECT_EQ(told("Not printed yet"), 1u);
  EXPECT_EQ(told("Could not print"), 0u);

  front_.polls_to_complete = 3;  // seen pending again before it completes
  front_.resume();
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_EQ(front_.received(name_of(job)), 1u);
  EXPECT_EQ(stored(job).print_problem, PrintProblem::none);
  auto history = *engine_->history(job.id.str());
  EXPECT_TRUE(std::any_of(history.begin(), history.end(), [](const Transition& t) {
    return t.reason.find("resumed its job 1") != std::string::npos;
  }));
}

// #20: a CUPS 2.4 queue that is disabled leaves its jobs pending (job-state 3, nothing in
// job-state-reasons; seen with cupsd 2.4.2 and cupsdisable) and says printer-state stopped
// (RFC 8011 5.4.11). Such a job is handled as a stopped one: noted once, never sent again, and
// printed once the queue is enabled.
TEST_F(PrintingTest, AJobWaitingAtAStoppedPrinterIsNotedAndPrintsWhenItResumes) {
  set_alice(Availability::available, WorkLocation::office);
  front_.paused = true;  // stopped after atdesk looked at it and sent the job
  front_.polls_to_complete = 3;
  auto job = fax_for_alice();
  ASSERT_TRUE(eventually([&] { return stored(job).print_problem == PrintProblem::stopped; }));
  EXPECT_EQ(stored(job).state, JobState::printing);
  EXPECT_NE(stored(job).reason.find("is stopped with its job 1 pending"), std::string::npos)
      << stored(job).reason;
  const int polls = front_.status_calls.load();
  ASSERT_TRUE(eventually([&] { return front_.status_calls.load() > polls + 20; }));
  EXPECT_EQ(stored(job).print_problem, PrintProblem::stopped);
  EXPECT_EQ(front_.submit_calls.load(), 1);

  front_.paused = false;
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_EQ(front_.received(name_of(job)), 1u);
  auto history = *engine_->history(job.id.str());
  EXPECT_EQ(std::count_if(history.begin(), history.end(),
                          [](const Transition& t) { return t.from == t.to; }),
            2);  // stopped, resumed
}

// A printer that only refuses new jobs (printer-is-accepting-jobs false, RFC 8011 5.4.23; CUPS'
// cupsreject) still prints the ones it holds: that is not a stopped job.
TEST_F(PrintingTest, APrinterThatOnlyRefusesNewJobsIsNotTakenAsStopped) {
  set_alice(Availability::available, WorkLocation::office);
  front_.refusing_new_jobs = true;
  front_.polls_to_complete = 20;
  auto job = fax_for_alice();
  ASSERT_TRUE(reaches(job, JobState::printed));
  auto history = *engine_->history(job.id.str());
  EXPECT_EQ(std::count_if(history.begin(), history.end(),
                          [](const Transition& t) { return t.from == t.to; }),
            0);
}

// #20 item 5: a printer with no medium the document fits on refuses it before anything is sent.
// The job is held for a person (who may release it to another printer or load paper), who is
// told once; presence changes do not send it again.
TEST_F(PrintingTest, ADocumentThePrinterCannotFitIsHeldForAPersonNotFailed) {
  set_alice(Availability::available, WorkLocation::office);
  front_.labels_only = true;
  auto job = fax_for_alice();
  ASSERT_TRUE(eventually([&] { return stored(job).print_problem == PrintProblem::unprintable; }));
  ASSERT_TRUE(reaches(job, JobState::held));
  EXPECT_NE(stored(job).reason.find("oe_4x6-label_4x6in"), std::string::npos) << stored(job).reason;
  ASSERT_TRUE(eventually([&] { return told("Could not print") == 1; }));
  set_alice(Availability::busy, WorkLocation::office);
  set_alice(Availability::available, WorkLocation::office);
  engine_->drain();
  EXPECT_EQ(stored(job).state, JobState::held);
  EXPECT_EQ(front_.submit_calls.load(), 1);
  EXPECT_EQ(front_.received(name_of(job)), 0u);

  front_.labels_only = false;  // paper loaded
  ASSERT_TRUE(engine_->release(job.id.str(), std::nullopt, "api:admin"));
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_EQ(front_.received(name_of(job)), 1u);
}

// #11: whether a held job is retried after a restart is data (print_problem), not a search of
// the reason's prose.
TEST_F(PrintingTest, RetryAfterRestartFollowsTheStoredCauseNotTheReasonText) {
  retry_min_ = 1h;  // no retry before the "crash"
  restart();
  set_alice(Availability::available, WorkLocation::office);
  front_.online = false;
  auto job = fax_for_alice();
  ASSERT_TRUE(reaches(job, JobState::held));
  engine_->stop();
  engine_.reset();
  retry_min_ = 10ms;
  Job held = stored(job);
  EXPECT_EQ(held.print_problem, PrintProblem::unavailable);
  held.reason = "held: the printer was down";  // a reworded reason must not change anything
  ASSERT_TRUE(jobs_.save(held));
  // alice is away now: only the stored cause can bring the job to the printer.
  set_alice(Availability::away, WorkLocation::remote);
  front_.online = true;
  start();
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_EQ(front_.received(name_of(job)), 1u);
}

}  // namespace
}  // namespace atdesk
