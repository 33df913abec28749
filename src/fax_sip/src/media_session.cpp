#include "media_session.hpp"

#include <pthread.h>
#include <time.h>

#include <spdlog/spdlog.h>

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

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

struct MediaSession::Codec {
  G711Ptr ulaw_in{g711_init(nullptr, G711_ULAW)};
  G711Ptr alaw_in{g711_init(nullptr, G711_ALAW)};
  G711Ptr out;
  RtpSender rtp;
  UdptlSender udptl;
  UdptlReceiver udptl_in;
  Codec(int payload_type, std::uint32_t ssrc, int redundancy)
      : out(g711_init(nullptr, payload_type == kPayloadPcma ? G711_ALAW : G711_ULAW)),
        rtp(payload_type, ssrc),
        udptl(redundancy) {}
};

MediaSession::MediaSession(UdpSocket socket, Settings settings, FaxTerminal::PageHook on_page,
                           Finished on_finished)
    : socket_(std::move(socket)),
      settings_(std::move(settings)),
      on_page_(std::move(on_page)),
      on_finished_(std::move(on_finished)) {}

MediaSession::~MediaSession() {
  stop();
}

Result<void> MediaSession::make_terminal(bool t38) {
  // The previous terminal (audio, before a re-INVITE to T.38) is ended first: it may hold the
  // TIFF open.
  terminal_.reset();
  auto term = t38 ? FaxTerminal::t38(settings_.t30, on_page_,
                                     [this](std::span<const std::uint8_t> ifp, int count) {
                                       for (int i = 0; i < std::max(count, 1); ++i) {
                                         const auto d = codec_->udptl.frame(ifp);
                                         socket_.send_to(d, settings_.remote);
                                         ++stats_.packets_out;
                                       }
                                     })
                  : FaxTerminal::audio(settings_.t30, on_page_);
  if (!term) return fail(term.error());
  terminal_ = std::move(*term);
  terminal_->set_ident_hook(settings_.on_remote_ident);
  t38_active_ = t38;
  return {};
}

Result<void> MediaSession::start() {
  std::random_device rd;
  codec_ = std::make_unique<Codec>(settings_.payload_type, rd(), settings_.udptl_redundancy);
  if (!codec_->ulaw_in || !codec_->alaw_in || !codec_->out) {
    return fail(Errc::internal, "SpanDSP: g711_init failed");
  }
  if (auto ok = make_terminal(settings_.t38); !ok) return ok;
  last_packet_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { run(); });
  return {};
}

void MediaSession::switch_to_t38(UdpSocket socket, Endpoint remote) {
  std::lock_guard lock(pending_mutex_);
  pending_ = PendingSwitch{std::move(socket), remote};
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

void MediaSession::receive_all() {
  Endpoint from;
  while (auto datagram = socket_.receive(&from)) {
    if (t38_active_) {
      auto packet = parse_udptl(*datagram);
      if (!packet) {
        ++stats_.malformed;
        continue;
      }
      ++stats_.packets_in;
      last_packet_ = std::chrono::steady_clock::now();
      for (const auto& ifp : codec_->udptl_in.receive(*packet)) {
        terminal_->receive_ifp(ifp.data, ifp.seq);
      }
    } else {
      auto packet = parse_rtp(*datagram);
      if (!packet ||
          (packet->payload_type != kPayloadPcmu && packet->payload_type != kPayloadPcma) ||
          packet->payload.size() > 1000) {
        ++stats_.malformed;  // also comfort noise, DTMF events: not fax audio
        continue;
      }
      ++stats_.packets_in;
      last_packet_ = std::chrono::steady_clock::now();
      std::int16_t pcm[1000];
      auto* law =
          packet->payload_type == kPayloadPcma ? codec_->alaw_in.get() : codec_->ulaw_in.get();
      const int n =
          g711_decode(law, pcm, packet->payload.data(), static_cast<int>(packet->payload.size()));
      terminal_->receive_audio({pcm, static_cast<std::size_t>(n)});
    }
  }
}

void MediaSession::run() {
  const double cpu_start = thread_cpu_seconds();
  const auto wall_start = std::chrono::steady_clock::now();
  auto next = wall_start;
  while (!stopping_) {
    {
      std::lock_guard lock(pending_mutex_);
      if (pending_) {
        socket_ = std::move(pending_->socket);
        settings_.remote = pending_->remote;
        pending_.reset();
        if (auto ok = make_terminal(true); !ok) {
          spdlog::error("fax call: cannot switch to T.38: {}", ok.error().message);
          notify_finished();
        }
        last_packet_ = std::chrono::steady_clock::now();
      }
    }
    if (terminal_) {
      receive_all();
      if (t38_active_) {
        terminal_->advance(kSamplesPerFrame);
      } else {
        std::int16_t pcm[kSamplesPerFrame];
        std::uint8_t law[kSamplesPerFrame];
        terminal_->transmit_audio(pcm);
        const int n = g711_encode(codec_->out.get(), law, pcm, kSamplesPerFrame);
        socket_.send_to(codec_->rtp.frame({law, static_cast<std::size_t>(n)}), settings_.remote);
        ++stats_.packets_out;
      }
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
  }
  if (terminal_) {
    terminal_->terminate();
    outcome_ = terminal_->outcome();
    terminal_.reset();
  }
  stats_.recovered = codec_ ? codec_->udptl_in.recovered() : 0;
  stats_.cpu_seconds = thread_cpu_seconds() - cpu_start;
  stats_.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
}

}  // namespace atdesk::fax_sip
