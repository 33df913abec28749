// Work that only one node on a shared database may do (take a chat account's commands, own a
// push subscription, register with a SIP registrar) is a singleton: the node holding the named
// lease (JobStore::hold_lease) does it. Singletons keeps those leases: it holds or tries each at
// every tick and tells its owner when this node gains or loses it. With one process on a store
// (SQLite, the fakes) every lease is held, so a single node does all of them.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "atdesk/store/job_store.hpp"

namespace atdesk::engine {

using RoleHandler = std::function<void(bool holds)>;

class Singletons {
 public:
  // `lease`: how long a lease lasts after each renewal (set by the database's clock). A holder
  // that could not renew for `lease - margin` gives the role up by itself, before another node
  // can have taken the expired lease.
  Singletons(store::JobStore& jobs, std::chrono::milliseconds lease,
             std::chrono::milliseconds margin);
  Singletons(const Singletons&) = delete;
  Singletons& operator=(const Singletons&) = delete;

  // Adds a singleton and tries its lease at once: `on_change` is called before add returns with
  // whether this node holds it, then on every change. Handlers run on the caller's thread (add)
  // or the ticking thread, one at a time; they must not block nor call back into Singletons.
  void add(std::string name, RoleHandler on_change);
  // Renews the leases held, tries the others (the lease thread, every take-over interval).
  void tick();
  // A clean stop: tells the holders they hold nothing any more, then gives the leases up so
  // another node takes them at its next tick instead of when they expire.
  void release_all();
  // The names of the singletons this node holds now (for the log and tests).
  std::vector<std::string> held() const;

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;
  struct Entry {
    std::string name;
    RoleHandler on_change;
    bool holds = false;
    SteadyTime renewed{};  // when the last successful hold was sent
  };
  void hold(Entry& entry);  // with mutex_ held

  store::JobStore& jobs_;
  std::chrono::milliseconds lease_;
  std::chrono::milliseconds margin_;
  mutable std::mutex mutex_;  // entries_, and one handler call at a time
  std::vector<Entry> entries_;
};

}  // namespace atdesk::engine
