#include "user_agent.hpp"

#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport_tag.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>

namespace atdesk::fax_sip {
namespace {

struct RootDeleter {
  void operator()(su_root_t* r) const { su_root_destroy(r); }
};

// Whether this process may force a socket buffer past net.core.rmem_max: CAP_NET_ADMIN (bit 12)
// in the effective set that /proc/self/status shows.
bool may_force_buffers() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    const auto caps = std::strtoull(line.c_str() + 7, nullptr, 16);
    return (caps >> 12U) & 1U;
  }
  return false;
}

// Says once when the kernel will grant less than the receive buffer asked for, and what to set.
void note_receive_buffer(unsigned wanted) {
  static std::once_flag told;
  if (wanted == 0 || may_force_buffers()) return;
  std::ifstream file("/proc/sys/net/core/rmem_max");
  unsigned long long rmem_max = 0;
  if (!(file >> rmem_max) || rmem_max >= wanted) return;
  std::call_once(told, [&] {
    spdlog::warn(
        "sip: the SIP socket's receive buffer is {} bytes (net.core.rmem_max), not the {} asked "
        "for: a burst of calls may lose requests until their senders resend them; raise "
        "net.core.rmem_max, or give atdeskd CAP_NET_ADMIN",
        rmem_max, wanted);
  });
}

}  // namespace

UserAgent::UserAgent(Settings settings, Handler handler)
    : settings_(std::move(settings)), handler_(std::move(handler)) {}

Result<std::unique_ptr<UserAgent>> UserAgent::start(Settings settings, Handler handler) {
  std::unique_ptr<UserAgent> ua(new UserAgent(std::move(settings), std::move(handler)));
  std::promise<Result<void>> ready;
  auto started = ready.get_future();
  ua->thread_ = std::thread([self = ua.get(), &ready] { self->run(&ready); });
  if (auto ok = started.get(); !ok) {
    ua->thread_.join();
    return fail(ok.error());
  }
  return ua;
}

UserAgent::~UserAgent() {
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void UserAgent::post_after(std::chrono::milliseconds delay, std::function<void()> task) {
  std::lock_guard lock(mutex_);
  tasks_.push_back(Task{std::chrono::steady_clock::now() + delay, std::move(task)});
}

void UserAgent::on_nua_event(nua_event_t event, int status, char const* phrase, nua_t* nua,
                             nua_magic_t* magic, nua_handle_t* nh, nua_hmagic_t* hmagic,
                             sip_t const* sip, tagi_t tags[]) {
  auto* self = static_cast<UserAgent*>(magic);
  if (event == nua_r_shutdown && status >= 200) self->shutdown_done_ = true;
  if (self->handler_) {
    self->handler_(NuaEvent{event, status, phrase, nua, nh, hmagic, sip, tags});
  }
}

void UserAgent::run(std::promise<Result<void>>* ready) {
  // su_init() only sets up sofia-sip's per-process pieces; it may be called again by every user
  // agent of the process (tests run several).
  su_init();
  std::unique_ptr<su_root_t, RootDeleter> root(su_root_create(this));
  if (!root) {
    ready->set_value(fail(Errc::internal, "sofia-sip: cannot create the event loop"));
    return;
  }
  nua_ = nua_create(
      root.get(), &UserAgent::on_nua_event, this, NUTAG_URL(settings_.url.c_str()),
      NUTAG_MEDIA_ENABLE(0), SIPTAG_USER_AGENT_STR(settings_.user_agent.c_str()),
      NUTAG_ALLOW("INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"), NUTAG_AUTOANSWER(0),
      NUTAG_ENABLEMESSAGE(0),
      TAG_IF(settings_.session_expires != 0, NUTAG_SESSION_TIMER(settings_.session_expires)),
      TAG_IF(settings_.min_se != 0, NUTAG_MIN_SE(settings_.min_se)),
      TAG_IF(settings_.udp_receive_buffer != 0, TPTAG_UDP_RMEM(settings_.udp_receive_buffer)),
      // No STUN on the SIP port: its error path leaks on malformed datagrams.
      TPTAG_STUN_SERVER(0), TAG_END());
  if (!nua_) {
    ready->set_value(fail(Errc::io, settings_.url + ": cannot listen for SIP (address in use or "
                                                    "not local)"));
    return;
  }
  note_receive_buffer(settings_.udp_receive_buffer);
  ready->set_value({});
  ready = nullptr;
  bool shutting_down = false;
  auto shutdown_started = std::chrono::steady_clock::now();
  for (;;) {
    su_root_step(root.get(), 10);
    std::vector<Task> due;
    bool quit = false;
    {
      std::lock_guard lock(mutex_);
      const auto now = std::chrono::steady_clock::now();
      for (auto it = tasks_.begin(); it != tasks_.end();) {
        if (it->due <= now) {
          due.push_back(std::move(*it));
          it = tasks_.erase(it);
        } else {
          ++it;
        }
      }
      quit = quit_;
    }
    for (auto& t : due) t.fn();
    if (quit && !shutting_down) {
      shutting_down = true;
      shutdown_started = std::chrono::steady_clock::now();
      nua_shutdown(nua_);
    }
    if (shutting_down && (shutdown_done_ || std::chrono::steady_clock::now() - shutdown_started >
                                                std::chrono::seconds(5))) {
      break;
    }
  }
  nua_destroy(nua_);
  nua_ = nullptr;
}

}  // namespace atdesk::fax_sip
