// Sending a fax over SIP with the same stack as the receiver (for operators checking a line end
// to end, and as the T.30 peer of the tests): INVITE with G.711, optionally a re-INVITE to T.38,
// SpanDSP's T.30 transmitter, BYE when the fax is done.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "atdesk/core/error.hpp"

namespace atdesk::fax_sip {

struct SendSettings {
  std::string to;                           // "sip:4930123456@192.0.2.10:5060"
  std::string from = "sip:atdesk@invalid";  // From (the caller ID the receiver sees)
  std::string asserted_identity;            // P-Asserted-Identity URI, if any
  std::string local_address = "127.0.0.1";  // SIP and media address of this side
  // Digest credentials, used when the receiver challenges the INVITE (401/407); the password
  // comes from a file (atdesk fax send --password-file) and is never logged.
  std::string user;
  std::string password;
  std::filesystem::path file;    // TIFF to send
  std::string ident = "atdesk";  // our TSI (up to 20 characters)
  bool ecm = true;
  bool t38 = false;  // re-INVITE to T.38 once answered
  std::chrono::seconds max_call{1800};
  // After each page the receiver confirmed: return false to hang up (an operator's cancel).
  std::function<bool(int pages)> on_page;
};

struct SendReport {
  bool completed = false;    // T.30 ended normally
  int pages = 0;             // pages the receiver confirmed
  std::string reason;        // SpanDSP's phase E text, or the SIP failure
  std::string remote_ident;  // the receiver's CSI
  bool t38 = false;
  bool ecm = false;
  int bit_rate = 0;
  double cpu_seconds = 0;   // CPU of the media thread
  double call_seconds = 0;  // media time
  // Timing of the media thread: packets from the receiver that came after their frame was
  // played, and 20 ms ticks (of `ticks`) it woke for 10 ms or more late (this side falling
  // behind).
  std::uint64_t late_packets = 0;
  std::uint64_t ticks = 0;
  std::uint64_t late_ticks = 0;
};

// Places the call and blocks until it ends. Errors: the file cannot be read, the URI is wrong,
// the call was refused (the SIP status is in the message). A fax that fails after the call was
// answered is a report with completed == false.
Result<SendReport> send_fax(const SendSettings& settings);

}  // namespace atdesk::fax_sip
