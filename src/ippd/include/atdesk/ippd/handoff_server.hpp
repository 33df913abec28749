// atdeskd's side of the hand-off (handoff.hpp): a Unix socket in the state folder, mode 0600,
// that takes one document per connection from atdesk-ippd, submits it (Engine::submit in
// atdeskd: spooled encrypted, fsync'd, committed) and only then answers "stored"; or answers
// one identify request (a signed-in client, a personal queue's token). A peer whose uid
// (SO_PEERCRED) is not allowed is refused before anything is read.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/core/incoming.hpp"
#include "atdesk/ippd/handoff.hpp"

namespace atdesk::ippd {

class HandoffServer {
 public:
  struct Settings {
    std::filesystem::path socket_path;
    std::uint64_t max_document_bytes = 64ull << 20;
    // A peer that sends nothing for this long is dropped (a stuck atdesk-ippd must not block
    // the next document).
    std::chrono::milliseconds io_timeout{30000};
    // The uids that may hand documents over; empty: only atdeskd's own effective uid.
    std::vector<uid_t> allowed_uids;
  };
  struct Stats {
    int stored = 0;
    int refused = 0;         // bad header, document over the limit, submit failed
    int identified = 0;      // identify requests answered with a person
    int not_identified = 0;  // identify requests refused (wrong password, unknown token)
    int dropped = 0;         // peer not allowed, or it went away before the document was complete
  };

  // What atdeskd decides beyond storing: whether a document's owner is established (nullopt:
  // it is; otherwise whom it is held for and why), and who a signed-in client or a personal
  // queue's token is (the user name, or an error saying why not). Either may be empty: every
  // owner is then established, and every identify request refused.
  struct Hooks {
    std::function<std::optional<IncomingDocument::OwnerUnknown>(const HandoffHeader&)>
        owner_unknown;
    std::function<Result<std::string>(const IdentifyRequest&)> identify;
  };

  HandoffServer(Settings settings, SubmitFn submit, Hooks hooks = {});
  ~HandoffServer();
  HandoffServer(const HandoffServer&) = delete;
  HandoffServer& operator=(const HandoffServer&) = delete;

  // Replaces a stale socket file, binds, sets mode 0600, listens, and serves connections one at a
  // time on its own thread.
  [[nodiscard]] Result<void> start();
  void stop();

  // Serves one connected socket to the end (the thread calls this; tests may too, with one end
  // of a socketpair). Takes ownership of fd.
  void serve(int fd);

  Stats stats() const;

 private:
  Settings settings_;
  SubmitFn submit_;
  Hooks hooks_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable std::mutex stats_mutex_;
  Stats stats_;
};

}  // namespace atdesk::ippd
