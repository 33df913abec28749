// A Printer that keeps what it is sent, for unit tests: can be switched off (unavailable), can
// abort jobs, completes a job after a configurable number of status calls, can drop the
// connection after taking a document (the job exists, the caller hears "unavailable"), and can
// restart, forgetting its jobs and numbering new ones from 1 again as real printers do, and can
// stop its jobs (a CUPS queue whose device failed: job-state processing-stopped until the queue
// is restarted, resume()), and can push job events (finish()). Job ids are checked against the
// job-name like IppPrinter does (Errc::not_found, Errc::conflict).
#pragma once

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "atdesk/print/printer.hpp"

namespace atdesk::testing {

class FakePrinter final : public print::Printer {
 public:
  explicit FakePrinter(std::string name) : name_(std::move(name)) {}

  const std::string& name() const override { return name_; }

  Result<print::Submission> submit(std::span<const std::byte> pdf,
                                   const print::PrintOptions& options) override {
    std::lock_guard lock(mutex_);
    ++submit_calls;
    if (!online) return fail(Errc::unavailable, "printer " + name_ + " is off (simulated)");
    if (labels_only) {
      return fail(Errc::unsupported, "printer " + name_ +
                                         ": no medium fits the document's 210x297mm pages; "
                                         "media-ready: oe_4x6-label_4x6in (simulated)");
    }
    std::size_t unfinished = 0;
    for (const auto& j : jobs_) unfinished += print::is_terminal(j.state) ? 0 : 1;
    most_unfinished_at_submit = std::max(most_unfinished_at_submit.load(), unfinished);
    jobs_.push_back({options.job_name, std::vector<std::byte>(pdf.begin(), pdf.end()),
                     print::RemoteJobState::pending, 0});
    if (reset_after_document) {
      return fail(Errc::unavailable, "printer " + name_ +
                                         ": Print-Job (after the document was sent: the printer "
                                         "may have it) failed: Connection reset (simulated)");
    }
    return print::Submission{name_, static_cast<int>(jobs_.size()), options.job_name, {}};
  }
  Result<print::RemoteJobState> status(const print::Submission& s) override {
    std::lock_guard lock(mutex_);
    ++status_calls;
    if (!online) return fail(Errc::unavailable, "printer off");
    if (s.job_id < 1 || static_cast<std::size_t>(s.job_id) > jobs_.size()) {
      return fail(Errc::not_found,
                  "printer " + name_ + " does not know job " + std::to_string(s.job_id));
    }
    auto& job = jobs_.at(static_cast<std::size_t>(s.job_id - 1));
    if (!s.job_name.empty() && job.name != s.job_name) {
      return fail(Errc::conflict, "printer " + name_ + ": job " + std::to_string(s.job_id) +
                                      " is now '" + job.name + "'");
    }
    if (job.state == print::RemoteJobState::pending && stop_jobs) {
      job.state = print::RemoteJobState::stopped;
    }
    if (job.state == print::RemoteJobState::pending && !paused &&
        ++job.polls >= polls_to_complete) {
      bool abort = abort_jobs;
      if (!abort && abort_next > 0) {
        --abort_next;
        abort = true;
      }
      job.state = abort ? print::RemoteJobState::aborted : print::RemoteJobState::completed;
    }
    return job.state;
  }
  Result<std::optional<std::pair<print::Submission, print::RemoteJobState>>> find(
      const std::string& job_name, int /*recorded_job_id*/) override {
    std::lock_guard lock(mutex_);
    ++find_calls;
    if (!online) return fail(Errc::unavailable, "printer off");
    for (std::size_t i = jobs_.size(); i-- > 0;) {
      if (jobs_[i].name == job_name) {
        return std::optional<std::pair<print::Submission, print::RemoteJobState>>(
            {print::Submission{name_, static_cast<int>(i + 1), job_name, {}}, jobs_[i].state});
      }
    }
    return std::optional<std::pair<print::Submission, print::RemoteJobState>>{};
  }
  Result<print::PrinterStatus> describe() override {
    std::lock_guard lock(mutex_);
    print::PrinterStatus s;
    s.name = name_;
    s.uri = "fake://" + name_;
    s.state = online ? print::PrinterState::idle : print::PrinterState::unreachable;
    if (online && refusing_new_jobs) {  // CUPS' cupsreject: not accepting, still printing
      s.state = print::PrinterState::stopped;
      s.message = "not accepting jobs";
    }
    if (online && (stop_jobs || paused)) {
      s.state = print::PrinterState::stopped;
      s.halted = true;
      s.state_reasons = {"paused"};
      s.message = "backend failed (simulated)";
    }
    s.formats = {"application/pdf"};
    return s;
  }

  // Job events (IppPrinter's Get-Notifications): with pushes_events, finish() tells the watcher.
  void watch_jobs(JobChanged changed) override {
    std::lock_guard lock(watch_mutex_);
    changed_ = std::move(changed);
  }
  bool pushes_job_events() const override { return pushes_events; }
  // The printer finishes the job named `job_name` (completed) and, when it pushes events, says
  // so to the watcher, as a printer's job-completed event does.
  void finish(const std::string& job_name) {
    int id = 0;
    {
      std::lock_guard lock(mutex_);
      for (std::size_t i = jobs_.size(); i-- > 0;) {
        if (jobs_[i].name == job_name) {
          jobs_[i].state = print::RemoteJobState::completed;
          id = static_cast<int>(i + 1);
          break;
        }
      }
    }
    std::lock_guard lock(watch_mutex_);
    if (id != 0 && pushes_events && changed_) changed_(id);
  }

  // Names of the jobs the printer completed, in order.
  std::vector<std::string> completed() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& j : jobs_) {
      if (j.state == print::RemoteJobState::completed) out.push_back(j.name);
    }
    return out;
  }
  std::size_t received() {
    std::lock_guard lock(mutex_);
    return jobs_.size() + forgotten_;
  }
  // Documents received under this job name, across restarts.
  std::size_t received(const std::string& job_name) {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& j : jobs_) n += j.name == job_name ? 1 : 0;
    for (const auto& name : forgotten_names_) n += name == job_name ? 1 : 0;
    return n;
  }
  // The printer restarts: it forgets its jobs and numbers new ones from 1 again.
  void restart() {
    std::lock_guard lock(mutex_);
    forgotten_ += jobs_.size();
    for (const auto& j : jobs_) forgotten_names_.push_back(j.name);
    jobs_.clear();
  }
  // The queue is restarted: stopped jobs are pending again and complete as usual.
  void resume() {
    std::lock_guard lock(mutex_);
    stop_jobs = false;
    for (auto& j : jobs_) {
      if (j.state == print::RemoteJobState::stopped) {
        j.state = print::RemoteJobState::pending;
        j.polls = 0;
      }
    }
  }
  // Another user's job arrives (it takes the next job id).
  void foreign_job(const std::string& job_name) {
    std::lock_guard lock(mutex_);
    jobs_.push_back({job_name, {}, print::RemoteJobState::pending, 0});
  }

  std::atomic<bool> online{true};
  std::atomic<bool> abort_jobs{false};
  std::atomic<int> abort_next{0};  // aborts this many of the next jobs, then completes again
  std::atomic<bool> reset_after_document{false};
  std::atomic<bool> stop_jobs{false};  // jobs become processing-stopped instead of completing
  // The printer is stopped (a disabled CUPS queue): jobs stay pending, describe() says stopped.
  std::atomic<bool> paused{false};
  // describe() says stopped (not accepting jobs) but jobs print on: a printer that only refuses
  // new jobs.
  std::atomic<bool> refusing_new_jobs{false};
  // Only labels are loaded: submit() refuses every document as IppPrinter does (unsupported).
  std::atomic<bool> labels_only{false};
  std::atomic<int> polls_to_complete{1};
  std::atomic<bool> pushes_events{false};  // pushes_job_events()
  std::atomic<int> submit_calls{0};
  std::atomic<int> status_calls{0};
  std::atomic<int> find_calls{0};
  // The most jobs that were not finished when another one was submitted.
  std::atomic<std::size_t> most_unfinished_at_submit{0};

 private:
  struct Job {
    std::string name;
    std::vector<std::byte> pdf;
    print::RemoteJobState state;
    int polls;
  };
  std::string name_;
  std::mutex mutex_;
  std::mutex watch_mutex_;  // guards changed_; held while it is called
  JobChanged changed_;
  std::vector<Job> jobs_;
  std::size_t forgotten_ = 0;
  std::vector<std::string> forgotten_names_;
};

}  // namespace atdesk::testing
