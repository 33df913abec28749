// One sofia-sip user agent (nua) with its own event loop thread. sofia-sip's objects belong to
// the thread that runs their su_root, so everything that touches nua runs there: events come to
// the Handler on that thread, and other threads hand work to it with post()/post_after().
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sofia-sip/nua.h>
#include <sofia-sip/sip.h>

#include "atdesk/core/error.hpp"

namespace atdesk::fax_sip {

struct NuaEvent {
  nua_event_t event;
  int status;
  const char* phrase;
  nua_t* nua;
  nua_handle_t* nh;
  void* call;  // what the handler bound to nh (nua_handle_bind), or null
  const sip_t* sip;
  tagi_t* tags;
};

// The body of a SIP message (the SDP of an INVITE or its answer); empty when there is none.
inline std::string payload_of(const sip_t* sip) {
  if (!sip || !sip->sip_payload || !sip->sip_payload->pl_data) return {};
  return std::string(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
}

class UserAgent {
 public:
  struct Settings {
    std::string url;  // where to listen: "sip:127.0.0.1:5060", "sip:127.0.0.1:*;transport=udp"
    std::string user_agent = "atdesk";
    // Session timers (RFC 4028): the Session-Expires we ask for and the Min-SE we accept, in
    // seconds; 0: sofia-sip's defaults (timers only when the peer asks for them).
    unsigned session_expires = 0;
    unsigned min_se = 0;
    // Bytes asked for the UDP socket's receive buffer (SO_RCVBUFFORCE, else SO_RCVBUF): a burst
    // of hundreds of INVITEs overflows the kernel's default 208 KiB, and each request lost there
    // waits for the sender's retransmission (up to 7.5 s). Without CAP_NET_ADMIN the kernel
    // grants at most net.core.rmem_max. 0: the kernel's default.
    unsigned udp_receive_buffer = 4U << 20U;
  };
  using Handler = std::function<void(const NuaEvent&)>;

  // Binds and starts the loop; Errc::io naming the URL when the address cannot be bound.
  static Result<std::unique_ptr<UserAgent>> start(Settings settings, Handler handler);
  // Shuts nua down (answering what is pending) and joins the thread.
  ~UserAgent();
  UserAgent(const UserAgent&) = delete;
  UserAgent& operator=(const UserAgent&) = delete;

  // Runs `task` on the user agent's thread (soon, or after `delay`).
  void post(std::function<void()> task) {
    post_after(std::chrono::milliseconds(0), std::move(task));
  }
  void post_after(std::chrono::milliseconds delay, std::function<void()> task);
  // Only on the user agent's thread.
  nua_t* nua() const { return nua_; }

 private:
  UserAgent(Settings settings, Handler handler);
  void run(std::promise<Result<void>>* ready);
  static void on_nua_event(nua_event_t event, int status, char const* phrase, nua_t* nua,
                           nua_magic_t* magic, nua_handle_t* nh, nua_hmagic_t* hmagic,
                           sip_t const* sip, tagi_t tags[]);

  Settings settings_;
  Handler handler_;
  std::thread thread_;
  nua_t* nua_ = nullptr;
  bool shutdown_done_ = false;

  std::mutex mutex_;
  bool quit_ = false;
  struct Task {
    std::chrono::steady_clock::time_point due;
    std::function<void()> fn;
  };
  std::vector<Task> tasks_;
};

}  // namespace atdesk::fax_sip
