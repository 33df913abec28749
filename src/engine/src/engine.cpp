// The Engine facade, its lifecycle and the user-edited tables (recipient table, mode tables,
// schedule). Job transitions live in job_flow.cpp.
#include <algorithm>
#include <boost/asio/post.hpp>

#include <spdlog/spdlog.h>

#include "engine_impl.hpp"

namespace atdesk::engine {

// ---------------------------------------------------------------------------------------------
// Impl: lifecycle and work queue

Engine::Impl::Impl(Settings settings, Dependencies deps)
    : settings_(std::move(settings)), deps_(std::move(deps)) {
  latency_counts_.assign(MetricsSnapshot{}.print_latency_buckets.size(), 0);
}

Engine::Impl::~Impl() {
  stop();
}

Result<void> Engine::Impl::start() {
  if (started_) return fail(Errc::conflict, "engine already started");
  if (!settings_.default_printer.empty() && !printer(settings_.default_printer)) {
    return fail(Errc::invalid_argument,
                "default printer '" + settings_.default_printer + "' is not a configured printer");
  }
  if (auto ok = load_tables(); !ok) return ok;
  last_active_table_ = active_table_name();
  last_check_wall_ = deps_.clock.now();
  last_check_elapsed_ = deps_.clock.elapsed();
  guard_.emplace(io_.get_executor());
  const int n = std::max(1, settings_.worker_threads);
  for (int i = 0; i < n; ++i) workers_.emplace_back([this] { io_.run(); });
  started_ = true;
  for (auto& [name, service] : deps_.chat_services) {
    service->on_command([this](const chat::ChatCommand& c) { post([this, c] { on_command(c); }); });
  }
  rewatch();
  for (auto& [name, target] : deps_.printers) {
    target->watch_jobs([this, name](int printer_job) { on_printer_event(name, printer_job); });
  }
  post([this] { reconcile(); });
  post_after(settings_.housekeeping_interval, [this] { housekeeping_tick(); });
  lease_thread_ = std::thread([this] { lease_loop(); });
  return {};
}

void Engine::Impl::housekeeping_tick() {
  // Once per tick across the nodes on one database: the node holding the lease runs it. The
  // lease outlives one interval, so its holder keeps it from tick to tick; when that node stops
  // another takes it within two intervals.
  auto mine = deps_.jobs.hold_lease(kHousekeepingLease, 2 * settings_.housekeeping_interval);
  if (!mine) {
    spdlog::warn("housekeeping: cannot take its lease, skipped this time: {}",
                 mine.error().message);
  } else if (*mine) {
    housekeeping();
  }
  if (!stopping_) post_after(settings_.housekeeping_interval, [this] { housekeeping_tick(); });
}

void Engine::Impl::refresh_tables() {
  const auto before = recipient_table();
  if (auto ok = load_tables(); !ok) {
    spdlog::warn("tables: cannot read them again (the ones read before stay in use): {}",
                 ok.error().message);
    return;
  }
  // The node that changed a table re-checked the held jobs itself; here only whom this node's
  // chat services watch follows the recipient table.
  if (before->rules() != recipient_table()->rules()) rewatch();
}

void Engine::Impl::lease_loop() {
  // A thread of its own rather than timers on the workers: a renewal must not wait behind busy
  // workers (the lease would expire under a node that is alive), and the watchdog's question
  // (making_progress) must not be answered "yes" by ticks finishing beside a stuck worker.
  using steady = std::chrono::steady_clock;
  auto next_renewal = steady::now() + settings_.lease_renew_interval;
  auto next_takeover = steady::now() + settings_.takeover_interval;
  std::unique_lock lock(lease_mutex_);
  while (!lease_cv_.wait_until(lock, std::min(next_renewal, next_takeover),
                               [this] { return stopping_.load(); })) {
    lock.unlock();
    const auto now = steady::now();
    if (now >= next_renewal) {
      next_renewal = now + settings_.lease_renew_interval;
      if (auto renewed = deps_.jobs.renew_leases(); !renewed) {
        spdlog::warn(
            "leases: renewing this node's job leases failed (when they expire, other nodes take "
            "its jobs over): {}",
            renewed.error().message);
      }
    }
    if (now >= next_takeover) {
      take_over();
      singletons_.tick();
      refresh_tables();
      next_takeover = steady::now() + settings_.takeover_interval;
    }
    lock.lock();
  }
}

void Engine::Impl::stop() {
  if (!started_) return;
  {
    std::lock_guard lock(lease_mutex_);
    stopping_ = true;
  }
  lease_cv_.notify_all();
  if (lease_thread_.joinable()) lease_thread_.join();
  for (auto& [name, service] : deps_.chat_services) {
    service->on_command({});
    service->watch({}, {});
  }
  for (auto& [name, target] : deps_.printers) target->watch_jobs({});
  guard_.reset();
  io_.stop();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
  {
    std::lock_guard lock(print_queue_mutex_);
    for (auto& [name, queue] : print_queues_) queue.waiting.reset();
  }
  // Another node takes housekeeping at its next tick instead of when the lease expires. The
  // job leases are left to expire: a job this node was printing is looked up at the printer by
  // the node that takes it over.
  if (auto ok = deps_.jobs.drop_lease(kHousekeepingLease); !ok) {
    spdlog::warn("housekeeping: its lease is left to expire: {}", ok.error().message);
  }
  singletons_.release_all();
  started_ = false;
}

void Engine::Impl::post(std::function<void()> fn) {
  {
    std::lock_guard lock(pending_mutex_);
    if (pending_++ == 0) busy_since_ = steady_ns();
  }
  boost::asio::post(io_, [this, fn = std::move(fn)] {
    if (!stopping_) fn();
    const auto now = steady_ns();
    std::lock_guard lock(pending_mutex_);
    last_finished_ = now;
    if (--pending_ == 0) pending_cv_.notify_all();
  });
}

void Engine::Impl::queue_presence(const std::string& service, const std::string& user,
                                  const Presence& p) {
  const auto key = std::pair(service, user);
  {
    std::lock_guard lock(presence_mutex_);
    auto& queue = presence_queue_[key];
    queue.push_back(p);
    if (queue.size() > 1) return;  // the task draining this user's queue takes it in turn
  }
  post([this, key] {
    for (;;) {
      Presence next;
      {
        std::lock_guard lock(presence_mutex_);
        next = presence_queue_[key].front();
      }
      on_presence(key.first, key.second, next);
      std::lock_guard lock(presence_mutex_);
      auto& queue = presence_queue_[key];
      queue.pop_front();
      if (queue.empty()) {
        presence_queue_.erase(key);
        return;
      }
    }
  });
}

void Engine::Impl::post_after(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, delay);
  timer->async_wait([this, timer, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (!ec && !stopping_) post(fn);
  });
}

LogScope Engine::Impl::log_scope(const Job& job) {
  std::string recipients;
  for (const auto& r : job.recipients) {
    if (!recipients.empty()) recipients += ',';
    recipients += r.key();
  }
  return LogScope(std::string(job.id.short_id()), std::move(recipients));
}

std::int64_t Engine::Impl::steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool Engine::Impl::making_progress(std::chrono::milliseconds bound) {
  const auto now = steady_ns();
  std::lock_guard lock(pending_mutex_);
  if (pending_ == 0) return true;
  const auto since = std::max(last_finished_, busy_since_);
  return now - since < std::chrono::duration_cast<std::chrono::nanoseconds>(bound).count();
}

void Engine::Impl::drain() {
  std::unique_lock lock(pending_mutex_);
  pending_cv_.wait(lock, [this] { return pending_ == 0; });
}

// ---------------------------------------------------------------------------------------------
// Impl: tables

Result<std::vector<RecipientRule>> Engine::Impl::stored_rules() {
  auto rules = deps_.tables.recipient_rules();
  if (!rules) return rules;
  auto languages = deps_.tables.settings(kRuleLanguages);
  if (!languages) return fail(languages.error());
  std::map<std::string, Language> by_id;
  for (const auto& [id, tag] : *languages) {
    if (auto l = parse_language(tag)) by_id.emplace(id, *l);
  }
  for (auto& rule : *rules) {
    if (auto it = by_id.find(std::to_string(rule.id)); it != by_id.end())
      rule.language = it->second;
  }
  return rules;
}

Result<void> Engine::Impl::store_rule_language(const RecipientRule& rule) {
  return deps_.tables.put_setting(kRuleLanguages, std::to_string(rule.id),
                                  rule.language ? std::string(to_string(*rule.language)) : "");
}

Result<void> Engine::Impl::load_tables() {
  auto rules = stored_rules();
  if (!rules) return fail(rules.error());
  auto modes = deps_.tables.mode_tables();
  if (!modes) return fail(modes.error());
  auto schedule = deps_.tables.schedule();
  if (!schedule) return fail(schedule.error());
  auto table = std::make_shared<const RecipientTable>(std::move(*rules), settings_.match);
  std::lock_guard lock(mutex_);
  table_ = std::move(table);
  modes_.clear();
  for (auto& m : *modes) modes_.emplace(m.name(), m);
  schedule_ = schedule->value_or(Schedule{});
  return {};
}

std::shared_ptr<const RecipientTable> Engine::Impl::recipient_table() const {
  std::lock_guard lock(mutex_);
  return table_;
}

ModeTable Engine::Impl::mode_table(const std::string& name) const {
  std::lock_guard lock(mutex_);
  if (auto it = modes_.find(name); it != modes_.end()) return it->second;
  return ModeTable(name);  // a table that does not exist holds everything
}

std::string Engine::Impl::active_table_name() const {
  const auto local = deps_.time_zone.to_local(deps_.clock.now());
  std::lock_guard lock(mutex_);
  return schedule_.active_table(local, imported_holidays_);
}

void Engine::Impl::rewatch() {
  auto table = recipient_table();
  std::map<std::string, std::set<std::string>> users;
  for (const auto& rule : table->rules()) {
    const auto& r = rule.recipient;
    auto it = deps_.chat_services.find(r.service);
    if (it == deps_.chat_services.end()) continue;
    if (r.kind == RecipientKind::user) {
      users[r.service].insert(r.address);
    } else if (auto members = it->second->channel_members(r.address)) {
      users[r.service].insert(members->begin(), members->end());
    }
  }
  for (auto& [name, service] : deps_.chat_services) {
    const auto& set = users[name];
    service->watch(std::vector<std::string>(set.begin(), set.end()),
                   [this, name](const std::string& user, const Presence& p) {
                     queue_presence(name, user, p);
                   });
  }
}

Result<void> Engine::Impl::append_audit(const std::string& actor, const std::string& action,
                                        const std::string& subject, const std::string& detail) {
  store::AuditEntry e;
  e.at = deps_.clock.now();
  e.actor = actor;
  e.action = action;
  e.subject = subject;
  e.detail = detail;
  auto ok = deps_.tables.append_audit(e);
  if (!ok) {
    spdlog::error("audit log: cannot record {} {} by {}: {}", action, subject, actor,
                  ok.error().message);
  }
  return ok;
}

void Engine::Impl::audit(const std::string& actor, const std::string& action,
                         const std::string& subject, const std::string& detail) {
  // The action already happened; a log that cannot take it is reported (append_audit logs it),
  // not a reason to undo it.
  (void)append_audit(actor, action, subject, detail);
}

print::Printer* Engine::Impl::printer(const std::string& name) const {
  auto it = deps_.printers.find(name);
  return it == deps_.printers.end() ? nullptr : it->second;
}

std::string Engine::Impl::printer_for(const std::string& requested) const {
  if (!requested.empty()) return requested;
  if (!settings_.default_printer.empty()) return settings_.default_printer;
  return deps_.printers.empty() ? std::string{} : deps_.printers.begin()->first;
}

void Engine::Impl::observe_latency(double seconds) {
  const auto& buckets = MetricsSnapshot{}.print_latency_buckets;
  std::lock_guard lock(latency_mutex_);
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    if (seconds <= buckets[i]) ++latency_counts_[i];
  }
  latency_sum_ += seconds;
  ++latency_count_;
}

// ---------------------------------------------------------------------------------------------
// Engine facade

namespace {

Result<void> check_rule_target(const Dependencies& deps, const RecipientRule& rule) {
  auto it = deps.chat_services.find(rule.recipient.service);
  if (it == deps.chat_services.end()) {
    return fail(Errc::invalid_argument,
                "recipient: chat service '" + rule.recipient.service + "' is not configured");
  }
  if (!rule.printer.empty() && !deps.printers.contains(rule.printer)) {
    return fail(Errc::invalid_argument,
                "printer: '" + rule.printer + "' is not a configured printer");
  }
  return it->second->verify(rule.recipient);
}

}  // namespace

Engine::Engine(Settings settings, Dependencies deps)
    : impl_(std::make_unique<Impl>(std::move(settings), std::move(deps))) {}
Engine::~Engine() = default;

Result<void> Engine::start() {
  return impl_->start();
}
void Engine::stop() {
  impl_->stop();
}
void Engine::singleton(std::string name, RoleHandler on_change) {
  impl_->singletons_.add(std::move(name), std::move(on_change));
}
void Engine::drain() {
  impl_->drain();
}
bool Engine::making_progress(std::chrono::milliseconds bound) const {
  return impl_->making_progress(bound);
}
void Engine::run_housekeeping() {
  impl_->housekeeping();
}
const Settings& Engine::settings() const {
  return impl_->settings_;
}

Result<Job> Engine::submit(IncomingDocument document) {
  return impl_->submit(std::move(document));
}

Result<Job> Engine::job(std::string_view id) {
  return impl_->deps_.jobs.find(id);
}

Result<std::vector<Job>> Engine::jobs(const store::JobFilter& filter) {
  return impl_->deps_.jobs.list(filter);
}

Result<std::vector<Transition>> Engine::history(std::string_view id) {
  auto j = job(id);
  if (!j) return fail(j.error());
  return impl_->deps_.jobs.history(j->id);
}

Result<Bytes> Engine::blob(std::string_view id, store::BlobKind kind) {
  auto j = job(id);
  if (!j) return fail(j.error());
  auto data = impl_->deps_.blobs.get(j->id, kind);
  if (data || kind == store::BlobKind::original || data.error().code != Errc::not_found) {
    return data;
  }
  // The printable PDF is made after the decision, and a preview when a job is held (for the
  // notice): a job asked for either before that gets it made now.
  if (kind == store::BlobKind::printable) return impl_->make_printable(j->id);
  auto made = impl_->make_preview(j->id, j->document_name);
  if (!made) return fail(made.error());
  return made;
}

Result<Bytes> Engine::page_png(std::string_view id, int page, int max_px) {
  auto j = job(id);
  if (!j) return fail(j.error());
  auto original = impl_->deps_.blobs.get(j->id, store::BlobKind::original);
  if (!original) return fail(original.error());
  return document::render_png(*original, j->document_name, page, max_px, impl_->settings_.limits);
}

Result<Job> Engine::release(std::string_view id, std::optional<std::string> printer,
                            const std::string& actor) {
  auto j = job(id);
  if (!j) return fail(j.error());
  if (printer && !printer->empty() && !impl_->printer(*printer)) {
    return fail(Errc::invalid_argument, "printer: '" + *printer + "' is not a configured printer");
  }
  return impl_->release(std::move(*j), std::move(printer), actor, "released by " + actor);
}

Result<Job> Engine::remove(std::string_view id, const std::string& actor) {
  auto j = job(id);
  if (!j) return fail(j.error());
  return impl_->remove(std::move(*j), actor);
}

Result<std::vector<RecipientRule>> Engine::recipient_rules() {
  return impl_->stored_rules();
}

Result<RecipientRule> Engine::add_recipient_rule(RecipientRule rule, const std::string& actor) {
  if (auto ok = check_rule_target(impl_->deps_, rule); !ok) return fail(ok.error());
  auto added = impl_->deps_.tables.add_recipient_rule(rule);
  if (!added) return added;
  added->language = rule.language;
  if (auto ok = impl_->store_rule_language(*added); !ok) return fail(ok.error());
  impl_->audit(actor, "recipient.add", "rule " + std::to_string(added->id),
               added->pattern.to_string() + " -> " + added->recipient.key());
  if (auto ok = impl_->load_tables(); !ok) return fail(ok.error());
  impl_->rewatch();
  return added;
}

Result<void> Engine::update_recipient_rule(const RecipientRule& rule, const std::string& actor) {
  if (auto ok = check_rule_target(impl_->deps_, rule); !ok) return ok;
  if (auto ok = impl_->deps_.tables.update_recipient_rule(rule); !ok) return ok;
  if (auto ok = impl_->store_rule_language(rule); !ok) return ok;
  impl_->audit(actor, "recipient.update", "rule " + std::to_string(rule.id),
               rule.pattern.to_string() + " -> " + rule.recipient.key());
  if (auto ok = impl_->load_tables(); !ok) return ok;
  impl_->rewatch();
  return {};
}

Result<void> Engine::remove_recipient_rule(std::int64_t id, const std::string& actor) {
  if (auto ok = impl_->deps_.tables.remove_recipient_rule(id); !ok) return ok;
  RecipientRule gone;
  gone.id = id;
  if (auto ok = impl_->store_rule_language(gone); !ok) return ok;  // clears it
  impl_->audit(actor, "recipient.remove", "rule " + std::to_string(id), "rule deleted");
  if (auto ok = impl_->load_tables(); !ok) return ok;
  impl_->rewatch();
  return {};
}

Result<std::vector<RecipientRule>> Engine::replace_recipient_rules(std::vector<RecipientRule> rules,
                                                                   const std::string& actor) {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (auto ok = check_rule_target(impl_->deps_, rules[i]); !ok) {
      return fail(ok.error().code, "rules[" + std::to_string(i) + "]: " + ok.error().message);
    }
  }
  auto old = impl_->deps_.tables.recipient_rules();
  if (!old) return old;
  auto stored = impl_->deps_.tables.replace_recipient_rules(rules);
  if (!stored) return stored;
  // The store returns the rules in the order given, with new ids: their languages are written
  // under the new ids and those of the replaced rules cleared.
  for (auto rule : *old) {
    rule.language.reset();
    if (auto ok = impl_->store_rule_language(rule); !ok) return fail(ok.error());
  }
  for (std::size_t i = 0; i < stored->size() && i < rules.size(); ++i) {
    (*stored)[i].language = rules[i].language;
    if (auto ok = impl_->store_rule_language((*stored)[i]); !ok) return fail(ok.error());
  }
  impl_->audit(actor, "recipient.replace", "recipient table",
               std::to_string(stored->size()) + " rules imported");
  if (auto ok = impl_->load_tables(); !ok) return fail(ok.error());
  impl_->rewatch();
  return stored;
}

Result<std::vector<Recipient>> Engine::route(const Sender& sender) {
  auto table = impl_->recipient_table();
  std::vector<Recipient> out;
  for (const auto* rule : table->match(sender).rules) {
    if (std::find(out.begin(), out.end(), rule->recipient) == out.end()) {
      out.push_back(rule->recipient);
    }
  }
  return out;
}

Result<std::vector<ModeTable>> Engine::mode_tables() {
  return impl_->deps_.tables.mode_tables();
}

Result<void> Engine::put_mode_table(const ModeTable& table, const std::string& actor) {
  if (auto name = ModeTable::validate_name(table.name()); !name) return fail(name.error());
  if (auto ok = impl_->deps_.tables.put_mode_table(table); !ok) return ok;
  impl_->audit(actor, "mode_table.put", "table " + table.name(), "mode table saved");
  if (auto ok = impl_->load_tables(); !ok) return ok;
  impl_->post([this] { impl_->recheck_held("mode table changed"); });
  return {};
}

Result<void> Engine::remove_mode_table(const std::string& name, const std::string& actor) {
  auto schedule = this->schedule();
  if (!schedule) return fail(schedule.error());
  bool used = schedule->default_table == name || schedule->holiday_table == name ||
              std::any_of(schedule->rules.begin(), schedule->rules.end(),
                          [&](const ScheduleRule& r) { return r.table == name; });
  if (used) {
    return fail(Errc::conflict, "mode table '" + name + "' is used by the schedule");
  }
  if (auto ok = impl_->deps_.tables.remove_mode_table(name); !ok) return ok;
  impl_->audit(actor, "mode_table.remove", "table " + name, "mode table deleted");
  return impl_->load_tables();
}

Result<Schedule> Engine::schedule() {
  std::lock_guard lock(impl_->mutex_);
  return impl_->schedule_;
}

std::vector<ImportedHoliday> Engine::imported_holidays() const {
  std::lock_guard lock(impl_->mutex_);
  return impl_->imported_holidays_;
}

void Engine::set_imported_holidays(std::vector<ImportedHoliday> holidays,
                                   const std::string& actor) {
  std::set<std::string> sources;
  for (const auto& h : holidays) sources.insert(h.source);
  std::string from;
  for (const auto& s : sources) from += (from.empty() ? "" : ", ") + s;
  const auto count = holidays.size();
  {
    std::lock_guard lock(impl_->mutex_);
    if (impl_->imported_holidays_ == holidays) return;  // a refresh that changed nothing
    impl_->imported_holidays_ = std::move(holidays);
  }
  impl_->audit(actor, "schedule.holidays", "schedule",
               std::to_string(count) + " holiday dates imported" +
                   (from.empty() ? std::string() : " from " + from));
  impl_->post([this] { impl_->recheck_held("holiday dates changed"); });
}

Result<void> Engine::put_schedule(const Schedule& schedule, const std::string& actor) {
  if (auto ok = impl_->deps_.tables.put_schedule(schedule); !ok) return ok;
  impl_->audit(actor, "schedule.put", "schedule",
               "schedule saved (" + std::to_string(schedule.rules.size()) + " rules, " +
                   std::to_string(schedule.holidays.size()) + " holidays)");
  if (auto ok = impl_->load_tables(); !ok) return ok;
  impl_->post([this] { impl_->recheck_held("schedule changed"); });
  return {};
}

std::string Engine::active_mode_table() {
  return impl_->active_table_name();
}

Result<std::vector<RecipientView>> Engine::recipients_overview() {
  auto table = impl_->recipient_table();
  std::vector<Recipient> recipients;
  for (const auto& rule : table->rules()) {
    if (std::find(recipients.begin(), recipients.end(), rule.recipient) == recipients.end()) {
      recipients.push_back(rule.recipient);
    }
  }
  auto presences = impl_->gather_presence(recipients);
  const auto mode = impl_->mode_table(impl_->active_table_name());
  store::JobFilter held;
  held.states = {JobState::held};
  held.limit = 100000;
  auto held_jobs = impl_->deps_.jobs.list(held);
  if (!held_jobs) return fail(held_jobs.error());
  std::vector<RecipientView> out;
  for (const auto& r : recipients) {
    RecipientView v;
    v.recipient = r;
    v.presence = presences[r.key()];
    Job probe;
    const Recipient one[] = {r};
    v.action = decide(probe, one, presences, mode, impl_->settings_.policy).action;
    v.held_jobs = std::count_if(held_jobs->begin(), held_jobs->end(), [&](const Job& j) {
      return std::find(j.recipients.begin(), j.recipients.end(), r) != j.recipients.end();
    });
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<store::AuditEntry>> Engine::audit(std::size_t limit, std::int64_t before_id) {
  return impl_->deps_.tables.audit(limit, before_id);
}

bool Engine::hold_all(const std::string& recipient_key) {
  return impl_->hold_flag(recipient_key);
}

Result<void> Engine::set_hold_all(const std::string& recipient_key, bool on,
                                  const std::string& actor) {
  if (auto ok = impl_->set_hold_flag(recipient_key, on); !ok) return ok;
  impl_->audit(actor, on ? "user.hold" : "user.resume", recipient_key,
               on ? "hold everything" : "resume");
  if (!on) impl_->post([this, actor] { impl_->recheck_held("resumed by " + actor); });
  return {};
}

Result<void> Engine::record_audit(const std::string& actor, const std::string& action,
                                  const std::string& subject, const std::string& detail) {
  return impl_->append_audit(actor, action, subject, detail);
}

std::vector<print::PrinterStatus> Engine::printers() {
  std::vector<print::PrinterStatus> out;
  for (auto& [name, p] : impl_->deps_.printers) {
    auto status = p->describe();
    if (status) {
      out.push_back(std::move(*status));
    } else {
      print::PrinterStatus s;
      s.name = name;
      s.state = print::PrinterState::unreachable;
      s.message = status.error().message;
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::map<std::string, chat::ServiceState> Engine::chat_services() {
  std::map<std::string, chat::ServiceState> out;
  for (auto& [name, s] : impl_->deps_.chat_services) out.emplace(name, s->state());
  return out;
}

std::map<std::string, std::string> Engine::chat_service_errors() {
  std::map<std::string, std::string> out;
  for (auto& [name, s] : impl_->deps_.chat_services) out.emplace(name, s->last_error());
  return out;
}

MetricsSnapshot Engine::metrics() {
  MetricsSnapshot m;
  if (auto counts = impl_->deps_.jobs.count_by_state()) m.jobs_by_state = std::move(*counts);
  m.decisions_print = impl_->decisions_print_;
  m.decisions_hold = impl_->decisions_hold_;
  m.presence_lookups_ok = impl_->presence_ok_;
  m.presence_lookups_failed = impl_->presence_failed_;
  m.prints_submitted = impl_->prints_submitted_;
  m.prints_completed = impl_->prints_completed_;
  m.prints_failed = impl_->prints_failed_;
  m.print_retries = impl_->print_retries_;
  m.notices_sent = impl_->notices_sent_;
  m.notices_failed = impl_->notices_failed_;
  m.notices_dropped = impl_->notices_dropped_;
  { m.notices_waiting = static_cast<std::size_t>(impl_->deps_.jobs.count_notices().value_or(0)); }
  std::lock_guard lock(impl_->latency_mutex_);
  m.print_latency_counts = impl_->latency_counts_;
  m.print_latency_sum = impl_->latency_sum_;
  m.print_latency_count = impl_->latency_count_;
  return m;
}

}  // namespace atdesk::engine
