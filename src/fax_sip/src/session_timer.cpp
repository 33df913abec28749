#include "session_timer.hpp"

#include <algorithm>

namespace atdesk::fax_sip {
namespace {

using Refresher = SessionTimerHeaders::Refresher;

unsigned interval_of(const SessionTimerHeaders& h, const SessionTimerPolicy& policy) {
  // The peer's Session-Expires, or ours when it names none; never more than ours, never less
  // than either side's Min-SE.
  unsigned interval = h.expires != 0 ? h.expires : policy.expires;
  if (policy.expires != 0) interval = std::min(interval, policy.expires);
  if (interval != 0) interval = std::max({interval, policy.min_se, h.min_se});
  return interval;
}

SessionRefresh result(bool we, unsigned interval) {
  SessionRefresh r;
  if (interval == 0) return r;
  r.we_refresh = we;
  r.peer_refreshes = !we;
  r.interval = std::chrono::seconds(interval);
  return r;
}

}  // namespace

SessionRefresh negotiate_as_uas(const SessionTimerHeaders& request, bool peer_supported,
                                const SessionTimerPolicy& policy) {
  const bool supported = peer_supported || request.supported || request.require;
  bool we = false;
  if (!supported) {
    we = true;  // a peer without timers does not refresh: we do (RFC 4028 §9)
  } else if (request.expires != 0 && request.refresher == Refresher::uas) {
    we = true;
  } else if (request.expires != 0 && request.refresher == Refresher::uac) {
    we = false;
  } else if (request.expires != 0 && request.require) {
    we = true;  // Require: timer without a refresher parameter (nua takes it on itself)
  } else {
    we = false;  // the UAS leaves refreshing to a UAC that supports timers (RFC 4028 §9)
  }
  return result(we, interval_of(request, policy));
}

SessionRefresh negotiate_as_uac(const SessionTimerHeaders& response, bool peer_supported,
                                const SessionTimerPolicy& policy) {
  const bool supported = peer_supported || response.supported || response.require;
  bool we = true;
  if (supported && response.expires != 0 && response.refresher == Refresher::uas) we = false;
  return result(we, interval_of(response, policy));
}

std::chrono::milliseconds refresh_after(std::chrono::seconds interval) {
  return std::max(std::chrono::milliseconds(500),
                  std::chrono::duration_cast<std::chrono::milliseconds>(interval) / 4);
}

}  // namespace atdesk::fax_sip
