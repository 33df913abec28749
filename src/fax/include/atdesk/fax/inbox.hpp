// The watched inbox folder. A fax server or a script drops a document (NAME.tif, NAME.tiff or
// NAME.pdf) and then, as the "ready" marker, NAME.json: {"sender": "...", "called": "...",
// "tsi": "...", "name": "..."} (all optional: without a sender, a number in the TSI is the
// sender, else the sender is unknown and the recipient table's `others` rule applies). Each pair is
// submitted as a job, then moved to processed/ or, when refused, to rejected/ with NAME.reason.txt.
// Nothing is deleted; transient failures (disk, store) leave the pair in place for the next scan.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "atdesk/core/sender.hpp"
#include "atdesk/engine/engine.hpp"

namespace atdesk::fax {

class InboxWatcher {
 public:
  struct Settings {
    std::filesystem::path dir;
    std::chrono::milliseconds poll{1000};
    NumberPlan numbers;
    std::uint64_t max_file_bytes = 64ull << 20;
  };
  using Submit = std::function<Result<Job>(engine::IncomingDocument)>;

  InboxWatcher(Settings settings, Submit submit);
  ~InboxWatcher();
  InboxWatcher(const InboxWatcher&) = delete;
  InboxWatcher& operator=(const InboxWatcher&) = delete;

  // Creates dir, dir/processed and dir/rejected, and scans every `poll` on its own thread.
  Result<void> start();
  void stop();

  struct ScanResult {
    int submitted = 0;
    int rejected = 0;
    int deferred = 0;  // transient failure: left for the next scan
  };
  // One pass over the folder (the thread calls this; tests may too).
  ScanResult scan_once();

 private:
  enum class Outcome { submitted, rejected, deferred };
  Outcome handle(const std::filesystem::path& meta);

  Settings settings_;
  Submit submit_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace atdesk::fax
