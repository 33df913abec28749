// The SIP fax receiver called by scripted peers that behave as Asterisk, FreeSWITCH and an ATA
// do, over real sockets on loopback and in real time, with SpanDSP's T.30 transmitter as the far
// fax terminal. Each peer is a raw UDP SIP user agent (the messages of RFC 3261 §8 and §12 made
// by hand) whose SDP bodies follow the peer's source, named at each body. Scenarios: a caller
// that never re-INVITEs (atdesk must switch to T.38 itself, after CED), 491 then a retry, crossing
// re-INVITEs (glare), a refusal (488) that keeps G.711, media moved by a re-INVITE (an SBC
// re-anchoring), PCMA offered first ("8 0 101"), RTP from another source than c= (NAT), silence
// suppression and reordering, an INVITE without SDP, session refreshes by UPDATE and a bodiless
// re-INVITE, a T.38 answer at 9600 with localTCF and a maximum datagram of 238, and a switch to
// T.38 asked for after page 1 (refused: the page is kept, the fax goes on in G.711). Also session
// timers (RFC 4028) on a long fax with shortened intervals, and the registration keepalive at a
// scripted registrar.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "atdesk/fax_sip/receiver.hpp"
#include "atdesk/testing/process_harness.hpp"
#include "atdesk/testing/sample_fax.hpp"
#include "media_session.hpp"
#include "received.hpp"
#include "sdp.hpp"
#include "tiff_pages.hpp"

namespace atdesk::fax_sip {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- SDP bodies of real peers ------------------------------------------------------------------
// Each takes the address and port to put in.

// Asterisk (chan_pjsip) calling with G.711: res_pjsip_session.c writes "s=Asterisk" and
// "o=- <id> <version>"; res_pjsip_sdp_rtp.c create_outgoing_sdp_stream lists the allow= codecs
// in order (allow=ulaw,alaw), telephone-event 101 with fmtp 0-16, ptime, maxptime:150, sendrecv.
std::string asterisk_audio(int port, int version = 1) {
  return "v=0\r\no=- 1563913493 " + std::to_string(version) +
         " IN IP4 127.0.0.1\r\ns=Asterisk\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio " +
         std::to_string(port) +
         " RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
         "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
         "a=maxptime:150\r\na=sendrecv\r\n";
}

// Asterisk's T.38 (res_pjsip_t38.c create_outgoing_sdp_stream: media-level c=, T38FaxVersion,
// T38MaxBitRate, T38FaxRateManagement, T38FaxMaxDatagram, T38FaxUdpEC; t38_reinvite_sdp_cb
// keeps only the image stream).
std::string asterisk_t38(int port, int version = 2) {
  return "v=0\r\no=- 1563913493 " + std::to_string(version) +
         " IN IP4 127.0.0.1\r\ns=Asterisk\r\nt=0 0\r\nm=image " + std::to_string(port) +
         " udptl t38\r\nc=IN IP4 127.0.0.1\r\na=T38FaxVersion:0\r\na=T38MaxBitRate:14400\r\n"
         "a=T38FaxRateManagement:transferredTCF\r\na=T38FaxMaxDatagram:400\r\n"
         "a=T38FaxUdpEC:t38UDPRedundancy\r\n";
}

// FreeSWITCH with the codec string "PCMA,PCMU" (switch_core_media_gen_local_sdp: "o=FreeSWITCH",
// "s=FreeSWITCH", codecs in the codec string's order, telephone-event 101).
std::string freeswitch_audio(int port, int version = 1) {
  return "v=0\r\no=FreeSWITCH 1700000000 " + std::to_string(1700000000 + version) +
         " IN IP4 127.0.0.1\r\ns=FreeSWITCH\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " +
         std::to_string(port) +
         " RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
         "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n";
}

// FreeSWITCH's T.38 (sofia_glue.c / switch_core_media.c, set_image_sdp): bare "\n" line ends,
// T38FaxMaxBuffer, T38FaxMaxDatagram, T38FaxUdpEC and T38VendorInfo.
std::string freeswitch_t38(int port, int version = 3) {
  return "v=0\no=FreeSWITCH 1700000000 " + std::to_string(1700000000 + version) +
         " IN IP4 127.0.0.1\ns=FreeSWITCH\nc=IN IP4 127.0.0.1\nt=0 0\nm=image " +
         std::to_string(port) +
         " udptl t38\na=T38FaxVersion:0\na=T38MaxBitRate:14400\n"
         "a=T38FaxRateManagement:transferredTCF\na=T38FaxMaxBuffer:2000\n"
         "a=T38FaxMaxDatagram:400\na=T38FaxUdpEC:t38UDPRedundancy\na=T38VendorInfo:0 0 0\n";
}

// An ATA: G.711 with PCMU only, and T.38 at 9600 bit/s with local TCF and a maximum datagram
// of 238 (ITU-T T.38 Annex D.2.3 attributes, lower-case names as some ATAs write them).
std::string ata_audio(int port, int version = 1) {
  return "v=0\r\no=AudiocodesGW 1 " + std::to_string(version) +
         " IN IP4 127.0.0.1\r\ns=Phone-Call\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " +
         std::to_string(port) + " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n";
}
std::string ata_t38(int port, int version = 2) {
  return "v=0\r\no=AudiocodesGW 1 " + std::to_string(version) +
         " IN IP4 127.0.0.1\r\ns=Phone-Call\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=image " +
         std::to_string(port) +
         " udptl t38\r\na=t38faxversion:0\r\na=t38maxbitrate:9600\r\n"
         "a=t38faxratemanagement:localTCF\r\na=t38faxmaxbuffer:1024\r\n"
         "a=t38faxmaxdatagram:238\r\na=t38faxudpec:t38UDPRedundancy\r\n";
}

using Body = std::function<std::string(int port, int version)>;

// ---- A UDP socket on loopback ------------------------------------------------------------------
class Udp {
 public:
  Udp() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Udp() { ::close(fd_); }
  Udp(const Udp&) = delete;
  Udp& operator=(const Udp&) = delete;
  int port() const { return port_; }
  int fd() const { return fd_; }
  void send(int to_port, const void* data, std::size_t size) const {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(to_port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)::sendto(fd_, data, size, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  void send(int to_port, const std::string& text) const { send(to_port, text.data(), text.size()); }
  // One datagram within `wait`, with the sender's port; nullopt when none.
  std::optional<std::vector<unsigned char>> receive(std::chrono::milliseconds wait,
                                                    int* from_port = nullptr) const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return std::nullopt;
    std::vector<unsigned char> buf(4096);
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const auto n =
        ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<std::size_t>(n));
    if (from_port) *from_port = ntohs(from.sin_port);
    return buf;
  }

 private:
  int fd_;
  int port_ = 0;
};

// ---- A media relay: an SBC between the peer's fax terminal and atdesk
// ---------------------------- The peer's terminal talks to `inner`; atdesk talks to outer[0] or,
// once moved, outer[1]. Datagrams atdesk sends to the outer socket not in use are dropped. From the
// terminal towards atdesk it can drop a stretch of packets (silence suppression: one comfort-noise
// packet, payload type 13, RFC 3389, then nothing) and swap every 50th with the next (2 %
// reordering).
class Relay {
 public:
  Relay() {
    thread_ = std::thread([this] { run(); });
  }
  ~Relay() {
    stop_ = true;
    thread_.join();
  }
  int inner_port() const { return inner_.port(); }
  int outer_port(int i) const { return outer_[i].port(); }
  void set_atdesk(int port) { atdesk_port_ = port; }
  void use_outer(int i) { active_ = i; }
  void suppress(Clock::time_point from, Clock::time_point until) {
    std::lock_guard lock(mutex_);
    silence_from_ = from;
    silence_until_ = until;
  }
  void reorder_every(int n) { reorder_every_ = n; }
  int dropped_inactive() const { return dropped_inactive_; }
  int from_atdesk(int i) const { return from_atdesk_[i]; }
  int suppressed() const { return suppressed_; }
  int swapped() const { return swapped_; }

 private:
  void run() {
    std::vector<unsigned char> held;
    long count = 0;
    while (!stop_) {
      pollfd p[3] = {
          {inner_.fd(), POLLIN, 0}, {outer_[0].fd(), POLLIN, 0}, {outer_[1].fd(), POLLIN, 0}};
      if (::poll(p, 3, 20) <= 0) continue;
      if (p[0].revents & POLLIN) {
        int from = 0;
        auto d = inner_.receive(0ms, &from);
        if (d) {
          terminal_port_ = from;
          const int a = active_;
          const int to = atdesk_port_;
          bool silent = false;
          {
            std::lock_guard lock(mutex_);
            const auto now = Clock::now();
            silent = now >= silence_from_ && now < silence_until_;
          }
          if (to == 0) {
            // atdesk's port not known yet
          } else if (silent) {
            if (suppressed_++ == 0 && d->size() >= 12) {
              unsigned char cn[13];
              std::memcpy(cn, d->data(), 12);
              cn[1] = 13;   // comfort noise
              cn[12] = 64;  // -64 dBov
              outer_[a].send(to, cn, sizeof cn);
            }
          } else if (!held.empty()) {
            outer_[a].send(to, d->data(), d->size());
            outer_[a].send(to, held.data(), held.size());
            held.clear();
            ++swapped_;
          } else if (reorder_every_ > 0 && ++count % reorder_every_ == 0) {
            held = std::move(*d);
          } else {
            outer_[a].send(to, d->data(), d->size());
          }
        }
      }
      for (int i = 0; i < 2; ++i) {
        if (!(p[1 + i].revents & POLLIN)) continue;
        auto d = outer_[i].receive(0ms);
        if (!d) continue;
        ++from_atdesk_[i];
        if (i != active_) {
          ++dropped_inactive_;
        } else if (terminal_port_ != 0) {
          inner_.send(terminal_port_, d->data(), d->size());
        }
      }
    }
  }

  Udp inner_;
  Udp outer_[2];
  std::atomic<int> atdesk_port_{0};
  std::atomic<int> active_{0};
  std::atomic<int> terminal_port_{0};
  std::atomic<int> reorder_every_{0};
  std::atomic<int> dropped_inactive_{0};
  std::atomic<int> from_atdesk_[2] = {0, 0};
  std::atomic<int> suppressed_{0};
  std::atomic<int> swapped_{0};
  std::mutex mutex_;
  Clock::time_point silence_from_{};
  Clock::time_point silence_until_{};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// ---- SIP message helpers -----------------------------------------------------------------------
struct SipMessage {
  std::string start;  // request line or status line
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  int status() const { return start.starts_with("SIP/2.0 ") ? std::atoi(start.c_str() + 8) : 0; }
  std::string method() const { return status() ? "" : start.substr(0, start.find(' ')); }
  std::string header(const std::string& name) const {
    for (const auto& [n, v] : headers) {
      if (strcasecmp(n.c_str(), name.c_str()) == 0) return v;
    }
    return {};
  }
  std::vector<std::string> all(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& [n, v] : headers) {
      if (strcasecmp(n.c_str(), name.c_str()) == 0) out.push_back(v);
    }
    return out;
  }
  std::string cseq_method() const {
    const auto c = header("CSeq");
    return c.substr(c.find(' ') + 1);
  }
  int cseq() const { return std::atoi(header("CSeq").c_str()); }
};

std::optional<SipMessage> parse_sip(const std::vector<unsigned char>& d) {
  const std::string text(d.begin(), d.end());
  const auto end = text.find("\r\n\r\n");
  if (end == std::string::npos) return std::nullopt;
  SipMessage m;
  std::size_t pos = 0;
  bool first = true;
  while (pos < end) {
    auto eol = text.find("\r\n", pos);
    const auto line = text.substr(pos, eol - pos);
    pos = eol + 2;
    if (first) {
      m.start = line;
      first = false;
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    static const std::map<std::string, std::string> compact = {
        {"v", "Via"},     {"f", "From"},           {"t", "To"},          {"i", "Call-ID"},
        {"m", "Contact"}, {"l", "Content-Length"}, {"c", "Content-Type"}};
    auto name = line.substr(0, colon);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    if (auto it = compact.find(name); it != compact.end()) name = it->second;
    m.headers.emplace_back(name, value);
  }
  m.body = text.substr(end + 4);
  return m;
}

// The URI inside a Contact/To value: "<sip:x@h:p;transport=udp>" -> "sip:x@h:p;transport=udp".
std::string uri_of(const std::string& value) {
  const auto lt = value.find('<');
  if (lt == std::string::npos) return value.substr(0, value.find(';'));
  return value.substr(lt + 1, value.find('>') - lt - 1);
}

// ---- The scripted peer
// ---------------------------------------------------------------------------
struct Script {
  std::string called;
  Body invite_body;         // null: an INVITE without SDP (the answer goes in the ACK)
  Body ack_answer;          // with an offerless INVITE: the answer in the ACK
  Body t38_answer;          // the 200 to atdesk's T.38 re-INVITE; null: refuse_status
  int refuse_status = 488;  // answer to atdesk's T.38 re-INVITE when t38_answer is null
  bool first_491 = false;   // 491 to atdesk's first re-INVITE, then as above
  bool glare = false;       // on atdesk's re-INVITE, send our own T.38 re-INVITE first
  Body own_t38_offer;       // the peer's own T.38 re-INVITE (glare, late switch, insist)
  std::chrono::milliseconds own_t38_at{0};  // >0: the peer re-INVITEs to T.38 itself then
  bool own_t38_after_page_1 = false;
  bool relay = false;                    // media through a Relay
  bool nat = false;                      // SDP names a port nobody sends from (relay)
  std::chrono::milliseconds move_at{0};  // >0: re-INVITE moving media (relay) then
  bool vad_and_reorder = false;          // relay: 4 s suppressed after 1.5 s, 2 % reordered
  bool refresh = false;                  // UPDATE at 1 s, bodiless re-INVITE at 2 s
  int pages = 1;
  std::string file;
  // Session timers (RFC 4028).
  std::string invite_headers;  // Supported, Allow, Session-Expires, Min-SE
  bool timer_support = false;  // 2xx to atdesk's refreshes name the timer
  int min_se_422 = 0;  // >0: our Min-SE; a shorter Session-Expires gets 422 (RFC 4028 §8.1)
  std::chrono::milliseconds peer_refresh_every{0};  // >0: our UPDATE refreshes this often
  std::string peer_refresh_headers;                 // their Session-Expires
};

struct PeerResult {
  bool answered = false;
  std::string answer_sdp;              // atdesk's answer (or offer, when offerless)
  std::vector<std::string> reinvites;  // bodies of atdesk's re-INVITEs
  std::vector<Clock::time_point> reinvite_times;
  std::vector<int> statuses_to_ours;  // final statuses atdesk gave our in-dialog requests
  std::vector<std::string> bodies_to_ours;
  std::string answer_session_expires;                // in atdesk's 200 to the INVITE
  std::vector<std::string> refreshes;                // atdesk's refreshes: "UPDATE" or "INVITE"
  std::vector<std::string> refresh_bodies;           // ... their bodies
  std::vector<std::string> refresh_session_expires;  // ... their Session-Expires
  std::vector<Clock::time_point> refresh_times;
  int peer_refreshes_answered_200 = 0;
  int refreshes_refused_422 = 0;  // our UPDATEs that atdesk answered 200
  bool atdesk_hung_up = false;
  Clock::duration atdesk_bye_after{};  // from atdesk's 200 to its BYE
  bool t38 = false;
  T30Outcome fax;
  int relay_dropped_inactive = 0;
  int relay_from_atdesk_new = 0;  // datagrams atdesk sent to the address media moved to
  int relay_suppressed = 0;
  int relay_swapped = 0;
  std::string error;
};

class Peer {
 public:
  Peer(Script script, int atdesk_port) : s_(std::move(script)), atdesk_port_(atdesk_port) {
    std::random_device rd;
    tag_ = std::to_string(rd());
    call_id_ = std::to_string(rd()) + "@peer-" + s_.called;
  }

  PeerResult run(std::chrono::seconds limit) {
    const auto deadline = Clock::now() + limit;
    start_ = Clock::now();
    if (s_.relay) relay_ = std::make_unique<Relay>();
    if (s_.vad_and_reorder) {
      relay_->suppress(start_ + 1500ms, start_ + 5500ms);
      relay_->reorder_every(50);
    }
    auto media_socket = UdpSocket::bind("127.0.0.1", 0);
    if (!media_socket) return failed("media socket: " + media_socket.error().message);
    media_port_ = media_socket->port();
    sdp_port_ = s_.nat ? dead_.port() : s_.relay ? relay_->outer_port(0) : media_port_;
    media_socket_ = std::move(*media_socket);
    send_invite();
    while (Clock::now() < deadline && !done_) {
      if (auto d = sip_.receive(20ms)) {
        if (auto m = parse_sip(*d)) on_message(*m);
      }
      timed_actions();
    }
    if (media_) {
      media_->stop();
      result_.fax = media_->outcome();
      result_.t38 = media_->is_t38();
    }
    if (relay_) {
      result_.relay_dropped_inactive = relay_->dropped_inactive();
      result_.relay_from_atdesk_new = relay_->from_atdesk(1);
      result_.relay_suppressed = relay_->suppressed();
      result_.relay_swapped = relay_->swapped();
    }
    if (!done_ && result_.error.empty()) result_.error = "the call did not end in time";
    return result_;
  }

 private:
  PeerResult failed(const std::string& why) {
    result_.error = why;
    return result_;
  }
  int ms_since_start() const {
    return static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_).count());
  }

  std::string via(const std::string& branch) const {
    return "Via: SIP/2.0/UDP 127.0.0.1:" + std::to_string(sip_.port()) + ";branch=z9hG4bK" +
           branch + ";rport\r\n";
  }
  std::string request(const std::string& method, const std::string& uri, int cseq,
                      const std::string& branch, const std::string& body,
                      const std::string& cseq_method = "", const std::string& extra = "") const {
    std::string r = method + " " + uri + " SIP/2.0\r\n" + via(branch) + extra;
    r += "Max-Forwards: 70\r\n";
    r += "From: <sip:+4930555" + s_.called + "@127.0.0.1>;tag=" + tag_ + "\r\n";
    r += "To: " + (to_.empty() ? "<sip:" + s_.called + "@127.0.0.1>" : to_) + "\r\n";
    r += "Call-ID: " + call_id_ + "\r\n";
    r += "CSeq: " + std::to_string(cseq) + " " + (cseq_method.empty() ? method : cseq_method) +
         "\r\n";
    r += "Contact: <sip:peer@127.0.0.1:" + std::to_string(sip_.port()) + ">\r\n";
    if (!body.empty()) r += "Content-Type: application/sdp\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    return r;
  }
  std::string response(const SipMessage& req, int status, const std::string& phrase,
                       const std::string& body = "", const std::string& extra = "") const {
    std::string r = "SIP/2.0 " + std::to_string(status) + " " + phrase + "\r\n" + extra;
    for (const auto& v : req.all("Via")) r += "Via: " + v + "\r\n";
    r += "From: " + req.header("From") + "\r\nTo: " + req.header("To") + "\r\n";
    r += "Call-ID: " + req.header("Call-ID") + "\r\nCSeq: " + req.header("CSeq") + "\r\n";
    r += "Contact: <sip:peer@127.0.0.1:" + std::to_string(sip_.port()) + ">\r\n";
    if (!body.empty()) r += "Content-Type: application/sdp\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    return r;
  }
  void send_sip(const std::string& text) { sip_.send(atdesk_port_, text); }

  std::string invite_uri() const {
    return "sip:" + s_.called + "@127.0.0.1:" + std::to_string(atdesk_port_);
  }
  void send_invite() {
    invite_cseq_ = ++cseq_;
    invite_branch_ = "inv" + tag_;
    const std::string body = s_.invite_body ? s_.invite_body(sdp_port_, ++version_) : "";
    send_sip(
        request("INVITE", invite_uri(), invite_cseq_, invite_branch_, body, "", s_.invite_headers));
  }

  // An in-dialog request of ours (re-INVITE, UPDATE, BYE).
  void send_in_dialog(const std::string& method, const std::string& body,
                      const std::string& extra = "") {
    const int cseq = ++cseq_;
    const std::string branch = method + std::to_string(cseq) + tag_;
    pending_[cseq] = branch;
    send_sip(request(method, remote_target_, cseq, branch, body, "", extra));
  }

  void ack(const SipMessage& resp) {
    // 2xx: a new transaction to the remote target; other finals: the INVITE's branch.
    const int cseq = resp.cseq();
    const bool ok = resp.status() < 300;
    std::string body;
    if (ok && cseq == invite_cseq_ && !s_.invite_body && s_.ack_answer) {
      body = s_.ack_answer(sdp_port_, ++version_);
    }
    if (ok && offerless_reinvite_cseq_ == cseq) body = current_audio_body();
    const bool initial = cseq == invite_cseq_;
    const std::string branch = ok        ? "ack" + std::to_string(cseq) + tag_
                               : initial ? invite_branch_
                                         : pending_[cseq];
    const std::string uri = ok && !remote_target_.empty() ? remote_target_
                            : initial                     ? invite_uri()
                                                          : remote_target_;
    send_sip(request("ACK", uri, cseq, branch, body, "ACK"));
  }

  std::string current_audio_body() {
    const auto& b = s_.invite_body ? s_.invite_body : s_.ack_answer;
    return b(sdp_port_, ++version_);
  }

  void start_media(const std::string& sdp) {
    auto parsed = parse_sdp(sdp);
    if (!parsed) {
      result_.error = "atdesk's SDP: " + parsed.error().message;
      done_ = true;
      return;
    }
    const SdpStream* audio = nullptr;
    for (const auto& st : parsed->streams) {
      if (st.kind == StreamKind::audio && st.port != 0) audio = &st;
    }
    if (!audio || audio->payload_types.empty()) {
      result_.error = "atdesk's SDP has no audio";
      done_ = true;
      return;
    }
    atdesk_media_port_ = audio->port;
    MediaSession::Settings ms;
    ms.t30 = T30Config{true, true, s_.file, "+49 30 555" + s_.called, true};
    ms.payload_type = audio->payload_types[0];
    if (relay_) {
      relay_->set_atdesk(audio->port);
      ms.remote = *resolve_endpoint("127.0.0.1", relay_->inner_port());
    } else {
      ms.remote = *resolve_endpoint("127.0.0.1", audio->port);
    }
    ms.silence_timeout = 20s;
    media_ = std::make_unique<MediaSession>(
        std::move(*media_socket_), ms,
        [this](int pages) {
          pages_ = pages;
          return true;
        },
        [this] { media_done_ = true; });
    if (auto ok = media_->start(); !ok) {
      result_.error = ok.error().message;
      done_ = true;
    }
  }

  void on_message(const SipMessage& m) {
    if (m.status() > 0) {
      on_response(m);
    } else {
      on_request(m);
    }
  }

  void on_response(const SipMessage& m) {
    const int status = m.status();
    if (status < 200) return;
    const int cseq = m.cseq();
    if (cseq == invite_cseq_ && status < 300 && remote_target_.empty()) {
      remote_target_ = uri_of(m.header("Contact"));
      to_ = m.header("To");
    }
    if (m.cseq_method() == "INVITE") ack(m);
    if (cseq == invite_cseq_) {
      if (result_.answered) return;  // a retransmitted 200
      if (status >= 300) {
        result_.error = "INVITE refused: " + m.start;
        done_ = true;
        return;
      }
      result_.answered = true;
      answered_at_ = Clock::now();
      result_.answer_session_expires = m.header("Session-Expires");
      to_ = m.header("To");
      result_.answer_sdp = m.body;
      start_media(m.body);
      return;
    }
    if (!pending_.contains(cseq) || answered_.contains(cseq)) return;
    answered_.insert(cseq);
    result_.statuses_to_ours.push_back(status);
    result_.bodies_to_ours.push_back(m.body);
    const auto method = m.cseq_method();
    if (method == "UPDATE" && status == 200) ++result_.peer_refreshes_answered_200;
    if (method == "BYE") {
      done_ = true;
    } else if (method == "INVITE" && cseq == own_t38_cseq_) {
      if (status == 200) {
        switch_to_t38(m.body, true);
      } else if (status == 491 && s_.glare && !media_->is_t38()) {
        // RFC 3261 §14.1: we placed the call, so we retry after 2.1 to 4 s.
        retry_own_at_ =
            Clock::now() + 2100ms + std::chrono::milliseconds(std::random_device{}() % 1900);
      }
    }
  }

  // atdesk's T.38 (its offer, or its answer to ours): the far terminal goes to T.38.
  void switch_to_t38(const std::string& sdp, bool answer) {
    auto parsed = parse_sdp(sdp);
    if (!parsed) return;
    for (const auto& st : parsed->streams) {
      if (st.kind != StreamKind::t38 || st.port == 0) continue;
      auto socket = answer ? std::move(*own_t38_socket_) : *UdpSocket::bind("127.0.0.1", 0);
      T38Config c;
      c.local_tcf = st.t38.local_tcf;
      c.max_bit_rate = st.t38.max_bit_rate;
      c.max_datagram = st.t38.max_datagram;
      media_->switch_to_t38(std::move(socket), *resolve_endpoint("127.0.0.1", st.port), c);
      return;
    }
  }

  void on_request(const SipMessage& m) {
    const auto method = m.method();
    const auto branch = m.header("Via");
    if (auto it = answered_requests_.find(branch); it != answered_requests_.end()) {
      send_sip(it->second);  // a retransmission: the same answer
      return;
    }
    std::string reply;
    if (method == "ACK") {
      return;
    } else if (method == "BYE") {
      reply = response(m, 200, "OK");
      if (!bye_sent_) {
        result_.atdesk_hung_up = true;
        result_.atdesk_bye_after = Clock::now() - answered_at_;
      }
      done_ = true;
    } else if (method == "INVITE" && result_.answered &&
               m.body.find("m=audio") != std::string::npos) {
      reply = on_refresh(m);
    } else if (method == "INVITE") {
      reply = on_reinvite(m);
    } else if (method == "UPDATE") {
      reply = on_refresh(m);
    } else {
      reply = response(m, 200, "OK");
    }
    answered_requests_[branch] = reply;
    send_sip(reply);
  }

  // atdesk refreshing the session (RFC 4028 §7.4): an UPDATE without a body, or a re-INVITE
  // offering the media as it runs (answered with ours as it runs).
  std::string on_refresh(const SipMessage& m) {
    result_.refreshes.push_back(m.method());
    result_.refresh_bodies.push_back(m.body);
    result_.refresh_session_expires.push_back(m.header("Session-Expires"));
    result_.refresh_times.push_back(Clock::now());
    if (s_.min_se_422 > 0 && std::atoi(m.header("Session-Expires").c_str()) < s_.min_se_422) {
      ++result_.refreshes_refused_422;
      // RFC 4028 §8.1: too short for us; the UAC must try again with at least our Min-SE.
      return response(m, 422, "Session Interval Too Small", "",
                      "Min-SE: " + std::to_string(s_.min_se_422) + "\r\n");
    }
    std::string extra;
    if (s_.timer_support && !m.header("Session-Expires").empty()) {
      // RFC 4028 §9: the 2xx names the interval and the refresher (the UAC that refreshes).
      const auto x = m.header("Session-Expires");
      extra = "Supported: timer\r\nRequire: timer\r\nSession-Expires: " + x.substr(0, x.find(';')) +
              ";refresher=uac\r\n";
    }
    const std::string body = m.method() == "INVITE" ? current_audio_body() : "";
    return response(m, 200, "OK", body, extra);
  }

  std::string on_reinvite(const SipMessage& m) {
    result_.reinvites.push_back(m.body);
    result_.reinvite_times.push_back(Clock::now());
    if (s_.glare && own_t38_cseq_ == 0) {
      // Our own T.38 re-INVITE goes out first and crosses atdesk's: each side answers the
      // other's with 491 (RFC 3261 §14.2).
      send_own_t38();
      return response(m, 491, "Request Pending");
    }
    if (own_t38_cseq_ != 0 && !answered_.contains(own_t38_cseq_)) {
      return response(m, 491, "Request Pending");
    }
    if (s_.first_491 && result_.reinvites.size() == 1) return response(m, 491, "Request Pending");
    if (!s_.t38_answer || !media_) {
      return response(m, s_.refuse_status,
                      s_.refuse_status == 606 ? "Not Acceptable" : "Not Acceptable Here");
    }
    auto offer = parse_sdp(m.body);
    if (!offer || offer->streams.empty() || offer->streams[0].kind != StreamKind::t38) {
      return response(m, 488, "Not Acceptable Here");
    }
    auto socket = UdpSocket::bind("127.0.0.1", 0);
    const int port = socket->port();
    T38Config c;
    const auto ours = parse_sdp(s_.t38_answer(port, ++version_));
    c.local_tcf = ours->streams[0].t38.local_tcf;
    c.max_bit_rate =
        std::min(ours->streams[0].t38.max_bit_rate, offer->streams[0].t38.max_bit_rate);
    c.max_datagram = offer->streams[0].t38.max_datagram;
    media_->switch_to_t38(std::move(*socket),
                          *resolve_endpoint("127.0.0.1", offer->streams[0].port), c);
    return response(m, 200, "OK", s_.t38_answer(port, version_));
  }

  void send_own_t38() {
    auto socket = UdpSocket::bind("127.0.0.1", 0);
    const int port = socket->port();
    own_t38_socket_ = std::move(*socket);
    own_t38_cseq_ = cseq_ + 1;
    send_in_dialog("INVITE", s_.own_t38_offer(port, ++version_));
  }

  void timed_actions() {
    if (!result_.answered || !media_ || done_) return;
    const auto since = Clock::now() - start_;
    if (s_.own_t38_at.count() > 0 && since >= s_.own_t38_at && own_t38_cseq_ == 0 &&
        !media_->is_t38()) {
      send_own_t38();
    }
    if (s_.own_t38_after_page_1 && pages_ >= 1 && own_t38_cseq_ == 0) send_own_t38();
    if (retry_own_at_ && Clock::now() >= *retry_own_at_) {
      retry_own_at_.reset();
      if (!media_->is_t38()) send_own_t38();
    }
    if (s_.move_at.count() > 0 && since >= s_.move_at && !moved_) {
      moved_ = true;
      relay_->use_outer(1);
      sdp_port_ = relay_->outer_port(1);
      send_in_dialog("INVITE", current_audio_body());
    }
    // Before atdesk's T.38 re-INVITE (3 s after answering): the ACK answers an audio offer.
    if (s_.refresh && since >= 1s && !updated_) {
      updated_ = true;
      send_in_dialog("UPDATE", "");
    }
    if (s_.refresh && since >= 2s && offerless_reinvite_cseq_ == 0) {
      offerless_reinvite_cseq_ = cseq_ + 1;
      send_in_dialog("INVITE", "");
    }
    if (s_.peer_refresh_every.count() > 0 && Clock::now() >= next_peer_refresh_) {
      if (next_peer_refresh_ != Clock::time_point{}) {
        send_in_dialog("UPDATE", "", s_.peer_refresh_headers);
      }
      next_peer_refresh_ = Clock::now() + s_.peer_refresh_every;
    }
    if (media_done_ && !bye_sent_) {
      bye_sent_ = true;
      send_in_dialog("BYE", "");
    }
  }

  Script s_;
  int atdesk_port_;
  Udp sip_;
  Udp dead_;  // NAT: the port the SDP names; nobody reads or sends from it
  std::unique_ptr<Relay> relay_;
  std::optional<UdpSocket> media_socket_;
  std::optional<UdpSocket> own_t38_socket_;
  std::unique_ptr<MediaSession> media_;
  std::atomic<bool> media_done_{false};
  std::atomic<int> pages_{0};
  std::string tag_;
  std::string call_id_;
  std::string to_;
  std::string remote_target_;
  std::string invite_branch_;
  int invite_cseq_ = 0;
  int cseq_ = 0;
  int version_ = 0;
  int own_t38_cseq_ = 0;
  int offerless_reinvite_cseq_ = 0;
  int media_port_ = 0;
  int sdp_port_ = 0;
  int atdesk_media_port_ = 0;
  bool moved_ = false;
  bool updated_ = false;
  bool bye_sent_ = false;
  bool done_ = false;
  std::optional<Clock::time_point> retry_own_at_;
  Clock::time_point answered_at_{};
  Clock::time_point next_peer_refresh_{};
  std::map<int, std::string> pending_;  // our in-dialog requests: cseq -> branch
  std::set<int> answered_;
  std::map<std::string, std::string> answered_requests_;  // Via -> our response
  Clock::time_point start_;
  PeerResult result_;
};

// The port of the first m= line of `sdp` (0 when none).
int media_port_of(const std::string& sdp) {
  auto parsed = parse_sdp(sdp);
  return parsed && !parsed->streams.empty() ? parsed->streams[0].port : 0;
}

bool has_t38(const std::string& sdp) {
  return sdp.find("m=image ") != std::string::npos;
}

class SipPeers : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("atdesk-sip-peers-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    SipFaxReceiver::Settings s;
    s.listen_address = "127.0.0.1";
    s.allowed_peers = {"127.0.0.0/8"};  // a CIDR range
    s.local_ident = "atdesk receiver";
    s.spool_dir = dir_ / "spool";
    s.silence_timeout = 15s;
    // t38 and t38_reinvite are on by default: atdesk starts T.38 itself 3 s after answering.
    for (int attempt = 0; attempt < 5 && !receiver_; ++attempt) {
      s.port = atdesk::testing::free_sip_port();
      auto r = std::make_unique<SipFaxReceiver>(
          s, [this](IncomingDocument d) { return received_.add(std::move(d)); },
          [this](const SipFaxReceiver::CallReport& r) { received_.report(r); });
      if (r->start()) {
        port_ = s.port;
        receiver_ = std::move(r);
      }
    }
    ASSERT_TRUE(receiver_);
  }
  void TearDown() override {
    receiver_.reset();
    fs::remove_all(dir_);
  }
  std::string sample(const std::string& name, int pages) {
    const auto path = (dir_ / name).string();
    const auto data = testing::sample_fax(pages);
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
    return path;
  }
  std::vector<testing::TiffPage> pages_of(const IncomingDocument& doc) {
    return testing::tiff_pages_of(doc.data, (dir_ / ("got-" + doc.name)).string());
  }

  fs::path dir_;
  testing::Received received_;
  std::unique_ptr<SipFaxReceiver> receiver_;
  int port_ = 0;
};

TEST_F(SipPeers, AsteriskFreeSwitchAndAtaCallsArrive) {
  const auto one = sample("one.tif", 1);
  const auto two = sample("two.tif", 2);
  std::map<std::string, Script> scripts;
  const auto add = [&](const std::string& called, Body invite, Body t38_answer) -> Script& {
    Script& s = scripts[called];
    s.called = called;
    s.invite_body = std::move(invite);
    s.t38_answer = std::move(t38_answer);
    s.file = one;
    return s;
  };
  // Asterisk's SendFAX: never re-INVITEs itself; atdesk must, and Asterisk answers with T.38.
  add("4001", asterisk_audio, asterisk_t38);
  // 491 to atdesk's first re-INVITE; the retry (0-2 s later) is accepted.
  add("4002", asterisk_audio, asterisk_t38).first_491 = true;
  // Glare: both re-INVITE to T.38 at once, each gets 491; atdesk (0-2 s) retries before the
  // peer (2.1-4 s), and the peer accepts it.
  {
    auto& s = add("4003", asterisk_audio, asterisk_t38);
    s.glare = true;
    s.own_t38_offer = asterisk_t38;
  }
  // FreeSWITCH with "8 0 101" and its T.38 answer ("\n" line ends), without
  // fax_enable_t38_request: it waits for atdesk's re-INVITE.
  add("4004", freeswitch_audio, freeswitch_t38);
  // FreeSWITCH with fax_enable_t38_request: it re-INVITEs itself, at 1.5 s, before atdesk.
  {
    auto& s = add("4005", freeswitch_audio, freeswitch_t38);
    s.own_t38_offer = freeswitch_t38;
    s.own_t38_at = 1500ms;
  }
  // The ATA: T.38 at 9600 with local TCF and a maximum datagram of 238.
  add("4006", ata_audio, ata_t38);
  // An INVITE without SDP, the answer in the ACK; UPDATE and a bodiless re-INVITE (session
  // refreshes) during the call.
  {
    auto& s = add("4007", nullptr, asterisk_t38);
    s.ack_answer = asterisk_audio;
    s.refresh = true;
  }
  // No T.38 at the peer (488): G.711 through an SBC with RTP from another port than the SDP's
  // c= (NAT), which re-anchors media at 5 s by a re-INVITE.
  {
    auto& s = add("4008", asterisk_audio, nullptr);
    s.refuse_status = 488;
    s.relay = true;
    s.nat = true;
    s.move_at = 5000ms;
  }
  // No T.38 (606): 4 s of suppressed silence after 1.5 s, and 2 % of the packets reordered.
  {
    auto& s = add("4009", asterisk_audio, nullptr);
    s.refuse_status = 606;
    s.relay = true;
    s.vad_and_reorder = true;
  }
  // T.38 refused at first (488), then asked for by the peer after page 1: atdesk refuses it
  // (the page would be written over) and both pages arrive in G.711.
  {
    auto& s = add("4010", asterisk_audio, nullptr);
    s.refuse_status = 488;
    s.own_t38_offer = asterisk_t38;
    s.own_t38_after_page_1 = true;
    s.pages = 2;
    s.file = two;
  }

  std::map<std::string, std::future<PeerResult>> runs;
  for (auto& [called, script] : scripts) {
    runs[called] = std::async(std::launch::async, [this, script] {
      return Peer(script, port_).run(script.pages > 1 ? 150s : 100s);
    });
  }
  std::map<std::string, PeerResult> results;
  for (auto& [called, f] : runs) results[called] = f.get();

  const auto sent_rows = testing::tiff_pages(one)[0].rows;
  for (auto& [called, r] : results) {
    SCOPED_TRACE("call to " + called);
    EXPECT_TRUE(r.error.empty()) << r.error;
    EXPECT_TRUE(r.answered);
    EXPECT_TRUE(r.fax.finished && r.fax.completion == 0) << r.fax.reason;
    EXPECT_EQ(r.fax.pages, scripts[called].pages);
    auto doc = received_.wait_for(called, 30s);
    ASSERT_TRUE(doc) << "the fax did not arrive";
    EXPECT_FALSE(doc->incomplete);
    const auto pages = pages_of(*doc);
    ASSERT_EQ(pages.size(), static_cast<std::size_t>(scripts[called].pages));
    EXPECT_EQ(pages[0].rows, sent_rows);  // ECM: bit for bit
  }

  // 4001: atdesk re-INVITEd to T.38 (about 3 s after answering) and the fax went over T.38.
  ASSERT_EQ(results["4001"].reinvites.size(), 1u);
  EXPECT_TRUE(has_t38(results["4001"].reinvites[0]));
  EXPECT_NE(results["4001"].reinvites[0].find("a=T38FaxMaxDatagram:1400"), std::string::npos);
  EXPECT_TRUE(results["4001"].t38);
  EXPECT_NE(results["4001"].answer_sdp.find("RTP/AVP 0\r\n"), std::string::npos)
      << "Asterisk's \"0 8 101\": PCMU\n"
      << results["4001"].answer_sdp;
  // 4002: a second re-INVITE within 0-2 s (and some scheduling slack) after the 491.
  ASSERT_EQ(results["4002"].reinvites.size(), 2u);
  EXPECT_LE(results["4002"].reinvite_times[1] - results["4002"].reinvite_times[0], 3s);
  EXPECT_TRUE(results["4002"].t38);
  // 4003: our crossing re-INVITE got 491 from atdesk, and T.38 came about.
  ASSERT_FALSE(results["4003"].statuses_to_ours.empty());
  EXPECT_EQ(results["4003"].statuses_to_ours[0], 491);
  EXPECT_TRUE(results["4003"].t38);
  // 4004: PCMA, FreeSWITCH's first choice.
  EXPECT_NE(results["4004"].answer_sdp.find("RTP/AVP 8\r\n"), std::string::npos)
      << results["4004"].answer_sdp;
  EXPECT_TRUE(results["4004"].t38);
  // 4005: FreeSWITCH's own re-INVITE was taken; atdesk sent none.
  ASSERT_FALSE(results["4005"].statuses_to_ours.empty());
  EXPECT_EQ(results["4005"].statuses_to_ours[0], 200);
  EXPECT_TRUE(has_t38(results["4005"].bodies_to_ours[0]));
  EXPECT_NE(results["4005"].bodies_to_ours[0].find("a=T38FaxMaxDatagram:1400"), std::string::npos);
  EXPECT_TRUE(results["4005"].reinvites.empty());
  EXPECT_TRUE(results["4005"].t38);
  // 4006: the ATA's 9600 bit/s: V.17 left out, at most 9600.
  EXPECT_TRUE(results["4006"].t38);
  EXPECT_LE(results["4006"].fax.bit_rate, 9600);
  EXPECT_GT(results["4006"].fax.bit_rate, 0);
  // 4007: the offer in the 200, refreshes answered.
  EXPECT_NE(results["4007"].answer_sdp.find("RTP/AVP 0 8"), std::string::npos)
      << results["4007"].answer_sdp;
  ASSERT_GE(results["4007"].statuses_to_ours.size(), 2u);
  EXPECT_EQ(results["4007"].statuses_to_ours[0], 200);  // UPDATE
  EXPECT_EQ(results["4007"].statuses_to_ours[1], 200);  // re-INVITE without SDP
  EXPECT_TRUE(results["4007"].bodies_to_ours[1].find("m=") != std::string::npos)
      << "the bodiless re-INVITE gets an offer";
  // 4008: media moved; stayed on G.711 after 488, atdesk asked once.
  EXPECT_FALSE(results["4008"].t38);
  EXPECT_EQ(results["4008"].reinvites.size(), 1u);  // atdesk's T.38 offer, answered 488
  ASSERT_GE(results["4008"].statuses_to_ours.size(), 1u);
  EXPECT_EQ(results["4008"].statuses_to_ours[0], 200);  // our move, answered 200
  // After the move the relay forwards only what reaches the new address (the fax would fail
  // otherwise): atdesk sent the rest of the call there.
  EXPECT_GT(results["4008"].relay_from_atdesk_new, 250);
  // 4009: silence and reordering went through the relay; G.711 after 606.
  EXPECT_FALSE(results["4009"].t38);
  EXPECT_GT(results["4009"].relay_suppressed, 100);
  EXPECT_GT(results["4009"].relay_swapped, 5);
  EXPECT_EQ(results["4009"].reinvites.size(), 1u);
  // 4010: the late T.38 re-INVITE refused with 488.
  EXPECT_FALSE(results["4010"].t38);
  ASSERT_FALSE(results["4010"].statuses_to_ours.empty());
  EXPECT_EQ(results["4010"].statuses_to_ours[0], 488);
}

// Session timers (RFC 4028) over a fax of seven pages (about 36 s), with a session interval of 8 s
// instead of the 1800 s atdesk asks for by default (the configuration allows no less than 90 s;
// the library takes what it is given): each call lasts over four intervals, and atdesk refreshes
// every 2 s, as many refreshes as 2 hours at the default (one every 450 s). The headers follow
// RFC 4028 §7-§9: an ATA without timers and without UPDATE in Allow (atdesk refreshes by
// re-INVITE with the media as it runs), a peer supporting timers that asks atdesk to refresh
// (refresher=uas) and answers UPDATEs asking for less than 12 s with 422 and a Min-SE of 12
// (atdesk asks again with 12 s), a peer that refreshes itself by UPDATE (the UAC, as a sofia-sip
// UAC such as FreeSWITCH's leaves the refresher to the UAS's choice), and one that says it
// refreshes but never does (atdesk hangs up before the session runs out).
TEST_F(SipPeers, SessionTimersKeepALongCallAndEndAnExpiredOne) {
  SipFaxReceiver::Settings s;
  s.listen_address = "127.0.0.1";
  s.allowed_peers = {"127.0.0.1"};
  s.local_ident = "atdesk receiver";
  s.spool_dir = dir_ / "spool-timers";
  s.silence_timeout = 15s;
  s.t38_reinvite = false;
  s.session_expires = 8s;
  s.session_min_se = 2s;
  std::unique_ptr<SipFaxReceiver> receiver;
  for (int attempt = 0; attempt < 5 && !receiver; ++attempt) {
    s.port = atdesk::testing::free_sip_port();
    auto r = std::make_unique<SipFaxReceiver>(
        s, [this](IncomingDocument d) { return received_.add(std::move(d)); },
        [this](const SipFaxReceiver::CallReport& r) { received_.report(r); });
    if (r->start()) receiver = std::move(r);
  }
  ASSERT_TRUE(receiver);
  const auto seven = sample("seven.tif", 7);
  std::map<std::string, Script> scripts;
  const auto add = [&](const std::string& called, Body invite,
                       const std::string& headers) -> Script& {
    Script& sc = scripts[called];
    sc.called = called;
    sc.invite_body = std::move(invite);
    sc.invite_headers = headers;
    sc.file = seven;
    sc.pages = 7;
    return sc;
  };
  add("4201", ata_audio, "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n");
  {
    auto& sc = add("4202", asterisk_audio,
                   "Allow: OPTIONS, INVITE, ACK, BYE, CANCEL, UPDATE\r\nSupported: timer\r\n"
                   "Session-Expires: 8;refresher=uas\r\nMin-SE: 2\r\n");
    sc.timer_support = true;
    sc.min_se_422 = 12;
  }
  {
    auto& sc = add("4203", freeswitch_audio,
                   "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE\r\nSupported: timer\r\n"
                   "Session-Expires: 8\r\nMin-SE: 2\r\n");
    sc.timer_support = true;
    sc.peer_refresh_every = 3s;
    sc.peer_refresh_headers = "Supported: timer\r\nSession-Expires: 8;refresher=uac\r\n";
  }
  add("4204", asterisk_audio,
      "Allow: OPTIONS, INVITE, ACK, BYE, CANCEL, UPDATE\r\nSupported: timer\r\n"
      "Session-Expires: 8;refresher=uac\r\nMin-SE: 2\r\n")
      .timer_support = true;

  std::map<std::string, std::future<PeerResult>> runs;
  for (auto& [called, script] : scripts) {
    runs[called] = std::async(std::launch::async,
                              [port = s.port, script] { return Peer(script, port).run(120s); });
  }
  std::map<std::string, PeerResult> results;
  for (auto& [called, f] : runs) results[called] = f.get();

  for (const auto* called : {"4201", "4202", "4203"}) {
    SCOPED_TRACE(std::string("call to ") + called);
    const auto& r = results[called];
    EXPECT_TRUE(r.error.empty()) << r.error;
    EXPECT_FALSE(r.atdesk_hung_up) << "the session was refreshed";
    EXPECT_TRUE(r.fax.finished && r.fax.completion == 0) << r.fax.reason;
    auto doc = received_.wait_for(called, 30s);
    ASSERT_TRUE(doc) << "the fax did not arrive";
    EXPECT_FALSE(doc->incomplete);
    EXPECT_EQ(pages_of(*doc).size(), 7u);
    auto report = received_.wait_for_report(called, 10s);
    ASSERT_TRUE(report);
    EXPECT_GT(report->call_seconds, 4 * 8.0) << "over four session intervals";
  }
  // 4201: re-INVITEs with atdesk's audio as it runs (same port, PCMU), about every 2 s.
  {
    const auto& r = results["4201"];
    EXPECT_GE(r.refreshes.size(), 10u);
    const int port = media_port_of(r.answer_sdp);
    for (std::size_t i = 0; i < r.refreshes.size(); ++i) {
      EXPECT_EQ(r.refreshes[i], "INVITE");
      EXPECT_EQ(media_port_of(r.refresh_bodies[i]), port) << r.refresh_bodies[i];
      EXPECT_NE(r.refresh_bodies[i].find("RTP/AVP 0\r\n"), std::string::npos);
      EXPECT_NE(r.refresh_session_expires[i].find("refresher=uac"), std::string::npos);
    }
    for (std::size_t i = 1; i < r.refresh_times.size(); ++i) {
      EXPECT_LT(r.refresh_times[i] - r.refresh_times[i - 1], 4s) << "before half the interval";
    }
  }
  // 4202: refresher=uas honoured; after the 422 every UPDATE asks for 12 s, about every 3 s.
  {
    const auto& r = results["4202"];
    EXPECT_NE(r.answer_session_expires.find("refresher=uas"), std::string::npos)
        << r.answer_session_expires;
    ASSERT_GE(r.refreshes.size(), 8u);
    for (std::size_t i = 0; i < r.refreshes.size(); ++i) {
      EXPECT_EQ(r.refreshes[i], "UPDATE");
      EXPECT_TRUE(r.refresh_bodies[i].empty());
    }
    // sofia-sip sends the first again at once with the old interval (see on_refresh_answer);
    // from the next attempt on it asks for 12 s.
    EXPECT_GE(r.refreshes_refused_422, 1);
    EXPECT_LE(r.refreshes_refused_422, 4);  // the first and nua's retries (at most 3)
    const auto n = r.refresh_session_expires.size();
    const auto first_12 = static_cast<std::size_t>(r.refreshes_refused_422);
    for (std::size_t i = first_12; i < n; ++i) {
      EXPECT_EQ(std::atoi(r.refresh_session_expires[i].c_str()), 12) << "refresh " << i;
    }
    ASSERT_GE(n, first_12 + 4);
    EXPECT_GE(r.refresh_times[n - 1] - r.refresh_times[first_12],
              static_cast<long>(n - 1 - first_12) * 2500ms)
        << "the interval grew to 12 s: a refresh every 3 s";
  }
  // 4203: the peer refreshes; atdesk answers and sends none.
  {
    const auto& r = results["4203"];
    EXPECT_NE(r.answer_session_expires.find("refresher=uac"), std::string::npos)
        << r.answer_session_expires;
    EXPECT_TRUE(r.refreshes.empty());
    EXPECT_GE(r.peer_refreshes_answered_200, 8);
  }
  // 4204: nobody refreshed: atdesk hung up before the 8 s ran out (and not long before).
  {
    const auto& r = results["4204"];
    EXPECT_TRUE(r.atdesk_hung_up);
    EXPECT_GE(r.atdesk_bye_after, 4s);
    EXPECT_LE(r.atdesk_bye_after, 10s);
    EXPECT_TRUE(r.refreshes.empty());
  }
}

// The registration keepalive (NAT bindings to the registrar kept open): a registrar scripted by
// RFC 3261 §10.3 (200 to REGISTER with the bindings in Contact and their expiry) that answers
// OPTIONS with 200 (§11.2) and counts what arrives. With a keepalive of 1 s instead of the 25 s
// default, OPTIONS must come every second, from the port the REGISTER came from (the binding a
// NAT router keeps is for that port).
TEST_F(SipPeers, RegistrationKeepaliveReachesTheRegistrarAtItsInterval) {
  Udp registrar;
  std::mutex mutex;
  int registers = 0;
  int register_port = 0;
  std::vector<Clock::time_point> keepalives;
  std::vector<int> keepalive_ports;
  std::atomic<bool> stop{false};
  std::thread answering([&] {
    while (!stop) {
      int from = 0;
      auto d = registrar.receive(50ms, &from);
      if (!d) continue;
      const std::string text(d->begin(), d->end());
      std::lock_guard lock(mutex);
      if (text.find_first_not_of("\r\n") == std::string::npos) {
        keepalives.push_back(Clock::now());  // a CRLF keepalive (RFC 5626 §4.4.1)
        keepalive_ports.push_back(from);
        continue;
      }
      auto m = parse_sip(*d);
      if (!m || m->status() != 0) continue;
      std::string r = "SIP/2.0 200 OK\r\n";
      for (const auto& v : m->all("Via")) r += "Via: " + v + "\r\n";
      r += "From: " + m->header("From") + "\r\nTo: " + m->header("To") + ";tag=reg\r\n";
      r += "Call-ID: " + m->header("Call-ID") + "\r\nCSeq: " + m->header("CSeq") + "\r\n";
      if (m->method() == "REGISTER") {
        ++registers;
        register_port = from;
        r += "Contact: " + m->header("Contact") + ";expires=300\r\n";
      } else if (m->method() == "OPTIONS") {
        keepalives.push_back(Clock::now());
        keepalive_ports.push_back(from);
      }
      r += "Content-Length: 0\r\n\r\n";
      registrar.send(from, r);
    }
  });
  SipFaxReceiver::Settings s;
  s.listen_address = "127.0.0.1";
  s.allowed_peers = {"127.0.0.1"};
  s.spool_dir = dir_ / "spool-register";
  s.registrar = "sip:127.0.0.1:" + std::to_string(registrar.port());
  s.user = "4930123456";
  s.password = "not-used";  // the scripted registrar does not challenge
  s.register_keepalive = 1000ms;
  std::unique_ptr<SipFaxReceiver> receiver;
  for (int attempt = 0; attempt < 5 && !receiver; ++attempt) {
    s.port = atdesk::testing::free_sip_port();
    auto r =
        std::make_unique<SipFaxReceiver>(s, [](IncomingDocument) -> Result<void> { return {}; });
    if (r->start()) receiver = std::move(r);
  }
  const bool started = receiver != nullptr;
  const auto deadline = Clock::now() + 20s;
  for (;;) {
    {
      std::lock_guard lock(mutex);
      if (keepalives.size() >= 6 || Clock::now() > deadline) break;
    }
    std::this_thread::sleep_for(50ms);  // waiting for a condition, with a deadline
  }
  receiver.reset();  // un-REGISTERs, answered by the thread
  stop = true;
  answering.join();
  ASSERT_TRUE(started);
  EXPECT_GE(registers, 1);
  ASSERT_GE(keepalives.size(), 6u) << "keepalives within 20 s";
  for (std::size_t i = 1; i < keepalives.size(); ++i) {
    EXPECT_LE(keepalives[i] - keepalives[i - 1], 2s) << "keepalive " << i;
    EXPECT_GE(keepalives[i] - keepalives[i - 1], 800ms) << "keepalive " << i;
  }
  for (const int port : keepalive_ports) EXPECT_EQ(port, register_port);
  EXPECT_EQ(register_port, s.port) << "REGISTER from atdesk's SIP port";
}

// A dialog of plain SIP requests (no fax): what atdesk answers to re-INVITEs, and what its
// media does meanwhile.
class Dialog {
 public:
  explicit Dialog(int atdesk_port) : port_(atdesk_port) {}
  // Sends a request; returns atdesk's final response to it (1xx skipped), or nullopt.
  std::optional<SipMessage> transact(const std::string& method, const std::string& body) {
    const int cseq = ++cseq_;
    const std::string branch = "z9hG4bKd" + std::to_string(cseq) + method;
    send(method, cseq, branch, body);
    const auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
      auto d = sip_.receive(100ms);
      if (!d) continue;
      auto m = parse_sip(*d);
      if (!m || m->status() < 200 || m->cseq() != cseq) continue;
      if (method == "INVITE") {
        if (to_.empty()) to_ = m->header("To");
        if (target_.empty()) target_ = uri_of(m->header("Contact"));
        send("ACK", cseq, m->status() < 300 ? branch + "ack" : branch, "");
      }
      return m;
    }
    return std::nullopt;
  }
  // RTP datagrams atdesk sends to `media` within `span`, and the size of the last one.
  static std::pair<int, std::size_t> rtp_in(const Udp& media, std::chrono::milliseconds span) {
    int count = 0;
    std::size_t size = 0;
    const auto until = Clock::now() + span;
    while (Clock::now() < until) {
      if (auto d = media.receive(10ms); d && !d->empty() && ((*d)[0] & 0xc0) == 0x80) {
        ++count;
        size = d->size();
      }
    }
    return {count, size};
  }

 private:
  void send(const std::string& method, int cseq, const std::string& branch,
            const std::string& body) {
    const std::string uri =
        target_.empty() ? "sip:4100@127.0.0.1:" + std::to_string(port_) : target_;
    std::string r = method + " " + uri + " SIP/2.0\r\n";
    r += "Via: SIP/2.0/UDP 127.0.0.1:" + std::to_string(sip_.port()) + ";branch=" + branch +
         ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:+49305554100@127.0.0.1>;tag=dlg\r\n";
    r += "To: " + (to_.empty() ? std::string("<sip:4100@127.0.0.1>") : to_) + "\r\n";
    r += "Call-ID: dialog-" + std::to_string(port_) + "@peer\r\nCSeq: " + std::to_string(cseq) +
         " " + method + "\r\n";
    r += "Contact: <sip:peer@127.0.0.1:" + std::to_string(sip_.port()) + ">\r\n";
    if (!body.empty()) r += "Content-Type: application/sdp\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    sip_.send(port_, r);
  }

  int port_;
  Udp sip_;
  int cseq_ = 0;
  std::string to_;
  std::string target_;
};

// RFC 3264 §6.1 directions, the offered ptime (RTP of 40 ms), the advertised address and the
// media port range in the SDP, the codec kept while offered, T.38 by the caller's re-INVITE and
// back to audio after it (200, not 488). Asterisk's audio body with its ptime changed to 40
// (res_pjsip_sdp_rtp.c writes the endpoint's configured ptime there).
TEST_F(SipPeers, ReInvitesAreAnsweredAsOfferedAndMediaFollows) {
  SipFaxReceiver::Settings s;
  s.listen_address = "127.0.0.1";
  s.allowed_peers = {"127.0.0.1/32"};
  s.spool_dir = dir_ / "spool-dialog";
  s.advertised_address = "192.0.2.55";  // only written into the SDP: nothing is sent there
  s.media_port_min = 42000;
  s.media_port_max = 42099;
  s.t38_reinvite = false;  // this caller switches itself
  std::unique_ptr<SipFaxReceiver> receiver;
  for (int attempt = 0; attempt < 5 && !receiver; ++attempt) {
    s.port = atdesk::testing::free_sip_port();
    auto r =
        std::make_unique<SipFaxReceiver>(s, [](IncomingDocument) -> Result<void> { return {}; });
    if (r->start()) receiver = std::move(r);
  }
  ASSERT_TRUE(receiver);
  Udp media;
  Dialog dialog(s.port);
  auto body = asterisk_audio(media.port(), 1);
  body.replace(body.find("a=ptime:20"), 10, "a=ptime:40");
  auto answer = dialog.transact("INVITE", body);
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->status(), 200) << answer->start;
  EXPECT_NE(answer->body.find("c=IN IP4 192.0.2.55\r\n"), std::string::npos) << answer->body;
  EXPECT_NE(answer->body.find("a=ptime:40\r\n"), std::string::npos) << answer->body;
  EXPECT_NE(answer->body.find("RTP/AVP 0\r\n"), std::string::npos) << answer->body;
  const int audio_port = media_port_of(answer->body);
  EXPECT_GE(audio_port, 42000);
  EXPECT_LE(audio_port, 42099);
  auto [sent, size] = Dialog::rtp_in(media, 600ms);
  EXPECT_GT(sent, 5);
  EXPECT_EQ(size, 12u + 320u) << "40 ms of PCMU per packet";

  // Hold: a=sendonly is answered a=recvonly, and atdesk stops sending.
  auto hold = asterisk_audio(media.port(), 2);
  hold.replace(hold.find("a=sendrecv"), 10, "a=sendonly");
  answer = dialog.transact("INVITE", hold);
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->status(), 200);
  EXPECT_NE(answer->body.find("a=recvonly\r\n"), std::string::npos) << answer->body;
  (void)Dialog::rtp_in(media, 200ms);  // what was under way
  EXPECT_EQ(Dialog::rtp_in(media, 500ms).first, 0) << "atdesk sends while the caller holds";
  // inactive -> inactive.
  auto inactive = asterisk_audio(media.port(), 3);
  inactive.replace(inactive.find("a=sendrecv"), 10, "a=inactive");
  answer = dialog.transact("INVITE", inactive);
  ASSERT_TRUE(answer);
  EXPECT_NE(answer->body.find("a=inactive\r\n"), std::string::npos) << answer->body;
  // Resumed, and PCMA offered first: PCMU runs and is still offered, so it is kept.
  auto resume = freeswitch_audio(media.port(), 4);
  answer = dialog.transact("INVITE", resume);
  ASSERT_TRUE(answer);
  EXPECT_NE(answer->body.find("RTP/AVP 0\r\n"), std::string::npos) << answer->body;
  EXPECT_NE(answer->body.find("a=sendrecv\r\n"), std::string::npos) << answer->body;
  EXPECT_GT(Dialog::rtp_in(media, 500ms).first, 5) << "sending again";

  // T.38 by the caller, then back to audio (Asterisk does so when its fax ended).
  Udp udptl;
  answer = dialog.transact("INVITE", asterisk_t38(udptl.port(), 5));
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->status(), 200);
  EXPECT_TRUE(has_t38(answer->body)) << answer->body;
  EXPECT_NE(answer->body.find("a=T38FaxMaxDatagram:1400\r\n"), std::string::npos);
  const int t38_port = media_port_of(answer->body);
  EXPECT_GE(t38_port, 42000);
  EXPECT_LE(t38_port, 42099);
  answer = dialog.transact("INVITE", asterisk_audio(media.port(), 6));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status(), 200) << "back to audio after T.38";
  answer = dialog.transact("BYE", "");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status(), 200);
}

}  // namespace
}  // namespace atdesk::fax_sip
