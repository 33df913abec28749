// The watched inbox folder. A fax server or a script drops a document (NAME.tif, NAME.tiff or
// NAME.pdf) and then, as the "ready" marker, NAME.json:
//   {"sender": "...", "called": "...", "tsi": "...", "name": "...", "caller_name": "...",
//    "source": "inbox" | "hylafax", "incomplete": false, "error": "...",
//    "failed_reception": false}
// (all optional). A fax is never refused for its metadata: a sender that is withheld ("P",
// "anonymous", ...) or not a number, or a called number that is not one, leaves the sender unknown
// (the recipient table's `others` rule decides) and is noted in the job's history, as are the
// caller name and the fax server's error message. A marker with "failed_reception": true stands
// for a call that brought no page: it has no document and becomes a "fax.failed_reception" entry
// in the audit log. Each pair is submitted as a job, then moved to processed/ or, when refused, to
// rejected/ with NAME.reason.txt (and an "inbox.rejected" audit entry). Nothing is deleted;
// transient failures (disk, store) leave the pair in place for the next scan.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "atdesk/core/incoming.hpp"
#include "atdesk/core/sender.hpp"

namespace atdesk::fax {

class InboxWatcher {
 public:
  struct Settings {
    std::filesystem::path dir;
    std::chrono::milliseconds poll{1000};
    NumberPlan numbers;
    std::uint64_t max_file_bytes = 64ull << 20;
  };
  using Submit = SubmitFn;  // core/incoming.hpp: Engine::submit in atdeskd
  // Writes an audit log entry (action "fax.failed_reception" or "inbox.rejected"); a failure
  // leaves a failed-reception marker in place for the next scan.
  using Audit = std::function<Result<void>(const std::string& action, const std::string& subject,
                                           const std::string& detail)>;

  InboxWatcher(Settings settings, Submit submit, Audit audit = {});
  ~InboxWatcher();
  InboxWatcher(const InboxWatcher&) = delete;
  InboxWatcher& operator=(const InboxWatcher&) = delete;

  // Creates dir, dir/processed and dir/rejected, and scans every `poll` on its own thread.
  Result<void> start();
  void stop();

  struct ScanResult {
    int submitted = 0;
    int rejected = 0;
    int deferred = 0;           // transient failure: left for the next scan
    int failed_receptions = 0;  // calls without a page, written to the audit log
  };
  // One pass over the folder (the thread calls this; tests may too).
  ScanResult scan_once();

 private:
  enum class Outcome { submitted, rejected, deferred, failed_reception };
  Outcome handle(const std::filesystem::path& meta);

  Settings settings_;
  Submit submit_;
  Audit audit_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace atdesk::fax
