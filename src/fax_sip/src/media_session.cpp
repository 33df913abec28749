#include "media_session.hpp"

#include <pthread.h>
#include <time.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include <spandsp.h>
#include <tiffio.h>

#include "udptl.hpp"

namespace atdesk::fax_sip {
namespace {

constexpr auto kFrame = std::chrono::milliseconds(20);

struct G711Deleter {
  void operator()(g711_state_t* s) const { g711_free(s); }
};
using G711Ptr = std::unique_ptr<g711_state_t, G711Deleter>;

bool same_endpoint(const Endpoint& a, const Endpoint& b) {
  return a.len == b.len && a.host() == b.host() && a.port() == b.port();
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

bool PlayoutBuffer::push(std::uint16_t seq, std::vector<std::int16_t> samples) {
  if (!started_) {
    started_ = true;
    next_ = seq;
    highest_ = seq;
  }
  const auto diff = static_cast<std::int16_t>(seq - static_cast<std::uint16_t>(next_));
  if (diff < 0) {
    ++late_;  // already played or filled in
    return false;
  }
  const std::int64_t ext = next_ + diff;
  if (diff > 500) {
    // A jump of ten seconds or more: the peer restarted its stream (new source, a re-INVITE).
    frames_.clear();
    playing_ = false;
    next_ = ext;
    highest_ = ext;
  }
  if (frames_.contains(ext)) return false;
  if (ext < highest_) ++reordered_;
  highest_ = std::max(highest_, ext);
  frames_.emplace(ext, std::move(samples));
  return true;
}

void PlayoutBuffer::play_one(std::vector<std::vector<std::int16_t>>& out) {
  auto first = frames_.begin();
  // Up to a second lost is filled in (the modem's timers see the time pass); a longer gap is
  // skipped.
  if (first->first - next_ > 50) next_ = first->first;
  if (first->first == next_) {
    out.push_back(std::move(first->second));
    frames_.erase(first);
  } else {
    out.emplace_back();  // lost (a later one is here): fill in its 20 ms
  }
  ++next_;
}

std::vector<std::vector<std::int16_t>> PlayoutBuffer::pop() {
  std::vector<std::vector<std::int16_t>> out;
  if (frames_.empty()) {
    // Dry. A short wait (the peer's or our thread late, under load) plays nothing: filling it
    // in would put a hole into a modem signal that is only late. Longer is silence the peer
    // suppressed (or a loss at the end of a burst): fill-in keeps the T.30 timers running, and
    // once packets come again the 40 ms are built up first. The sequence does not advance: a
    // peer that stops sending during silence goes on with the next number.
    if (++dry_ > grace_) {
      out.emplace_back();
      playing_ = false;
    }
    return out;
  }
  dry_ = 0;
  if (!playing_) {
    if (frames_.size() < depth_) {
      out.emplace_back();
      return out;
    }
    playing_ = true;
  }
  play_one(out);
  while (frames_.size() > max_depth_) play_one(out);  // catch up
  return out;
}

struct MediaSession::Codec {
  G711Ptr ulaw_in{g711_init(nullptr, G711_ULAW)};
  G711Ptr alaw_in{g711_init(nullptr, G711_ALAW)};
  G711Ptr ulaw_out{g711_init(nullptr, G711_ULAW)};
  G711Ptr alaw_out{g711_init(nullptr, G711_ALAW)};
  int payload_type;
  RtpSender rtp;
  UdptlSender udptl;
  UdptlReceiver udptl_in;
  Codec(int pt, std::uint32_t ssrc, std::uint16_t seq, std::uint32_t timestamp, int redundancy,
        int max_datagram)
      : payload_type(pt), rtp(pt, ssrc, seq, timestamp), udptl(redundancy, max_datagram) {}
  g711_state_t* out() const {
    return payload_type == kPayloadPcma ? alaw_out.get() : ulaw_out.get();
  }
};

MediaSession::MediaSession(UdpSocket socket, Settings settings, FaxTerminal::PageHook on_page,
                           Finished on_finished)
    : socket_(std::move(socket)),
      settings_(std::move(settings)),
      on_page_(std::move(on_page)),
      on_finished_(std::move(on_finished)),
      current_remote_(settings_.remote) {}

MediaSession::~MediaSession() {
  stop();
}

Result<void> MediaSession::make_terminal(bool t38) {
  // The previous terminal (audio, before a re-INVITE to T.38) is ended first: it may hold the
  // TIFF open.
  terminal_.reset();
  auto term = t38 ? FaxTerminal::t38(
                        settings_.t30, on_page_,
                        [this](std::span<const std::uint8_t> ifp, int count) {
                          for (int i = 0; i < std::max(count, 1); ++i) {
                            const auto d = codec_->udptl.frame(ifp);
                            socket_.send_to(d, settings_.remote);
                            ++stats_.packets_out;
                          }
                        },
                        settings_.t38_config)
                  : FaxTerminal::audio(settings_.t30, on_page_);
  if (!term) return fail(term.error());
  terminal_ = std::move(*term);
  terminal_->set_ident_hook(settings_.on_remote_ident);
  t38_active_ = t38;
  return {};
}

Result<void> MediaSession::start() {
  std::random_device rd;
  codec_ =
      std::make_unique<Codec>(settings_.payload_type, rd(), static_cast<std::uint16_t>(rd()), rd(),
                              settings_.udptl_redundancy, settings_.t38_config.max_datagram);
  if (!codec_->ulaw_in || !codec_->alaw_in || !codec_->ulaw_out || !codec_->alaw_out) {
    return fail(Errc::internal, "SpanDSP: g711_init failed");
  }
  settings_.ptime = std::clamp(settings_.ptime, 10, 60);
  if (auto ok = make_terminal(settings_.t38); !ok) return ok;
  last_packet_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { run(); });
  return {};
}

void MediaSession::switch_to_t38(UdpSocket socket, Endpoint remote, T38Config config) {
  std::lock_guard lock(pending_mutex_);
  pending_ = PendingSwitch{std::move(socket), remote, config};
}

void MediaSession::update(Endpoint remote, int payload_type, bool send) {
  std::lock_guard lock(pending_mutex_);
  pending_update_ = PendingUpdate{remote, payload_type, send};
}

Endpoint MediaSession::remote() const {
  std::lock_guard lock(pending_mutex_);
  return current_remote_;
}

void MediaSession::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void MediaSession::notify_finished() {
  if (finished_notified_) return;
  finished_notified_ = true;
  if (on_finished_) on_finished_();
}

void MediaSession::apply_pending() {
  std::lock_guard lock(pending_mutex_);
  if (pending_update_) {
    if (!same_endpoint(pending_update_->remote, settings_.remote)) {
      spdlog::info("fax call: media moves to {}", pending_update_->remote.describe());
      moved_from_ = settings_.remote;
      settings_.remote = pending_update_->remote;
      latched_ = false;
    }
    if (pending_update_->payload_type >= 0 && !t38_active_) {
      codec_->payload_type = pending_update_->payload_type;
      codec_->rtp.set_payload_type(pending_update_->payload_type);
    }
    sending_ = pending_update_->send;
    pending_update_.reset();
  }
  if (pending_) {
    if (confirmed_pages_ > 0) {
      // A page was confirmed in G.711 since the re-INVITE was accepted: a T.38 terminal would
      // start the fax file anew. End the call with the pages received.
      spdlog::warn(
          "fax call: switch to T.38 after {} page(s) received in G.711: ending the call "
          "with them",
          confirmed_pages_.load());
      pending_.reset();
      notify_finished();
    } else {
      socket_ = std::move(pending_->socket);
      settings_.remote = pending_->remote;
      settings_.t38_config = pending_->config;
      codec_->udptl = UdptlSender(settings_.udptl_redundancy, pending_->config.max_datagram);
      pending_.reset();
      latched_ = false;
      moved_from_.reset();
      sending_ = true;
      if (auto ok = make_terminal(true); !ok) {
        spdlog::error("fax call: cannot switch to T.38: {}", ok.error().message);
        notify_finished();
      }
      last_packet_ = std::chrono::steady_clock::now();
    }
  }
  current_remote_ = settings_.remote;
}

void MediaSession::receive_all() {
  Endpoint from;
  while (auto datagram = socket_.receive(&from)) {
    bool valid = false;
    if (t38_active_) {
      auto packet = parse_udptl(*datagram);
      if (!packet) {
        ++stats_.malformed;
        continue;
      }
      valid = true;
      const auto late = codec_->udptl_in.late();
      for (const auto& ifp : codec_->udptl_in.receive(*packet)) {
        terminal_->receive_ifp(ifp.data, ifp.seq);
      }
      if (codec_->udptl_in.late() != late && settings_.timing) {
        settings_.timing->late_udptl.fetch_add(1, std::memory_order_relaxed);
      }
    } else {
      auto packet = parse_rtp(*datagram);
      if (!packet ||
          (packet->payload_type != kPayloadPcmu && packet->payload_type != kPayloadPcma) ||
          packet->payload.size() > 1000) {
        ++stats_.malformed;  // also comfort noise, DTMF events: not fax audio
        continue;
      }
      valid = true;
      std::vector<std::int16_t> pcm(packet->payload.size());
      auto* law =
          packet->payload_type == kPayloadPcma ? codec_->alaw_in.get() : codec_->ulaw_in.get();
      const int n =
          g711_decode(law, pcm.data(), packet->payload.data(), static_cast<int>(pcm.size()));
      pcm.resize(static_cast<std::size_t>(std::max(n, 0)));
      const auto late = playout_.late();
      (void)playout_.push(packet->seq, std::move(pcm));  // false: late or twice, dropped
      if (playout_.late() != late && settings_.timing) {
        settings_.timing->late_rtp.fetch_add(1, std::memory_order_relaxed);
      }
    }
    ++stats_.packets_in;
    last_packet_ = std::chrono::steady_clock::now();
    // Packets still coming from where media was before a re-INVITE moved it (in flight, or a
    // leg being torn down) must not pull it back.
    const bool from_old_path = moved_from_ && same_endpoint(from, *moved_from_);
    if (valid && settings_.latch && !latched_ && !from_old_path) {
      latched_ = true;
      if (!same_endpoint(from, settings_.remote)) {
        spdlog::info("fax call: media from {} instead of {} (NAT): sending there", from.describe(),
                     settings_.remote.describe());
        settings_.remote = from;
        std::lock_guard lock(pending_mutex_);
        current_remote_ = from;
      }
    }
  }
}

void MediaSession::play_audio() {
  for (const auto& frame : playout_.pop()) {
    if (frame.empty()) {
      terminal_->receive_fillin(kSamplesPerFrame);
      ++stats_.filled_in;
    } else {
      terminal_->receive_audio(frame);
    }
  }
}

void MediaSession::send_audio() {
  std::int16_t pcm[kSamplesPerFrame];
  terminal_->transmit_audio(pcm);
  if (!sending_) return;
  outgoing_.insert(outgoing_.end(), pcm, pcm + kSamplesPerFrame);
  const auto per_packet = static_cast<std::size_t>(settings_.ptime * 8);
  while (outgoing_.size() >= per_packet) {
    std::vector<std::uint8_t> law(per_packet);
    const int n =
        g711_encode(codec_->out(), law.data(), outgoing_.data(), static_cast<int>(per_packet));
    law.resize(static_cast<std::size_t>(std::max(n, 0)));
    socket_.send_to(codec_->rtp.frame(law), settings_.remote);
    ++stats_.packets_out;
    outgoing_.erase(outgoing_.begin(), outgoing_.begin() + static_cast<long>(per_packet));
  }
}

void MediaSession::run() {
  const double cpu_start = thread_cpu_seconds();
  const auto wall_start = std::chrono::steady_clock::now();
  auto next = wall_start;
  while (!stopping_) {
    apply_pending();
    if (terminal_) {
      receive_all();
      if (t38_active_) {
        terminal_->advance(kSamplesPerFrame);
      } else {
        play_audio();
        send_audio();
      }
      confirmed_pages_ = terminal_->outcome().pages;
      if (terminal_->outcome().finished || terminal_->stop_requested()) notify_finished();
      if (std::chrono::steady_clock::now() - last_packet_ > settings_.silence_timeout) {
        spdlog::warn("fax call: no media from {} for {} ms", settings_.remote.describe(),
                     settings_.silence_timeout.count());
        notify_finished();
      }
    }
    next += kFrame;
    const auto now = std::chrono::steady_clock::now();
    if (now - next > 10 * kFrame) next = now;  // fell far behind (suspended): do not burst
    std::this_thread::sleep_until(next);
    // How late this thread woke for its tick: the machine keeping up with the calls, or not.
    const auto late = std::chrono::steady_clock::now() - next;
    ++stats_.ticks;
    if (late >= kFrame / 2) ++stats_.late_ticks;
    if (settings_.timing) settings_.timing->observe_wake(late);
  }
  if (terminal_) {
    terminal_->terminate();
    outcome_ = terminal_->outcome();
    terminal_.reset();
  }
  stats_.recovered = codec_ ? codec_->udptl_in.recovered() : 0;
  stats_.reordered = playout_.reordered();
  stats_.late = playout_.late() + (codec_ ? codec_->udptl_in.late() : 0);
  stats_.cpu_seconds = thread_cpu_seconds() - cpu_start;
  stats_.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
}

}  // namespace atdesk::fax_sip
