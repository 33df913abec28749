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

namespace {

// "Fax from +81..." or, for a job printed to atdesk-ippd, "Print job "report.pdf" from alice"
// (" at 192.0.2.7" when the computer's address is known).
std::string what_and_who(const Job& job, bool capital) {
  if (job.source == JobSource::ipp) {
    // The computer's address when atdesk-ippd knew it (docs/printing.md).
    return fmt::format(
        "{}rint job \"{}\" from {}{}", capital ? "P" : "p", job.document_name, job.sender.display(),
        job.sender.ip.empty() || job.sender.ip == job.sender.display() ? ""
                                                                       : " at " + job.sender.ip);
  }
  return fmt::format("{}ax from {}", capital ? "F" : "f", job.sender.display());
}

// What follows the page count: ", incomplete" for a fax that dropped, the stored format for a
// print job (", PDF", or ", raster" for PWG, Apple, JPEG and PNG, kept as TIFF).
std::string page_note(const Job& job) {
  if (job.source == JobSource::ipp) {
    return job.format == DocumentFormat::pdf ? ", PDF" : ", raster";
  }
  return job.incomplete ? ", incomplete" : "";
}

}  // namespace

std::string Engine::Impl::held_text(const Job& job) const {
  const std::string id(job.id.short_id());
  std::string text = fmt::format(
      "{} ({} page{}{}) received {} is held.\nWhy: {}\nJob {}. Reply 'print' to print it "
      "now, 'print at <printer>' to choose a printer, 'delete {}' to delete it, 'list' for all "
      "held jobs, 'help' for more.",
      what_and_who(job, true), job.pages, job.pages == 1 ? "" : "s", page_note(job),
      local_time(job.received_at), job.reason, id, id);
  return text;
}

std::string Engine::Impl::printed_text(const Job& job) const {
  return fmt::format("Printed: {} ({} page{}{}) received {}, on printer {}. Job {}.",
                     what_and_who(job, false), job.pages, job.pages == 1 ? "" : "s",
                     job.source == JobSource::ipp ? page_note(job) : "",
                     local_time(job.received_at), job.printer, job.id.short_id());
}

void Engine::Impl::notify(const Job& job, const std::string& text, bool with_preview) {
  const LogScope scope = log_scope(job);
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
      continue;
    } else {
      ++notices_failed_;
      spdlog::warn("job {}: notifying {} failed: {}; it is sent again later", job.id.short_id(),
                   r.key(), ok.error().message);
    }
    queue_unsent(
        store::QueuedNotice{0, job.id, job.state, r, text, with_preview, 1, deps_.clock.now()});
  }
}

void Engine::Impl::queue_unsent(const store::QueuedNotice& notice) {
  std::lock_guard lock(unsent_mutex_);
  if (auto waiting = deps_.jobs.count_notices();
      waiting && *waiting >= static_cast<std::int64_t>(kMaxUnsent)) {
    if (auto oldest = deps_.jobs.queued_notices(1); oldest && !oldest->empty()) {
      ++notices_dropped_;
      spdlog::warn("job {}: {} notices wait already; the oldest is dropped",
                   oldest->front().job.short_id(), kMaxUnsent);
      if (auto ok = deps_.jobs.remove_notice(oldest->front().id); !ok) {
        spdlog::error("dropping a waiting notice failed: {}", ok.error().message);
      }
    }
  }
  if (auto ok = deps_.jobs.queue_notice(notice); !ok) {
    ++notices_dropped_;
    spdlog::error("job {}: the notice to {} cannot be kept for a later attempt: {}",
                  notice.job.short_id(), notice.to.key(), ok.error().message);
  }
}

void Engine::Impl::resend_unsent() {
  std::lock_guard lock(unsent_mutex_);
  auto waiting = deps_.jobs.queued_notices(kMaxUnsent);
  if (!waiting) {
    spdlog::error("reading the waiting notices failed: {}", waiting.error().message);
    return;
  }
  for (const auto& n : *waiting) {
    auto job = deps_.jobs.get(n.job);
    auto it = deps_.chat_services.find(n.to.service);
    if (!job || job->state != n.state || it == deps_.chat_services.end()) {
      // Gone, or a newer notice says what matters, or the service is no longer configured.
      if (auto ok = deps_.jobs.remove_notice(n.id); !ok) {
        spdlog::error("removing an obsolete notice failed: {}", ok.error().message);
      }
      continue;
    }
    chat::ChatMessage message{n.text, n.job.str(), {}};
    if (n.with_preview) {
      if (auto png = deps_.blobs.get(n.job, store::BlobKind::preview)) {
        message.preview_png = std::move(*png);
      }
    }
    if (auto ok = it->second->send(n.to, message); !ok) {
      ++notices_failed_;
      if (auto noted = deps_.jobs.note_notice_attempt(n.id); !noted) {
        spdlog::error("recording a notice attempt failed: {}", noted.error().message);
      }
      continue;
    }
    ++notices_sent_;
    spdlog::info("job {}: notice to {} sent after {} attempts", n.job.short_id(), n.to.key(),
                 n.attempts + 1);
    if (auto ok = deps_.jobs.remove_notice(n.id); !ok) {
      spdlog::error("removing a sent notice failed: {}", ok.error().message);
    }
  }
}

}  // namespace atdesk::engine
