// What atdesk tells people in chat: "received and held" (S1610), "printed" (S1615), and the
// delivery of those messages to every recipient of a job, each in the recipient's language
// (texts from the message catalogues, core/messages.hpp).
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <chrono>

#include "atdesk/core/reason.hpp"
#include "engine_impl.hpp"

namespace atdesk::engine {

std::string Engine::Impl::local_time(Timestamp t, Language language) const {
  const auto local = deps_.time_zone.to_local(t);
  const auto day = std::chrono::floor<std::chrono::days>(local);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{std::chrono::floor<std::chrono::seconds>(local - day)};
  return date_time_text(language, static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                        static_cast<unsigned>(ymd.day()), hms.hours().count(),
                        hms.minutes().count());
}

// "Fax from +81..." or, for a job printed to atdesk-ippd, "Print job "report.pdf" from alice"
// (" at 192.0.2.7" when atdesk-ippd knew the computer's address, docs/printing.md);
// `inline_form` for the middle of a sentence ("Printed: fax from ...").
std::string subject_text(const Job& job, Language language, bool inline_form) {
  if (job.source == JobSource::ipp) {
    std::string sender = job.sender.display();
    if (!job.sender.ip.empty() && job.sender.ip != sender) {
      sender += message(language, MessageKey::from_address, {{"address", job.sender.ip}});
    }
    return message(language,
                   inline_form ? MessageKey::subject_print_inline : MessageKey::subject_print,
                   {{"name", job.document_name}, {"sender", sender}});
  }
  return message(language, inline_form ? MessageKey::subject_fax_inline : MessageKey::subject_fax,
                 {{"sender", job.sender.display()}});
}

// The page count, and for a print job the stored format: "1 page, PDF", or ", raster" for PWG,
// Apple, JPEG and PNG, kept as TIFF.
std::string pages_and_format(const Job& job, Language language) {
  std::string text = pages_text(language, job.pages);
  if (job.source == JobSource::ipp) {
    text += message(language, job.format == DocumentFormat::pdf ? MessageKey::format_pdf
                                                                : MessageKey::format_raster);
  }
  return text;
}

std::string job_label(const Job& job, Language language) {
  return message(language, MessageKey::job_name, {{"id", std::string(job.id.short_id())}});
}

std::string Engine::Impl::held_text(const Job& job, Language language) const {
  return message(language, MessageKey::notice_held,
                 {{"subject", subject_text(job, language, false)},
                  {"pages", pages_and_format(job, language)},
                  {"incomplete", job.incomplete ? message(language, MessageKey::incomplete_suffix)
                                                : std::string()},
                  {"received", local_time(job.received_at, language)},
                  {"why", localize_reason(job.reason, language)},
                  {"id", std::string(job.id.short_id())}});
}

std::string Engine::Impl::printed_text(const Job& job, Language language) const {
  return message(language, MessageKey::notice_printed,
                 {{"subject", subject_text(job, language, true)},
                  {"pages", pages_and_format(job, language)},
                  {"received", local_time(job.received_at, language)},
                  {"printer", job.printer},
                  {"id", std::string(job.id.short_id())}});
}

Language Engine::Impl::language_for(const Recipient& to, std::string_view said) {
  // 1. What the chat service says: the language of the message being answered, else the
  // language it knows for the user.
  if (auto l = parse_language(said)) return *l;
  if (to.kind == RecipientKind::user) {
    if (auto it = deps_.chat_services.find(to.service); it != deps_.chat_services.end()) {
      if (auto l = parse_language(it->second->language(to.address))) return *l;
    }
  }
  // 2. The language of the recipient's rule (the first that has one), 3. the server's default
  // ([general] language).
  if (const auto table = recipient_table()) {
    for (const auto& rule : table->rules()) {
      if (rule.recipient == to && rule.language) return *rule.language;
    }
  }
  return settings_.language;
}

void Engine::Impl::notify(const Job& job, const Render& render, bool with_preview) {
  const LogScope scope = log_scope(job);
  chat::ChatMessage message;
  message.job_id = job.id.str();
  if (with_preview) {
    if (auto png = deps_.blobs.get(job.id, store::BlobKind::preview)) {
      message.preview_png = std::move(*png);
    }
  }
  std::map<Language, std::string> texts;  // each language rendered once
  for (const auto& r : job.recipients) {
    auto it = deps_.chat_services.find(r.service);
    if (it == deps_.chat_services.end()) {
      spdlog::warn("job {}: cannot notify {}: chat service '{}' is not configured",
                   job.id.short_id(), r.key(), r.service);
      continue;
    }
    const Language language = language_for(r);
    auto text = texts.find(language);
    if (text == texts.end()) text = texts.emplace(language, render(language)).first;
    message.text = text->second;
    if (auto ok = it->second->send(r, message); ok) {
      ++notices_sent_;
      continue;
    } else {
      ++notices_failed_;
      spdlog::warn("job {}: notifying {} failed: {}; it is sent again later", job.id.short_id(),
                   r.key(), ok.error().message);
    }
    queue_unsent(store::QueuedNotice{0, job.id, job.state, r, message.text, with_preview, 1,
                                     deps_.clock.now()});
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
