// In-memory JobStore, TableStore and BlobStore for unit tests: same contracts as the SQLite
// store and the encrypted spool (compare-and-set updates, ordered rules), plus switches to make
// them fail.
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>

#include "atdesk/store/blob_store.hpp"
#include "atdesk/store/job_store.hpp"
#include "atdesk/store/table_store.hpp"

namespace atdesk::testing {

class MemoryJobStore final : public store::JobStore {
 public:
  Result<void> insert(const Job& job, const Transition& first) override {
    std::lock_guard lock(mutex_);
    if (jobs_.contains(job.id)) return fail(Errc::conflict, "job " + job.id.str() + " exists");
    jobs_[job.id] = job;
    order_.push_back(job.id);
    history_[job.id].push_back(first);
    if (is_working(job.state)) leased_.insert(job.id);
    return {};
  }
  Result<void> update(const Job& job, JobState expected, const Transition& t) override {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(job.id);
    if (it == jobs_.end()) return fail(Errc::not_found, "job " + job.id.str() + " not found");
    if (it->second.state != expected) {
      return fail(Errc::conflict, "job " + job.id.str() + " is " +
                                      std::string(to_string(it->second.state)) + ", no longer " +
                                      std::string(to_string(expected)));
    }
    it->second = job;
    history_[job.id].push_back(t);
    if (is_working(job.state)) leased_.insert(job.id);
    return {};
  }
  Result<void> save(const Job& job) override {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(job.id);
    if (it == jobs_.end()) return fail(Errc::not_found, "job not found");
    const auto state = it->second.state;
    it->second = job;
    it->second.state = state;
    return {};
  }
  Result<Job> get(const JobId& id) override {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return fail(Errc::not_found, "job " + id.str() + " not found");
    return it->second;
  }
  Result<Job> find(std::string_view id_or_prefix) override {
    auto parsed = JobId::parse_prefix(id_or_prefix);
    if (!parsed) return fail(parsed.error());
    const std::string& prefix = *parsed;
    std::lock_guard lock(mutex_);
    const Job* found = nullptr;
    for (const auto& [id, job] : jobs_) {
      if (id.str().starts_with(prefix)) {
        if (found) return fail(Errc::conflict, "ambiguous job id");
        found = &job;
      }
    }
    if (!found) return fail(Errc::not_found, "no job " + std::string(prefix));
    return *found;
  }
  // Called after list() has read its answer and before it returns it (outside the lock): a test
  // changes jobs here to stand for another thread acting between a read and a write.
  std::function<void(const store::JobFilter&)> after_list;

  Result<std::vector<Job>> list(const store::JobFilter& f) override {
    auto out = list_locked(f);
    if (after_list) after_list(f);
    return out;
  }
  std::vector<Job> list_locked(const store::JobFilter& f) {
    std::lock_guard lock(mutex_);
    std::vector<Job> out;
    for (const auto& id : order_) {
      const auto& j = jobs_.at(id);
      if (!f.states.empty() &&
          std::find(f.states.begin(), f.states.end(), j.state) == f.states.end())
        continue;
      if (f.recipient && std::none_of(j.recipients.begin(), j.recipients.end(),
                                      [&](const Recipient& r) { return r.key() == *f.recipient; }))
        continue;
      if (f.received_before && j.received_at >= *f.received_before) continue;
      if (f.received_after && j.received_at < *f.received_after) continue;
      if (f.sender && !sender_matches(j.sender, *f.sender)) continue;
      out.push_back(j);
    }
    // Oldest first by reception, then by insertion, as the SQL stores order them.
    std::stable_sort(out.begin(), out.end(),
                     [](const Job& a, const Job& b) { return a.received_at < b.received_at; });
    if (!f.oldest_first) std::reverse(out.begin(), out.end());
    if (out.size() > f.limit) out.resize(f.limit);
    return out;
  }
  // The stores' sender filter: a substring of the display or of an identifier, ignoring the
  // case of ASCII letters.
  static bool sender_matches(const Sender& s, const std::string& needle) {
    auto lower = [](std::string v) {
      for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return v;
    };
    const auto n = lower(needle);
    for (const auto& v :
         {s.display(), s.fax ? s.fax->digits() : std::string(), s.tsi, s.caller_id, s.sip_uri,
          s.email, s.ip, s.ipp_user, s.called ? s.called->digits() : std::string()}) {
      if (lower(v).find(n) != std::string::npos) return true;
    }
    return false;
  }
  Result<std::vector<Transition>> history(const JobId& id) override {
    std::lock_guard lock(mutex_);
    return history_[id];
  }
  Result<std::vector<std::pair<JobState, std::int64_t>>> count_by_state() override {
    std::lock_guard lock(mutex_);
    std::map<JobState, std::int64_t> counts;
    for (const auto& [id, j] : jobs_) ++counts[j.state];
    return std::vector<std::pair<JobState, std::int64_t>>(counts.begin(), counts.end());
  }
  Result<std::int64_t> queue_notice(const store::QueuedNotice& notice) override {
    std::lock_guard lock(mutex_);
    auto n = notice;
    n.id = next_notice_++;
    notices_[n.id] = n;
    return n.id;
  }
  Result<std::vector<store::QueuedNotice>> queued_notices(std::size_t limit) override {
    std::lock_guard lock(mutex_);
    std::vector<store::QueuedNotice> out;
    for (const auto& [id, n] : notices_) {
      if (out.size() >= limit) break;
      out.push_back(n);
    }
    return out;
  }
  Result<void> note_notice_attempt(std::int64_t id) override {
    std::lock_guard lock(mutex_);
    if (auto it = notices_.find(id); it != notices_.end()) ++it->second.attempts;
    return {};
  }
  Result<void> remove_notice(std::int64_t id) override {
    std::lock_guard lock(mutex_);
    notices_.erase(id);
    return {};
  }
  Result<std::int64_t> count_notices() override {
    std::lock_guard lock(mutex_);
    return static_cast<std::int64_t>(notices_.size());
  }

  // One node, as a process using SQLite: the jobs it wrote into a working state are its own;
  // new_life() stands for a restart of the process, whose earlier leases are then expired.
  Result<std::vector<Job>> claim_expired(std::size_t limit) override {
    std::lock_guard lock(mutex_);
    std::vector<Job> out;
    for (const auto& id : order_) {
      if (out.size() >= limit) break;
      auto it = jobs_.find(id);
      if (it == jobs_.end() || !is_working(it->second.state)) continue;
      if (!leased_.insert(id).second) continue;
      out.push_back(it->second);
    }
    return out;
  }
  Result<std::size_t> renew_leases() override {
    std::lock_guard lock(mutex_);
    return std::size_t(std::count_if(leased_.begin(), leased_.end(), [&](const JobId& id) {
      auto it = jobs_.find(id);
      return it != jobs_.end() && is_working(it->second.state);
    }));
  }
  Result<bool> hold_lease(const std::string&, std::chrono::milliseconds) override {
    ++lease_asks;
    if (lease_unreachable) return fail(Errc::unavailable, "database: connection refused");
    return !lease_held_elsewhere;
  }
  // Stands for another node holding every named lease; lease_asks counts hold_lease() calls,
  // lease_drops drop_lease() calls. lease_unreachable: the database does not answer.
  std::atomic<bool> lease_held_elsewhere{false};
  std::atomic<bool> lease_unreachable{false};
  std::atomic<int> lease_asks{0};
  std::atomic<int> lease_drops{0};
  Result<void> drop_lease(const std::string&) override {
    ++lease_drops;
    return {};
  }
  void new_life() {
    std::lock_guard lock(mutex_);
    leased_.clear();
  }

 private:
  std::mutex mutex_;
  std::set<JobId> leased_;
  std::int64_t next_notice_ = 1;
  std::map<std::int64_t, store::QueuedNotice> notices_;
  std::map<JobId, Job> jobs_;
  std::vector<JobId> order_;
  std::map<JobId, std::vector<Transition>> history_;
};

class MemoryTableStore final : public store::TableStore {
 public:
  MemoryTableStore() { modes_.emplace("weekday", ModeTable::seed_default("weekday")); }

  Result<std::vector<RecipientRule>> recipient_rules() override {
    std::lock_guard lock(mutex_);
    return rules_;
  }
  Result<RecipientRule> add_recipient_rule(const RecipientRule& rule) override {
    std::lock_guard lock(mutex_);
    auto r = rule;
    r.id = next_id_++;
    rules_.push_back(r);
    return r;
  }
  Result<void> update_recipient_rule(const RecipientRule& rule) override {
    std::lock_guard lock(mutex_);
    for (auto& r : rules_) {
      if (r.id == rule.id) {
        r = rule;
        return {};
      }
    }
    return fail(Errc::not_found, "rule not found");
  }
  Result<void> remove_recipient_rule(std::int64_t id) override {
    std::lock_guard lock(mutex_);
    auto n = std::erase_if(rules_, [&](const RecipientRule& r) { return r.id == id; });
    if (n == 0) return fail(Errc::not_found, "rule not found");
    return {};
  }
  Result<std::vector<RecipientRule>> replace_recipient_rules(
      const std::vector<RecipientRule>& rules) override {
    std::lock_guard lock(mutex_);
    rules_.clear();
    for (auto r : rules) {
      r.id = next_id_++;
      rules_.push_back(r);
    }
    return rules_;
  }
  Result<std::vector<ModeTable>> mode_tables() override {
    std::lock_guard lock(mutex_);
    std::vector<ModeTable> out;
    for (const auto& [n, t] : modes_) out.push_back(t);
    return out;
  }
  Result<void> put_mode_table(const ModeTable& table) override {
    std::lock_guard lock(mutex_);
    modes_.insert_or_assign(table.name(), table);
    return {};
  }
  Result<void> remove_mode_table(const std::string& name) override {
    std::lock_guard lock(mutex_);
    if (modes_.erase(name) == 0) return fail(Errc::not_found, "no table " + name);
    return {};
  }
  Result<std::optional<Schedule>> schedule() override {
    std::lock_guard lock(mutex_);
    return schedule_;
  }
  Result<void> put_schedule(const Schedule& s) override {
    std::lock_guard lock(mutex_);
    schedule_ = s;
    return {};
  }
  Result<void> append_audit(const store::AuditEntry& e) override {
    std::lock_guard lock(mutex_);
    audit_.push_back(e);
    audit_.back().id = static_cast<std::int64_t>(audit_.size());
    return {};
  }
  Result<std::vector<store::AuditEntry>> audit(std::size_t limit, std::int64_t before_id) override {
    std::lock_guard lock(mutex_);
    std::vector<store::AuditEntry> out;
    for (auto it = audit_.rbegin(); it != audit_.rend() && out.size() < limit; ++it) {
      if (before_id == 0 || it->id < before_id) out.push_back(*it);
    }
    return out;
  }
  Result<std::optional<std::string>> get_setting(const std::string& ns,
                                                 const std::string& key) override {
    std::lock_guard lock(mutex_);
    auto it = settings_.find({ns, key});
    if (it == settings_.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }
  Result<void> put_setting(const std::string& ns, const std::string& key,
                           const std::string& value) override {
    std::lock_guard lock(mutex_);
    settings_[{ns, key}] = value;
    return {};
  }
  Result<std::vector<std::pair<std::string, std::string>>> settings(
      const std::string& ns) override {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, v] : settings_) {
      if (k.first == ns) out.emplace_back(k.second, v);
    }
    return out;
  }

 private:
  std::mutex mutex_;
  std::vector<RecipientRule> rules_;
  std::int64_t next_id_ = 1;
  std::map<std::string, ModeTable> modes_;
  std::optional<Schedule> schedule_;
  std::vector<store::AuditEntry> audit_;
  std::map<std::pair<std::string, std::string>, std::string> settings_;
};

class MemoryBlobStore final : public store::BlobStore {
 public:
  Result<void> put(const JobId& job, store::BlobKind kind,
                   std::span<const std::byte> data) override {
    std::lock_guard lock(mutex_);
    if (fail_puts) return fail(Errc::io, "disk full (simulated)");
    blobs_[{job, kind}] = store::Bytes(data.begin(), data.end());
    return {};
  }
  Result<store::Bytes> get(const JobId& job, store::BlobKind kind) override {
    std::lock_guard lock(mutex_);
    auto it = blobs_.find({job, kind});
    if (it == blobs_.end()) return fail(Errc::not_found, "no blob");
    return it->second;
  }
  Result<bool> exists(const JobId& job, store::BlobKind kind) override {
    std::lock_guard lock(mutex_);
    return blobs_.contains({job, kind});
  }
  Result<void> remove(const JobId& job) override {
    std::lock_guard lock(mutex_);
    std::erase_if(blobs_, [&](const auto& kv) { return kv.first.first == job; });
    return {};
  }
  std::size_t count() {
    std::lock_guard lock(mutex_);
    return blobs_.size();
  }
  bool fail_puts = false;

 private:
  std::mutex mutex_;
  std::map<std::pair<JobId, store::BlobKind>, store::Bytes> blobs_;
};

}  // namespace atdesk::testing
