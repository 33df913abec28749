// What a SipFaxReceiver under test hands over: documents by called number, call reports and
// failed receptions, with waits that end at a deadline. Shared by the SIP unit and integration
// tests.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "atdesk/fax_sip/receiver.hpp"

namespace atdesk::testing {

class Received {
 public:
  using CallReport = fax_sip::SipFaxReceiver::CallReport;
  using FailedReception = fax_sip::SipFaxReceiver::FailedReception;

  Result<void> add(IncomingDocument doc) {
    std::lock_guard lock(mutex_);
    docs_.emplace(doc.sender.called ? doc.sender.called->digits() : "", std::move(doc));
    changed_.notify_all();
    return {};
  }
  std::optional<IncomingDocument> wait_for(const std::string& called, std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, limit, [&] { return docs_.contains(called); })) return {};
    return docs_.at(called);
  }

  void report(const CallReport& r) {
    std::lock_guard lock(mutex_);
    reports_.push_back(r);
    changed_.notify_all();
  }
  std::vector<CallReport> reports() {
    std::lock_guard lock(mutex_);
    return reports_;
  }
  // The last report of a call to `called`, waiting for one up to `limit`.
  std::optional<CallReport> wait_for_report(const std::string& called, std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    std::optional<CallReport> found;
    changed_.wait_for(lock, limit, [&] { return (found = last_report(called)).has_value(); });
    return found;
  }

  void failed(const FailedReception& f) {
    std::lock_guard lock(mutex_);
    failed_.push_back(f);
    changed_.notify_all();
  }
  std::optional<FailedReception> wait_for_failed(const std::string& called,
                                                 std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    std::optional<FailedReception> found;
    changed_.wait_for(lock, limit, [&] {
      for (const auto& f : failed_) {
        if (f.called == called) found = f;
      }
      return found.has_value();
    });
    return found;
  }

 private:
  std::optional<CallReport> last_report(const std::string& called) const {
    for (auto it = reports_.rbegin(); it != reports_.rend(); ++it) {
      if (it->called == called) return *it;
    }
    return std::nullopt;
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, IncomingDocument> docs_;
  std::vector<CallReport> reports_;
  std::vector<FailedReception> failed_;
};

}  // namespace atdesk::testing
