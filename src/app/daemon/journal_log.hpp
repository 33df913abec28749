// Logging to the systemd journal with fields when atdeskd runs under systemd: MESSAGE, PRIORITY,
// SYSLOG_IDENTIFIER=atdeskd and, for lines about a job, ATDESK_JOB_ID and ATDESK_RECIPIENT (from
// core/log_context.hpp), so `journalctl ATDESK_JOB_ID=3f2a9c1e` shows one job's story.
#pragma once

#include <memory>

#include <spdlog/sinks/sink.h>

namespace atdesk::app {

// True when stderr is the journal's stream (systemd sets JOURNAL_STREAM to its device:inode).
bool stderr_is_journal();

// A spdlog sink writing each line to the journal with the fields above.
std::shared_ptr<spdlog::sinks::sink> make_journal_sink();

}  // namespace atdesk::app
