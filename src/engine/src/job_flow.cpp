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

}  // namespace

Result<Job> Engine::Impl::transition(Job job, JobState to, const std::string& actor,
                                     std::string reason) {
  // No engine lock here: the store's compare-and-set (update() with the expected state) is what
  // serialises state changes, across threads and processes, and the commit may block on disk.
  if (!can_transition(job.state, to)) {
    return fail(Errc::conflict, quoted_name(job) + " is " + std::string(to_string(job.state)) +
                                    " and cannot become " + std::string(to_string(to)));
  }
  const LogScope scope = log_scope(job);
  const auto now = deps_.clock.now();
  Transition t{job.id, now, job.state, to, actor, reason};
  const JobState expected = job.state;
  job.state = to;
  job.updated_at = now;
  job.reason = std::move(reason);
  if (auto ok = deps_.jobs.update(job, expected, t); !ok) {
    // A conflict is another path having moved the job first (a release racing a decision):
    // expected, and the caller stops. Anything else is the store failing.
    if (ok.error().code == Errc::conflict) {
      spdlog::debug("job {}: {} -> {} by {} not applied: {}", job.id.short_id(),
                    to_string(expected), to_string(to), actor, ok.error().message);
    } else {
      spdlog::error("job {}: {} -> {} by {} failed: {}", job.id.short_id(), to_string(expected),
                    to_string(to), actor, ok.error().message);
      // The caller stops here; whether the store wrote the change or not, the job is picked up
      // again from what the store says once it answers.
      if (is_working(expected) || is_working(to)) resume_later(job.id);
    }
    return fail(ok.error());
  }
  spdlog::info("job {} {} -> {} by {}: {}", job.id.short_id(), to_string(expected), to_string(to),
               actor, job.reason);
  return job;
}

Result<Job> Engine::Impl::note(Job job, const std::string& actor, std::string reason) {
  const auto now = deps_.clock.now();
  Transition t{job.id, now, job.state, job.state, actor, reason};
  job.updated_at = now;
  job.reason = std::move(reason);
  if (auto ok = deps_.jobs.update(job, job.state, t); !ok) {
    if (ok.error().code == Errc::conflict) {
      spdlog::debug("job {}: note by {} not applied: {}", job.id.short_id(), actor,
                    ok.error().message);
    } else {
      spdlog::error("job {}: note by {} failed: {}", job.id.short_id(), actor, ok.error().message);
    }
    return fail(ok.error());
  }
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
  job.reason = message(Language::en, MessageKey::reason_stored);
  if (doc.owner_unknown) {
    // Kept with the job (recipients and print_problem are stored) so that a restart before the
    // decision holds it the same way, and presence changes never release it.
    job.recipients = std::move(doc.owner_unknown->hold_for);
    job.print_problem = PrintProblem::owner_unknown;
    job.reason =
        message(Language::en, MessageKey::reason_owner_unknown, {{"why", doc.owner_unknown->why}});
  }

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
    if (auto removed = deps_.blobs.remove(job.id); !removed) {
      spdlog::error("job {}: the document of a job that could not be stored stays in the spool: {}",
                    job.id.short_id(), removed.error().message);
    }
    return fail(ok.error());
  }
  post([this, id = job.id] { process_stored(id); });
  return job;
}

void Engine::Impl::resume_later(const JobId& id) {
  if (stopping_) return;  // the next start (or another node) takes it over
  {
    std::lock_guard lock(resume_mutex_);
    if (!resuming_.insert(id).second) return;
  }
  spdlog::warn("job {}: taken up again in {} ms, from the state the store has then", id.short_id(),
               settings_.takeover_interval.count());
  post_after(settings_.takeover_interval, [this, id] { resume(id); });
}

void Engine::Impl::resume(const JobId& id) {
  {
    std::lock_guard lock(resume_mutex_);
    resuming_.erase(id);
  }
  auto job = deps_.jobs.get(id);
  if (!job) {
    if (job.error().code != Errc::not_found) resume_later(id);  // the store still fails
    return;
  }
  switch (job->state) {
    case JobState::stored:
      process_stored(id);
      break;
    case JobState::releasing:
      if (auto printing = transition(*job, JobState::printing, "engine",
                                     "resuming the release after a store failure")) {
        print(printing->id, true);
      }
      break;
    case JobState::printing:
      print(id, true);  // finds an earlier submission by id and name before sending again
      break;
    default:
      break;  // held or final: nothing was left half done
  }
}

void Engine::Impl::process_stored(const JobId& id) {
  auto job = deps_.jobs.get(id);
  if (!job) {
    if (job.error().code != Errc::not_found) resume_later(id);
    return;
  }
  if (job->state != JobState::stored) return;
  const LogScope scope = log_scope(*job);

  // The decision needs neither the printable PDF nor the preview (the document was checked when
  // it was stored), so it is made and recorded first; the documents are made by a task of their
  // own queued behind it. In a burst every job is decided before any rendering starts.
  Decision decision;
  if (job->print_problem == PrintProblem::owner_unknown) {
    // Nobody is established as the owner: held for the recipients the ingress chose (submit()
    // recorded them and the reason), never decided by presence.
    decision.action = Action::hold;
    decision.reason = job->reason;
    ++decisions_hold_;
  } else {
    // S1602: the recipient table.
    auto table = recipient_table();
    const auto match = table->match(job->sender);
    job->recipients = unique_recipients(match);
    // S1604-S1607: presence and the mode table.
    decision = decide_job(*job, rule_printer(match));
  }
  job->printer = printer_for(decision.printer);
  if (decision.action == Action::print) {
    auto printing = transition(*job, JobState::printing, "engine", decision.reason);
    if (!printing) return;
    post([this, id] {
      // A job whose printable PDF cannot be made has failed, and print() leaves it; one that
      // could not be stored is made again by attempt_print().
      (void)make_printable(id);
      print(id);
    });
    return;
  }
  auto held = transition(*job, JobState::held, "engine", decision.reason);
  if (!held) return;
  post([this, held = std::move(*held)] {
    const LogScope scope = log_scope(held);
    // The page-1 preview goes with the "held" notice, which is sent first (as soon after the
    // decision as before the printable PDF moved off it).
    if (auto png = make_preview(held.id, held.document_name); !png) {
      spdlog::warn("job {}: no preview: {}", held.id.short_id(), png.error().message);
    }
    notify(
        held, [&](Language l) { return held_text(held, l); }, true);
    // Ready for the release; made at the first print attempt when this fails, and a document
    // that cannot be made printable fails the job (make_printable).
    (void)make_printable(held.id);  // failures are logged and recorded by make_printable
  });
}

Result<Bytes> Engine::Impl::make_printable(const JobId& id) {
  auto original = deps_.blobs.get(id, store::BlobKind::original);
  if (!original) {
    auto job = deps_.jobs.get(id);
    if (job && !is_final(job->state)) {
      (void)transition(*job, JobState::failed, "engine",  // logged by transition()
                       "the stored document cannot be read: " + original.error().message);
    }
    return fail(original.error());
  }
  auto job = deps_.jobs.get(id);
  const std::string name = job ? job->document_name : std::string("document");
  auto pdf = document::to_printable_pdf(*original, name, settings_.limits);
  if (!pdf) {
    if (job && !is_final(job->state)) {
      (void)transition(*job, JobState::failed, "engine",  // logged by transition()
                       "the document cannot be made printable: " + pdf.error().message);
    }
    return fail(pdf.error());
  }
  if (auto ok = deps_.blobs.put(id, store::BlobKind::printable, *pdf); !ok) {
    spdlog::error("job {}: storing the printable PDF failed (made again when it prints): {}",
                  id.short_id(), ok.error().message);
  }
  return pdf;
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
    d.reason = message(Language::en, MessageKey::reason_paused, {{"names", names}});
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
    if (needs_person(job.print_problem)) continue;  // printing it again is a person's decision
    auto d = decide_job(job, job.printer);
    if (d.action != Action::print) continue;
    // A conflict means another path released or deleted it meanwhile; transition() logs.
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
    if (needs_person(job.print_problem)) continue;  // printing it again is a person's decision
    auto d = decide_job(job, job.printer);
    if (d.action == Action::print)
      (void)release(job, std::nullopt, "engine", why + "; " + d.reason, &batch);  // as above
  }
  print_in_order(std::move(batch));
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
  // The reason is made before the job is moved into the call (argument order is unspecified).
  std::string printing_on = "printing on " + releasing->printer;
  auto printing =
      transition(std::move(*releasing), JobState::printing, actor, std::move(printing_on));
  if (!printing) return printing;
  audit(actor, "job.release", printing->id.str(), reason);
  if (batch) {
    batch->push_back(printing->id);
  } else {
    post([this, id = printing->id] { print(id); });
  }
  return printing;
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
    audit("engine", "clock.jump", "", text);
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
  // Retries whose timer was on a node that stopped are scheduled here (once per job and node).
  retry_held();

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
    // Told only once the job is expired: a release or delete racing with this pass wins, and
    // then the person must not read "deleted" about a fax that printed.
    auto done =
        transition(job, JobState::expired, "engine", "held longer than the retention period");
    if (!done) continue;
    if (auto ok = deps_.blobs.remove(job.id); !ok) {
      spdlog::error("job {}: removing its documents failed: {}", job.id.short_id(),
                    ok.error().message);
    }
    notify(
        *done,
        [&](Language l) {
          return message(l, MessageKey::notice_expired,
                         {{"subject", subject_text(*done, l, false)},
                          {"id", std::string(done->id.short_id())}});
        },
        false);
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
  audit(actor, "job.delete", deleted->id.str(), "deleted");
  return deleted;
}

}  // namespace atdesk::engine
