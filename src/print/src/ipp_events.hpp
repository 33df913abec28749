// Job events from one IPP printer (IPP Event Notifications, RFC 3995, pulled with ippget,
// RFC 3996): a thread of its own keeps a printer subscription to job-state-changed and
// job-completed, asks Get-Notifications with notify-wait (the printer answers when an event
// happens) and calls the watcher's function with the job id of each event. Private to
// atdesk::print.
//
// A printer that lists no Create-Printer-Subscriptions or Get-Notifications (ippeveprinter of
// CUPS 2.4), or answers Get-Notifications at once without events although asked to wait (the
// CUPS 2.4 scheduler, which says notify-get-interval 60 instead), has no usable events: the
// thread then cancels its subscription and ends, and the engine keeps polling. PAPPL's printers
// (LPrint, atdesk-ippd) wait up to 30 s for an event.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "atdesk/print/printer.hpp"

namespace atdesk::print::detail {

class IppSession;

class JobEventListener {
 public:
  struct Settings {
    std::string name;
    std::string uri;
    std::chrono::milliseconds timeout{10000};  // connect timeout, and for every other request
  };
  // Starts the thread; `changed` is called from it (never after the destructor returned).
  JobEventListener(Settings settings, Printer::JobChanged changed);
  ~JobEventListener();
  JobEventListener(const JobEventListener&) = delete;
  JobEventListener& operator=(const JobEventListener&) = delete;

  bool active() const { return active_; }

  // Subscriptions last this long unless renewed (at half of it); one left by a crash expires.
  static constexpr std::chrono::seconds kLease{300};

 private:
  enum class Outcome { stopped, unsupported, failed };
  void run();
  Outcome follow();                                    // one subscription, until it fails
  bool pause(std::chrono::milliseconds for_how_long);  // false when stopping
  void set_current(IppSession* session);

  Settings settings_;
  Printer::JobChanged changed_;
  std::atomic<bool> active_{false};
  std::mutex mutex_;  // guards stopping_ and current_
  std::condition_variable cv_;
  bool stopping_ = false;
  bool subscribed_ = false;        // the current follow() got a subscription (listener thread only)
  IppSession* current_ = nullptr;  // the connection a call may block on, for shutdown
  std::thread thread_;
};

}  // namespace atdesk::print::detail
