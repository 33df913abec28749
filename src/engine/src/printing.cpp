// Printing (the seed's S1608/S1614-S1615): submit a released or decided job to its printer,
// follow the printer's job until it is done, retry with backoff, and reconcile jobs left in
// `printing` by a previous run.
#include <spdlog/spdlog.h>
#include <algorithm>

#include "engine_impl.hpp"

namespace atdesk::engine {
namespace {

std::string quoted_name(const Job& job) {
  return "job " + std::string(job.id.short_id());
}

bool retryable(Errc code) {
  return code == Errc::unavailable || code == Errc::timeout || code == Errc::io ||
         code == Errc::no_space;
}

}  // namespace

// One task submits the batch in order: posted one by one, the workers would race for the
// printer and a later job could go first.
void Engine::Impl::print_in_order(std::vector<JobId> batch) {
  if (batch.empty()) return;
  post([this, batch = std::move(batch)] {
    for (const auto& id : batch) print(id);
  });
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

}  // namespace atdesk::engine
