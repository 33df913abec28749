// Receiving faxes over SIP: a SIP user agent that answers INVITEs from allowed peers with G.711
// (PCMU/PCMA over RTP) or T.38 (UDPTL), runs SpanDSP's T.30 receiver on each call, writes the
// pages to a per-call TIFF (fsync'd before each page is confirmed with MCF), and at the end of the
// call hands the document to the sink: the sender from the TSI and the SIP identity
// (P-Asserted-Identity, else From), the called number from the request URI (else To).
// A call that drops after at least one page is handed over as incomplete; one without pages is
// a failed reception. start() first hands over what a crash left in spool_dir (the same way:
// calls with pages as incomplete jobs, the rest as failed receptions). docs/sip.md explains the
// settings.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/core/incoming.hpp"
#include "atdesk/core/sender.hpp"
#include "atdesk/fax_sip/media_timing.hpp"

namespace atdesk::fax_sip {

// Which identity fills Sender::fax (the number the recipient table matches).
enum class NumberSource { caller_id, tsi };

// An entry of allowed_peers: an IPv4/IPv6 address, or a CIDR range "192.0.2.0/24".
bool is_address_range(const std::string& range);
// Whether `ip` (textual IPv4/IPv6) is the address or inside the range `range`.
bool address_in_range(const std::string& ip, const std::string& range);

class SipFaxReceiver {
 public:
  struct Settings {
    std::string listen_address = "127.0.0.1";  // SIP address (UDP and TCP)
    int port = 5060;                           // SIP port
    std::string media_address;                 // RTP/UDPTL address bound; default listen_address
    // The address put in the SDP (c=, o=) when it is not the bound one (behind NAT: the public
    // address the router forwards to media_address); default media_address.
    std::string advertised_address;
    // RTP/UDPTL ports: from media_port_min to media_port_max (both 0: any the system gives).
    int media_port_min = 0;
    int media_port_max = 0;
    // IP addresses or CIDR ranges ("192.0.2.0/24", "2001:db8::/32") allowed to call; empty:
    // none, or any address when digest authentication is on. With both, a call must come from a
    // listed address and authenticate.
    std::vector<std::string> allowed_peers;
    // Digest authentication of INVITEs (RFC 3261 §22, 401 challenge): on when auth_username is
    // set. The password is given here (read from a file by the caller), never logged.
    std::string auth_username;
    std::string auth_password;
    std::string auth_realm = "atdesk";
    std::string local_ident = "atdesk";  // our CSI (up to 20 characters)
    bool ecm = true;
    bool t38 = true;  // accept T.38 (offers and re-INVITEs)
    // Switch answered audio calls to T.38 ourselves (with t38): the answering side starts T.38
    // by convention (Asterisk's SendFAX, ATAs and trunks wait for it), t38_reinvite_delay after
    // the call is answered (the CED tone, as Asterisk's ReceiveFAX does). A 491 is retried after
    // a random 0-2 s (RFC 3261 §14.1), any other refusal keeps the call on G.711.
    bool t38_reinvite = true;
    std::chrono::milliseconds t38_reinvite_delay{3000};
    // Per-call TIFFs and call records while a call is in progress (made 0700).
    std::filesystem::path spool_dir;
    NumberPlan numbers;
    NumberSource number_from = NumberSource::caller_id;
    std::chrono::milliseconds silence_timeout{30000};
    std::chrono::seconds max_call{1800};
    // Session timers (RFC 4028): the session interval asked for and the smallest accepted from a
    // peer (Min-SE; a shorter Session-Expires gets 422). atdesk refreshes when the peer does not
    // support timers or asks it to, by UPDATE (or a re-INVITE offering the running media where
    // the peer does not allow UPDATE), and hangs up (BYE) a session the peer let expire. The
    // configuration allows no less than 90 s, RFC 4028's minimum; tests set seconds here.
    std::chrono::seconds session_expires{1800};
    std::chrono::seconds session_min_se{90};
    // Timing counters every call's media thread adds to (GET /metrics); may be null. Outlives
    // the receiver.
    MediaTiming* media_timing = nullptr;
    // Registration with a trunk or PBX (empty registrar: none). Its address must be among
    // allowed_peers for the calls it routes here to be taken.
    std::string registrar;  // "sip:pbx.example.org" or "sip:192.0.2.1:5060"
    std::string user;       // the account (address-of-record user part, Contact user)
    std::string auth_user;  // digest user name; empty: `user`
    std::string password;   // digest password
    std::chrono::seconds register_expires{300};
    // OPTIONS to the registrar this often keep a NAT binding open (UDP bindings of common
    // routers expire after 30 s).
    std::chrono::milliseconds register_keepalive{25000};
  };
  // The end of one call with pages: the document for the engine. An error keeps the call's TIFF
  // in spool_dir (nothing received is deleted) and is logged. Called on a thread of its own per
  // call, so possibly for several calls at once (Engine::submit may be called from any thread).
  using Sink = std::function<Result<void>(IncomingDocument)>;

  // A summary of each finished call, for logs, tests and metrics.
  struct CallReport {
    std::string peer_ip;
    std::string called;
    int pages = 0;
    bool completed = false;  // T.30 ended normally
    std::string reason;      // SpanDSP's phase E text, or why the call was refused
    bool t38 = false;
    bool ecm = false;
    int bad_rows = 0;  // damaged rows received (without ECM); recorded on the job
    double cpu_seconds = 0;
    double call_seconds = 0;
    std::uint64_t late_packets = 0;  // RTP/UDPTL packets that came after their frame was played
    std::uint64_t late_ticks = 0;    // 20 ms ticks the media thread woke 10 ms or more late
  };
  using Observer = std::function<void(const CallReport&)>;

  // A call that ended without a page (or that a crash left without a complete page), for the
  // audit log. Called on a call's own thread, or in start().
  struct FailedReception {
    std::string caller_id;
    std::string sip_uri;
    std::string peer_ip;
    std::string called;
    std::string tsi;
    std::string started;  // UTC, "2024-05-01T10:00:00Z"
    std::string reason;
  };
  using FailureSink = std::function<void(const FailedReception&)>;

  SipFaxReceiver(Settings settings, Sink sink, Observer observer = {}, FailureSink failed = {});
  ~SipFaxReceiver();
  SipFaxReceiver(const SipFaxReceiver&) = delete;
  SipFaxReceiver& operator=(const SipFaxReceiver&) = delete;

  // Creates spool_dir (0700), hands over the calls a crash left there (their files are removed
  // once the sink took them; kept when it did not), and listens; Errc::io naming the folder or
  // the address when it cannot.
  Result<void> start();
  // Hangs up calls in progress (their pages are kept and handed over) and stops listening.
  void stop();
  // Whether this receiver registers with the registrar (default: yes). With several nodes on
  // one account only one registers (the holder of atdeskd's lease "sip-registration"); false
  // sends the un-REGISTER of this node's binding, true registers again. Calls are answered
  // either way. Any thread, before or after start(); never blocks (the change is done on the
  // user agent's thread).
  void set_registering(bool registering);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atdesk::fax_sip
