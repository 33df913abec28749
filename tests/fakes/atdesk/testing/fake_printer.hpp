// A Printer that keeps what it is sent, for unit tests: can be switched off (unavailable), can
// abort jobs, and completes a job after a configurable number of status calls.
#pragma once

#include <atomic>
#include <mutex>

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
    jobs_.push_back({options.job_name, std::vector<std::byte>(pdf.begin(), pdf.end()),
                     print::RemoteJobState::pending, 0});
    return print::Submission{name_, static_cast<int>(jobs_.size())};
  }
  Result<print::RemoteJobState> status(const print::Submission& s) override {
    std::lock_guard lock(mutex_);
    if (!online) return fail(Errc::unavailable, "printer off");
    auto& job = jobs_.at(static_cast<std::size_t>(s.job_id - 1));
    if (job.state == print::RemoteJobState::pending && ++job.polls >= polls_to_complete) {
      job.state = abort_jobs ? print::RemoteJobState::aborted : print::RemoteJobState::completed;
    }
    return job.state;
  }
  Result<std::optional<std::pair<print::Submission, print::RemoteJobState>>> find(
      const std::string& job_name) override {
    std::lock_guard lock(mutex_);
    if (!online) return fail(Errc::unavailable, "printer off");
    for (std::size_t i = jobs_.size(); i-- > 0;) {
      if (jobs_[i].name == job_name) {
        return std::optional<std::pair<print::Submission, print::RemoteJobState>>(
            {print::Submission{name_, static_cast<int>(i + 1)}, jobs_[i].state});
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
    s.formats = {"application/pdf"};
    return s;
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
    return jobs_.size();
  }

  std::atomic<bool> online{true};
  std::atomic<bool> abort_jobs{false};
  int polls_to_complete = 1;
  int submit_calls = 0;

 private:
  struct Job {
    std::string name;
    std::vector<std::byte> pdf;
    print::RemoteJobState state;
    int polls;
  };
  std::string name_;
  std::mutex mutex_;
  std::vector<Job> jobs_;
};

}  // namespace atdesk::testing
