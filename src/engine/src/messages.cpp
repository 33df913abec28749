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
    if (auto ok = it->second->send(r, message); !ok) {
      spdlog::warn("job {}: notifying {} failed: {}", job.id.short_id(), r.key(),
                   ok.error().message);
    }
  }
}

}  // namespace atdesk::engine
