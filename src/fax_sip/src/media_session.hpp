// The media of one fax call on its own thread: every 20 ms it reads what arrived on the call's
// UDP socket (RTP with G.711, or UDPTL with T.38), feeds the soft modem, and sends the next 20 ms
// of its output. A call's audio never waits for another call, for SIP or for the engine.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "fax_terminal.hpp"
#include "rtp.hpp"

namespace atdesk::fax_sip {

struct MediaStats {
  std::uint64_t packets_in = 0;
  std::uint64_t packets_out = 0;
  std::uint64_t malformed = 0;
  std::uint64_t recovered = 0;  // UDPTL packets recovered from redundancy
  double cpu_seconds = 0;       // CPU time of the media thread
  double wall_seconds = 0;
};

class MediaSession {
 public:
  struct Settings {
    T30Config t30;
    bool t38 = false;      // start in T.38 (offer answered with m=image)
    int payload_type = 0;  // audio: 0 PCMU, 8 PCMA
    Endpoint remote;
    // No packet from the peer for this long ends the call.
    std::chrono::milliseconds silence_timeout{30000};
    int udptl_redundancy = 3;
    FaxTerminal::IdentHook on_remote_ident;  // on the media thread
  };
  // Called once, on the media thread, when the fax has ended (phase E), when the page hook asked
  // to stop, or when the peer went silent; the owner then hangs up and calls stop().
  using Finished = std::function<void()>;

  MediaSession(UdpSocket socket, Settings settings, FaxTerminal::PageHook on_page,
               Finished on_finished);
  ~MediaSession();
  MediaSession(const MediaSession&) = delete;
  MediaSession& operator=(const MediaSession&) = delete;

  Result<void> start();
  // Switches to T.38 over `socket` to `remote` at the next frame (re-INVITE done); thread-safe.
  void switch_to_t38(UdpSocket socket, Endpoint remote);
  // Ends the loop, terminates T.30 (closing the TIFF) and joins; thread-safe, idempotent.
  void stop();
  // After stop(): the fax's result and the media counters.
  const T30Outcome& outcome() const { return outcome_; }
  const MediaStats& stats() const { return stats_; }
  bool is_t38() const { return t38_active_.load(); }

 private:
  void run();
  Result<void> make_terminal(bool t38);
  void receive_all();
  void notify_finished();

  UdpSocket socket_;
  Settings settings_;
  FaxTerminal::PageHook on_page_;
  Finished on_finished_;
  std::unique_ptr<FaxTerminal> terminal_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> t38_active_{false};
  bool finished_notified_ = false;

  std::mutex pending_mutex_;
  struct PendingSwitch {
    UdpSocket socket;
    Endpoint remote;
  };
  std::optional<PendingSwitch> pending_;

  struct Codec;
  std::unique_ptr<Codec> codec_;
  T30Outcome outcome_;
  MediaStats stats_;
  std::chrono::steady_clock::time_point last_packet_;
};

}  // namespace atdesk::fax_sip
