// Printing (the seed's S1608/S1614-S1615): submit a released or decided job to its printer,
// follow the printer's job until it is done, retry with backoff, and reconcile jobs left in
// `printing` by a previous run.
//
// Each printer has one FIFO queue of job ids, served by one chain of tasks on the engine's
// workers (the model of PAPPL and the CUPS scheduler): the printer's one processing job is
// submitted, then tracked until the printer is done with it, then the next pending job starts.
// A worker never waits for a printer: tracking polls are timers, and a job that must wait (the
// grace period after a restart) is set aside and queued again later, so it never blocks the
// jobs behind it.
#include <spdlog/spdlog.h>
#include <algorithm>
#include <charconv>
#include <cstdint>

#include "engine_impl.hpp"

namespace atdesk::engine {
namespace {

// A printer that aborts or cancels the same job this many times in a row makes atdesk stop
// sending it: a document that crashes a printer must not be sent forever. An unreachable
// printer is retried without bound (it is told to the recipient once at this count).
constexpr int kPrintFailureLimit = 3;

// Where the printer has no job events, its job's state is asked for every 25 ms while the job
// is young (a fast printer is done within a few hundred milliseconds), then every 1/20 of the
// job's age, up to print_track_interval: "printed" is known within 5 % of the print's duration
// (at least 25 ms), and a printer is asked at most 40 times a second, for the first half
// second of a job, 20 times a second at 1 s, twice a second from 10 s on.
constexpr std::chrono::milliseconds kFastestTrackDelay{25};
constexpr int kTrackAgeFraction = 20;

std::string job_name_of(const JobId& id) {
  return "atdesk-" + id.str();
}

bool retryable(Errc code) {
  return code == Errc::unavailable || code == Errc::timeout || code == Errc::io ||
         code == Errc::no_space;
}

// The printer's job id recorded for the job's current print, 0 when none.
int recorded_job_id(const Job& job) {
  int id = 0;
  const auto& text = job.printer_job;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  return ec == std::errc{} && end == text.data() + text.size() && id > 0 ? id : 0;
}

}  // namespace

void Engine::Impl::print_in_order(std::vector<JobId> batch) {
  for (const auto& id : batch) print(id);
}

void Engine::Impl::print(const JobId& id, bool after_restart) {
  auto job = deps_.jobs.get(id);
  if (!job || job->state != JobState::printing) return;
  if (!printer(job->printer)) {
    (void)transition(*job, JobState::held, "engine",
                     "held: printer '" + job->printer + "' is not configured");
    return;
  }
  bool start = false;
  {
    std::lock_guard lock(print_queue_mutex_);
    auto& queue = print_queues_[job->printer];
    if (queue.processing == id) {
      // Asked again while it is processing (a retry released it before the step that held it
      // ended): it is queued again when that step ends, never run twice at once.
      queue.queued_again = true;
      return;
    }
    const bool pending = std::any_of(queue.pending.begin(), queue.pending.end(),
                                     [&](const QueuedPrint& q) { return q.id == id; });
    if (pending) return;
    queue.pending.push_back({id, after_restart});
    if (!queue.serving) start = queue.serving = true;
  }
  if (start) post([this, name = job->printer] { serve_queue(name); });
}

void Engine::Impl::serve_queue(const std::string& printer_name) {
  QueuedPrint next;
  {
    std::lock_guard lock(print_queue_mutex_);
    auto& queue = print_queues_[printer_name];
    if (queue.pending.empty()) {
      queue.serving = false;
      return;
    }
    next = queue.pending.front();
    queue.pending.pop_front();
    queue.processing = next.id;
    queue.queued_again = false;
  }
  advance(printer_name, next.id, attempt_print(next.id, next.after_restart));
}

std::chrono::milliseconds Engine::Impl::track_delay(const PrintStep& step, bool pushed) const {
  if (pushed) return settings_.print_track_interval;
  const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - step.tracked_since);
  return std::min(settings_.print_track_interval,
                  std::max(kFastestTrackDelay, age / kTrackAgeFraction));
}

void Engine::Impl::advance(const std::string& printer_name, const JobId& id, PrintStep step) {
  if (step.next == PrintStep::Next::track) {
    if (step.polls == 0 && step.tracked_since == std::chrono::steady_clock::time_point{}) {
      step.tracked_since = step.described_at = std::chrono::steady_clock::now();
    }
    auto* target = printer(printer_name);
    const bool pushed = target != nullptr && target->pushes_job_events();
    auto wait = std::make_shared<TrackWait>(io_);
    wait->printer_job = step.submission.job_id;
    wait->poll = [this, printer_name, id, step] {
      advance(printer_name, id, poll_print(id, step));
    };
    bool now = false;
    {
      std::lock_guard lock(print_queue_mutex_);
      auto& queue = print_queues_[printer_name];
      // A change reported while no poll waited (the job finished during the last status call,
      // or before its first) is looked at now.
      now = queue.changed.contains(wait->printer_job) || queue.changed.contains(0);
      queue.changed.clear();
      if (!now) queue.waiting = wait;
    }
    if (now) {
      post(wait->poll);
      return;
    }
    wait->timer.expires_after(track_delay(step, pushed));
    wait->timer.async_wait([this, wait, printer_name](const boost::system::error_code& ec) {
      if (ec || stopping_ || wait->claimed.exchange(true)) return;  // the event was first
      {
        std::lock_guard lock(print_queue_mutex_);
        auto& queue = print_queues_[printer_name];
        if (queue.waiting == wait) queue.waiting.reset();
      }
      post(wait->poll);
    });
    return;
  }
  if (step.next == PrintStep::Next::set_aside) {
    post_after(step.delay, [this, id, restart = step.after_restart] { print(id, restart); });
  }
  {
    std::lock_guard lock(print_queue_mutex_);
    auto& queue = print_queues_[printer_name];
    if (queue.queued_again) queue.pending.push_back({id, false});
    queue.processing.reset();
    queue.queued_again = false;
  }
  post([this, printer_name] { serve_queue(printer_name); });
}

Engine::Impl::PrintStep Engine::Impl::attempt_print(const JobId& id, bool after_restart) {
  const PrintStep done;
  auto set_aside = [](std::chrono::milliseconds delay, bool restart) {
    PrintStep step;
    step.next = PrintStep::Next::set_aside;
    step.delay = delay;
    step.after_restart = restart;
    return step;
  };
  auto track = [](print::Submission submission, Timestamp at) {
    PrintStep step;
    step.next = PrintStep::Next::track;
    step.submission = std::move(submission);
    step.submitted_at = at;
    return step;
  };

  auto job = deps_.jobs.get(id);
  if (!job) {
    // The store does not answer: tried again like a failed submission.
    if (job.error().code != Errc::not_found)
      return set_aside(settings_.print_retry_min, after_restart);
    return done;
  }
  if (job->state != JobState::printing) return done;
  auto* target = printer(job->printer);
  if (!target) {
    (void)transition(*job, JobState::held, "engine",
                     "held: printer '" + job->printer + "' is not configured");
    return done;
  }
  const std::string job_name = job_name_of(id);

  // Record the attempt before anything reaches the printer, so that a crash during submission
  // is reconciled by name at the next start.
  ++job->print_attempts;
  if (auto ok = deps_.jobs.save(*job); !ok) {
    if (ok.error().code == Errc::conflict) {
      // Another node took the job over (this node's lease expired): it prints it, not this one.
      spdlog::warn("job {}: not printed here: {}", id.short_id(), ok.error().message);
      return done;
    }
    spdlog::error("job {}: cannot record the print attempt: {}", id.short_id(), ok.error().message);
    return set_aside(settings_.print_retry_min, false);
  }
  // A previous attempt may have reached the printer (crash, timeout, a connection lost after
  // the document went out): find it before sending the document again.
  if (job->print_attempts > 1 || !job->printer_job.empty()) {
    const int recorded = recorded_job_id(*job);
    auto found = target->find(job_name, recorded);
    if (!found) {
      ++print_retries_;
      hold_for_print_problem(std::move(*job), PrintProblem::unavailable, found.error().message);
      return done;
    }
    if (const auto& at_printer = *found; at_printer) {
      const auto [submission, state] = *at_printer;
      if (state != print::RemoteJobState::aborted && state != print::RemoteJobState::canceled) {
        spdlog::info("job {}: found at printer {} as job {} ({}), tracking it", id.short_id(),
                     job->printer, submission.job_id, print::to_string(state));
        if (submission.job_id != recorded) {
          job->printer_job = std::to_string(submission.job_id);
          if (auto ok = deps_.jobs.save(*job); !ok) {
            spdlog::warn("job {}: cannot record printer job {}: {}", id.short_id(),
                         submission.job_id, ok.error().message);
          }
        }
        return track(submission, deps_.clock.now());
      }
      spdlog::info("job {}: its earlier print is {} at printer {} (job {}); sending it again",
                   id.short_id(), print::to_string(state), job->printer, submission.job_id);
    } else if (recorded != 0 && job->print_problem != PrintProblem::lost) {
      // The printer accepted this print as job `recorded` and knows neither that id (as ours)
      // nor the name any more: it restarted or purged its history. The document may well have
      // printed, so it is not sent again blindly.
      std::string why = "printer '" + job->printer + "' no longer knows its job " +
                        std::to_string(recorded) + " ('" + job_name + "')";
      hold_for_print_problem(std::move(*job), PrintProblem::lost, why);
      return done;
    } else if (after_restart && recorded == 0) {
      // Not there yet. The crashed run's Print-Job may still be on its way (the printer reads
      // what was already sent); look once more after the grace period before sending again.
      // The crash loop test found doubled prints without this.
      spdlog::info("job {}: not at printer {} yet; looking again in {} ms before resubmitting",
                   id.short_id(), job->printer, settings_.reconcile_grace.count());
      return set_aside(settings_.reconcile_grace, false);
    }
  }

  auto pdf = deps_.blobs.get(id, store::BlobKind::printable);
  if (!pdf && pdf.error().code == Errc::not_found) {
    // Not made yet (it is made after the decision) or not stored: made now.
    pdf = make_printable(id);
    if (!pdf) {
      ++prints_failed_;  // make_printable() failed the job
      return done;
    }
  }
  if (!pdf) {
    (void)transition(*job, JobState::failed, "engine",
                     "the printable document cannot be read: " + pdf.error().message);
    ++prints_failed_;
    return done;
  }
  const auto submitted_at = deps_.clock.now();
  auto submission = target->submit(*pdf, print::PrintOptions{job_name, "atdesk", 1});
  if (!submission) {
    if (retryable(submission.error().code)) {
      ++print_retries_;
      job->printer_job.clear();
      hold_for_print_problem(std::move(*job), PrintProblem::unavailable,
                             submission.error().message);
      return done;
    }
    if (submission.error().code == Errc::unsupported) {
      // The printer cannot print this document (no medium it fits on, no format it takes):
      // another printer or a person loading paper can, so the job is kept for a person.
      ++prints_failed_;
      job->printer_job.clear();
      hold_for_print_problem(std::move(*job), PrintProblem::unprintable,
                             submission.error().message);
      return done;
    }
    ++prints_failed_;
    auto failed = transition(*job, JobState::failed, "printer:" + job->printer,
                             "printing failed: " + submission.error().message);
    if (failed) {  // no retry follows: tell the recipient
      notify(
          *failed,
          [&](Language l) {
            return message(l, MessageKey::notice_print_failed,
                           {{"job", job_label(*failed, l)}, {"error", submission.error().message}});
          },
          false);
    }
    return done;
  }
  ++prints_submitted_;
  job->printer_job = std::to_string(submission->job_id);
  if (auto ok = deps_.jobs.save(*job); !ok) {
    // Tracking goes on; after a crash the job is found by name instead of by id.
    spdlog::warn("job {}: cannot record printer job {}: {}", id.short_id(), submission->job_id,
                 ok.error().message);
  }
  return track(*submission, submitted_at);
}

Engine::Impl::PrintStep Engine::Impl::poll_print(const JobId& id, PrintStep step) {
  const PrintStep done;
  auto job = deps_.jobs.get(id);
  if (!job) {
    if (job.error().code != Errc::not_found) return step;  // the store does not answer: later
    return done;
  }
  if (job->state != JobState::printing) return done;
  auto* target = printer(step.submission.printer.empty() ? job->printer : step.submission.printer);
  if (!target) target = printer(job->printer);
  if (!target) return done;
  ++step.polls;
  auto state = target->status(step.submission);
  if (!state) {
    const Errc code = state.error().code;
    if (code != Errc::not_found && code != Errc::conflict) return step;  // look again later
    // The id is gone or is someone else's now (the printer restarted): look for the job by its
    // name before deciding anything.
    auto found = target->find(job_name_of(id), 0);
    if (!found) return step;  // the printer stopped answering: look again later
    if (const auto& at_printer = *found; at_printer) {
      spdlog::info("job {}: printer {} has it as job {} now, not {}", id.short_id(), job->printer,
                   at_printer->first.job_id, step.submission.job_id);
      step.submission = at_printer->first;
      job->printer_job = std::to_string(step.submission.job_id);
      if (auto ok = deps_.jobs.save(*job); !ok) {
        spdlog::warn("job {}: cannot record printer job {}: {}", id.short_id(),
                     step.submission.job_id, ok.error().message);
      }
      return step;
    }
    hold_for_print_problem(std::move(*job), PrintProblem::lost, state.error().message);
    return done;
  }
  if (*state == print::RemoteJobState::completed) {
    job->print_problem = PrintProblem::none;
    job->print_failures = 0;
    auto printed = transition(*job, JobState::printed, "printer:" + job->printer,
                              "printed on " + job->printer);
    if (printed) {
      ++prints_completed_;
      const auto seconds =
          std::chrono::duration<double>(deps_.clock.now() - step.submitted_at).count();
      observe_latency(std::max(0.0, seconds));
      notify(
          *printed, [&](Language l) { return printed_text(*printed, l); }, false);  // S1615
    }
    return done;
  }
  if (*state == print::RemoteJobState::aborted || *state == print::RemoteJobState::canceled) {
    ++prints_failed_;
    std::string why = "printer '" + job->printer + "' " + std::string(print::to_string(*state)) +
                      " the print (its job " + std::to_string(step.submission.job_id) + ")";
    hold_for_print_problem(std::move(*job), PrintProblem::aborted, why);
    return done;
  }
  // Not done, and not moving while the printer is stopped either: a CUPS 2.4 queue that is
  // disabled (by an administrator, or by its error policy when the device failed) leaves its
  // jobs pending with nothing in job-state-reasons. So the printer's state is looked at every
  // print_retry_min of polls; one that cannot be reached now changes nothing.
  bool stopped = *state == print::RemoteJobState::stopped;
  std::optional<print::PrinterStatus> printer_status;
  if (!stopped) {
    const auto now = std::chrono::steady_clock::now();
    if (now - step.described_at >= settings_.print_retry_min) {
      step.described_at = now;
      if (auto described = target->describe(); described) printer_status = std::move(*described);
    }
    if (printer_status && printer_status->state != print::PrinterState::unreachable) {
      stopped = printer_status->halted;  // not one that only refuses new jobs
    } else {
      stopped = job->print_problem == PrintProblem::stopped;  // not known now: unchanged
    }
  }
  if (stopped) return follow_stopped(std::move(*job), step, *state, printer_status);
  if (job->print_problem == PrintProblem::stopped) {
    // The printer's queue was restarted: the job is on its way again.
    job->print_problem = PrintProblem::none;
    job->print_failures = 0;
    const std::string why = "printer '" + job->printer + "' resumed its job " +
                            std::to_string(step.submission.job_id) + " (now " +
                            std::string(print::to_string(*state)) + ")";
    spdlog::info("job {}: {}", id.short_id(), why);
    (void)note(std::move(*job), "printer:" + step.submission.printer,  // logged by note()
               "printing on " + step.submission.printer + ": " + why);
  }
  return step;  // pending, held or processing at the printer: look again later
}

Engine::Impl::PrintStep Engine::Impl::follow_stopped(
    Job job, PrintStep step, print::RemoteJobState state,
    std::optional<print::PrinterStatus> printer_status) {
  const std::string actor = "printer:" + job.printer;
  const std::string printer_job = std::to_string(step.submission.job_id);
  if (job.print_problem != PrintProblem::stopped) {
    // First sight: the job is not printed and will not be until the printer's queue is
    // restarted. Sending it again would print it twice once the queue resumes, so it is only
    // followed. What the printer says about itself goes into the reason.
    if (!printer_status) {
      if (auto* target = printer(job.printer)) {
        if (auto described = target->describe(); described) printer_status = *described;
      }
    }
    std::string detail;
    if (printer_status) {
      detail = " (printer " + std::string(print::to_string(printer_status->state));
      for (const auto& r : printer_status->state_reasons) {
        if (r != "none") detail += ", " + r;
      }
      if (!printer_status->message.empty()) detail += ", '" + printer_status->message + "'";
      detail += ")";
    }
    job.print_problem = PrintProblem::stopped;
    job.print_failures = 0;
    const std::string what =
        state == print::RemoteJobState::stopped
            ? "stopped its job " + printer_job
            : "is stopped with its job " + printer_job + " " + std::string(print::to_string(state));
    const std::string why = "printer '" + job.printer + "' " + what + detail +
                            ": not printed; it prints when the printer's queue is restarted. "
                            "atdesk keeps following it and does not send it again";
    spdlog::warn("job {}: {}", job.id.short_id(), why);
    (void)note(std::move(job), actor, "printing: " + why);  // a failed note is logged by note()
    return step;
  }
  const auto since = job.updated_at;  // when the stop was noted (save() leaves it)
  if (job.print_failures == 0 && deps_.clock.now() - since >= settings_.print_stopped_notice) {
    job.print_failures = 1;  // told: once per stop
    if (auto ok = deps_.jobs.save(job); !ok) {
      spdlog::warn("job {}: cannot record that the stop was told: {}", job.id.short_id(),
                   ok.error().message);
    }
    const auto minutes =
        std::chrono::duration_cast<std::chrono::minutes>(deps_.clock.now() - since).count();
    spdlog::warn(
        "job {}: printer '{}' has kept its job {} stopped for {} min; telling the "
        "recipients",
        job.id.short_id(), job.printer, printer_job, minutes);
    notify(
        job,
        [&](Language l) {
          return message(l, MessageKey::notice_print_stopped,
                         {{"job", job_label(job, l)},
                          {"printer", job.printer},
                          {"minutes", std::to_string(minutes)}});
        },
        false);
  }
  return step;
}

void Engine::Impl::hold_for_print_problem(Job job, PrintProblem problem, const std::string& why) {
  const int failures = job.print_problem == problem ? job.print_failures + 1 : 1;
  PrintProblem recorded = problem;
  if (problem == PrintProblem::aborted && failures >= kPrintFailureLimit) {
    recorded = PrintProblem::gave_up;
  }
  job.print_problem = recorded;
  job.print_failures = failures;
  // The printer is done with an aborted job: the next attempt sends the document again.
  if (problem == PrintProblem::aborted) job.printer_job.clear();

  const std::string count =
      " (" + std::to_string(failures) + " of " + std::to_string(kPrintFailureLimit) + ")";
  std::string reason;
  switch (recorded) {
    case PrintProblem::unavailable:
      reason = "held: " + why + "; will retry by itself (attempt " +
               std::to_string(job.print_attempts) + ")";
      break;
    case PrintProblem::aborted:
      reason = "held: " + why + count + "; will retry by itself";
      break;
    case PrintProblem::gave_up:
      reason = "held: " + why + count + "; not retried any more: release it to try again";
      break;
    case PrintProblem::unprintable:
      reason = "held: " + why + "; release it to print it (on another printer, or once " +
               "suitable paper is loaded)";
      break;
    case PrintProblem::lost:
      reason = "held: " + why +
               "; it may have printed, so it is not sent again by itself: release it to print "
               "it again";
      break;
    case PrintProblem::none:
    case PrintProblem::stopped:        // never a reason to hold: a stopped job is followed
    case PrintProblem::owner_unknown:  // set at reception, never by printing
      reason = "held: " + why;
      break;
  }
  const std::string actor = "printer:" + job.printer;
  auto held = transition(std::move(job), JobState::held, actor, std::move(reason));
  if (!held) return;
  if (needs_person(recorded)) {
    spdlog::warn("job {}: {}", held->id.short_id(), reason);
    notify(
        *held,
        [&](Language l) {
          return message(l, MessageKey::notice_needs_person,
                         {{"job", job_label(*held, l)},
                          {"printer", held->printer},
                          {"error", why},
                          {"id", std::string(held->id.short_id())}});
        },
        false);
    return;
  }
  if (recorded == PrintProblem::unavailable) watch_printer(held->printer);
  // A retry follows: people hear of it only when the printer stays unreachable.
  if (recorded == PrintProblem::unavailable && failures == kPrintFailureLimit) {
    notify(
        *held,
        [&](Language l) {
          return message(l, MessageKey::notice_printer_unreachable,
                         {{"job", job_label(*held, l)},
                          {"printer", held->printer},
                          {"attempts", std::to_string(failures)},
                          {"error", why}});
        },
        false);
  }
  schedule_retry(held->id);
}

void Engine::Impl::on_printer_event(const std::string& printer_name, int printer_job) {
  std::shared_ptr<TrackWait> wait;
  {
    std::lock_guard lock(print_queue_mutex_);
    auto it = print_queues_.find(printer_name);
    if (it == print_queues_.end()) return;  // nothing of ours was ever sent there
    auto& queue = it->second;
    if (queue.waiting && (printer_job == 0 || queue.waiting->printer_job == printer_job)) {
      wait = std::move(queue.waiting);
      queue.waiting.reset();
    } else if (queue.processing && queue.changed.size() < 64) {
      queue.changed.insert(printer_job);  // a poll is running: the next one goes at once
    }
  }
  if (!wait || wait->claimed.exchange(true)) return;
  // The timer is left to expire (at most print_track_interval later) and then finds the poll
  // claimed: cancelling it here would touch it from the adapter's thread.
  post(wait->poll);
}

void Engine::Impl::watch_printer(const std::string& printer_name) {
  {
    std::lock_guard lock(print_queue_mutex_);
    if (!watched_printers_.insert(printer_name).second) return;
  }
  post_after(settings_.print_retry_min, [this, printer_name] { check_printer(printer_name); });
}

void Engine::Impl::check_printer(const std::string& printer_name) {
  store::JobFilter filter;
  filter.states = {JobState::held};
  filter.oldest_first = true;
  filter.limit = 1'000'000;
  std::vector<Job> waiting;
  if (auto held = deps_.jobs.list(filter)) {
    for (auto& job : *held) {
      if (job.printer == printer_name && job.print_problem == PrintProblem::unavailable) {
        waiting.push_back(std::move(job));
      }
    }
  }
  auto* target = printer(printer_name);
  if (waiting.empty() || !target) {
    std::lock_guard lock(print_queue_mutex_);
    watched_printers_.erase(printer_name);
    return;
  }
  auto status = target->describe();
  const bool ready = status && (status->state == print::PrinterState::idle ||
                                status->state == print::PrinterState::processing);
  if (!ready) {
    post_after(settings_.print_retry_min, [this, printer_name] { check_printer(printer_name); });
    return;
  }
  {
    std::lock_guard lock(print_queue_mutex_);
    watched_printers_.erase(printer_name);
  }
  const std::string why = "printer '" + printer_name + "' is " +
                          std::string(print::to_string(status->state)) + " again";
  spdlog::info("{}: releasing the {} job(s) waiting for it", why, waiting.size());
  std::vector<JobId> batch;
  for (auto& job : waiting) {
    // A conflict means the job left `held` meanwhile (a person released or deleted it): then
    // there is nothing to release.
    (void)release(std::move(job), std::nullopt, "engine", why, &batch);
  }
  print_in_order(std::move(batch));
}

void Engine::Impl::schedule_retry(const JobId& id) {
  auto job = deps_.jobs.get(id);
  if (!job) return;
  {
    std::lock_guard lock(mutex_);
    if (!retrying_.insert(id.str()).second) return;
  }
  const int attempts = std::max(1, job->print_failures);
  auto delay = settings_.print_retry_min * (1LL << std::min(attempts - 1, 16));
  delay = std::min<std::chrono::milliseconds>(delay, settings_.print_retry_max);
  post_after(delay, [this, id] {
    {
      std::lock_guard lock(mutex_);
      retrying_.erase(id.str());
    }
    auto job = deps_.jobs.get(id);
    if (!job || job->state != JobState::held) return;  // released, deleted or printed meanwhile
    if (!retries_by_itself(job->print_problem)) return;
    (void)release(*job, std::nullopt, "engine",
                  "retrying the print (attempt " + std::to_string(job->print_attempts + 1) + ")");
  });
}

void Engine::Impl::reconcile() {
  const auto taken = take_over();
  if (taken > 0) spdlog::info("start-up: took over {} unfinished job(s)", taken);
  retry_held();
  recheck_held("presence checked at start-up");
}

void Engine::Impl::retry_held() {
  store::JobFilter f;
  f.states = {JobState::held};
  f.oldest_first = true;
  f.limit = 1'000'000;
  for (auto& job : deps_.jobs.list(f).value_or(std::vector<Job>{})) {
    if (retries_by_itself(job.print_problem)) schedule_retry(job.id);  // once per job and node
  }
}

std::size_t Engine::Impl::take_over() {
  // A batch at a time, so that a node coming back to thousands of jobs leaves some to others.
  constexpr std::size_t kBatch = 100;
  std::size_t taken = 0;
  while (!stopping_) {
    auto claimed = deps_.jobs.claim_expired(kBatch);
    if (!claimed) {
      spdlog::error("leases: cannot take over jobs whose lease expired (tried again in {} ms): {}",
                    settings_.takeover_interval.count(), claimed.error().message);
      break;
    }
    for (auto& job : *claimed) {
      spdlog::info("job {}: taken over in state {} (its lease expired)", job.id.short_id(),
                   to_string(job.state));
      switch (job.state) {
        case JobState::releasing:
          if (auto printing = transition(job, JobState::printing, "engine",
                                         "resuming the release (its node stopped)")) {
            print(printing->id, true);
          }
          break;
        case JobState::printing:
          print(job.id, true);  // finds an earlier submission by id and name before sending again
          break;
        case JobState::stored:
          post([this, id = job.id] { process_stored(id); });
          break;
        default:
          break;  // claim_expired() returns working states only
      }
    }
    taken += claimed->size();
    if (claimed->size() < kBatch) break;
  }
  return taken;
}

}  // namespace atdesk::engine
