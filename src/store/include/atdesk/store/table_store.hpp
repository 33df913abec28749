// The TableStore port: what users edit (recipient table, mode tables, schedule), the audit log,
// and small per-user settings. Every write is committed when the call returns.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "atdesk/core/clock.hpp"
#include "atdesk/core/error.hpp"
#include "atdesk/core/mode_table.hpp"
#include "atdesk/core/recipient_table.hpp"
#include "atdesk/core/schedule.hpp"

namespace atdesk::store {

struct AuditEntry {
  std::int64_t id = 0;  // assigned by the store
  Timestamp at{};
  std::string actor;    // "api:admin", "user:alice", "chat:xmpp:bob@example.org"
  std::string action;   // "recipient.add", "mode_table.put", "job.release", "command.refused"
  std::string subject;  // what it acted on ("rule 12", "table weekday", job id)
  std::string detail;   // a sentence
};

class TableStore {
 public:
  virtual ~TableStore() = default;
  TableStore() = default;
  TableStore(const TableStore&) = delete;
  TableStore& operator=(const TableStore&) = delete;

  // Recipient rules in table order (position ascending).
  [[nodiscard]] virtual Result<std::vector<RecipientRule>> recipient_rules() = 0;
  // Appends a rule; returns it with its new id.
  [[nodiscard]] virtual Result<RecipientRule> add_recipient_rule(const RecipientRule& rule) = 0;
  // Replaces the rule with rule.id; Errc::not_found if absent.
  [[nodiscard]] virtual Result<void> update_recipient_rule(const RecipientRule& rule) = 0;
  [[nodiscard]] virtual Result<void> remove_recipient_rule(std::int64_t id) = 0;
  // Replaces the whole table (import); ids are reassigned in the given order.
  [[nodiscard]] virtual Result<std::vector<RecipientRule>> replace_recipient_rules(
      const std::vector<RecipientRule>& rules) = 0;

  [[nodiscard]] virtual Result<std::vector<ModeTable>> mode_tables() = 0;
  [[nodiscard]] virtual Result<void> put_mode_table(
      const ModeTable& table) = 0;  // insert or replace by name
  [[nodiscard]] virtual Result<void> remove_mode_table(const std::string& name) = 0;

  // The schedule; std::nullopt when none was ever stored.
  [[nodiscard]] virtual Result<std::optional<Schedule>> schedule() = 0;
  [[nodiscard]] virtual Result<void> put_schedule(const Schedule& schedule) = 0;

  [[nodiscard]] virtual Result<void> append_audit(const AuditEntry& entry) = 0;
  [[nodiscard]] virtual Result<std::vector<AuditEntry>> audit(std::size_t limit,
                                                              std::int64_t before_id = 0) = 0;

  // Small settings by namespace and key ("presence.local" / "alice" -> JSON text, ...).
  [[nodiscard]] virtual Result<std::optional<std::string>> get_setting(const std::string& ns,
                                                                       const std::string& key) = 0;
  [[nodiscard]] virtual Result<void> put_setting(const std::string& ns, const std::string& key,
                                                 const std::string& value) = 0;
  [[nodiscard]] virtual Result<std::vector<std::pair<std::string, std::string>>> settings(
      const std::string& ns) = 0;
};

}  // namespace atdesk::store
