// Commands people send back in chat ("print", "print at <printer>", "delete <id>", "list",
// "hold", "resume", "help", and their Japanese forms). Obeyed only from a recipient of the job;
// every refusal is audited. Replies are in the writer's language (language_for()).
#include <spdlog/spdlog.h>
#include <algorithm>

#include "engine_impl.hpp"

namespace atdesk::engine {
namespace {

std::string sender_key(const chat::ChatCommand& c) {
  return Recipient{RecipientKind::user, c.service, c.from}.key();
}

std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 80)) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  return out;
}

}  // namespace

bool Engine::Impl::is_recipient(const Job& job, const chat::ChatCommand& c) const {
  return std::any_of(job.recipients.begin(), job.recipients.end(), [&](const Recipient& r) {
    if (r.service != c.service) return false;
    if (r.kind == RecipientKind::user) return r.address == c.from;
    return c.channel && *c.channel == r.address;
  });
}

bool Engine::Impl::hold_flag(const std::string& recipient_key) {
  auto v = deps_.tables.get_setting("hold", recipient_key);
  return v.value_or(std::nullopt).value_or("0") == "1";
}

Result<void> Engine::Impl::set_hold_flag(const std::string& recipient_key, bool on) {
  return deps_.tables.put_setting("hold", recipient_key, on ? "1" : "0");
}

void Engine::Impl::reply(const chat::ChatCommand& c, const std::string& text) {
  auto it = deps_.chat_services.find(c.service);
  if (it == deps_.chat_services.end()) return;
  const Recipient to = c.channel ? Recipient{RecipientKind::channel, c.service, *c.channel}
                                 : Recipient{RecipientKind::user, c.service, c.from};
  chat::ChatMessage m;
  m.text = text;
  if (auto ok = it->second->send(to, m); !ok) {
    spdlog::warn("reply to {} failed: {}", to.key(), ok.error().message);
  }
}

void Engine::Impl::on_command(const chat::ChatCommand& c) {
  const std::string actor = "chat:" + c.service + ":" + c.from;
  // Replies are in the language of the person who wrote, also in a channel.
  const Language lang = language_for(Recipient{RecipientKind::user, c.service, c.from}, c.language);
  auto say = [&](MessageKey key, std::initializer_list<MessageArg> args = {}) {
    reply(c, message(lang, key, args));
  };
  auto request = parse_command(c.text, lang);
  if (!request) {
    const auto in_english = parse_command(c.text, Language::en);  // for the audit log
    audit(actor, "command.refused", "",
          "'" + printable(c.text) +
              "': " + (in_english ? request.error().message : in_english.error().message));
    say(MessageKey::reply_not_understood,
        {{"error", request.error().message}, {"help", command_help(lang)}});
    return;
  }
  // `why` is in the person's language; the audit log gets the English text.
  auto refuse = [&](const std::string& subject, MessageKey why,
                    std::initializer_list<MessageArg> args) {
    audit(actor, "command.refused", subject,
          "'" + printable(c.text) + "': " + message(Language::en, why, args));
    say(MessageKey::reply_sorry, {{"error", message(lang, why, args)}});
  };
  auto held_for_sender = [&] {
    store::JobFilter f;
    f.states = {JobState::held};
    f.oldest_first = true;
    f.limit = 1'000'000;
    std::vector<Job> mine;
    for (auto& j : deps_.jobs.list(f).value_or(std::vector<Job>{})) {
      if (is_recipient(j, c)) mine.push_back(std::move(j));
    }
    return mine;
  };
  auto find_own = [&](const std::string& id) -> std::optional<Job> {
    auto job = deps_.jobs.find(id);
    // The same answer for "no such job" and "not yours": ids of other people's jobs stay hidden.
    if (!job || !is_recipient(*job, c)) {
      refuse(id, MessageKey::reply_no_such_job, {{"id", id}});
      return std::nullopt;
    }
    return *job;
  };

  const ChatCommandRequest& command = *request;
  switch (command.kind) {
    case CommandKind::help:
      reply(c, command_help(lang));
      return;
    case CommandKind::list: {
      auto mine = held_for_sender();
      if (mine.empty()) return say(MessageKey::reply_nothing_held);
      std::string text =
          message(lang, MessageKey::reply_list_header, {{"count", std::to_string(mine.size())}});
      for (const auto& j : mine) {
        text += "\n" + message(lang, MessageKey::reply_list_line,
                               {{"id", std::string(j.id.short_id())},
                                {"subject", subject_text(j, lang, true)},
                                {"pages", pages_text(lang, j.pages)},
                                {"received", local_time(j.received_at, lang)}});
      }
      return reply(c, text);
    }
    case CommandKind::hold:
    case CommandKind::resume: {
      const bool on = command.kind == CommandKind::hold;
      if (auto ok = set_hold_flag(sender_key(c), on); !ok) {
        return say(MessageKey::reply_failed, {{"error", ok.error().message}});
      }
      audit(actor, on ? "user.hold" : "user.resume", sender_key(c),
            on ? "hold everything" : "resume");
      if (on) return say(MessageKey::reply_hold_on);
      say(MessageKey::reply_hold_off);
      recheck_held("resumed by " + c.from);
      return;
    }
    case CommandKind::remove: {
      if (!command.job_id) return refuse("", MessageKey::reply_delete_which, {});
      auto job = find_own(*command.job_id);
      if (!job) return;
      auto done = remove(*job, actor);
      if (!done) return say(MessageKey::reply_sorry, {{"error", done.error().message}});
      return say(MessageKey::reply_deleted, {{"id", std::string(done->id.short_id())}});
    }
    case CommandKind::print: {
      if (command.printer && !printer(*command.printer)) {
        std::string names;
        for (const auto& [name, p] : deps_.printers) names += (names.empty() ? "" : ", ") + name;
        return refuse(*command.printer, MessageKey::reply_no_such_printer,
                      {{"printer", *command.printer}, {"printers", names}});
      }
      std::vector<Job> targets;
      if (command.job_id) {
        auto job = find_own(*command.job_id);
        if (!job) return;
        targets.push_back(std::move(*job));
      } else {
        targets = held_for_sender();
        if (targets.empty()) return say(MessageKey::reply_nothing_held);
      }
      std::string text;
      std::vector<JobId> batch;
      for (auto& job : targets) {
        auto released =
            release(job, command.printer, actor, "released by " + c.from + " in chat", &batch);
        if (!text.empty()) text += '\n';
        if (released) {
          text += message(
              lang, MessageKey::reply_printing,
              {{"id", std::string(released->id.short_id())}, {"printer", released->printer}});
        } else {
          text += message(
              lang, MessageKey::reply_job_error,
              {{"id", std::string(job.id.short_id())}, {"error", released.error().message}});
        }
      }
      print_in_order(std::move(batch));
      return reply(c, text);
    }
  }
}

}  // namespace atdesk::engine
