// What atdeskd tells systemd (sd_notify(3)): READY=1 once the store, spool and listeners are up,
// RELOADING=1 around a SIGHUP reload, STOPPING=1, a STATUS= line, and WATCHDOG=1 every half
// WatchdogSec for as long as the engine's work queue moves. Outside systemd (no NOTIFY_SOCKET)
// every call does nothing, so the daemon runs the same from a shell.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

namespace atdesk::app {

class ServiceManager {
 public:
  ServiceManager();
  ~ServiceManager();  // stops the watchdog thread
  ServiceManager(const ServiceManager&) = delete;
  ServiceManager& operator=(const ServiceManager&) = delete;

  // Whether a service manager listens (NOTIFY_SOCKET is set).
  bool supervised() const { return supervised_; }
  // WatchdogSec of the unit, when it has one and it is meant for this process.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }

  void ready(std::string_view status);
  void reloading();
  void reloaded(std::string_view status);
  void stopping();

  // Sends WATCHDOG=1 every half watchdog interval while `alive()` answers true; when it answers
  // false nothing is sent and systemd restarts the service once the interval has passed. Does
  // nothing without a watchdog interval.
  void start_watchdog(std::function<bool()> alive);

 private:
  void notify(std::string_view state) const;
  bool supervised_ = false;
  std::optional<std::chrono::microseconds> watchdog_;
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread watchdog_thread_;
};

}  // namespace atdesk::app
