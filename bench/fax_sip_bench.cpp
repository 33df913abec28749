// CPU of the SIP fax soft modem per second of call: a 1-page fax (fine, ECM) between SpanDSP's
// T.30 sender and receiver back to back, as G.711 (each 20 ms frame mu-law encoded, framed as
// RTP, parsed and decoded, as on the wire) and as T.38 (IFP packets framed as UDPTL with
// redundancy and parsed). No sockets and no clock: the run is as fast as the CPU allows, and the
// counters give CPU ms per call-second of one side and how many calls one core keeps in real time.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>

#include <spandsp.h>
#include <tiffio.h>

#include "atdesk/testing/sample_fax.hpp"
#include "fax_terminal.hpp"
#include "rtp.hpp"
#include "udptl.hpp"

namespace {

using namespace atdesk::fax_sip;
namespace fs = std::filesystem;

struct Files {
  fs::path dir = fs::temp_directory_path() / ("atdesk-fax-bench-" + std::to_string(::getpid()));
  std::string sent = (dir / "sent.tif").string();
  std::string received = (dir / "received.tif").string();
  Files() {
    fs::create_directories(dir);
    const auto data = atdesk::testing::sample_fax(1, COMPRESSION_CCITTFAX4, 1728, 2200);
    std::ofstream out(sent, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
  }
  ~Files() { fs::remove_all(dir); }
};

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Both sides ran in this process: one side's CPU per call-second is half of the total, and one
// core keeps 1000 / that many calls in real time (modem and framing only; the sockets and the
// 20 ms wake-ups of a real call add about 1-2 ms per call-second, see docs/sip.md).
void report(benchmark::State& state, double call_seconds, double cpu_start) {
  const double cpu_ms = (cpu_seconds() - cpu_start) * 1000;
  const double per_side = cpu_ms / (2 * call_seconds);
  state.counters["call_s"] = call_seconds / static_cast<double>(state.iterations());
  state.counters["cpu_ms_per_call_s"] = per_side;
  state.counters["calls_per_core"] = 1000 / per_side;
}

// One direction of G.711 on the wire: encode, RTP frame, parse, decode.
struct Wire {
  g711_state_t* enc = g711_init(nullptr, G711_ULAW);
  g711_state_t* dec = g711_init(nullptr, G711_ULAW);
  RtpSender rtp{kPayloadPcmu, 1};
  ~Wire() {
    g711_free(enc);
    g711_free(dec);
  }
  void carry(const std::int16_t* in, std::int16_t* out) {
    std::uint8_t law[kSamplesPerFrame];
    g711_encode(enc, law, in, kSamplesPerFrame);
    const auto packet = rtp.frame({law, kSamplesPerFrame});
    auto p = parse_rtp(packet);
    g711_decode(dec, out, p->payload.data(), static_cast<int>(p->payload.size()));
  }
};

void BM_G711Fax(benchmark::State& state) {
  Files files;
  double call_seconds = 0;
  const double cpu_start = cpu_seconds();
  for (auto _ : state) {
    auto tx = FaxTerminal::audio(T30Config{true, true, files.sent, "bench tx", true}, nullptr);
    auto rx =
        FaxTerminal::audio(T30Config{false, false, files.received, "bench rx", true}, nullptr);
    Wire forward, back;
    std::int16_t a[kSamplesPerFrame], b[kSamplesPerFrame], a2[kSamplesPerFrame],
        b2[kSamplesPerFrame];
    int frames = 0;
    for (; frames < 50 * 600; ++frames) {
      (*tx)->transmit_audio(a);
      (*rx)->transmit_audio(b);
      forward.carry(a, a2);
      back.carry(b, b2);
      (*rx)->receive_audio(a2);
      (*tx)->receive_audio(b2);
      if ((*tx)->outcome().finished && (*rx)->outcome().finished) break;
    }
    (*rx)->terminate();
    if ((*rx)->outcome().pages != 1) state.SkipWithError("the fax did not arrive");
    call_seconds += frames / 50.0;
  }
  report(state, call_seconds, cpu_start);
}
BENCHMARK(BM_G711Fax)->Unit(benchmark::kMillisecond);

void BM_T38Fax(benchmark::State& state) {
  Files files;
  double call_seconds = 0;
  const double cpu_start = cpu_seconds();
  for (auto _ : state) {
    UdptlSender fwd_tx(3), back_tx(3);
    UdptlReceiver fwd_rx, back_rx;
    std::vector<std::vector<std::uint8_t>> to_rx, to_tx;
    auto tx = FaxTerminal::t38(
        T30Config{true, true, files.sent, "bench tx", true}, nullptr,
        [&](std::span<const std::uint8_t> ifp, int) { to_rx.push_back(fwd_tx.frame(ifp)); });
    auto rx = FaxTerminal::t38(
        T30Config{false, false, files.received, "bench rx", true}, nullptr,
        [&](std::span<const std::uint8_t> ifp, int) { to_tx.push_back(back_tx.frame(ifp)); });
    auto deliver = [](auto& queue, UdptlReceiver& r, FaxTerminal& t) {
      for (const auto& d : queue) {
        for (const auto& ifp : r.receive(*parse_udptl(d))) t.receive_ifp(ifp.data, ifp.seq);
      }
      queue.clear();
    };
    int frames = 0;
    for (; frames < 50 * 600; ++frames) {
      (*tx)->advance(kSamplesPerFrame);
      (*rx)->advance(kSamplesPerFrame);
      deliver(to_rx, fwd_rx, **rx);
      deliver(to_tx, back_rx, **tx);
      if ((*tx)->outcome().finished && (*rx)->outcome().finished) break;
    }
    (*rx)->terminate();
    if ((*rx)->outcome().pages != 1) state.SkipWithError("the fax did not arrive");
    call_seconds += frames / 50.0;
  }
  report(state, call_seconds, cpu_start);
}
BENCHMARK(BM_T38Fax)->Unit(benchmark::kMillisecond);

}  // namespace
