// What atdesk tells people in chat: "received and held" (S1610), "printed" (S1615), and the
// delivery of those messages to every recipient of a job.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <chrono>

#include "engine_impl.hpp"

namespace atdesk::engine {

std::string Engine::Impl::local_time(Timestamp t) const {
  const auto local = deps_.time_zone.to_local(t);
  const auto day = std::chrono::floor<std::chrono::days>(local);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{std::chrono::floor<std::chrono::seconds>(local - day)};
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count());
}

std::string Engine::Impl::held_text(const Job& job) const {
  const std::string id(job.id.short_id());
  std::string text = fmt::format(
      "Fax from {} ({} page{}{}) received {} is held.\nWhy: {}\nJob {}. Reply 'print' to print it "
      "now, 'print at <printer>' to choose a printer, 'delete {}' to delete it, 'list' for all "
      "held jobs, 'help' for more.",
      job.sender.display(), job.pages, job.pages == 1 ? "" : "s",
      job.incomplete ? ", incomplete" : "", local_time(job.received_at), job.reason, id, id);
  return text;
}

std::string Engine::Impl::printed_text(const Job& job) const {
  return fmt::format("Printed: fax from {} ({} page{}) received {}, on printer {}. Job {}.",
                     job.sender.display(), job.pages, job.pages == 1 ? "" : "s",
                     local_time(job.received_at), job.printer, job.id.short_id());
}

void Engine::Impl::notify(const Job& job, const std::string& text, bool with_preview) {
  chat::ChatMessage message;
  message.text = text;
  message.job_id = job.id.str();
  if (with_preview) {
    if (auto png = deps_.blobs.get(job.id, store::BlobKind::preview)) {
      message.preview_png = std::move(*png);
    }
  }
  for (const auto& r : job.recipients) {
    auto it = deps_.chat_services.find(r.service);
    if (it == deps_.chat_services.end()) {
      spdlog::warn("job {}: cannot notify {}: chat service '{}' is not configured",
                   job.id.short_id(), r.key(), r.service);
      continue;
    }
    if (auto ok = it->second->send(r, message); ok) {
      ++notices_sent_;
    } else {
      ++notices_failed_;
      spdlog::warn("job {}: notifying {} failed: {}; it is sent again later", job.id.short_id(),
                   r.key(), ok.error().message);
      std::lock_guard lock(unsent_mutex_);
      if (unsent_.size() >= kMaxUnsent) {
        ++notices_dropped_;
        spdlog::warn("job {}: {} notices wait already; the oldest is dropped",
                     unsent_.front().job.short_id(), kMaxUnsent);
        unsent_.pop_front();
      }
      unsent_.push_back({job.id, job.state, r, message, 1});
    }
  }
}

void Engine::Impl::resend_unsent() {
  std::deque<Unsent> batch;
  {
    std::lock_guard lock(unsent_mutex_);
    batch.swap(unsent_);
  }
  std::deque<Unsent> still;
  for (auto& u : batch) {
    auto job = deps_.jobs.find(u.job.str());
    if (!job || job->state != u.state) continue;  // gone, or a newer notice says what matters
    auto it = deps_.chat_services.find(u.to.service);
    if (it == deps_.chat_services.end()) continue;
    if (auto ok = it->second->send(u.to, u.message); ok) {
      ++notices_sent_;
      spdlog::info("job {}: notice to {} sent after {} attempt{}", u.job.short_id(), u.to.key(),
                   u.attempts + 1, u.attempts == 0 ? "" : "s");
    } else {
      ++notices_failed_;
      ++u.attempts;
      still.push_back(std::move(u));
    }
  }
  std::lock_guard lock(unsent_mutex_);
  // Notices that failed during this pass were queued meanwhile; the older ones go first.
  for (auto& u : unsent_) still.push_back(std::move(u));
  while (still.size() > kMaxUnsent) {
    ++notices_dropped_;
    still.pop_front();
  }
  unsent_.swap(still);
}

}  // namespace atdesk::engine
