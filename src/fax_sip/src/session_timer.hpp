// Session timers (RFC 4028) of one call: who refreshes the session and how often. sofia-sip's nua
// negotiates the Session-Expires and Min-SE headers, answers 422 and retries after one, and sends
// BYE when a session the peer should refresh runs out; the receiver refreshes by itself when it
// is the refresher, with UPDATE or, where the peer does not allow UPDATE, a re-INVITE that offers
// the media as it runs. These functions follow nua's rules (nua_session.c,
// session_timer_negotiate) so that both agree on the refresher and the interval.
#pragma once

#include <chrono>

namespace atdesk::fax_sip {

// The session timer headers of one SIP request or response.
struct SessionTimerHeaders {
  bool supported = false;  // "timer" in Supported (or Require)
  bool require = false;    // "timer" in Require
  unsigned expires = 0;    // Session-Expires delta-seconds; 0: none
  enum class Refresher { none, uac, uas } refresher = Refresher::none;
  unsigned min_se = 0;  // Min-SE; 0: none
};

// Our own settings: the interval we ask for and the smallest one we accept.
struct SessionTimerPolicy {
  unsigned expires = 1800;
  unsigned min_se = 90;
};

struct SessionRefresh {
  bool we_refresh = false;      // we send the refreshes
  bool peer_refreshes = false;  // the peer does; nua hangs up when it does not in time
  std::chrono::seconds interval{0};
};

// After a request from the peer (the INVITE, a re-INVITE, an UPDATE) that we answer 2xx.
// `peer_supported`: whether the peer has shown support for timers in this dialog before.
SessionRefresh negotiate_as_uas(const SessionTimerHeaders& request, bool peer_supported,
                                const SessionTimerPolicy& policy);
// After a 2xx to our own re-INVITE or UPDATE.
SessionRefresh negotiate_as_uac(const SessionTimerHeaders& response, bool peer_supported,
                                const SessionTimerPolicy& policy);

// When to send the next refresh: a quarter of the interval (RFC 4028 §10 asks for one before
// half of it has passed; a quarter leaves room for a retry after 491 and stays ahead of nua's own
// refresh at half the interval).
std::chrono::milliseconds refresh_after(std::chrono::seconds interval);

}  // namespace atdesk::fax_sip
