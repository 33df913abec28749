// The soft modem of one call: SpanDSP's T.30 terminal on G.711 audio (fax_state_t) or on T.38
// IFP packets (t38_terminal_state_t). Everything here runs on the call's media thread: SpanDSP's
// callbacks (phase B/D/E, T.38 packets out) come back on the thread that feeds it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "atdesk/core/error.hpp"

namespace atdesk::fax_sip {

struct T30Config {
  bool calling = false;   // the caller (sender) or the answerer (receiver)
  bool transmit = false;  // send `file` or receive into it
  std::string file;       // TIFF to send, or TIFF to write (created at the first page)
  std::string ident;      // our TSI/CSI, up to 20 characters
  bool ecm = true;
};

// What the SDP negotiated for T.38 (ITU-T T.38 Annex D).
struct T38Config {
  bool local_tcf = false;    // T38FaxRateManagement localTCF (else transferredTCF)
  int max_bit_rate = 14400;  // below 12000 V.17 is left out of DIS/DCS
  int max_datagram = 0;      // the peer's T38FaxMaxDatagram (0: not given)
};

struct T30Outcome {
  bool finished = false;     // phase E reached
  int completion = 0;        // T30_ERR_*, 0 = OK
  std::string reason;        // SpanDSP's text for `completion`
  int pages = 0;             // confirmed pages (received and fsync'd, or sent and confirmed)
  std::string remote_ident;  // the peer's TSI (receiver) or CSI (sender)
  bool ecm = false;
  int bit_rate = 0;
  int bad_rows = 0;  // rows received damaged, all pages (only without ECM can there be any)
};

class FaxTerminal {
 public:
  // Called on each confirmed page with the count so far; returning false asks the call to end
  // (the sender's progress hook).
  using PageHook = std::function<bool(int pages)>;
  // T.38: an IFP packet to send `count` times (framed into UDPTL by the caller).
  using IfpSink = std::function<void(std::span<const std::uint8_t> ifp, int count)>;
  // The peer's TSI/CSI as soon as it arrived (phase B), so the receiver can record the sender
  // before the first page.
  using IdentHook = std::function<void(const std::string& remote_ident)>;

  static Result<std::unique_ptr<FaxTerminal>> audio(const T30Config& config, PageHook on_page);
  static Result<std::unique_ptr<FaxTerminal>> t38(const T30Config& config, PageHook on_page,
                                                  IfpSink send, const T38Config& t38 = {});
  ~FaxTerminal();
  FaxTerminal(const FaxTerminal&) = delete;
  FaxTerminal& operator=(const FaxTerminal&) = delete;

  bool is_t38() const;
  void set_ident_hook(IdentHook hook);
  // Audio: 8 kHz linear samples in, and out (always fills `out`).
  void receive_audio(std::span<const std::int16_t> in);
  // Audio: `samples` of time with nothing received (a lost packet, or silence suppressed by the
  // peer): the modem's timers run on.
  void receive_fillin(int samples);
  void transmit_audio(std::span<std::int16_t> out);
  // T.38: one received IFP packet, and the passage of `samples` of time (drives the timers and
  // the paced transmission).
  void receive_ifp(std::span<const std::uint8_t> ifp, std::uint16_t seq);
  void advance(int samples);

  // Ends T.30 (a hang-up): closes the TIFF being written. Safe to call twice.
  void terminate();
  const T30Outcome& outcome();
  bool stop_requested() const;

 private:
  struct State;
  explicit FaxTerminal(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace atdesk::fax_sip
