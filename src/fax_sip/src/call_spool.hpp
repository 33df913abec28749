// The files of a call in progress in the SIP spool folder, and what is left of them after a crash.
// Each call has <stem>.tif (the pages, written and fsync'd by SpanDSP before each MCF) and
// <stem>.json, the call record: who called (written at call setup, before the answer), the TSI
// once the remote fax sent it, and "completed" once T.30 ended normally. Both are replaced
// atomically and fsync'd, so at start-up every leftover call can be handed over with its sender.
// The folder is 0700: the pages are plaintext on disk only while the call lasts.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "atdesk/core/error.hpp"

namespace atdesk::fax_sip {

struct CallRecord {
  std::string caller_id;
  std::string sip_uri;
  std::string peer_ip;
  std::string called;
  std::string tsi;         // empty until phase B
  std::string started;     // UTC, "2024-05-01T10:00:00Z"
  bool completed = false;  // T.30 ended normally (set before the hand-over)
};

// Creates `dir` (and its parents) and makes it 0700; Errc::io naming the folder when it cannot.
Result<void> make_private_dir(const std::filesystem::path& dir);

// The call record's file for a call's TIFF: "x.tif" -> "x.json".
std::filesystem::path record_path(const std::filesystem::path& tiff);

// Writes the record next to the TIFF (temporary file, fsync, rename, fsync of the folder).
Result<void> write_call_record(const std::filesystem::path& file, const CallRecord& record);
// Errc::corrupt naming the file when it is not a call record.
Result<CallRecord> read_call_record(const std::filesystem::path& file);

// The complete pages of a TIFF a crash may have cut short: counts the directories that read and
// decode in full, in order, and when the chain goes on past them (a page whose directory was
// being written) ends the chain after the last complete page, in place. Returns the number of
// complete pages: 0 when the file is missing, empty or has no readable page.
int keep_complete_pages(const std::filesystem::path& tiff);

// A call left in the spool folder: its TIFF (may not exist: no page had started) and record (may
// not exist: a file from before call records).
struct LeftoverCall {
  std::filesystem::path tiff;
  std::filesystem::path record;
};
// Every leftover call in `dir`, oldest name first; removes stray temporary files.
std::vector<LeftoverCall> leftover_calls(const std::filesystem::path& dir);

// Removes the call's files and makes the removal durable.
void remove_call_files(const LeftoverCall& call);

}  // namespace atdesk::fax_sip
