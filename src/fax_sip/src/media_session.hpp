// The media of one fax call on its own thread: every 20 ms it reads what arrived on the call's
// UDP socket (RTP with G.711, or UDPTL with T.38), feeds the soft modem, and sends the next 20 ms
// of its output. A call's audio never waits for another call, for SIP or for the engine.
//
// G.711 goes through a 40-60 ms playout buffer ordered by RTP sequence number: every 20 ms the
// modem gets the next frame in order, SpanDSP's fill-in for a frame that a later one shows lost,
// and fill-in through silence a peer suppressed (VAD, comfort noise) once nothing came for 60 ms,
// so its T.30 timers keep running; packets swapped on the way are put back in order.
// Symmetric RTP (NAT): with `latch` on, the first valid packet from another address than the
// SDP's becomes where media is sent (once per SDP; a re-INVITE that moves media starts over,
// ignoring packets still arriving from the old address).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "atdesk/fax_sip/media_timing.hpp"
#include "fax_terminal.hpp"
#include "rtp.hpp"

namespace atdesk::fax_sip {

struct MediaStats {
  std::uint64_t packets_in = 0;
  std::uint64_t packets_out = 0;
  std::uint64_t malformed = 0;
  std::uint64_t recovered = 0;   // UDPTL packets recovered from redundancy
  std::uint64_t filled_in = 0;   // G.711 frames played as fill-in (lost, late or suppressed)
  std::uint64_t reordered = 0;   // G.711 packets that came after a later one and were put back
  std::uint64_t late = 0;        // packets dropped because their frame was played (or delivered)
  std::uint64_t ticks = 0;       // 20 ms ticks of the media thread
  std::uint64_t late_ticks = 0;  // ticks it woke for 10 ms or more late
  double cpu_seconds = 0;        // CPU time of the media thread
  double wall_seconds = 0;
};

// A G.711 playout buffer ordered by RTP sequence number (the unit test drives it directly).
class PlayoutBuffer {
 public:
  // `depth`: frames held before playing starts (and again after silence); `max_depth`: more
  // than this and it plays two frames at once to catch up; `grace`: ticks it may run dry
  // without fill-in (packets late, not lost).
  explicit PlayoutBuffer(std::size_t depth = 1, std::size_t max_depth = 0, int grace = 3)
      : depth_(depth), max_depth_(max_depth), grace_(grace) {}
  // A received frame; false when it came too late (already played or filled in) or twice.
  bool push(std::uint16_t seq, std::vector<std::int16_t> samples);
  // What to play for the next 20 ms: nothing (late packets: wait), one or two frames; an empty
  // frame means fill-in.
  std::vector<std::vector<std::int16_t>> pop();
  std::uint64_t reordered() const { return reordered_; }
  // Frames that came after their 20 ms had been played or filled in (push() refused them).
  std::uint64_t late() const { return late_; }

 private:
  void play_one(std::vector<std::vector<std::int16_t>>& out);

  std::size_t depth_;
  std::size_t max_depth_;
  int grace_;
  int dry_ = 0;  // ticks without a frame to play
  bool playing_ = false;
  bool started_ = false;
  std::int64_t next_ = 0;     // the (extended) sequence number to play next
  std::int64_t highest_ = 0;  // the highest one received
  std::uint64_t reordered_ = 0;
  std::uint64_t late_ = 0;
  std::map<std::int64_t, std::vector<std::int16_t>> frames_;  // by extended sequence number
};

class MediaSession {
 public:
  struct Settings {
    T30Config t30;
    bool t38 = false;      // start in T.38 (offer answered with m=image)
    int payload_type = 0;  // audio: 0 PCMU, 8 PCMA
    int ptime = 20;        // audio: milliseconds of audio per RTP packet sent (10 to 60)
    Endpoint remote;
    T38Config t38_config;  // when starting in T.38
    // Send to where the peer's packets come from (symmetric RTP behind NAT).
    bool latch = true;
    // No packet from the peer for this long ends the call.
    std::chrono::milliseconds silence_timeout{30000};
    int udptl_redundancy = 3;
    FaxTerminal::IdentHook on_remote_ident;  // on the media thread
    MediaTiming* timing = nullptr;           // counters of all calls (may be null)
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
  // Should a page have been confirmed in G.711 meanwhile, the T.38 terminal is not started (it
  // would write the fax file anew): the call ends with the pages it has.
  void switch_to_t38(UdpSocket socket, Endpoint remote, T38Config config);
  // A re-INVITE moved the peer's media (new c=/port), changed the codec (-1: keep) or the
  // direction; thread-safe, applied at the next frame.
  void update(Endpoint remote, int payload_type, bool send);
  // Ends the loop, terminates T.30 (closing the TIFF) and joins; thread-safe, idempotent.
  void stop();
  // After stop(): the fax's result and the media counters.
  const T30Outcome& outcome() const { return outcome_; }
  const MediaStats& stats() const { return stats_; }
  bool is_t38() const { return t38_active_.load(); }
  // Pages confirmed so far (any thread): a switch to T.38 after the first one would lose them.
  int confirmed_pages() const { return confirmed_pages_.load(); }
  // Where media goes now (any thread; after latching, the peer's real address).
  Endpoint remote() const;

 private:
  void run();
  Result<void> make_terminal(bool t38);
  void receive_all();
  void play_audio();
  void send_audio();
  void notify_finished();
  void apply_pending();

  UdpSocket socket_;
  Settings settings_;
  FaxTerminal::PageHook on_page_;
  Finished on_finished_;
  std::unique_ptr<FaxTerminal> terminal_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> t38_active_{false};
  std::atomic<int> confirmed_pages_{0};
  bool finished_notified_ = false;
  bool latched_ = false;
  std::optional<Endpoint> moved_from_;  // where a re-INVITE moved media away from
  bool sending_ = true;

  mutable std::mutex pending_mutex_;
  struct PendingSwitch {
    UdpSocket socket;
    Endpoint remote;
    T38Config config;
  };
  std::optional<PendingSwitch> pending_;
  struct PendingUpdate {
    Endpoint remote;
    int payload_type = -1;
    bool send = true;
  };
  std::optional<PendingUpdate> pending_update_;
  Endpoint current_remote_;  // a copy of settings_.remote for remote(), under pending_mutex_

  struct Codec;
  std::unique_ptr<Codec> codec_;
  // 40 ms before playing, more than 60 ms played two frames at a time, 60 ms late is silence.
  PlayoutBuffer playout_{2, 3, 3};
  std::vector<std::int16_t> outgoing_;  // audio produced, not yet sent (ptime > 20 ms)
  T30Outcome outcome_;
  MediaStats stats_;
  std::chrono::steady_clock::time_point last_packet_;
};

}  // namespace atdesk::fax_sip
