#include "registration.hpp"

#include <sofia-sip/msg_header.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace atdesk::fax_sip {
namespace {

// The host (and port) of a SIP URI: "sip:pbx.example.org:5060;transport=udp" -> the part after
// "sip:" up to ';'. The address of record is "sip:<user>@<that>".
std::string host_of(const std::string& uri) {
  std::string rest = uri;
  if (rest.starts_with("sips:")) {
    rest = rest.substr(5);
  } else if (rest.starts_with("sip:")) {
    rest = rest.substr(4);
  }
  if (const auto at = rest.find('@'); at != std::string::npos) rest = rest.substr(at + 1);
  return rest.substr(0, rest.find(';'));
}

// realm="..." of the first challenge (WWW-Authenticate from a registrar, Proxy-Authenticate
// from a proxy in front of it).
std::string realm_of(const sip_t* sip) {
  const msg_auth_t* challenge = nullptr;
  if (sip && sip->sip_www_authenticate) challenge = sip->sip_www_authenticate;
  if (!challenge && sip && sip->sip_proxy_authenticate) challenge = sip->sip_proxy_authenticate;
  if (!challenge || !challenge->au_params) return {};
  const char* realm = msg_params_find(challenge->au_params, "realm=");
  if (!realm) return {};
  std::string r = realm;
  if (r.size() >= 2 && r.front() == '"' && r.back() == '"') r = r.substr(1, r.size() - 2);
  return r;
}

}  // namespace

Registration::Registration(UserAgent& ua, Settings settings)
    : ua_(ua), settings_(std::move(settings)) {
  if (settings_.auth_user.empty()) settings_.auth_user = settings_.user;
  aor_ = "sip:" + settings_.user + "@" + host_of(settings_.registrar);
}

void Registration::start() {
  if (!stopping_) return;
  stopping_ = false;
  ++generation_;
  backoff_ = std::chrono::seconds(0);
  send();
}

void Registration::send() {
  if (stopping_) return;
  if (!nh_) {
    nh_ = nua_handle(ua_.nua(), nullptr, SIPTAG_TO_STR(aor_.c_str()), SIPTAG_FROM_STR(aor_.c_str()),
                     TAG_END());
    if (!nh_) return retry_later("sofia-sip could not create the registration");
  }
  challenges_ = 0;
  const std::string expires = std::to_string(settings_.expires.count());
  nua_register(nh_, NUTAG_REGISTRAR(settings_.registrar.c_str()),
               NUTAG_M_USERNAME(settings_.user.c_str()), SIPTAG_EXPIRES_STR(expires.c_str()),
               // sofia-sip's own keepalive (its "outbound" module) sent one registration probe
               // and then nothing against a registrar on loopback: keepalive() sends them.
               NUTAG_KEEPALIVE(0), NUTAG_OUTBOUND("no-validate no-options-keepalive"), TAG_END());
}

void Registration::keepalive(unsigned generation) {
  if (stopping_ || !registered_ || generation != keepalive_generation_) return;
  if (!keepalive_nh_) {
    keepalive_nh_ =
        nua_handle(ua_.nua(), nullptr, NUTAG_URL(settings_.registrar.c_str()),
                   SIPTAG_TO_STR(aor_.c_str()), SIPTAG_FROM_STR(aor_.c_str()), TAG_END());
  }
  // OPTIONS to the registrar from the SIP socket the REGISTER went out of (RFC 3261 §11): any
  // answer, even an error, keeps the router's binding for that socket open.
  if (keepalive_nh_) nua_options(keepalive_nh_, TAG_END());
  ua_.post_after(settings_.keepalive, [this, generation] { keepalive(generation); });
}

void Registration::retry_later(const std::string& why) {
  registered_ = false;
  backoff_ = backoff_.count() == 0 ? std::chrono::seconds(5)
                                   : std::min(backoff_ * 2, std::chrono::seconds(300));
  spdlog::error("sip: registration of {} at {} failed: {}; retrying in {} s", aor_,
                settings_.registrar, why, backoff_.count());
  ua_.post_after(backoff_, [this, generation = generation_] {
    if (generation != generation_) return;  // stopped (and maybe started again) meanwhile
    if (nh_) {
      nua_handle_destroy(nh_);
      nh_ = nullptr;
    }
    send();
  });
}

void Registration::on_event(const NuaEvent& e) {
  if (e.event == nua_r_options) {
    if (e.status >= 200 && e.status != 200) {
      spdlog::debug("sip: keepalive to {}: {} {}", settings_.registrar, e.status,
                    e.phrase ? e.phrase : "");
    }
    return;
  }
  if (e.event == nua_r_unregister) {
    if ((e.status == 401 || e.status == 407) && ++unregister_challenges_ == 1) {
      // The registrar challenges the un-REGISTER too (a nonce of the last REGISTER that has
      // expired): answered once, like the REGISTER.
      const std::string realm = realm_of(e.sip);
      if (!realm.empty()) {
        const std::string credentials =
            "Digest:\"" + realm + "\":" + settings_.auth_user + ":" + settings_.password;
        nua_authenticate(e.nh, NUTAG_AUTH(credentials.c_str()), TAG_END());
        return;
      }
    }
    if (e.status >= 200) {
      spdlog::info("sip: {} unregistered ({} {})", aor_, e.status, e.phrase ? e.phrase : "");
    }
    return;
  }
  if (e.event == nua_r_register && stopping_ && e.status >= 200 && e.status < 300 && nh_) {
    // A REGISTER that was in progress when the registration stopped has made a binding: remove
    // it, or the registrar would keep sending calls here until it expires.
    unregister_challenges_ = 0;
    nua_unregister(nh_, TAG_END());
    return;
  }
  if (e.event != nua_r_register || e.status < 200 || stopping_) return;
  if (e.status == 401 || e.status == 407) {
    if (++challenges_ > 1) {
      // The registrar refused the answer to its challenge: a wrong user name or password.
      return retry_later(std::to_string(e.status) + " " + e.phrase +
                         ": the registrar refused the credentials of '" + settings_.auth_user +
                         "' (check [sip] register_auth_user and register_password_file)");
    }
    const std::string realm = realm_of(e.sip);
    if (realm.empty()) {
      return retry_later(std::to_string(e.status) + " " + e.phrase + " without a digest realm");
    }
    // sofia-sip's credential string: "Digest:\"realm\":user:password" (nua_authenticate(3)).
    const std::string credentials =
        "Digest:\"" + realm + "\":" + settings_.auth_user + ":" + settings_.password;
    nua_authenticate(e.nh, NUTAG_AUTH(credentials.c_str()), TAG_END());
    return;
  }
  if (e.status >= 300) {
    return retry_later(std::to_string(e.status) + " " + (e.phrase ? e.phrase : ""));
  }
  backoff_ = std::chrono::seconds(0);
  challenges_ = 0;  // a refresh may be challenged again (a new nonce)
  if (!registered_) {
    spdlog::info("sip: registered {} at {} (expires {} s; refreshed before then)", aor_,
                 settings_.registrar, settings_.expires.count());
    registered_ = true;
    const unsigned generation = ++keepalive_generation_;
    ua_.post_after(settings_.keepalive, [this, generation] { keepalive(generation); });
  }
}

void Registration::stop() {
  if (stopping_) return;
  stopping_ = true;
  ++generation_;
  ++keepalive_generation_;
  unregister_challenges_ = 0;
  if (nh_ && registered_) nua_unregister(nh_, TAG_END());
  registered_ = false;
}

}  // namespace atdesk::fax_sip
