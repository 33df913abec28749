// The job flow (the seed's FIG. 16): store, decide, print or hold, release on presence change,
// print with retries and tracking, reconciliation after a crash, retention.
#include <spdlog/spdlog.h>
#include <algorithm>
#include <random>

#include "engine_impl.hpp"

namespace atdesk::engine {
namespace {

JobId new_job_id() {
  std::random_device rd;  // /dev/urandom on Linux
  std::array<unsigned char, 16> bytes{};
  for (std::size_t i = 0; i < bytes.size(); i += 4) {
    const auto v = rd();
    for (std::size_t k = 0; k < 4; ++k) bytes[i + k] = static_cast<unsigned char>(v >> (8 * k));
  }
  return JobId::from_bytes(bytes);
}

std::string quoted_name(const Job& job) {
  return "job " + std::string(job.id.short_id());
}

std::vector<Recipient> unique_recipients(const Match& match) {
  std::vector<Recipient> out;
  for (const auto* rule : match.rules) {
    if (std::find(out.begin(), out.end(), rule->recipient) == out.end()) {
      out.push_back(rule->recipient);
    }
  }
  return out;
}

std::string rule_printer(const Match& match) {
  for (const auto* rule : match.rules) {
    if (!rule->printer.empty()) return rule->printer;
  }
  return {};
}

bool retryable(Errc code) {
  return code == Errc::unavailable || code == Errc::timeout || code == Errc::io ||
         code == Errc::no_space;
}

}  // namespace

Result<Job> Engine::Impl::transition(Job job, JobState to, const std::string& actor,
                                     std::string reason) {
  std::lock_guard lock(mutex_);
  if (!can_transition(job.state, to)) {
    return fail(Errc::conflict, quoted_name(job) + " is " + std::string(to_string(job.state)) +
                                    " and cannot become " + std::string(to_string(to)));
  }
  const auto now = deps_.clock.now();
  Transition t{job.id, now, job.state, to, actor, reason};
  const JobState expected = job.state;
  job.state = to;
  job.updated_at = now;
  job.reason = std::move(reason);
  if (auto ok = deps_.jobs.update(job, expected, t); !ok) return fail(ok.error());
  spdlog::info("job {} {} -> {} by {}: {}", job.id.short_id(), to_string(expected), to_string(to),
               actor, job.reason);
  return job;
}

Result<Job> Engine::Impl::submit(IncomingDocument doc) {
  const std::string name = doc.name.empty() ? "document" : doc.name;
  auto info = document::probe(doc.data, name, settings_.limits);
  if (!info) return fail(info.error());

  Job job;
  job.id = new_job_id();
  job.state = JobState::stored;
  job.source = doc.source;
  job.sender = std::move(doc.sender);
  job.document_name = name;
  job.format = info->format;
  job.pages = static_cast<int>(info->pages.size());
  job.incomplete = doc.incomplete;
  job.size_bytes = doc.data.size();
  job.received_at = job.updated_at = deps_.clock.now();
  job.reason = "stored, waiting for a decision";

  // Durable first: the document (fsync'd), then the row. Only then is the receipt confirmed.
  if (auto ok = deps_.blobs.put(job.id, store::BlobKind::original, doc.data); !ok) {
    return fail(ok.error());
  }
  Transition first{job.id,
                   job.received_at,
                   JobState::received,
                   JobState::stored,
                   "ingress:" + std::string(to_string(job.source)),
                   "received " + std::to_string(job.pages) + " page(s) from " +
                       job.sender.display() + (job.incomplete ? " (incomplete)" : "") +
                       (doc.note.empty() ? "" : "; " + doc.note)};
  if (auto ok = deps_.jobs.insert(job, first); !ok) {
    (void)deps_.blobs.remove(job.id);
    return fail(ok.error());
  }
  post([this, id = job.id] { process_stored(id); });
  return job;
}

void Engine::Impl::process_stored(const JobId& id) {
  auto job = deps_.jobs.get(id);
  if (!job || job->state != JobState::stored) return;

  // Derived documents: the printable PDF and the page-1 preview (kept encrypted like the original).
  auto original = deps_.blobs.get(id, store::BlobKind::original);
  if (!original) {
    (void)transition(*job, JobState::failed, "engine",
                     "the stored document cannot be read: " + original.error().message);
    return;
  }
  auto pdf = document::to_printable_pdf(*original, job->document_name, settings_.limits);
  if (!pdf) {
    (void)transition(*job, JobState::failed, "engine",
                     "the document cannot be made printable: " + pdf.error().message);
    return;
  }
  if (auto ok = deps_.blobs.put(id, store::BlobKind::printable, *pdf); !ok) {
    spdlog::error("job {}: storing the printable PDF failed: {}", id.short_id(),
                  ok.error().message);
    post_after(settings_.print_retry_min, [this, id] { process_stored(id); });
    return;
  }
  // S1602: the recipient table.
  auto table = recipient_table();
  const auto match = table->match(job->sender);
  job->recipients = unique_recipients(match);
  // S1604-S1607: presence and the mode table.
  const auto decision = decide_job(*job, rule_printer(match));
  job->printer = printer_for(decision.printer);
  if (decision.action == Action::print) {
    auto printing = transition(*job, JobState::printing, "engine", decision.reason);
    if (printing) print(id);
    return;
  }
  auto held = transition(*job, JobState::held, "engine", decision.reason);
  if (!held) return;
  // The page-1 preview goes with the "held" notice; it is made after the decision so that a
  // decision never waits for rendering.
  if (auto png = make_preview(id, held->document_name); !png) {
    spdlog::warn("job {}: no preview: {}", id.short_id(), png.error().message);
  }
  notify(*held, held_text(*held), true);
}

Result<Bytes> Engine::Impl::make_preview(const JobId& id, const std::string& document_name) {
  auto original = deps_.blobs.get(id, store::BlobKind::original);
  if (!original) return fail(original.error());
  auto png =
      document::render_png(*original, document_name, 0, settings_.preview_px, settings_.limits);
  if (!png) return png;
  if (auto ok = deps_.blobs.put(id, store::BlobKind::preview, *png); !ok) return fail(ok.error());
  return png;
}

Decision Engine::Impl::decide_job(Job& job, const std::string& rule_printer) {
  const auto mode = mode_table(active_table_name());
  job.mode_table = mode.name();
  std::vector<Recipient> effective;
  std::vector<std::string> paused;
  for (const auto& r : job.recipients) {
    if (hold_flag(r.key())) {
      paused.push_back(r.address);
    } else {
      effective.push_back(r);
    }
  }
  Decision d;
  if (!job.recipients.empty() && effective.empty()) {
    d.action = Action::hold;
    d.printer = rule_printer;
    std::string names;
    for (const auto& p : paused) names += (names.empty() ? "" : ", ") + p;
    d.reason = "held: " + names + " asked to hold everything until 'resume'";
  } else {
    const auto presences = gather_presence(effective);
    d = decide(job, effective, presences, mode, settings_.policy, rule_printer);
  }
  (d.action == Action::print ? decisions_print_ : decisions_hold_)++;
  return d;
}

PresenceMap Engine::Impl::gather_presence(std::span<const Recipient> recipients) {
  PresenceMap out;
  std::map<std::string, std::vector<const Recipient*>> by_service;
  for (const auto& r : recipients) by_service[r.service].push_back(&r);

  for (auto& [service_name, list] : by_service) {
    auto it = deps_.chat_services.find(service_name);
    if (it == deps_.chat_services.end()) {
      for (const auto* r : list) {
        out[r->key()] = {false, "chat service '" + service_name + "' is not configured", {}};
      }
      ++presence_failed_;
      continue;
    }
    auto* service = it->second;
    std::vector<std::string> users;
    std::map<std::string, std::vector<std::string>> channel_members;
    for (const auto* r : list) {
      if (r->kind == RecipientKind::user) {
        users.push_back(r->address);
        continue;
      }
      auto members = service->channel_members(r->address);
      if (!members) {
        out[r->key()] = {false, members.error().message, {}};
        continue;
      }
      users.insert(users.end(), members->begin(), members->end());
      channel_members[r->address] = std::move(*members);
    }
    std::sort(users.begin(), users.end());
    users.erase(std::unique(users.begin(), users.end()), users.end());
    auto presences = service->presence(users);
    if (!presences) {
      ++presence_failed_;
      for (const auto* r : list) {
        if (!out.contains(r->key())) out[r->key()] = {false, presences.error().message, {}};
      }
      continue;
    }
    ++presence_ok_;
    for (const auto* r : list) {
      if (out.contains(r->key())) continue;
      RecipientPresence rp;
      const std::vector<std::string> one{r->address};
      const auto& members = r->kind == RecipientKind::user ? one : channel_members[r->address];
      for (const auto& m : members) {
        if (auto p = presences->find(m); p != presences->end()) {
          rp.members.push_back({m, p->second});
        }
      }
      rp.available = !rp.members.empty();
      if (!rp.available) {
        rp.error = r->kind == RecipientKind::user
                       ? "'" + r->address + "' is unknown to chat service '" + service_name + "'"
                       : "no member of channel '" + r->address + "' has a presence";
      }
      out[r->key()] = std::move(rp);
    }
  }
  return out;
}

void Engine::Impl::on_presence(const std::string& service, const std::string& user,
                               const Presence& presence) {
  spdlog::info("presence of {}:{} is now {}", service, user, presence.describe());
  store::JobFilter filter;
  filter.states = {JobState::held};
  filter.oldest_first = true;  // held jobs print oldest first
  filter.limit = 1'000'000;
  auto held = deps_.jobs.list(filter);
  if (!held) return;
  auto chat_it = deps_.chat_services.find(service);
  auto* chat = chat_it == deps_.chat_services.end() ? nullptr : chat_it->second;
  std::map<std::string, bool> in_channel;
  auto concerns = [&](const Recipient& r) {
    if (r.service != service) return false;
    if (r.kind == RecipientKind::user) return r.address == user;
    auto [it, fresh] = in_channel.try_emplace(r.address, false);
    if (fresh && chat) {
      if (auto members = chat->channel_members(r.address)) {
        it->second = std::find(members->begin(), members->end(), user) != members->end();
      }
    }
    return it->second;
  };
  std::vector<JobId> batch;
  for (auto& job : *held) {
    if (!std::any_of(job.recipients.begin(), job.recipients.end(), concerns)) continue;
    auto d = decide_job(job, job.printer);
    if (d.action != Action::print) continue;
    (void)release(job, std::nullopt, "presence:" + service + ":" + user, d.reason, &batch);
  }
  print_in_order(std::move(batch));
}

void Engine::Impl::recheck_held(const std::string& why) {
  store::JobFilter filter;
  filter.states = {JobState::held};
  filter.oldest_first = true;
  filter.limit = 1'000'000;
  auto held = deps_.jobs.list(filter);
  if (!held) return;
  std::vector<JobId> batch;
  for (auto& job : *held) {
    auto d = decide_job(job, job.printer);
    if (d.action == Action::print)
      (void)release(job, std::nullopt, "engine", why + "; " + d.reason, &batch);
  }
  print_in_order(std::move(batch));
}

// One task submits the batch in order: posted one by one, the workers would race for the
// printer and a later job could go first.
void Engine::Impl::print_in_order(std::vector<JobId> batch) {
  if (batch.empty()) return;
  post([this, batch = std::move(batch)] {
    for (const auto& id : batch) print(id);
  });
}

Result<Job> Engine::Impl::release(Job job, std::optional<std::string> printer_name,
                                  const std::string& actor, const std::string& reason,
                                  std::vector<JobId>* batch) {
  if (job.state != JobState::held) {
    return fail(Errc::conflict,
                quoted_name(job) + " is " + std::string(to_string(job.state)) + ", not held");
  }
  job.printer = printer_for(printer_name && !printer_name->empty() ? *printer_name : job.printer);
  auto releasing = transition(std::move(job), JobState::releasing, actor, reason);
  if (!releasing) return releasing;
  auto printing = transition(std::move(*releasing), JobState::printing, actor,
                             "printing on " + releasing->printer);
  if (!printing) return printing;
  (void)audit(actor, "job.release", printing->id.str(), reason);
  if (batch) {
    batch->push_back(printing->id);
  } else {
    post([this, id = printing->id] { print(id); });
  }
  return printing;
}

void Engine::Impl::print(const JobId& id, bool after_restart) {
  {
    std::lock_guard lock(mutex_);
    if (!active_prints_.insert(id.str()).second) {
      // Being submitted or tracked by another call. Look again shortly rather than return for
      // good: the other call may be about to let go (a retry arriving just before the claim of
      // the call that scheduled it ended). Ends as soon as the job leaves `printing`.
      post_after(std::chrono::milliseconds(50), [this, id, after_restart] {
        auto job = deps_.jobs.get(id);
        if (job && job->state == JobState::printing) print(id, after_restart);
      });
      return;
    }
  }
  // Released on every way out except the hand-over to track(), which releases it when the
  // printer has finished with the job.
  bool tracking = false;
  struct Release {
    Engine::Impl* self;
    const JobId& id;
    const bool& tracking;
    ~Release() {
      if (tracking) return;
      std::lock_guard lock(self->mutex_);
      self->active_prints_.erase(id.str());
    }
  } release_claim{this, id, tracking};
  // Come back later: the claim ends now, before the call is posted, so that the later call
  // cannot find this one's claim still held (it would return and the job would stay unprinted).
  auto later = [&](std::chrono::milliseconds delay, bool restart) {
    end_print(id);
    tracking = true;  // disarms release_claim: the claim is already gone
    post_after(delay, [this, id, restart] { print(id, restart); });
  };

  auto job = deps_.jobs.get(id);
  if (!job || job->state != JobState::printing) return;
  auto* target = printer(job->printer);
  if (!target) {
    (void)transition(*job, JobState::held, "engine",
                     "held: printer '" + job->printer + "' is not configured");
    return;
  }
  const std::string job_name = "atdesk-" + id.str();

  auto hold_and_retry = [&](const std::string& why) {
    auto held = transition(*job, JobState::held, "printer:" + job->printer,
                           "held: printer '" + job->printer + "' " + why + "; will retry");
    if (!held) return;
    if (held->print_attempts <= 1) {  // tell the recipient once
      notify(*held,
             "Could not print " + quoted_name(*held) + " on " + held->printer + " (" + why +
                 "). It stays held; atdesk retries by itself.",
             false);
    }
    schedule_retry(id);
  };

  // One submission at a time per printer. A worker does not wait for the printer: it comes
  // back shortly, so that decisions and notices never queue behind a slow printer.
  std::unique_lock submitting(*submit_locks_.at(job->printer), std::try_to_lock);
  if (!submitting.owns_lock()) {
    later(std::chrono::milliseconds(10), after_restart);
    return;
  }
  // Record the attempt before anything reaches the printer, so that a crash during submission
  // is reconciled by name at the next start.
  ++job->print_attempts;
  if (auto ok = deps_.jobs.save(*job); !ok) {
    spdlog::error("job {}: cannot record the print attempt: {}", id.short_id(), ok.error().message);
    later(settings_.print_retry_min, false);
    return;
  }
  // A previous attempt may have reached the printer (crash, timeout): find it before resubmitting.
  if (job->print_attempts > 1 || !job->printer_job.empty()) {
    auto found = target->find(job_name);
    if (!found) {
      ++print_retries_;
      return hold_and_retry(found.error().message);
    }
    if (*found) {
      const auto [submission, state] = **found;
      if (state != print::RemoteJobState::aborted && state != print::RemoteJobState::canceled) {
        spdlog::info("job {}: found at printer {} as job {} ({}), tracking it", id.short_id(),
                     job->printer, submission.job_id, print::to_string(state));
        tracking = true;
        track(id, submission, deps_.clock.now());
        return;
      }
    } else if (after_restart && job->printer_job.empty()) {
      // Not there yet. The crashed run's Print-Job may still be on its way (the printer reads
      // what was already sent); look once more after the grace period before sending again.
      // The crash loop test found doubled prints without this.
      spdlog::info("job {}: not at printer {} yet; looking again in {} ms before resubmitting",
                   id.short_id(), job->printer, settings_.reconcile_grace.count());
      later(settings_.reconcile_grace, false);
      return;
    }
  }

  auto pdf = deps_.blobs.get(id, store::BlobKind::printable);
  if (!pdf) {
    (void)transition(*job, JobState::failed, "engine",
                     "the printable document cannot be read: " + pdf.error().message);
    ++prints_failed_;
    return;
  }
  const auto submitted_at = deps_.clock.now();
  auto submission = target->submit(*pdf, print::PrintOptions{job_name, "atdesk", 1});
  if (!submission) {
    if (retryable(submission.error().code)) {
      ++print_retries_;
      return hold_and_retry(submission.error().message);
    }
    ++prints_failed_;
    auto failed = transition(*job, JobState::failed, "printer:" + job->printer,
                             "printing failed: " + submission.error().message);
    if (failed)
      notify(*failed, "Printing " + quoted_name(*failed) + " failed: " + submission.error().message,
             false);
    return;
  }
  submitting.unlock();
  ++prints_submitted_;
  job->printer_job = std::to_string(submission->job_id);
  (void)deps_.jobs.save(*job);
  tracking = true;
  track(id, *submission, submitted_at);
}

void Engine::Impl::end_print(const JobId& id) {
  std::lock_guard lock(mutex_);
  active_prints_.erase(id.str());
}

void Engine::Impl::track(const JobId& id, print::Submission submission, Timestamp submitted_at) {
  auto job = deps_.jobs.get(id);
  if (!job || job->state != JobState::printing) return end_print(id);
  auto* target = printer(submission.printer.empty() ? job->printer : submission.printer);
  if (!target) target = printer(job->printer);
  if (!target) return end_print(id);
  auto state = target->status(submission);
  if (state &&
      (*state == print::RemoteJobState::completed || *state == print::RemoteJobState::aborted ||
       *state == print::RemoteJobState::canceled)) {
    end_print(id);  // the printer is done with it; a retry may print it again
  }
  if (state && *state == print::RemoteJobState::completed) {
    auto printed = transition(*job, JobState::printed, "printer:" + job->printer,
                              "printed on " + job->printer);
    if (printed) {
      ++prints_completed_;
      const auto seconds = std::chrono::duration<double>(deps_.clock.now() - submitted_at).count();
      observe_latency(std::max(0.0, seconds));
      notify(*printed, printed_text(*printed), false);  // S1615
    }
    return;
  }
  if (state &&
      (*state == print::RemoteJobState::aborted || *state == print::RemoteJobState::canceled)) {
    ++prints_failed_;
    auto held = transition(*job, JobState::held, "printer:" + job->printer,
                           "held: printer '" + job->printer + "' " +
                               std::string(print::to_string(*state)) + " the print; will retry");
    if (held) {
      notify(*held,
             "The printer " + std::string(print::to_string(*state)) + " " + quoted_name(*held) +
                 "; it stays held and atdesk retries.",
             false);
      schedule_retry(id);
    }
    return;
  }
  // Still pending/processing, or the printer did not answer: look again later.
  post_after(settings_.print_track_interval,
             [this, id, submission, submitted_at] { track(id, submission, submitted_at); });
}

void Engine::Impl::schedule_retry(const JobId& id) {
  auto job = deps_.jobs.get(id);
  if (!job) return;
  {
    std::lock_guard lock(mutex_);
    if (!retrying_.insert(id.str()).second) return;
  }
  const int attempts = std::max(1, job->print_attempts);
  auto delay = settings_.print_retry_min * (1LL << std::min(attempts - 1, 16));
  delay = std::min<std::chrono::milliseconds>(delay, settings_.print_retry_max);
  post_after(delay, [this, id] {
    {
      std::lock_guard lock(mutex_);
      retrying_.erase(id.str());
    }
    auto job = deps_.jobs.get(id);
    if (!job || job->state != JobState::held) return;  // released, deleted or printed meanwhile
    (void)release(*job, std::nullopt, "engine",
                  "retrying the print (attempt " + std::to_string(job->print_attempts + 1) + ")");
  });
}

void Engine::Impl::reconcile() {
  auto list = [&](JobState s) {
    store::JobFilter f;
    f.states = {s};
    f.oldest_first = true;
    f.limit = 1'000'000;
    return deps_.jobs.list(f).value_or(std::vector<Job>{});
  };
  for (auto& job : list(JobState::releasing)) {
    (void)transition(job, JobState::printing, "engine", "resuming the release after a restart");
  }
  for (auto& job : list(JobState::printing)) {
    post([this, id = job.id] { print(id, true); });  // finds an earlier submission by name
  }
  for (auto& job : list(JobState::stored)) {
    post([this, id = job.id] { process_stored(id); });
  }
  for (auto& job : list(JobState::held)) {
    if (job.print_attempts > 0 && job.reason.find("will retry") != std::string::npos) {
      schedule_retry(job.id);
    }
  }
  recheck_held("presence checked at start-up");
}

// A wall clock set forward (a wrong clock corrected, an administrator's typo) must not delete
// held faxes early, and one set back must not either: jumps are told from time passing by
// comparing the wall clock with elapsed time, and the forward part is kept off the age of jobs.
// Jumps while atdeskd was not running cannot be seen.
std::chrono::milliseconds Engine::Impl::note_clock_jump(Timestamp now) {
  constexpr auto kTolerance = std::chrono::minutes(2);  // NTP slews; only real jumps count
  const auto elapsed = deps_.clock.elapsed();
  std::chrono::milliseconds jump{0}, skew{0};
  {
    std::lock_guard lock(mutex_);
    jump = (now - last_check_wall_) - (elapsed - last_check_elapsed_);
    last_check_wall_ = now;
    last_check_elapsed_ = elapsed;
    if (jump > kTolerance || jump < -kTolerance) {
      clock_skew_ = std::max(std::chrono::milliseconds{0}, clock_skew_ + jump);
    } else {
      jump = {};
    }
    skew = clock_skew_;
  }
  if (jump != std::chrono::milliseconds{0}) {
    const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(jump).count();
    const auto text =
        "the wall clock jumped " + std::string(minutes > 0 ? "forward" : "back") + " by " +
        std::to_string(minutes > 0 ? minutes : -minutes) +
        " min; held jobs are kept as if it had not (" +
        std::to_string(std::chrono::duration_cast<std::chrono::minutes>(skew).count()) +
        " min added to their retention)";
    spdlog::warn("{}", text);
    (void)audit("engine", "clock.jump", "", text);
  }
  return skew;
}

void Engine::Impl::housekeeping() {
  const auto active = active_table_name();
  bool switched = false;
  {
    std::lock_guard lock(mutex_);
    if (active != last_active_table_) {
      last_active_table_ = active;
      switched = true;
    }
  }
  if (switched) recheck_held("the schedule switched to mode table '" + active + "'");
  resend_unsent();

  const auto now = deps_.clock.now();
  const auto skew = note_clock_jump(now);
  store::JobFilter filter;
  filter.states = {JobState::held};
  filter.oldest_first = true;
  filter.received_before = now - skew - settings_.retention;
  filter.limit = 1'000'000;
  auto expired = deps_.jobs.list(filter);
  if (!expired) return;
  for (auto& job : *expired) {
    notify(job,
           "Fax " + std::string(job.id.short_id()) + " from " + job.sender.display() +
               " was held longer than the retention period and is deleted.",
           false);
    auto done =
        transition(job, JobState::expired, "engine", "held longer than the retention period");
    if (done) (void)deps_.blobs.remove(job.id);
  }
}

Result<Job> Engine::Impl::remove(Job job, const std::string& actor) {
  if (job.state == JobState::printing || job.state == JobState::releasing) {
    return fail(Errc::conflict, quoted_name(job) + " is being printed and cannot be deleted now");
  }
  auto deleted = transition(std::move(job), JobState::deleted, actor, "deleted by " + actor);
  if (!deleted) return deleted;
  if (auto ok = deps_.blobs.remove(deleted->id); !ok) {
    spdlog::error("job {}: removing its documents failed: {}", deleted->id.short_id(),
                  ok.error().message);
  }
  (void)audit(actor, "job.delete", deleted->id.str(), "deleted");
  return deleted;
}

}  // namespace atdesk::engine
