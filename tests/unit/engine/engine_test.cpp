// The seed's scenarios (FIG. 16) through the engine, with in-memory stores, a fake printer and
// the real local chat service and document pipeline.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

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

using testing::eventually;

// The local chat service with a switch that makes it behave like a chat service that is down:
// presence look-ups and sends fail with `unavailable`, as the XMPP and Graph adapters report it.
class SwitchableChat final : public chat::ChatService {
 public:
  explicit SwitchableChat(chat::LocalChatService& inner) : inner_(inner) {}
  std::atomic<bool> down{false};
  // While set, presence look-ups block until it is cleared: a chat call that never returns.
  std::atomic<bool> stuck{false};
  std::atomic<int> stuck_calls{0};

  const std::string& name() const override { return inner_.name(); }
  chat::ServiceState state() const override {
    return down ? chat::ServiceState::connecting : chat::ServiceState::connected;
  }
  Result<std::map<std::string, Presence>> presence(std::span<const std::string> users) override {
    if (stuck) {
      ++stuck_calls;
      while (stuck) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (down) return fail(Errc::unavailable, "local chat: switched off by the test");
    return inner_.presence(users);
  }
  Result<std::vector<std::string>> channel_members(const std::string& channel) override {
    return inner_.channel_members(channel);
  }
  void watch(std::vector<std::string> users, chat::PresenceHandler handler) override {
    inner_.watch(std::move(users), std::move(handler));
  }
  Result<void> send(const Recipient& to, const chat::ChatMessage& message) override {
    if (down) return fail(Errc::unavailable, "local chat: switched off by the test");
    return inner_.send(to, message);
  }
  void on_command(chat::CommandHandler handler) override { inner_.on_command(std::move(handler)); }
  Result<void> verify(const Recipient& recipient) override { return inner_.verify(recipient); }
  // What a service that knows its users' locale (Graph's preferredLanguage) would say; set
  // before the engine asks.
  std::map<std::string, std::string> languages;
  std::string language(const std::string& user) const override {
    auto it = languages.find(user);
    return it == languages.end() ? std::string() : it->second;
  }

 private:
  chat::LocalChatService& inner_;
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }
  void TearDown() override {
    if (engine_) engine_->stop();
  }

  void start() {
    jobs_.new_life();  // a new process: the job leases of the one before have expired
    engine::Settings s;
    s.numbers = kPlan;
    s.default_printer = "front";
    s.print_retry_min = 20ms;
    s.print_retry_max = 100ms;
    s.print_track_interval = 5ms;
    s.housekeeping_interval = housekeeping_interval_;  // tests call run_housekeeping()
    s.takeover_interval = 10ms;
    s.lease_renew_interval = 10ms;
    s.retention = 24h;
    s.worker_threads = 2;
    s.language = default_language_;
    engine_ = std::make_unique<engine::Engine>(
        s, engine::Dependencies{jobs_,
                                tables_,
                                blobs_,
                                clock_,
                                zone_,
                                {{"front", &front_}, {"back", &back_}},
                                {{"local", &chat_}}});
    ASSERT_TRUE(engine_->start());
  }

  void add_rule(const std::string& pattern, const std::string& recipient_key,
                std::optional<Language> language = std::nullopt) {
    RecipientRule rule;
    rule.pattern = *SenderPattern::parse(pattern, kPlan);
    rule.recipient = *Recipient::parse_key(recipient_key);
    rule.language = language;
    ASSERT_TRUE(engine_->add_recipient_rule(rule, "test"));
  }

  void set_presence(const std::string& user, Availability a, WorkLocation w) {
    Presence p;
    p.availability = a;
    p.location = w;
    ASSERT_TRUE(local_.set_presence(user, p));
  }

  // alice's rule (0312345678 -> user:local:alice), her presence, and a fax from that number.
  Job fax_for_alice(Availability a, WorkLocation w) {
    add_rule("0312345678", "user:local:alice");
    set_presence("alice", a, w);
    return submit("0312345678");
  }

  Job submit(const std::string& sender, int pages = 1) {
    IncomingDocument doc;
    doc.data = testing::sample_fax(pages);
    doc.name = "fax.tif";
    doc.sender = *parse_sender(sender, kPlan);
    auto job = engine_->submit(std::move(doc));
    EXPECT_TRUE(job) << job.error().describe();
    return *job;
  }

  JobState state_of(const Job& job) { return engine_->job(job.id.str())->state; }

  bool reaches(const Job& job, JobState s) {
    return eventually([&] { return state_of(job) == s; });
  }

  std::vector<chat::StoredMessage> messages(const std::string& key) { return local_.messages(key); }

  std::chrono::milliseconds housekeeping_interval_ = 1h;
  testing::MemoryJobStore jobs_;
  testing::MemoryTableStore tables_;
  testing::MemoryBlobStore blobs_;
  ManualClock clock_{Timestamp{std::chrono::sys_days{std::chrono::year{2026} / 11 / 24}} + 10h};
  testing::FixedZone zone_;
  FakePrinter front_{"front"};
  FakePrinter back_{"back"};
  chat::LocalChatService local_{{}, tables_, clock_};
  SwitchableChat chat_{local_};
  Language default_language_ = Language::en;  // [general] language
  std::unique_ptr<engine::Engine> engine_;
};

// Presence updates of one user are applied in the order the chat service pushed them, although
// the engine runs them on a pool of workers (a flip applied out of order would leave the wrong
// presence in force, and the log would tell another story than the chat service did).
TEST_F(EngineTest, PresenceUpdatesOfOneUserAreAppliedInOrder) {
  // Held jobs give each update some work, so that two workers would overlap.
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(reaches(fax_for_alice(Availability::busy, WorkLocation::remote), JobState::held));
  engine_->drain();
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(5000);
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("order", sink));
  std::vector<std::string> pushed;
  for (int i = 0; i < 2000; ++i) {
    const bool busy = i % 2 == 0;
    set_presence("alice", busy ? Availability::busy : Availability::away, WorkLocation::remote);
    pushed.push_back(busy ? "busy, remote" : "away, remote");
  }
  engine_->drain();
  const auto lines = sink->last_formatted();
  spdlog::set_default_logger(previous);
  std::vector<std::string> applied;
  const std::string prefix = "presence of local:alice is now ";
  for (const auto& line : lines) {
    const auto at = line.find(prefix);
    if (at == std::string::npos) continue;
    auto rest = line.substr(at + prefix.size());
    while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r')) rest.pop_back();
    applied.push_back(rest);
  }
  EXPECT_EQ(applied, pushed);
}

TEST_F(EngineTest, UnknownSenderPrintsByPolicy) {
  auto job = submit("+81 3-9999-0000", 2);
  EXPECT_EQ(job.state, JobState::stored);
  EXPECT_EQ(job.pages, 2);
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_EQ(front_.completed(), std::vector<std::string>{"atdesk-" + job.id.str()});
  auto history = engine_->history(job.id.str());
  ASSERT_TRUE(history);
  std::vector<JobState> states;
  for (const auto& t : *history) states.push_back(t.to);
  EXPECT_EQ(states, (std::vector{JobState::stored, JobState::printing, JobState::printed}));
  EXPECT_NE((*history)[1].reason.find("not in the recipient table"), std::string::npos)
      << (*history)[1].reason;
}

TEST_F(EngineTest, AvailableAtOfficePrintsAndNotifiesPrinted) {
  add_rule("0312345678", "user:local:alice");
  set_presence("alice", Availability::available, WorkLocation::office);
  auto job = submit("+81 3-1234-5678");
  ASSERT_TRUE(reaches(job, JobState::printed));
  ASSERT_TRUE(eventually([&] { return !messages("user:local:alice").empty(); }));
  auto m = messages("user:local:alice");
  EXPECT_NE(m.back().text.find("Printed"), std::string::npos) << m.back().text;
  EXPECT_EQ(m.back().job_id, job.id.str());
}

// A print job from atdesk-ippd: the notices name the print job and its owner, not a fax.
TEST_F(EngineTest, APrintJobsNoticesNameTheJobAndItsOwner) {
  add_rule("ipp:alice", "user:local:alice");
  set_presence("alice", Availability::busy, WorkLocation::remote);
  IncomingDocument doc;
  doc.data = testing::sample_fax(2);
  doc.name = "Quarterly report";
  doc.source = JobSource::ipp;
  doc.sender.ipp_user = "alice";
  auto job = engine_->submit(std::move(doc));
  ASSERT_TRUE(job) << job.error().describe();
  ASSERT_TRUE(reaches(*job, JobState::held));
  ASSERT_TRUE(eventually([&] { return messages("user:local:alice").size() == 1; }));
  const auto held = messages("user:local:alice").front();
  EXPECT_TRUE(held.text.starts_with("Print job \"Quarterly report\" from alice (2 pages, raster)"))
      << held.text;
  EXPECT_TRUE(held.has_preview);
  set_presence("alice", Availability::available, WorkLocation::office);
  ASSERT_TRUE(reaches(*job, JobState::printed));
  ASSERT_TRUE(eventually([&] { return messages("user:local:alice").size() == 2; }));
  EXPECT_TRUE(
      messages("user:local:alice")
          .back()
          .text.starts_with("Printed: print job \"Quarterly report\" from alice (2 pages, raster)"))
      << messages("user:local:alice").back().text;
}

// A print job whose owner the ingress could not establish: held for the admin's chosen
// recipient whatever the presence (of the recipient, and of a person a rule would have matched),
// the notice says why, presence changes and a restart never print it; a person's release does.
TEST_F(EngineTest, AJobWithoutAnOwnerIsHeldForTheChosenRecipientAndNeverPrintedByPresence) {
  add_rule("ipp:guest", "user:local:alice");  // the claimed name: not to be trusted here
  add_rule("others", "user:local:alice");
  set_presence("alice", Availability::available, WorkLocation::office);
  set_presence("frank", Availability::available, WorkLocation::office);
  IncomingDocument doc;
  doc.data = testing::sample_fax(1);
  doc.name = "anonymous.pdf";
  doc.source = JobSource::ipp;
  doc.sender.ipp_user = "guest";
  doc.owner_unknown = IncomingDocument::OwnerUnknown{{*Recipient::parse_key("user:local:frank")},
                                                     "nobody signed in for this print job"};
  auto job = engine_->submit(std::move(doc));
  ASSERT_TRUE(job) << job.error().describe();
  ASSERT_TRUE(reaches(*job, JobState::held));
  ASSERT_TRUE(eventually([&] { return messages("user:local:frank").size() == 1; }));
  const auto held = messages("user:local:frank").front();
  EXPECT_NE(held.text.find("nobody signed in for this print job"), std::string::npos) << held.text;
  EXPECT_NE(held.text.find("only when a person releases it"), std::string::npos) << held.text;
  EXPECT_TRUE(held.has_preview);
  EXPECT_TRUE(messages("user:local:alice").empty());  // the table was not consulted
  auto stored = engine_->job(job->id.str());
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->recipients, std::vector{*Recipient::parse_key("user:local:frank")});
  // Presence changes, a mode-table re-check and a restart leave it held.
  set_presence("frank", Availability::busy, WorkLocation::office);
  set_presence("frank", Availability::available, WorkLocation::office);
  engine_->run_housekeeping();
  engine_->drain();
  engine_->stop();
  start();
  engine_->drain();
  EXPECT_EQ(state_of(*job), JobState::held);
  EXPECT_EQ(front_.received(), 0u);
  // A person releases it: it prints once.
  ASSERT_TRUE(engine_->release(job->id.str(), std::nullopt, "user:frank"));
  ASSERT_TRUE(reaches(*job, JobState::printed));
  EXPECT_EQ(front_.completed().size(), 1u);
}

TEST_F(EngineTest, BusyHoldsNotifiesThenPrintsWhenAvailable) {
  add_rule("prefix:03", "user:local:alice");
  set_presence("alice", Availability::busy, WorkLocation::remote);
  auto job = submit("0312345678", 3);
  ASSERT_TRUE(reaches(job, JobState::held));
  ASSERT_TRUE(eventually([&] { return messages("user:local:alice").size() == 1; }));
  auto held = messages("user:local:alice").front();
  EXPECT_NE(held.text.find("is held"), std::string::npos) << held.text;
  EXPECT_NE(held.text.find("busy"), std::string::npos) << held.text;
  EXPECT_TRUE(held.has_preview);
  EXPECT_EQ(front_.received(), 0u);

  set_presence("alice", Availability::available, WorkLocation::office);
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_EQ(front_.completed().size(), 1u);
  ASSERT_TRUE(eventually([&] { return messages("user:local:alice").size() == 2; }));
  EXPECT_NE(messages("user:local:alice").back().text.find("Printed"), std::string::npos);
}

TEST_F(EngineTest, OldestHeldJobPrintsFirst) {
  auto first = fax_for_alice(Availability::away, WorkLocation::remote);
  ASSERT_TRUE(reaches(first, JobState::held));
  clock_.advance(1min);
  auto second = submit("0312345678");
  ASSERT_TRUE(reaches(second, JobState::held));
  set_presence("alice", Availability::away, WorkLocation::office);  // away+office prints
  ASSERT_TRUE(reaches(first, JobState::printed));
  ASSERT_TRUE(reaches(second, JobState::printed));
  auto done = front_.completed();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0], "atdesk-" + first.id.str());
}

TEST_F(EngineTest, ReleasedByHandThenPresenceChangePrintsOnce) {
  auto job = fax_for_alice(Availability::do_not_disturb, WorkLocation::office);
  ASSERT_TRUE(reaches(job, JobState::held));
  ASSERT_TRUE(engine_->release(job.id.short_id(), "back", "api:admin"));
  ASSERT_TRUE(reaches(job, JobState::printed));
  set_presence("alice", Availability::available, WorkLocation::office);
  engine_->drain();
  EXPECT_EQ(back_.received(), 1u);
  EXPECT_EQ(front_.received(), 0u);
  EXPECT_EQ(engine_->job(job.id.str())->printer, "back");
  // Releasing again is refused: the job is no longer held.
  auto again = engine_->release(job.id.str(), std::nullopt, "api:admin");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::conflict);
}

TEST_F(EngineTest, ChannelPrintsWhenAnyMemberCanPickUp) {
  ASSERT_TRUE(local_.set_channel_members("front-desk", {"bob", "carol"}));
  add_rule("others", "channel:local:front-desk");
  set_presence("bob", Availability::busy, WorkLocation::office);
  set_presence("carol", Availability::offline, WorkLocation::unknown);
  auto job = submit("+1 555 0100");
  ASSERT_TRUE(reaches(job, JobState::held));
  ASSERT_TRUE(eventually([&] { return !messages("channel:local:front-desk").empty(); }));
  set_presence("carol", Availability::available, WorkLocation::office);
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_NE(engine_->job(job.id.str())->reason.find("printed"), std::string::npos);
}

TEST_F(EngineTest, PrinterDownHoldsRetriesAndPrintsOnceBack) {
  add_rule("0399999999", "user:local:alice");
  set_presence("alice", Availability::available, WorkLocation::office);
  front_.online = false;
  auto job = submit("0399999999");
  ASSERT_TRUE(reaches(job, JobState::held));
  EXPECT_NE(engine_->job(job.id.str())->reason.find("will retry"), std::string::npos);
  // Retried with backoff: each retry first asks the printer whether it has the job already.
  ASSERT_TRUE(eventually([&] {
    auto h = engine_->history(job.id.str());
    return h && std::count_if(h->begin(), h->end(),
                              [](const Transition& t) { return t.to == JobState::held; }) >= 3;
  }));
  EXPECT_EQ(front_.submit_calls, 1);
  // The recipient is told once (when the third attempt failed), not at every retry.
  auto could_not_print = [&] {
    auto told = messages("user:local:alice");
    return std::count_if(told.begin(), told.end(), [](const chat::StoredMessage& m) {
      return m.text.find("Could not print") != std::string::npos;
    });
  };
  ASSERT_TRUE(eventually([&] { return could_not_print() >= 1; }));
  EXPECT_EQ(could_not_print(), 1);
  front_.online = true;
  ASSERT_TRUE(reaches(job, JobState::printed));
  engine_->drain();
  EXPECT_EQ(front_.completed().size(), 1u);
}

TEST_F(EngineTest, AbortedPrintIsHeldAndRetried) {
  front_.abort_next = 1;
  auto job = submit("0399999999");
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_EQ(front_.received(), 2u);
  EXPECT_EQ(front_.completed().size(), 1u);
}

TEST_F(EngineTest, ChatPrintFromRecipientReleasesStrangerIsRefused) {
  auto job = fax_for_alice(Availability::busy, WorkLocation::office);
  ASSERT_TRUE(reaches(job, JobState::held));

  local_.post_command(
      {"local", "mallory", std::nullopt, "print " + std::string(job.id.short_id())});
  ASSERT_TRUE(eventually([&] { return !messages("user:local:mallory").empty(); }));
  EXPECT_NE(messages("user:local:mallory").back().text.find("Sorry"), std::string::npos);
  EXPECT_EQ(state_of(job), JobState::held);
  auto audit = engine_->audit(10);
  ASSERT_TRUE(audit);
  EXPECT_TRUE(std::any_of(audit->begin(), audit->end(), [](const store::AuditEntry& e) {
    return e.action == "command.refused" && e.actor == "chat:local:mallory";
  }));

  local_.post_command({"local", "alice", std::nullopt, "print at back"});
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_EQ(back_.completed().size(), 1u);
}

TEST_F(EngineTest, HoldCommandKeepsJobsHeldUntilResume) {
  add_rule("0312345678", "user:local:alice");
  set_presence("alice", Availability::available, WorkLocation::office);
  local_.post_command({"local", "alice", std::nullopt, "hold"});
  engine_->drain();
  auto job = submit("0312345678");
  ASSERT_TRUE(reaches(job, JobState::held));
  EXPECT_NE(engine_->job(job.id.str())->reason.find("hold everything"), std::string::npos);
  local_.post_command({"local", "alice", std::nullopt, "resume"});
  ASSERT_TRUE(reaches(job, JobState::printed));
}

TEST_F(EngineTest, HostileCommandIsRefusedAndAudited) {
  local_.post_command({"local", "eve", std::nullopt, std::string(5000, 'x') + "\x01"});
  ASSERT_TRUE(eventually([&] { return !messages("user:local:eve").empty(); }));
  auto audit = engine_->audit(10);
  ASSERT_TRUE(audit);
  ASSERT_FALSE(audit->empty());
  EXPECT_EQ(audit->front().action, "command.refused");
}

TEST_F(EngineTest, DeleteRemovesDocumentsAndIsFinal) {
  auto job = fax_for_alice(Availability::busy, WorkLocation::office);
  ASSERT_TRUE(reaches(job, JobState::held));
  ASSERT_TRUE(engine_->remove(job.id.str(), "api:admin"));
  EXPECT_EQ(state_of(job), JobState::deleted);
  EXPECT_FALSE(*blobs_.exists(job.id, store::BlobKind::original));
  set_presence("alice", Availability::available, WorkLocation::office);
  engine_->drain();
  EXPECT_EQ(front_.received(), 0u);
}

// Several nodes: housekeeping's own tick (here: retention) runs on the node holding its lease
// only; when the lease comes to this node, it runs here.
TEST_F(EngineTest, HousekeepingTicksOnlyOnTheNodeHoldingItsLease) {
  jobs_.lease_held_elsewhere = true;
  engine_->stop();
  engine_.reset();
  housekeeping_interval_ = 5ms;
  start();
  auto job = fax_for_alice(Availability::busy, WorkLocation::office);
  ASSERT_TRUE(reaches(job, JobState::held));
  clock_.advance(25h);  // past the 24 h retention
  const int asked = jobs_.lease_asks;
  ASSERT_TRUE(eventually([&] { return jobs_.lease_asks >= asked + 3; }));
  EXPECT_EQ(state_of(job), JobState::held) << "another node holds housekeeping";
  jobs_.lease_held_elsewhere = false;
  EXPECT_TRUE(reaches(job, JobState::expired));
}

// Several nodes: a singleton (the chat service's commands, say) is told its role before
// Engine::singleton returns, taken over by the lease thread when the other holder's lease
// expires, and let go at stop so another node takes it at its next tick.
TEST_F(EngineTest, ASingletonFollowsItsLeaseAndIsLetGoAtStop) {
  jobs_.lease_held_elsewhere = true;
  std::mutex m;
  std::vector<bool> told;
  engine_->singleton("chat:local", [&](bool primary) {
    std::lock_guard lock(m);
    told.push_back(primary);
  });
  {
    std::lock_guard lock(m);
    EXPECT_EQ(told, std::vector<bool>{false});
  }
  jobs_.lease_held_elsewhere = false;
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(m);
    return told.size() == 2;
  }));
  const int drops = jobs_.lease_drops;
  engine_->stop();
  std::lock_guard lock(m);
  EXPECT_EQ(told, (std::vector<bool>{false, true, false}));
  EXPECT_EQ(jobs_.lease_drops, drops + 2) << "housekeeping's lease and the singleton's";
}

TEST_F(EngineTest, HeldJobsExpireAfterRetention) {
  auto job = fax_for_alice(Availability::busy, WorkLocation::office);
  ASSERT_TRUE(reaches(job, JobState::held));
  // The "held" notice is sent after the state is stored; wait for it so the retention notice is
  // the last message (the worker could otherwise still be sending the first).
  ASSERT_TRUE(eventually([&] { return messages("user:local:alice").size() == 1; }));
  clock_.advance(23h);
  engine_->run_housekeeping();
  EXPECT_EQ(state_of(job), JobState::held);
  clock_.advance(2h);
  engine_->run_housekeeping();
  EXPECT_EQ(state_of(job), JobState::expired);
  EXPECT_FALSE(*blobs_.exists(job.id, store::BlobKind::original));
  auto m = messages("user:local:alice");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_NE(m.back().text.find("retention"), std::string::npos);
}

// A wall clock set forward (here by ten days, past the 24 h retention) is seen as a jump, not as
// time passing: the held job stays until it has been held 24 h of elapsed time, and the jump is
// in the audit log.
TEST_F(EngineTest, ClockJumpForwardDoesNotExpireHeldJobsEarly) {
  auto job = fax_for_alice(Availability::busy, WorkLocation::office);
  ASSERT_TRUE(reaches(job, JobState::held));
  clock_.set(clock_.now() + std::chrono::days(10));
  engine_->run_housekeeping();
  EXPECT_EQ(state_of(job), JobState::held);
  auto audit = engine_->audit(10);
  ASSERT_TRUE(audit);
  ASSERT_FALSE(audit->empty());
  EXPECT_EQ(audit->front().action, "clock.jump");
  EXPECT_NE(audit->front().detail.find("forward by 14400 min"), std::string::npos)
      << audit->front().detail;
  clock_.advance(23h);
  engine_->run_housekeeping();
  EXPECT_EQ(state_of(job), JobState::held);
  clock_.advance(2h);
  engine_->run_housekeeping();
  EXPECT_EQ(state_of(job), JobState::expired);
}

// Set back by 3 h: a job received after the jump carries the earlier time base and must not expire
// early either; one received before it is kept 3 h longer (never shorter).
TEST_F(EngineTest, ClockJumpBackDoesNotExpireHeldJobsEarly) {
  auto before = fax_for_alice(Availability::busy, WorkLocation::office);
  ASSERT_TRUE(reaches(before, JobState::held));
  clock_.set(clock_.now() - 3h);
  engine_->run_housekeeping();
  auto after = submit("0312345678");
  ASSERT_TRUE(reaches(after, JobState::held));
  clock_.advance(23h);
  engine_->run_housekeeping();
  EXPECT_EQ(state_of(before), JobState::held);
  EXPECT_EQ(state_of(after), JobState::held);
  clock_.advance(2h);  // 25 h since both
  engine_->run_housekeeping();
  EXPECT_EQ(state_of(after), JobState::expired);
  EXPECT_EQ(state_of(before), JobState::held);
  clock_.advance(3h);
  engine_->run_housekeeping();
  EXPECT_EQ(state_of(before), JobState::expired);
}

// A small step (NTP) is time passing, not a jump: nothing is recorded.
TEST_F(EngineTest, SmallClockStepIsNotAJump) {
  clock_.set(clock_.now() + 30s);
  engine_->run_housekeeping();
  auto audit = engine_->audit(10);
  ASSERT_TRUE(audit);
  for (const auto& entry : *audit) EXPECT_NE(entry.action, "clock.jump");
}

// A chat service that is down: the job is held (presence cannot be had), the notice waits and
// goes out at the next check once the service is back; a waiting notice about a state the job
// has left is dropped, the newer one is sent.
TEST_F(EngineTest, NoticesWaitWhileTheChatServiceIsDownAndAreSentWhenBack) {
  add_rule("0312345678", "user:local:alice");
  set_presence("alice", Availability::available, WorkLocation::office);
  chat_.down = true;
  auto job = submit("0312345678");
  ASSERT_TRUE(reaches(job, JobState::held));
  engine_->drain();
  EXPECT_TRUE(messages("user:local:alice").empty());
  EXPECT_EQ(engine_->metrics().notices_waiting, 1u);
  engine_->run_housekeeping();  // still down: the notice keeps waiting
  EXPECT_EQ(engine_->metrics().notices_waiting, 1u);

  auto second = submit("0312345678");
  ASSERT_TRUE(reaches(second, JobState::held));
  ASSERT_TRUE(engine_->release(second.id.str(), std::nullopt, "api:admin"));
  ASSERT_TRUE(reaches(second, JobState::printed));
  engine_->drain();
  EXPECT_EQ(engine_->metrics().notices_waiting, 3u);  // held, held, printed

  chat_.down = false;
  engine_->run_housekeeping();
  auto m = messages("user:local:alice");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].job_id, job.id.str());
  EXPECT_NE(m[0].text.find("is held"), std::string::npos) << m[0].text;
  EXPECT_EQ(m[1].job_id, second.id.str());
  EXPECT_NE(m[1].text.find("Printed"), std::string::npos) << m[1].text;
  auto metrics = engine_->metrics();
  EXPECT_EQ(metrics.notices_waiting, 0u);
  EXPECT_EQ(metrics.notices_sent, 2u);
}

// Waiting notices are kept in the store: after a restart the person still learns that their fax
// is held.
TEST_F(EngineTest, WaitingNoticesSurviveARestart) {
  add_rule("0312345678", "user:local:alice");
  set_presence("alice", Availability::busy, WorkLocation::office);
  chat_.down = true;
  auto job = submit("0312345678");
  ASSERT_TRUE(reaches(job, JobState::held));
  engine_->drain();
  ASSERT_EQ(engine_->metrics().notices_waiting, 1u);
  engine_->stop();
  engine_.reset();
  chat_.down = false;
  start();
  engine_->run_housekeeping();
  auto m = messages("user:local:alice");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].job_id, job.id.str());
  EXPECT_NE(m[0].text.find("is held"), std::string::npos) << m[0].text;
  EXPECT_EQ(engine_->metrics().notices_waiting, 0u);
}

// A release that wins the race with the retention pass: the job prints and the person is never
// told it was deleted (the notice used to go out before the expiry, which then failed).
TEST_F(EngineTest, ExpiryThatLosesARaceWithAReleaseTellsNobody) {
  auto job = fax_for_alice(Availability::busy, WorkLocation::office);
  ASSERT_TRUE(reaches(job, JobState::held));
  ASSERT_TRUE(eventually([&] { return messages("user:local:alice").size() == 1; }));
  clock_.advance(25h);
  bool released = false;
  jobs_.after_list = [&](const store::JobFilter& f) {
    if (!f.received_before || released) return;
    released = true;  // between the retention pass's read and its expiry
    ASSERT_TRUE(engine_->release(job.id.str(), std::nullopt, "api:admin"));
  };
  engine_->run_housekeeping();
  jobs_.after_list = nullptr;
  ASSERT_TRUE(released);
  ASSERT_TRUE(reaches(job, JobState::printed));
  engine_->drain();
  for (const auto& m : messages("user:local:alice")) {
    EXPECT_EQ(m.text.find("retention"), std::string::npos) << m.text;
  }
  EXPECT_TRUE(*blobs_.exists(job.id, store::BlobKind::original));
}

// The history of a released job names the printer it goes to.
TEST_F(EngineTest, ReleaseHistoryNamesThePrinter) {
  auto job = fax_for_alice(Availability::busy, WorkLocation::office);
  ASSERT_TRUE(reaches(job, JobState::held));
  ASSERT_TRUE(engine_->release(job.id.str(), std::string("back"), "api:admin"));
  ASSERT_TRUE(reaches(job, JobState::printed));
  auto history = engine_->history(job.id.str());
  ASSERT_TRUE(history);
  const auto it = std::find_if(history->begin(), history->end(), [](const Transition& t) {
    return t.to == JobState::printing && t.from == JobState::releasing;
  });
  ASSERT_NE(it, history->end());
  EXPECT_EQ(it->reason, "printing on back");
}

// What the ingress noticed about a reception (a fax call's damaged lines) is kept in the job's
// first history entry.
TEST_F(EngineTest, ReceptionNoteIsKeptInTheHistory) {
  IncomingDocument doc;
  doc.data = testing::sample_fax(1);
  doc.name = "call.tif";
  doc.sender = *parse_sender("0399999999", kPlan);
  doc.source = JobSource::sip;
  doc.note = "12 bad lines (the call had no ECM)";
  auto job = engine_->submit(std::move(doc));
  ASSERT_TRUE(job) << job.error().describe();
  auto history = engine_->history(job->id.str());
  ASSERT_TRUE(history);
  ASSERT_FALSE(history->empty());
  EXPECT_NE(history->front().reason.find("12 bad lines"), std::string::npos)
      << history->front().reason;
}

TEST_F(EngineTest, ScheduleSwitchRechecksHeldJobs) {
  add_rule("0312345678", "user:local:alice");
  set_presence("alice", Availability::busy, WorkLocation::office);
  ModeTable everything("always");
  for (auto a : kAllAvailabilities)
    for (auto w : kAllWorkLocations) everything.set(a, w, Action::print);
  ASSERT_TRUE(engine_->put_mode_table(everything, "test"));
  Schedule s;
  s.default_table = "weekday";
  s.rules.push_back({"always", 0x7f, 18h, 24h});  // evenings: print everything
  ASSERT_TRUE(engine_->put_schedule(s, "test"));
  auto job = submit("0312345678");
  ASSERT_TRUE(reaches(job, JobState::held));
  clock_.advance(9h);  // 19:00
  engine_->run_housekeeping();
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_EQ(engine_->active_mode_table(), "always");
}

// Holiday dates imported from a calendar ([holidays]) switch the schedule to its holiday table
// like its own dates do, re-check held jobs at once, and are audited with their source.
TEST_F(EngineTest, ImportedHolidaysChooseTheHolidayTableAndRecheckHeldJobs) {
  add_rule("0312345678", "user:local:alice");
  set_presence("alice", Availability::busy, WorkLocation::office);
  ModeTable everything("closed-day");
  for (auto a : kAllAvailabilities)
    for (auto w : kAllWorkLocations) everything.set(a, w, Action::print);
  ASSERT_TRUE(engine_->put_mode_table(everything, "test"));
  Schedule s;
  s.default_table = "weekday";
  s.holiday_table = "closed-day";
  ASSERT_TRUE(engine_->put_schedule(s, "test"));
  auto job = submit("0312345678");
  ASSERT_TRUE(reaches(job, JobState::held));
  // The fixture's clock stands at 2026-11-24 10:00 (the fixed zone is UTC).
  engine_->set_imported_holidays(
      {{std::chrono::year{2026} / 11 / 24, "company day", "/etc/atdesk/company.ics"}},
      "config:[holidays]");
  EXPECT_EQ(engine_->active_mode_table(), "closed-day");
  ASSERT_TRUE(reaches(job, JobState::printed));
  auto audit = engine_->audit(20);
  ASSERT_TRUE(audit);
  EXPECT_TRUE(std::any_of(audit->begin(), audit->end(), [](const store::AuditEntry& e) {
    return e.action == "schedule.holidays" &&
           e.detail.find("/etc/atdesk/company.ics") != std::string::npos;
  }));
  engine_->set_imported_holidays({}, "config:[holidays]");
  EXPECT_EQ(engine_->active_mode_table(), "weekday");
}

TEST_F(EngineTest, ModeTableChangeTakesEffectAtOnce) {
  auto job = fax_for_alice(Availability::available, WorkLocation::remote);
  ASSERT_TRUE(reaches(job, JobState::held));
  auto table = ModeTable::seed_default("weekday");
  table.set(Availability::available, WorkLocation::remote, Action::print);
  ASSERT_TRUE(engine_->put_mode_table(table, "api:admin"));
  ASSERT_TRUE(reaches(job, JobState::printed));
}

TEST_F(EngineTest, BadDocumentIsRefusedAndNothingStored) {
  IncomingDocument doc;
  const std::string junk = "II*\0garbage";
  for (char c : junk) doc.data.push_back(static_cast<std::byte>(c));
  doc.name = "broken.tif";
  doc.sender = *parse_sender("0312345678", kPlan);
  auto job = engine_->submit(std::move(doc));
  ASSERT_FALSE(job);
  EXPECT_NE(job.error().message.find("broken.tif"), std::string::npos) << job.error().message;
  EXPECT_EQ(blobs_.count(), 0u);
  EXPECT_TRUE(engine_->jobs({})->empty());
}

TEST_F(EngineTest, PrintingJobIsReconciledAtRestartWithoutDuplicate) {
  add_rule("0312345678", "user:local:alice");
  set_presence("alice", Availability::available, WorkLocation::office);
  front_.polls_to_complete = 1000000;  // the printer never finishes before the "crash"
  auto job = submit("0312345678");
  ASSERT_TRUE(eventually([&] { return front_.received() == 1; }));
  engine_->stop();  // as if killed: the job is left in `printing`
  engine_.reset();
  EXPECT_EQ(jobs_.get(job.id)->state, JobState::printing);
  front_.polls_to_complete = 1;
  start();
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_EQ(front_.received(), 1u);  // found by job name, not submitted again
}

// Several nodes: a job whose node stopped before deciding it (its lease expired) is taken over
// by a running node at its next take-over tick, not only at a restart, and printed once.
TEST_F(EngineTest, AJobLeftByAStoppedNodeIsTakenOverWhileRunning) {
  add_rule("0312345678", "user:local:alice");
  set_presence("alice", Availability::available, WorkLocation::office);
  Job left;
  left.id = *JobId::parse("00112233445566778899aabbccddeeff");
  left.state = JobState::stored;
  left.source = JobSource::upload;
  left.sender = *parse_sender("0312345678", kPlan);
  left.document_name = "fax.tif";
  left.format = DocumentFormat::tiff;
  left.pages = 1;
  left.received_at = left.updated_at = clock_.now();
  const auto fax = testing::sample_fax(1);
  left.size_bytes = fax.size();
  ASSERT_TRUE(blobs_.put(left.id, store::BlobKind::original, fax));
  ASSERT_TRUE(jobs_.insert(left, Transition{left.id, left.received_at, JobState::received,
                                            JobState::stored, "ingress:upload", "received"}));
  jobs_.new_life();  // the node that stored it stopped: its lease expired
  ASSERT_TRUE(reaches(left, JobState::printed));
  EXPECT_EQ(front_.received(), 1u);
}

TEST_F(EngineTest, CrashBeforeSubmitIsPrintedAtRestart) {
  add_rule("0312345678", "user:local:alice");
  set_presence("alice", Availability::available, WorkLocation::office);
  front_.online = false;
  auto job = submit("0312345678");
  ASSERT_TRUE(reaches(job, JobState::held));
  engine_->stop();
  engine_.reset();
  front_.online = true;
  start();
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_EQ(front_.completed().size(), 1u);
}

// The watchdog's question (atdeskd feeds systemd's WatchdogSec with it): an idle engine is alive,
// one whose work has been stuck in a call for longer than the bound is not, and it is alive again
// once the call returns.
TEST_F(EngineTest, MakingProgressTurnsFalseWhileWorkIsStuckAndBackAfter) {
  EXPECT_TRUE(engine_->making_progress(50ms));
  chat_.stuck = true;
  const Job job = fax_for_alice(Availability::available, WorkLocation::office);
  ASSERT_TRUE(eventually([&] { return chat_.stuck_calls > 0; }));
  ASSERT_TRUE(eventually([&] { return !engine_->making_progress(50ms); }));
  chat_.stuck = false;
  ASSERT_TRUE(reaches(job, JobState::printed));
  EXPECT_TRUE(eventually([&] { return engine_->making_progress(50ms); }));
}

TEST_F(EngineTest, RuleForUnconfiguredChatServiceIsRefused) {
  RecipientRule rule;
  rule.pattern = *SenderPattern::parse("0312345678", kPlan);
  rule.recipient = *Recipient::parse_key("user:teams:alice@example.org");
  auto added = engine_->add_recipient_rule(rule, "test");
  ASSERT_FALSE(added);  // a rule must name a configured chat service
  EXPECT_NE(added.error().message.find("teams"), std::string::npos);
}

// Language: chat notices and replies in the recipient's language. The rule's language, else
// [general] language; the chat service's word before both; Japanese dates.
TEST_F(EngineTest, NoticesAndRepliesAreInTheRulesLanguage) {
  add_rule("0312345678", "user:local:alice", Language::ja);
  add_rule("0312345678", "user:local:bob");  // no language: [general] language, here en
  set_presence("alice", Availability::busy, WorkLocation::remote);
  set_presence("bob", Availability::busy, WorkLocation::remote);
  auto job = submit("0312345678", 2);
  ASSERT_TRUE(reaches(job, JobState::held));
  ASSERT_TRUE(eventually([&] {
    return messages("user:local:alice").size() == 1 && messages("user:local:bob").size() == 1;
  }));
  const std::string id(job.id.short_id());
  const auto ja = messages("user:local:alice").front().text;
  // FixedZone is UTC; the fax arrived 2026-11-24 10:00.
  EXPECT_TRUE(ja.starts_with(
      "2026年11月24日 10:00 に受信した+81312345678 からのファクス（2ページ）を保留しています。"))
      << ja;
  EXPECT_NE(ja.find("「削除 " + id + "」"), std::string::npos) << ja;
  const auto en = messages("user:local:bob").front().text;
  EXPECT_TRUE(en.starts_with("Fax from +81312345678 (2 pages) received 2026-11-24 10:00 is held."))
      << en;
  // The reason: stored in English (the same for everyone), in each notice in its language.
  const auto stored = engine_->job(job.id.str())->reason;
  EXPECT_TRUE(stored.starts_with("held: alice is busy, remote; bob is busy, remote")) << stored;
  EXPECT_NE(
      ja.find("\n理由: 保留: alice は取り込み中・リモート。bob は取り込み中・リモート（モード表「"),
      std::string::npos)
      << ja;
  EXPECT_NE(en.find("\nWhy: " + stored + "\n"), std::string::npos) << en;
  // The rules keep their languages through the engine's listing.
  auto rules = engine_->recipient_rules();
  ASSERT_TRUE(rules);
  ASSERT_EQ(rules->size(), 2u);
  EXPECT_EQ(rules->at(0).language, Language::ja);
  EXPECT_EQ(rules->at(1).language, std::nullopt);

  // Commands in both languages from both; each reply in the writer's language.
  local_.post_command({"local", "alice", std::nullopt, "一覧"});
  ASSERT_TRUE(eventually([&] { return messages("user:local:alice").size() == 2; }));
  EXPECT_EQ(
      messages("user:local:alice").back().text,
      "保留中 1 件:\n" + id + "  +81312345678 からのファクス、2ページ、受信 2026年11月24日 10:00");
  local_.post_command({"local", "bob", std::nullopt, "list"});
  ASSERT_TRUE(eventually([&] { return messages("user:local:bob").size() == 2; }));
  EXPECT_EQ(messages("user:local:bob").back().text,
            "1 held:\n" + id + "  fax from +81312345678, 2 pages, received 2026-11-24 10:00");
  local_.post_command({"local", "alice", std::nullopt, "印刷しないで"});
  ASSERT_TRUE(eventually([&] { return messages("user:local:alice").size() == 3; }));
  EXPECT_TRUE(messages("user:local:alice")
                  .back()
                  .text.starts_with("すみません、理解できませんでした（不明なコマンド"))
      << messages("user:local:alice").back().text;
  auto audit = engine_->audit(1);
  ASSERT_TRUE(audit);
  ASSERT_FALSE(audit->empty());
  EXPECT_NE(audit->front().detail.find("unknown command"), std::string::npos)  // English
      << audit->front().detail;
  EXPECT_EQ(state_of(job), JobState::held);

  local_.post_command({"local", "alice", std::nullopt, "3fa2c9d1 nowhereで印刷"});
  ASSERT_TRUE(eventually([&] { return messages("user:local:alice").size() == 4; }));
  EXPECT_EQ(messages("user:local:alice").back().text,
            "すみません、プリンター「nowhere」はありません（プリンター: back, front）。");
  local_.post_command({"local", "alice", std::nullopt, "backで印刷"});
  ASSERT_TRUE(reaches(job, JobState::printed));
  ASSERT_TRUE(eventually([&] { return messages("user:local:alice").size() == 6; }));
  auto m = messages("user:local:alice");
  // The reply and the "printed" notice, in either order (the print may finish first).
  std::vector<std::string> last{m[4].text, m[5].text};
  std::sort(last.begin(), last.end());
  EXPECT_EQ(last[0], "ジョブ " + id + " をプリンター back で印刷します。");
  EXPECT_EQ(last[1],
            "印刷しました: 2026年11月24日 10:00 に受信した+81312345678 "
            "からのファクス（2ページ）、プリンター back。ジョブ " +
                id + "。");
  ASSERT_TRUE(eventually([&] { return messages("user:local:bob").size() == 3; }));
  EXPECT_TRUE(messages("user:local:bob").back().text.starts_with("Printed: fax from +81312345678"));
  EXPECT_EQ(back_.completed().size(), 1u);
}

TEST_F(EngineTest, DefaultLanguageAndTheChatServicesWordDecide) {
  engine_->stop();
  default_language_ = Language::ja;
  start();
  add_rule("0312345678", "user:local:alice");  // no language: [general] language (ja)
  add_rule("0312345678", "user:local:carol", Language::ja);
  chat_.languages["carol"] = "en-GB";  // the chat service knows better than the rule
  set_presence("alice", Availability::busy, WorkLocation::remote);
  set_presence("carol", Availability::busy, WorkLocation::remote);
  auto job = submit("0312345678");
  ASSERT_TRUE(reaches(job, JobState::held));
  ASSERT_TRUE(eventually([&] {
    return messages("user:local:alice").size() == 1 && messages("user:local:carol").size() == 1;
  }));
  EXPECT_NE(messages("user:local:alice").front().text.find("を保留しています"), std::string::npos);
  EXPECT_NE(messages("user:local:carol").front().text.find("is held"), std::string::npos);

  // A command says its own language (XMPP's xml:lang): the reply follows it.
  chat::ChatCommand help{"local", "alice", std::nullopt, "help"};
  help.language = "en";
  local_.post_command(help);
  ASSERT_TRUE(eventually([&] { return messages("user:local:alice").size() == 2; }));
  EXPECT_TRUE(messages("user:local:alice").back().text.starts_with("Commands:"));
  local_.post_command({"local", "alice", std::nullopt, "help"});
  ASSERT_TRUE(eventually([&] { return messages("user:local:alice").size() == 3; }));
  EXPECT_TRUE(messages("user:local:alice").back().text.starts_with("コマンド:"));

  // Retention's notice too.
  clock_.advance(25h);
  engine_->run_housekeeping();
  ASSERT_EQ(state_of(job), JobState::expired);
  ASSERT_TRUE(eventually([&] { return messages("user:local:alice").size() == 4; }));
  EXPECT_EQ(messages("user:local:alice").back().text,
            "+81312345678 からのファクス（ジョブ " + std::string(job.id.short_id()) +
                "）は保存期間を過ぎても保留されていたため削除しました。");
}

// Every chat reply in both languages: hold, resume, delete, nothing held, a job not yours.
TEST_F(EngineTest, EveryCommandReplyInBothLanguages) {
  add_rule("0312345678", "user:local:alice", Language::ja);
  add_rule("0312345678", "user:local:bob", Language::en);
  set_presence("alice", Availability::busy, WorkLocation::remote);
  set_presence("bob", Availability::busy, WorkLocation::remote);
  const std::vector<std::pair<std::string, std::string>> alice = {
      {"一覧", "あなた宛てに保留中のジョブはありません。"},
      {"印刷", "あなた宛てに保留中のジョブはありません。"},
      {"削除 abcd", "すみません、あなた宛てのジョブ abcd はありません。"},
      {"保留", "了解: 「再開」と送るまで、あなた宛てのものはすべて保留します。"},
      {"再開", "了解: あなた宛てのジョブは在席状況に応じて再び印刷されます。"},
  };
  const std::vector<std::pair<std::string, std::string>> bob = {
      {"list", "Nothing is held for you."},
      {"print", "Nothing is held for you."},
      {"delete abcd", "Sorry, there is no job abcd for you."},
      {"hold", "OK: everything for you stays held until you send 'resume'."},
      {"resume", "OK: jobs for you print again as your presence allows."},
  };
  for (const auto& [who, cases] : {std::pair{"alice", alice}, std::pair{"bob", bob}}) {
    const std::string key = std::string("user:local:") + who;
    for (std::size_t i = 0; i < cases.size(); ++i) {
      local_.post_command({"local", who, std::nullopt, cases[i].first});
      ASSERT_TRUE(eventually([&] { return messages(key).size() == i + 1; })) << cases[i].first;
      EXPECT_EQ(messages(key).back().text, cases[i].second) << cases[i].first;
    }
  }
  auto job = submit("0312345678");
  ASSERT_TRUE(reaches(job, JobState::held));
  ASSERT_TRUE(eventually([&] { return messages("user:local:alice").size() == 6; }));
  const std::string id(job.id.short_id());
  local_.post_command({"local", "alice", std::nullopt, "削除 " + id});
  ASSERT_TRUE(eventually([&] { return messages("user:local:alice").size() == 7; }));
  EXPECT_EQ(messages("user:local:alice").back().text, "ジョブ " + id + " を削除しました。");
  EXPECT_EQ(state_of(job), JobState::deleted);
}

}  // namespace
}  // namespace atdesk
