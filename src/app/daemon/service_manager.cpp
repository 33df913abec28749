#include "service_manager.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace atdesk::app {

ServiceManager::ServiceManager() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  supervised_ = socket != nullptr && *socket != '\0';
  std::uint64_t usec = 0;
  // 0 unset=false: WATCHDOG_USEC stays for the watchdog thread's own checks.
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) watchdog_ = std::chrono::microseconds(usec);
}

ServiceManager::~ServiceManager() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (watchdog_thread_.joinable()) watchdog_thread_.join();
}

void ServiceManager::notify(std::string_view state) const {
  if (!supervised_) return;
  const std::string text(state);
  if (const int rc = sd_notify(0, text.c_str()); rc < 0) {
    spdlog::warn("systemd notification failed: {}", std::strerror(-rc));
  }
}

void ServiceManager::ready(std::string_view status) {
  notify("READY=1\nSTATUS=" + std::string(status));
}

void ServiceManager::reloading() {
  notify("RELOADING=1\nSTATUS=reloading the configuration");
}

void ServiceManager::reloaded(std::string_view status) {
  notify("READY=1\nSTATUS=" + std::string(status));
}

void ServiceManager::stopping() {
  notify("STOPPING=1\nSTATUS=stopping");
}

void ServiceManager::start_watchdog(std::function<bool()> alive) {
  if (!supervised_ || !watchdog_ || watchdog_thread_.joinable()) return;
  const auto period = *watchdog_ / 2;
  watchdog_thread_ = std::thread([this, period, alive = std::move(alive)] {
    bool told = false;  // log a stall once, not every period
    std::unique_lock lock(mutex_);
    while (!stop_cv_.wait_for(lock, period, [this] { return stop_; })) {
      if (alive()) {
        notify("WATCHDOG=1");
        told = false;
      } else if (!told) {
        spdlog::critical(
            "the engine's work queue has not moved for {} ms: not feeding the watchdog, so "
            "systemd restarts atdeskd",
            std::chrono::duration_cast<std::chrono::milliseconds>(period).count());
        told = true;
      }
    }
  });
}

}  // namespace atdesk::app
