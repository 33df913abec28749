#include "atdesk/engine/singletons.hpp"

#include <spdlog/spdlog.h>

namespace atdesk::engine {

Singletons::Singletons(store::JobStore& jobs, std::chrono::milliseconds lease,
                       std::chrono::milliseconds margin)
    : jobs_(jobs), lease_(lease), margin_(margin) {}

void Singletons::add(std::string name, RoleHandler on_change) {
  std::lock_guard lock(mutex_);
  auto& entry = entries_.emplace_back(Entry{std::move(name), std::move(on_change)});
  hold(entry);
  // The first answer is always told, held or not: the owner starts in the right role.
  if (!entry.holds) entry.on_change(false);
}

void Singletons::tick() {
  std::lock_guard lock(mutex_);
  for (auto& entry : entries_) hold(entry);
}

void Singletons::hold(Entry& entry) {
  const auto sent = std::chrono::steady_clock::now();
  auto held = jobs_.hold_lease(entry.name, lease_);
  if (held && *held) {
    entry.renewed = sent;
    if (!entry.holds) {
      entry.holds = true;
      spdlog::info("singleton {}: this node holds it now", entry.name);
      entry.on_change(true);
    }
    return;
  }
  if (!entry.holds) {
    if (!held)
      spdlog::debug("singleton {}: cannot try its lease: {}", entry.name, held.error().message);
    return;
  }
  if (held) {
    // Another node holds it: this node's lease expired (a long pause) and was taken over.
    entry.holds = false;
    spdlog::warn("singleton {}: another node took it over", entry.name);
    entry.on_change(false);
    return;
  }
  // The database does not answer: the lease still counts until it expires, by the database's
  // clock; this node gives the role up a margin before that, so two nodes never hold it at once.
  if (sent - entry.renewed >= lease_ - margin_) {
    entry.holds = false;
    spdlog::warn(
        "singleton {}: given up, its lease could not be renewed for {} ms: {}", entry.name,
        std::chrono::duration_cast<std::chrono::milliseconds>(sent - entry.renewed).count(),
        held.error().message);
    entry.on_change(false);
  } else {
    spdlog::warn(
        "singleton {}: cannot renew its lease (kept until {} ms after the last "
        "renewal): {}",
        entry.name, (lease_ - margin_).count(), held.error().message);
  }
}

void Singletons::release_all() {
  std::lock_guard lock(mutex_);
  for (auto& entry : entries_) {
    if (!entry.holds) continue;
    entry.holds = false;
    entry.on_change(false);
    if (auto ok = jobs_.drop_lease(entry.name); !ok) {
      spdlog::warn("singleton {}: its lease is left to expire: {}", entry.name, ok.error().message);
    }
  }
}

std::vector<std::string> Singletons::held() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& entry : entries_) {
    if (entry.holds) out.push_back(entry.name);
  }
  return out;
}

}  // namespace atdesk::engine
