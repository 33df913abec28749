// Registration of the receiver's address with a SIP registrar (a trunk or PBX), RFC 3261 §10:
// REGISTER with digest authentication (RFC 3261 §22, answered from the configured password when
// the registrar challenges with 401/407), refreshed by sofia-sip before it expires, retried with
// backoff after a refusal or a lost registrar, kept open through NAT by OPTIONS every
// `keepalive`, and removed (expires 0) when atdeskd stops or another node takes the
// registration over (stop(); start() registers again).
// Everything here runs on the user agent's thread.
#pragma once

#include <chrono>
#include <string>

#include "user_agent.hpp"

namespace atdesk::fax_sip {

class Registration {
 public:
  struct Settings {
    std::string registrar;  // "sip:pbx.example.org" or "sip:192.0.2.1:5060"
    std::string user;       // the account: user part of the address of record and the Contact
    std::string auth_user;  // digest user name; empty: `user`
    std::string password;
    std::chrono::seconds expires{300};
    // OPTIONS to the registrar this often keep the NAT binding to it open.
    std::chrono::milliseconds keepalive{25000};
  };
  // Registers once start() is called.
  Registration(UserAgent& ua, Settings settings);
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

  // nua_r_register / nua_r_unregister events for this registration's handle.
  void on_event(const NuaEvent& e);
  // Whether `nh` is this registration's handle (the receiver routes events by it).
  bool owns(const nua_handle_t* nh) const {
    return nh != nullptr && (nh == nh_ || nh == keepalive_nh_);
  }
  // Registers (again after a stop()).
  void start();
  // Sends the un-REGISTER (also of a REGISTER still in progress, once it is answered); the user
  // agent's shutdown waits for its answer. Refreshes, retries and keepalives stop.
  void stop();
  bool active() const { return !stopping_; }

 private:
  void send();
  void retry_later(const std::string& why);
  // OPTIONS to the registrar every `keepalive` while registered (a newer generation replaces it).
  void keepalive(unsigned generation);

  UserAgent& ua_;
  Settings settings_;
  std::string aor_;
  nua_handle_t* nh_ = nullptr;
  int challenges_ = 0;  // 401/407 answered in a row: a second one means a wrong password
  std::chrono::seconds backoff_{0};
  bool registered_ = false;
  bool stopping_ = true;     // until start()
  unsigned generation_ = 0;  // start() and stop() make retries posted before them void
  int unregister_challenges_ = 0;
  nua_handle_t* keepalive_nh_ = nullptr;
  unsigned keepalive_generation_ = 0;
};

}  // namespace atdesk::fax_sip
