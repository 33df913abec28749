// What a log line is about, for logs that keep fields apart from the text (the systemd journal:
// ATDESK_JOB_ID=, ATDESK_RECIPIENT=). The engine opens a LogScope while it works on one job; a
// log sink that understands fields reads current_log_context() on the same thread. Plain-text
// logs ignore it: their lines name the job in the text already.
#pragma once

#include <string>
#include <utility>

namespace atdesk {

struct LogContext {
  std::string job_id;      // the job's short id, as log lines print it
  std::string recipients;  // recipient keys, comma-separated ("user:teams:alice@example.org")
};

inline LogContext& current_log_context() {
  thread_local LogContext context;
  return context;
}

// Sets the calling thread's context for its lifetime and restores the previous one after.
class LogScope {
 public:
  LogScope(std::string job_id, std::string recipients)
      : saved_(std::exchange(current_log_context(),
                             LogContext{std::move(job_id), std::move(recipients)})) {}
  ~LogScope() { current_log_context() = std::move(saved_); }
  LogScope(const LogScope&) = delete;
  LogScope& operator=(const LogScope&) = delete;

 private:
  LogContext saved_;
};

}  // namespace atdesk
