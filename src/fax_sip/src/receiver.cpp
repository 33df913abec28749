#include "atdesk/fax_sip/receiver.hpp"

#include <sofia-sip/auth_module.h>
#include <sofia-sip/auth_plugin.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_hclasses.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <strings.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "call_spool.hpp"
#include "media_session.hpp"
#include "registration.hpp"
#include "sdp.hpp"
#include "session_timer.hpp"
#include "sip_identity.hpp"
#include "user_agent.hpp"

namespace atdesk::fax_sip {
namespace {

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(' ');
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(' ');
  return s.substr(b, e - b + 1);
}

std::string host_for_url(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string timestamp_now(const char* format = "%Y%m%dT%H%M%SZ") {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

struct AuthModDeleter {
  void operator()(auth_mod_t* am) const { auth_mod_unref(am); }
};
struct AuthStatusDeleter {
  void operator()(auth_status_t* as) const { auth_status_unref(as); }
};

// A server challenges with 401 and WWW-Authenticate (RFC 3261 §22.2).
const auth_challenger_t kServerChallenger = {401, "Unauthorized", sip_www_authenticate_class,
                                             sip_authentication_info_class};

SipFaxReceiver::FailedReception failed_reception(const CallRecord& r, std::string reason) {
  return {r.caller_id, r.sip_uri, r.peer_ip, r.called, r.tsi, r.started, std::move(reason)};
}

Result<std::vector<std::byte>> read_all(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(Errc::io, file.string() + ": cannot open the received fax");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(bytes.size());
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

struct ParsedAddress {
  int family = 0;
  unsigned char bytes[16] = {};
};

std::optional<ParsedAddress> parse_address(const std::string& text) {
  ParsedAddress a;
  if (inet_pton(AF_INET, text.c_str(), a.bytes) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (inet_pton(AF_INET6, text.c_str(), a.bytes) == 1) {
    a.family = AF_INET6;
    return a;
  }
  return std::nullopt;
}

// "192.0.2.0/24": the address and the prefix length; a plain address is a full-length prefix.
std::optional<std::pair<ParsedAddress, int>> parse_range(const std::string& range) {
  const auto slash = range.find('/');
  auto address = parse_address(range.substr(0, slash));
  if (!address) return std::nullopt;
  const int bits = address->family == AF_INET ? 32 : 128;
  if (slash == std::string::npos) return std::make_pair(*address, bits);
  const auto digits = range.substr(slash + 1);
  if (digits.empty() || digits.size() > 3 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const int prefix = std::stoi(digits);
  if (prefix > bits) return std::nullopt;
  return std::make_pair(*address, prefix);
}

// A UDP socket for RTP/UDPTL on `address`, in [min, max] when a range is set (even ports first,
// the RTP convention, from a random start so successive calls do not reuse a port at once).
Result<UdpSocket> bind_media(const std::string& address, int min, int max) {
  if (min <= 0 || max < min) return UdpSocket::bind(address, 0);
  std::random_device rd;
  const int count = max - min + 1;
  const int start = static_cast<int>(rd() % static_cast<unsigned>(count));
  for (int parity : {0, 1}) {
    for (int i = 0; i < count; ++i) {
      const int port = min + (start + i) % count;
      if (port % 2 != parity) continue;
      if (auto s = UdpSocket::bind(address, port)) return s;
    }
  }
  return fail(Errc::unavailable, "no free media port in " + std::to_string(min) + "-" +
                                     std::to_string(max) + " on " + address +
                                     " ([sip] media_port_min/media_port_max)");
}

// The RFC 4028 headers of a request or response.
SessionTimerHeaders timer_headers(const sip_t* sip) {
  SessionTimerHeaders h;
  if (!sip) return h;
  h.require = sip_has_feature(sip->sip_require, "timer") != 0;
  h.supported = h.require || sip_has_feature(sip->sip_supported, "timer") != 0;
  if (const auto* x = sip->sip_session_expires) {
    h.expires = static_cast<unsigned>(x->x_delta);
    if (x->x_refresher) {
      if (strncasecmp(x->x_refresher, "uac", 3) == 0) {
        h.refresher = SessionTimerHeaders::Refresher::uac;
      } else if (strncasecmp(x->x_refresher, "uas", 3) == 0) {
        h.refresher = SessionTimerHeaders::Refresher::uas;
      }
    }
  }
  if (sip->sip_min_se) h.min_se = static_cast<unsigned>(sip->sip_min_se->min_delta);
  return h;
}

T38Config t38_config_of(const T38Params& peer, const T38Params& ours) {
  T38Config c;
  c.local_tcf = ours.local_tcf;
  c.max_bit_rate = std::min(peer.max_bit_rate, ours.max_bit_rate);
  c.max_datagram = peer.max_datagram;
  return c;
}

}  // namespace

bool is_address_range(const std::string& range) {
  return parse_range(range).has_value();
}

bool address_in_range(const std::string& ip, const std::string& range) {
  const auto address = parse_address(ip);
  const auto r = parse_range(range);
  if (!address || !r || address->family != r->first.family) return false;
  int bits = r->second;
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    const unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
    if ((address->bytes[i] & mask) != (r->first.bytes[i] & mask)) return false;
  }
  return true;
}

class SipFaxReceiver::Impl {
 public:
  Impl(Settings settings, Sink sink, Observer observer, FailureSink failed)
      : settings_(std::move(settings)),
        sink_(std::move(sink)),
        observer_(std::move(observer)),
        failed_(std::move(failed)) {
    if (settings_.media_address.empty()) settings_.media_address = settings_.listen_address;
    if (settings_.advertised_address.empty()) {
      settings_.advertised_address = settings_.media_address;
    }
  }

  Result<void> start() {
    if (auto ok = make_private_dir(settings_.spool_dir); !ok) return ok;
    if (!settings_.auth_username.empty()) {
      // Digest with qop=auth and MD5 (what trunks and PBXs send); nonces are signed with a
      // random key of this process. Bad credentials get 403, so a caller does not retry them.
      auth_.reset(auth_mod_create(nullptr, AUTHTAG_METHOD("Digest"),
                                  AUTHTAG_REALM(settings_.auth_realm.c_str()), AUTHTAG_QOP("auth"),
                                  AUTHTAG_ALGORITHM("MD5"), AUTHTAG_FORBIDDEN(1), TAG_END()));
      if (!auth_) return fail(Errc::internal, "sofia-sip: cannot create the digest authenticator");
      auth_passwd_t* user = auth_mod_addpass(auth_.get(), settings_.auth_username.c_str(),
                                             settings_.auth_realm.c_str());
      if (!user) return fail(Errc::internal, "sofia-sip: cannot add the SIP user");
      user->apw_pass = su_strdup(auth_->am_home, settings_.auth_password.c_str());
    }
    recover();
    const auto url =
        "sip:" + host_for_url(settings_.listen_address) + ":" + std::to_string(settings_.port);
    UserAgent::Settings ua_settings{url, "atdesk"};
    ua_settings.session_expires = static_cast<unsigned>(settings_.session_expires.count());
    ua_settings.min_se = static_cast<unsigned>(settings_.session_min_se.count());
    auto ua = UserAgent::start(std::move(ua_settings), [this](const NuaEvent& e) { on_event(e); });
    if (!ua) return fail(ua.error());
    std::lock_guard lock(mutex_);
    ua_ = std::move(*ua);
    if (!settings_.registrar.empty()) {
      registration_ = std::make_unique<Registration>(
          *ua_, Registration::Settings{settings_.registrar, settings_.user, settings_.auth_user,
                                       settings_.password, settings_.register_expires,
                                       settings_.register_keepalive});
      ua_->post([this] { apply_registering(); });
    }
    return {};
  }

  void set_registering(bool registering) {
    std::lock_guard lock(mutex_);
    if (registering_ == registering) return;
    registering_ = registering;
    if (ua_) ua_->post([this] { apply_registering(); });
  }

  void stop() {
    std::unique_ptr<UserAgent> ua;
    {
      std::lock_guard lock(mutex_);
      ua = std::move(ua_);
    }
    if (ua) {
      // Hang up what is in progress; the terminated events end the calls (their pages are kept).
      ua->post([this] {
        if (registration_) registration_->stop();
        for (auto& [id, call] : calls_) {
          if (!call->ended) nua_bye(call->nh, TAG_END());
        }
      });
      ua.reset();  // shuts nua down and joins its thread
    }
    registration_.reset();
    // Calls whose terminated event never came (peer gone during shutdown).
    for (auto& [id, call] : calls_) {
      if (!call->ended) end_call(*call);
    }
    for (auto& [id, call] : calls_) {
      if (call->finisher.joinable()) call->finisher.join();
    }
    calls_.clear();
  }

 private:
  struct Call {
    unsigned id = 0;
    nua_handle_t* nh = nullptr;
    CallIdentity identity;
    std::filesystem::path file;
    CallRecord record;  // the UA thread at setup, then the media thread, then the finisher
    std::unique_ptr<MediaSession> media;
    SdpOrigin origin;
    int audio_port = 0;  // the port of the media socket in use (RTP, then UDPTL)
    int payload_type = 0;
    int ptime = 20;
    bool t38 = false;
    T38Params t38_answered;  // what we announced for T.38
    bool ended = false;
    bool reinvite_pending = false;  // our T.38 re-INVITE awaits its final response
    bool reinvite_done = false;     // T.38 was tried by us (refused) or is running: no more
    int reinvite_attempts = 0;
    std::optional<UdpSocket> offered_t38;  // our re-INVITE's socket, until answered
    // An INVITE or re-INVITE without SDP: we offered in the 200, the answer comes in the ACK.
    bool offer_in_200 = false;
    std::optional<UdpSocket> unanswered_socket;  // offerless INVITE: media starts at the ACK
    // Session timers (RFC 4028): as last negotiated, and our refreshes.
    SessionTimerPolicy timer_policy;  // ours; Min-SE raised by a peer's 422
    SessionRefresh session;
    bool peer_supports_timer = false;
    bool peer_allows_update = false;  // UPDATE in the INVITE's Allow: refresh by UPDATE
    bool refresh_pending = false;     // our refresh awaits its final response
    bool refresh_by_invite = false;   // ... and it is a re-INVITE
    unsigned refresh_generation = 0;  // a scheduled refresh runs only if still the latest
    int refreshes_sent = 0;
    std::thread finisher;
    std::atomic<bool> done{false};
  };

  Call* find(unsigned id) {
    const auto it = calls_.find(id);
    return it == calls_.end() ? nullptr : it->second.get();
  }

  // From a media thread or a timer: run `fn` with the call on the user agent's thread, if both
  // are still there.
  void with_call(unsigned id, std::chrono::milliseconds delay, std::function<void(Call&)> fn) {
    std::lock_guard lock(mutex_);
    if (!ua_) return;
    ua_->post_after(delay, [this, id, fn = std::move(fn)] {
      if (auto* call = find(id); call && !call->ended) fn(*call);
    });
  }

  bool allowed(const std::string& ip) const {
    if (settings_.allowed_peers.empty()) return auth_ != nullptr;
    return std::any_of(settings_.allowed_peers.begin(), settings_.allowed_peers.end(),
                       [&ip](const std::string& range) { return address_in_range(ip, range); });
  }

  // Digest authentication of an INVITE: true when it may go on; otherwise the challenge (401)
  // or the refusal (403) has been sent.
  bool authenticated(const NuaEvent& e, const CallIdentity& id) {
    if (!auth_) return true;
    std::unique_ptr<auth_status_t, AuthStatusDeleter> as(auth_status_new(nullptr));
    if (!as || !e.sip || !e.sip->sip_request) {
      refuse(e.nh, SIP_500_INTERNAL_SERVER_ERROR, id, "cannot check the credentials");
      return false;
    }
    as->as_method = e.sip->sip_request->rq_method_name;
    as->as_uri = url_as_string(as->as_home, e.sip->sip_request->rq_url);
    as->as_realm = settings_.auth_realm.c_str();
    if (e.sip->sip_payload) {
      as->as_body = e.sip->sip_payload->pl_data;
      as->as_bodylen = e.sip->sip_payload->pl_len;
    }
    auth_mod_method(auth_.get(), as.get(), e.sip->sip_authorization, &kServerChallenger);
    if (as->as_status == 0) return true;
    if (as->as_status == 401 && !e.sip->sip_authorization) {
      // The usual first INVITE without credentials: challenge it, quietly.
      nua_respond(e.nh, as->as_status, as->as_phrase,
                  SIPTAG_HEADER(reinterpret_cast<sip_header_t*>(as->as_response)), TAG_END());
      return false;
    }
    refuse(e.nh, as->as_status, as->as_phrase, id,
           "digest authentication failed for user \"" + auth_user(e.sip) + "\"",
           reinterpret_cast<sip_header_t*>(as->as_response));
    return false;
  }

  static std::string auth_user(const sip_t* sip) {
    if (!sip->sip_authorization) return {};
    const char* user = msg_params_find(sip->sip_authorization->au_params, "username=");
    std::string text = user ? user : "";
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
      text = text.substr(1, text.size() - 2);
    }
    return text;
  }

  void reap() {
    for (auto it = calls_.begin(); it != calls_.end();) {
      if (it->second->done) {
        if (it->second->finisher.joinable()) it->second->finisher.join();
        it = calls_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // On the user agent's thread: starts or stops the registration as set_registering() last
  // said (several calls in a row end in the last one's state).
  void apply_registering() {
    if (!registration_) return;
    bool want = false;
    {
      std::lock_guard lock(mutex_);
      want = registering_;
    }
    if (want && !registration_->active()) {
      registration_->start();
    } else if (!want && registration_->active()) {
      spdlog::info("sip: another node registers {}; un-registering this one", settings_.user);
      registration_->stop();
    }
  }

  void on_event(const NuaEvent& e) {
    if (registration_ && registration_->owns(e.nh)) {
      registration_->on_event(e);
      return;
    }
    switch (e.event) {
      case nua_i_invite:
        if (e.call) {
          on_reinvite(*static_cast<Call*>(e.call), e);
        } else {
          on_invite(e);
        }
        break;
      case nua_r_invite:
        if (auto* call = static_cast<Call*>(e.call)) {
          if (call->refresh_pending && call->refresh_by_invite && !call->reinvite_pending) {
            on_refresh_answer(*call, e);
          } else {
            on_reinvite_answer(*call, e);
          }
        }
        break;
      case nua_i_update:
        // nua answers the peer's UPDATE (a session refresh) itself.
        if (e.call) on_peer_refresh(*static_cast<Call*>(e.call), e.sip);
        break;
      case nua_r_update:
        if (e.call) on_refresh_answer(*static_cast<Call*>(e.call), e);
        break;
      case nua_i_ack:
        if (e.call) on_ack(*static_cast<Call*>(e.call), e);
        break;
      case nua_i_state: {
        int state = nua_callstate_init;
        tl_gets(e.tags, NUTAG_CALLSTATE_REF(state), TAG_END());
        auto* call = static_cast<Call*>(e.call);
        if (state == nua_callstate_ready && call && !call->ended && !call->t38 && settings_.t38 &&
            settings_.t38_reinvite && call->reinvite_attempts == 0 && !call->reinvite_done) {
          // After CED, as Asterisk's ReceiveFAX does; the caller may have switched meanwhile.
          ++call->reinvite_attempts;
          with_call(call->id, settings_.t38_reinvite_delay,
                    [this](Call& c) { send_t38_reinvite(c); });
        }
        if (state == nua_callstate_terminated) {
          if (call) {
            nua_handle_bind(e.nh, nullptr);
            end_call(*call);
          }
          nua_handle_destroy(e.nh);
        }
        break;
      }
      default:
        break;
    }
  }

  void refuse(nua_handle_t* nh, int status, const char* phrase, const CallIdentity& id,
              const std::string& why, sip_header_t* header = nullptr) {
    spdlog::warn("sip: refused a call from {} to {}: {}", id.peer_ip, id.called, why);
    nua_respond(nh, status, phrase, TAG_IF(header, SIPTAG_HEADER(header)), TAG_END());
    if (observer_) {
      CallReport r;
      r.peer_ip = id.peer_ip;
      r.called = id.called;
      r.reason = std::to_string(status) + " " + phrase + ": " + why;
      observer_(r);
    }
  }

  void on_invite(const NuaEvent& e) {
    reap();
    const auto id = call_identity(e.sip, nua_current_request(e.nua),
                                  settings_.registrar.empty() ? std::string() : settings_.user);
    if (!allowed(id.peer_ip)) {
      refuse(e.nh, SIP_403_FORBIDDEN, id, "peer " + id.peer_ip + " is not in [sip] allowed_peers");
      return;
    }
    if (!authenticated(e, id)) return;
    // No SDP (delayed offer, as Cisco CUBE and some SBCs send): we offer in the 200 and the
    // answer comes in the ACK (RFC 3261 §13.2.1).
    const std::string body = payload_of(e.sip);
    std::optional<SessionDescription> offer;
    std::optional<AnswerChoice> choice;
    std::optional<Endpoint> remote;
    if (!body.empty()) {
      auto parsed = parse_sdp(body);
      if (!parsed) {
        refuse(e.nh, SIP_488_NOT_ACCEPTABLE, id, parsed.error().message);
        return;
      }
      offer = std::move(*parsed);
      choice = choose_answer(*offer, settings_.t38);
      if (!choice) {
        refuse(e.nh, SIP_488_NOT_ACCEPTABLE, id, "no PCMU, PCMA or T.38 stream offered");
        return;
      }
      const auto& stream = offer->streams[choice->index];
      auto resolved = resolve_endpoint(stream.address, stream.port);
      if (!resolved) {
        refuse(e.nh, SIP_488_NOT_ACCEPTABLE, id, "SDP: " + resolved.error().message);
        return;
      }
      remote = *resolved;
    }
    auto socket =
        bind_media(settings_.media_address, settings_.media_port_min, settings_.media_port_max);
    if (!socket) {
      refuse(e.nh, SIP_500_INTERNAL_SERVER_ERROR, id, socket.error().message);
      return;
    }
    auto call = std::make_unique<Call>();
    call->id = ++next_id_;
    call->nh = e.nh;
    call->identity = id;
    std::random_device rd;
    char unique[16];
    std::snprintf(unique, sizeof unique, "%08x", rd());
    call->file = settings_.spool_dir / ("sip-" + timestamp_now() + "-" + std::to_string(call->id) +
                                        "-" + unique + ".tif");
    call->record = CallRecord{id.caller_id, id.sip_uri, id.peer_ip,
                              id.called,    "",         timestamp_now("%Y-%m-%dT%H:%M:%SZ"),
                              false};
    // Who called is on disk before the call is answered, so that pages a crash leaves behind
    // still have their sender.
    if (auto ok = write_call_record(record_path(call->file), call->record); !ok) {
      refuse(e.nh, SIP_503_SERVICE_UNAVAILABLE, id, ok.error().message);
      return;
    }
    call->origin = SdpOrigin{settings_.advertised_address, rd(), 1};
    call->audio_port = socket->port();
    std::string sdp;
    // An offer comes with its choice and the endpoint it resolved to (set together above).
    if (!offer || !choice || !remote) {
      call->offer_in_200 = true;
      call->unanswered_socket = std::move(*socket);
      sdp = offer_sdp(*call);
    } else {
      const SessionDescription& offered = *offer;
      const AnswerChoice& chosen = *choice;
      const auto& stream = offered.streams[chosen.index];
      call->t38 = chosen.kind == StreamKind::t38;
      call->payload_type = chosen.payload_type;
      call->ptime = stream.ptime > 0 ? stream.ptime : 20;
      if (call->t38) call->t38_answered = answer_t38(stream.t38);
      if (auto ok = start_media(*call, std::move(*socket), *remote,
                                t38_config_of(stream.t38, call->t38_answered));
          !ok) {
        remove_call_files({call->file, record_path(call->file)});
        refuse(e.nh, SIP_500_INTERNAL_SERVER_ERROR, id, ok.error().message);
        return;
      }
      sdp = answer_sdp(*call, offered, chosen, call->audio_port);
    }
    nua_handle_bind(e.nh, call.get());
    nua_respond(e.nh, SIP_200_OK, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
                SIPTAG_PAYLOAD_STR(sdp.c_str()), TAG_END());
    spdlog::info("sip: call {} from {} ({}) to {} answered with {}", call->id, id.caller_id,
                 id.peer_ip, id.called,
                 call->offer_in_200 ? "an offer (INVITE without SDP)"
                 : call->t38        ? "T.38"
                                    : (call->payload_type ? "PCMA" : "PCMU"));
    const unsigned call_id = call->id;
    call->timer_policy =
        SessionTimerPolicy{static_cast<unsigned>(settings_.session_expires.count()),
                           static_cast<unsigned>(settings_.session_min_se.count())};
    call->peer_allows_update =
        e.sip && sip_is_allowed(e.sip->sip_allow, sip_method_update, "UPDATE") != 0;
    // Should our refresh not come first, nua's own is an UPDATE where the peer allows it.
    nua_set_hparams(e.nh, NUTAG_UPDATE_REFRESH(call->peer_allows_update ? 1 : 0), TAG_END());
    on_peer_refresh(*call, e.sip);
    with_call(call_id, settings_.max_call, [](Call& c) {
      spdlog::warn("sip: call {} exceeded the longest call allowed: hanging up", c.id);
      nua_bye(c.nh, TAG_END());
    });
    calls_.emplace(call->id, std::move(call));
  }

  Result<void> start_media(Call& call, UdpSocket socket, const Endpoint& remote,
                           const T38Config& t38) {
    MediaSession::Settings ms;
    ms.t30 = T30Config{false, false, call.file.string(), settings_.local_ident, settings_.ecm};
    ms.t38 = call.t38;
    ms.t38_config = t38;
    ms.payload_type = call.payload_type;
    ms.ptime = call.ptime;
    ms.remote = remote;
    ms.silence_timeout = settings_.silence_timeout;
    ms.timing = settings_.media_timing;
    ms.on_remote_ident = [c = &call](const std::string& remote_ident) {
      c->record.tsi = trim(remote_ident);
      if (auto ok = write_call_record(record_path(c->file), c->record); !ok) {
        spdlog::warn("sip: call {}: {}", c->id, ok.error().message);
      }
    };
    const unsigned call_id = call.id;
    call.media = std::make_unique<MediaSession>(std::move(socket), ms, nullptr, [this, call_id] {
      // The fax is over: the caller normally hangs up now; hang up ourselves if it does not.
      with_call(call_id, std::chrono::milliseconds(3000),
                [](Call& c) { nua_bye(c.nh, TAG_END()); });
    });
    return call.media->start();
  }

  // Our offer in a 200 to an INVITE or re-INVITE without SDP: what the call runs now (T.38, or
  // the audio codec), or PCMU and PCMA before media started.
  std::string offer_sdp(Call& call) {
    LocalStream s;
    s.port = call.audio_port;
    if (call.t38) {
      s.kind = StreamKind::t38;
      s.t38 = call.t38_answered;
    } else {
      s.kind = StreamKind::audio;
      s.payload_type = call.media ? call.payload_type : -1;
      s.ptime = call.ptime;
    }
    ++call.origin.version;
    return build_sdp(call.origin, {s});
  }

  std::string answer_sdp(Call& call, const SessionDescription& offer, const AnswerChoice& choice,
                         int port) {
    std::vector<LocalStream> streams;
    for (std::size_t i = 0; i < offer.streams.size(); ++i) {
      LocalStream s;
      if (i == choice.index) {
        s.kind = choice.kind;
        s.port = port;
        s.payload_type = choice.payload_type;
        s.ptime = call.ptime;
        s.t38 = call.t38_answered;
        if (choice.kind == StreamKind::audio) {
          s.direction = answer_direction(offer.streams[i].direction);
        }
      } else {
        s.rejected_line = offer.streams[i].line;
      }
      streams.push_back(std::move(s));
    }
    ++call.origin.version;
    return build_sdp(call.origin, streams);
  }

  // The ACK of a 200 in which we offered carries the answer.
  void on_ack(Call& call, const NuaEvent& e) {
    if (!call.offer_in_200) return;
    call.offer_in_200 = false;
    auto answer = parse_sdp(payload_of(e.sip));
    const SdpStream* chosen = nullptr;
    if (answer) {
      for (const auto& st : answer->streams) {
        if (st.port == 0) continue;
        if ((st.kind == StreamKind::t38 && call.t38) ||
            (st.kind == StreamKind::audio && !call.t38)) {
          chosen = &st;
          break;
        }
      }
    }
    const int pt = chosen ? first_g711_payload(*chosen) : -1;
    std::optional<Endpoint> remote;
    if (chosen) {
      if (auto r = resolve_endpoint(chosen->address, chosen->port)) remote = *r;
    }
    if (!remote || (chosen->kind == StreamKind::audio && pt < 0)) {
      spdlog::warn("sip: call {}: the ACK has no usable answer to our offer ({}): hanging up",
                   call.id, answer ? "no PCMU/PCMA stream" : answer.error().message);
      nua_bye(call.nh, TAG_END());
      return;
    }
    if (!call.media) {                            // the INVITE was offerless: media starts now
      auto& unanswered = call.unanswered_socket;  // kept since the offerless INVITE
      if (!unanswered) {
        spdlog::error("sip: call {}: an answer in the ACK, but no media socket kept: hanging up",
                      call.id);
        nua_bye(call.nh, TAG_END());
        return;
      }
      call.payload_type = pt;
      call.ptime = chosen->ptime > 0 ? chosen->ptime : 20;
      auto socket = std::move(*unanswered);
      unanswered.reset();
      if (auto ok = start_media(call, std::move(socket), *remote, T38Config{}); !ok) {
        spdlog::error("sip: call {}: {}", call.id, ok.error().message);
        nua_bye(call.nh, TAG_END());
        return;
      }
      spdlog::info("sip: call {}: {} from the ACK", call.id, pt == kPayloadPcma ? "PCMA" : "PCMU");
      return;
    }
    call.media->update(
        *remote, call.t38 ? -1 : pt,
        chosen->direction == Direction::sendrecv || chosen->direction == Direction::recvonly);
  }

  void on_reinvite(Call& call, const NuaEvent& e) {
    if (call.reinvite_pending || (call.refresh_pending && call.refresh_by_invite)) {
      // Glare: our re-INVITE crosses the caller's (RFC 3261 §14.2).
      nua_respond(e.nh, SIP_491_REQUEST_PENDING, TAG_END());
      return;
    }
    const std::string body = payload_of(e.sip);
    if (body.empty()) {
      // A session refresh or a delayed offer: offer what runs now; the ACK answers.
      if (!call.media) {
        nua_respond(e.nh, SIP_491_REQUEST_PENDING, TAG_END());
        return;
      }
      call.offer_in_200 = true;
      const auto sdp = offer_sdp(call);
      nua_respond(e.nh, SIP_200_OK, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
                  SIPTAG_PAYLOAD_STR(sdp.c_str()), TAG_END());
      on_peer_refresh(call, e.sip);
      return;
    }
    auto offer = parse_sdp(body);
    if (!offer || !call.media) {
      spdlog::warn("sip: call {}: re-INVITE refused: {}", call.id,
                   offer ? "media not started" : offer.error().message);
      nua_respond(e.nh, SIP_488_NOT_ACCEPTABLE, TAG_END());
      return;
    }
    auto choice = choose_answer(*offer, settings_.t38, call.t38 ? -1 : call.payload_type);
    if (!choice) {
      nua_respond(e.nh, SIP_488_NOT_ACCEPTABLE, TAG_END());
      return;
    }
    const auto& stream = offer->streams[choice->index];
    auto remote = resolve_endpoint(stream.address, stream.port);
    if (!remote) {
      nua_respond(e.nh, SIP_488_NOT_ACCEPTABLE, TAG_END());
      return;
    }
    if (choice->kind == StreamKind::t38 && !call.t38) {
      if (call.media->confirmed_pages() > 0) {
        // A T.38 terminal would start the fax anew and write over the pages received in G.711.
        spdlog::info("sip: call {}: T.38 re-INVITE after {} page(s) in G.711 refused", call.id,
                     call.media->confirmed_pages());
        nua_respond(e.nh, SIP_488_NOT_ACCEPTABLE, TAG_END());
        return;
      }
      auto socket =
          bind_media(settings_.media_address, settings_.media_port_min, settings_.media_port_max);
      if (!socket) {
        nua_respond(e.nh, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
        return;
      }
      call.audio_port = socket->port();
      call.t38 = true;
      call.reinvite_done = true;
      call.t38_answered = answer_t38(stream.t38);
      call.media->switch_to_t38(std::move(*socket), *remote,
                                t38_config_of(stream.t38, call.t38_answered));
      spdlog::info("sip: call {} switched to T.38 (re-INVITE from the caller)", call.id);
    } else if (choice->kind == StreamKind::t38) {
      call.t38_answered = answer_t38(stream.t38);
      call.media->update(*remote, -1, true);  // T.38 goes on; it may have moved
    } else if (call.t38) {
      // Back to audio after T.38 (Asterisk does so when its fax ended): answered, and the T.38
      // terminal finishes or times out as it would.
      call.t38 = false;
      call.payload_type = choice->payload_type;
      call.ptime = stream.ptime > 0 ? stream.ptime : call.ptime;
      spdlog::info("sip: call {}: re-INVITE back to audio after T.38 accepted", call.id);
    } else {
      call.payload_type = choice->payload_type;
      call.ptime = stream.ptime > 0 ? stream.ptime : call.ptime;
      const auto dir = stream.direction;
      call.media->update(*remote, call.payload_type,
                         dir == Direction::sendrecv || dir == Direction::recvonly);
    }
    const auto sdp = answer_sdp(call, *offer, *choice, call.audio_port);
    nua_respond(e.nh, SIP_200_OK, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
                SIPTAG_PAYLOAD_STR(sdp.c_str()), TAG_END());
    on_peer_refresh(call, e.sip);
  }

  // ---- Session timers (RFC 4028) ----

  // A request of the peer that we answered 2xx (INVITE, re-INVITE, UPDATE) set the session
  // timer anew: who refreshes, and how often.
  void on_peer_refresh(Call& call, const sip_t* request) {
    const auto h = timer_headers(request);
    call.session = negotiate_as_uas(h, call.peer_supports_timer, call.timer_policy);
    call.peer_supports_timer = call.peer_supports_timer || h.supported;
    schedule_refresh(call);
  }

  // Our refresh goes out at a quarter of the interval, when we are the refresher; any refresh
  // (ours, the peer's, a re-INVITE) starts the interval again.
  void schedule_refresh(Call& call) {
    const unsigned generation = ++call.refresh_generation;
    if (!call.session.we_refresh) return;
    with_call(call.id, refresh_after(call.session.interval), [this, generation](Call& c) {
      if (c.refresh_generation == generation) send_refresh(c);
    });
  }

  void send_refresh(Call& call) {
    if (call.reinvite_pending || call.refresh_pending || call.offer_in_200 || !call.media) {
      // An offer/answer exchange is under way (it refreshes the session too): a moment later.
      const unsigned generation = call.refresh_generation;
      with_call(call.id, std::chrono::milliseconds(200), [this, generation](Call& c) {
        if (c.refresh_generation == generation) send_refresh(c);
      });
      return;
    }
    call.refresh_pending = true;
    ++call.refreshes_sent;
    if (call.peer_allows_update) {
      // RFC 4028 §7.4 / RFC 3311: UPDATE without a body refreshes without touching media.
      call.refresh_by_invite = false;
      nua_update(call.nh, TAG_END());
      return;
    }
    // The peer does not allow UPDATE: a re-INVITE offering the media as it runs.
    call.refresh_by_invite = true;
    const auto sdp = offer_sdp(call);
    nua_invite(call.nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(sdp.c_str()),
               TAG_END());
  }

  void on_refresh_answer(Call& call, const NuaEvent& e) {
    if (e.status == 100 && e.sip && e.sip->sip_status && e.sip->sip_status->st_status == 422) {
      // RFC 4028 §7.2: ask again with at least the peer's Min-SE. sofia-sip 1.12 sends the
      // request again at once but reads the interval from the handle's settings for each
      // attempt, so they are raised here: the next attempt (or our next refresh) has it.
      if (e.sip->sip_min_se) {
        const auto min = static_cast<unsigned>(e.sip->sip_min_se->min_delta);
        call.timer_policy.min_se = std::max(call.timer_policy.min_se, min);
        call.timer_policy.expires = std::max(call.timer_policy.expires, min);
        nua_set_hparams(call.nh, NUTAG_SESSION_TIMER(call.timer_policy.expires),
                        NUTAG_MIN_SE(call.timer_policy.min_se), TAG_END());
        spdlog::info("sip: call {}: 422 to our session refresh: Min-SE {} s", call.id, min);
      }
      return;
    }
    if (e.status < 200 || !call.refresh_pending) return;
    call.refresh_pending = false;
    if (e.status < 300) {
      const auto h = timer_headers(e.sip);
      call.session = negotiate_as_uac(h, call.peer_supports_timer, call.timer_policy);
      call.peer_supports_timer = call.peer_supports_timer || h.supported;
      schedule_refresh(call);
      return;
    }
    if (e.status == 408 || e.status == 481) {
      // RFC 4028 §10: the session is gone.
      spdlog::warn("sip: call {}: session refresh answered {}: hanging up", call.id, e.status);
      nua_bye(call.nh, TAG_END());
      return;
    }
    if (!call.refresh_by_invite && (e.status == 405 || e.status == 501)) {
      spdlog::info("sip: call {}: the peer refuses UPDATE ({}): refreshing by re-INVITE", call.id,
                   e.status);
      call.peer_allows_update = false;
      send_refresh(call);
      return;
    }
    const unsigned generation = call.refresh_generation;
    const auto delay = e.status == 491 ? std::chrono::milliseconds(std::random_device{}() % 2001)
                                       : refresh_after(call.session.interval);
    spdlog::info("sip: call {}: session refresh answered {}: again in {} ms", call.id, e.status,
                 delay.count());
    with_call(call.id, delay, [this, generation](Call& c) {
      if (c.refresh_generation == generation) send_refresh(c);
    });
  }

  void send_t38_reinvite(Call& call) {
    if (call.t38 || call.reinvite_pending || call.reinvite_done || !call.media) return;
    if (call.refresh_pending) {
      // Our session refresh is under way (one offer/answer at a time): a moment later.
      with_call(call.id, std::chrono::milliseconds(200), [this](Call& c) { send_t38_reinvite(c); });
      return;
    }
    if (call.media->confirmed_pages() > 0) {
      call.reinvite_done = true;  // pages in G.711 already: it stays on G.711
      return;
    }
    if (!call.offered_t38) {
      auto socket =
          bind_media(settings_.media_address, settings_.media_port_min, settings_.media_port_max);
      if (!socket) {
        spdlog::warn("sip: call {}: no socket for T.38: {}", call.id, socket.error().message);
        return;
      }
      call.offered_t38 = std::move(*socket);
    }
    call.reinvite_pending = true;
    LocalStream s;
    s.kind = StreamKind::t38;
    s.port = call.offered_t38->port();
    s.t38 = our_t38_offer();
    ++call.origin.version;
    const auto sdp = build_sdp(call.origin, {s});
    spdlog::info("sip: call {}: re-INVITE to T.38", call.id);
    nua_invite(call.nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(sdp.c_str()),
               TAG_END());
  }

  void on_reinvite_answer(Call& call, const NuaEvent& e) {
    if (e.status < 200 || !call.reinvite_pending) return;
    call.reinvite_pending = false;
    if (e.status == 491 && call.reinvite_attempts < 4) {
      // RFC 3261 §14.1: the side that did not place the call retries after 0 to 2 s.
      ++call.reinvite_attempts;
      std::random_device rd;
      const auto delay = std::chrono::milliseconds(rd() % 2001);
      spdlog::info("sip: call {}: 491 to our T.38 re-INVITE: again in {} ms", call.id,
                   delay.count());
      with_call(call.id, delay, [this](Call& c) { send_t38_reinvite(c); });
      return;
    }
    if (e.status >= 300) {
      call.reinvite_done = true;
      call.offered_t38.reset();
      spdlog::info("sip: call {}: the caller refused T.38 ({} {}); staying on G.711", call.id,
                   e.status, e.phrase ? e.phrase : "");
      return;
    }
    T38Params peer;
    const auto remote = t38_endpoint_of_answer(payload_of(e.sip), &peer);
    if (!remote || !call.offered_t38) {
      call.reinvite_done = true;
      call.offered_t38.reset();
      spdlog::info("sip: call {}: T.38 re-INVITE answered without T.38; staying on G.711", call.id);
      return;
    }
    const auto h = timer_headers(e.sip);
    call.session = negotiate_as_uac(h, call.peer_supports_timer, call.timer_policy);
    call.peer_supports_timer = call.peer_supports_timer || h.supported;
    schedule_refresh(call);
    auto socket = std::move(*call.offered_t38);
    call.offered_t38.reset();
    call.t38 = true;
    call.reinvite_done = true;
    call.t38_answered = our_t38_offer();
    call.audio_port = socket.port();
    // The answer's rate management is what both sides use (T.38 Annex D: the answerer decides).
    T38Params ours = our_t38_offer();
    ours.local_tcf = peer.local_tcf;
    call.media->switch_to_t38(std::move(socket), *remote, t38_config_of(peer, ours));
    spdlog::info("sip: call {} switched to T.38 (our re-INVITE)", call.id);
  }

  void end_call(Call& call) {
    if (call.ended) return;
    call.ended = true;
    call.finisher = std::thread([this, &call] {
      finish(call);
      call.done = true;
    });
  }

  // Off the SIP thread: stop the media (closing the TIFF), then hand the pages to the sink.
  void finish(Call& call) {
    static const T30Outcome kNoFax;
    static const MediaStats kNoMedia;
    if (call.media) call.media->stop();
    const auto& out = call.media ? call.media->outcome() : kNoFax;
    const auto& stats = call.media ? call.media->stats() : kNoMedia;
    CallReport r;
    r.peer_ip = call.identity.peer_ip;
    r.called = call.identity.called;
    r.pages = out.pages;
    r.completed = out.finished && out.completion == 0;
    r.reason = out.reason.empty() ? "call ended before the fax started" : out.reason;
    r.t38 = call.media && call.media->is_t38();
    r.ecm = out.ecm;
    r.bad_rows = out.bad_rows;
    r.cpu_seconds = stats.cpu_seconds;
    r.call_seconds = stats.wall_seconds;
    r.late_packets = stats.late;
    r.late_ticks = stats.late_ticks;
    const std::string tsi = trim(out.remote_ident);
    if (!tsi.empty()) call.record.tsi = tsi;
    const LeftoverCall files{call.file, record_path(call.file)};
    if (out.pages == 0) {
      spdlog::warn("sip: call {} from {} ({}, TSI \"{}\") to {}: no page received: {}", call.id,
                   call.identity.caller_id, call.identity.peer_ip, tsi, call.identity.called,
                   r.reason);
      if (failed_) failed_(failed_reception(call.record, "no page received: " + r.reason));
      remove_call_files(files);
    } else {
      if (r.completed) {
        // A crash before the hand-over must not make a complete fax look incomplete.
        call.record.completed = true;
        if (auto ok = write_call_record(files.record, call.record); !ok) {
          spdlog::warn("sip: call {}: {}", call.id, ok.error().message);
        }
      }
      const std::string note = out.bad_rows > 0
                                   ? std::to_string(out.bad_rows) + " bad line" +
                                         (out.bad_rows == 1 ? "" : "s") + " (the call had no ECM)"
                                   : std::string();
      if (deliver(call.file, call.record, "call " + std::to_string(call.id), note)) {
        spdlog::info("sip: call {} from {} (TSI \"{}\") to {}: {} page(s){}", call.id,
                     call.identity.caller_id, tsi, call.identity.called, out.pages,
                     r.completed ? "" : ", incomplete: " + out.reason);
        remove_call_files(files);
      }
    }
    if (observer_) observer_(r);
  }

  // At start-up: what a crash (or a failed hand-over) left in spool_dir. A call with complete
  // pages becomes a job (incomplete unless T.30 had ended normally); one without is a failed
  // reception. Files go only once the sink has them.
  void recover() {
    for (const auto& left : leftover_calls(settings_.spool_dir)) {
      CallRecord record;
      std::error_code ec;
      if (std::filesystem::exists(left.record, ec)) {
        if (auto r = read_call_record(left.record)) {
          record = std::move(*r);
        } else {
          spdlog::warn("sip: {}", r.error().message);
        }
      }
      const int pages = keep_complete_pages(left.tiff);
      const std::string what = "call left in " + left.tiff.string();
      if (pages == 0) {
        spdlog::warn("sip: {} from {} ({}) to {}: no complete page: a failed reception", what,
                     record.caller_id, record.peer_ip, record.called);
        if (failed_) {
          failed_(
              failed_reception(record, "atdeskd stopped during the call before a complete page"));
        }
        remove_call_files(left);
        continue;
      }
      if (deliver(left.tiff, record, what)) {
        spdlog::info("sip: {} from {} (TSI \"{}\") to {}: {} page(s) recovered{}", what,
                     record.caller_id, record.tsi, record.called, pages,
                     record.completed ? "" : ", incomplete");
        remove_call_files(left);
      }
    }
  }

  // Hands the pages in `file` to the sink; false (logged, file kept) when it did not take them.
  bool deliver(const std::filesystem::path& file, const CallRecord& record, const std::string& what,
               const std::string& note = {}) {
    IncomingDocument doc;
    auto data = read_all(file);
    if (!data) {
      spdlog::error("sip: {}: {}", what, data.error().message);
      return false;
    }
    doc.data = std::move(*data);
    doc.name = file.filename().string();
    doc.source = JobSource::sip;
    doc.incomplete = !record.completed;
    doc.note = note;
    Sender& s = doc.sender;
    s.tsi = record.tsi;
    s.caller_id = record.caller_id;
    s.sip_uri = record.sip_uri;
    s.ip = record.peer_ip;
    if (!record.called.empty()) {
      if (auto called = FaxNumber::parse(record.called, settings_.numbers)) s.called = *called;
    }
    const std::string& first =
        settings_.number_from == NumberSource::tsi ? record.tsi : record.caller_id;
    const std::string& second =
        settings_.number_from == NumberSource::tsi ? record.caller_id : record.tsi;
    for (const auto* text : {&first, &second}) {
      if (text->empty()) continue;
      if (auto n = FaxNumber::parse(*text, settings_.numbers); n && !n->empty()) {
        s.fax = *n;
        break;
      }
    }
    auto ok = sink_(std::move(doc));
    if (!ok) {
      spdlog::error("sip: {}: pages kept in {}: {}", what, file.string(), ok.error().message);
      return false;
    }
    return true;
  }

  Settings settings_;
  Sink sink_;
  Observer observer_;
  FailureSink failed_;
  std::unique_ptr<auth_mod_t, AuthModDeleter> auth_;  // digest authentication, when configured
  std::mutex mutex_;  // guards ua_ for threads other than the user agent's
  std::unique_ptr<UserAgent> ua_;
  std::unique_ptr<Registration> registration_;       // with a registrar configured
  bool registering_ = true;                          // set_registering(); guarded by mutex_
  std::map<unsigned, std::unique_ptr<Call>> calls_;  // only on the user agent's thread, or after
  unsigned next_id_ = 0;
};

SipFaxReceiver::SipFaxReceiver(Settings settings, Sink sink, Observer observer, FailureSink failed)
    : impl_(std::make_unique<Impl>(std::move(settings), std::move(sink), std::move(observer),
                                   std::move(failed))) {}

SipFaxReceiver::~SipFaxReceiver() {
  stop();
}

Result<void> SipFaxReceiver::start() {
  return impl_->start();
}

void SipFaxReceiver::stop() {
  impl_->stop();
}

void SipFaxReceiver::set_registering(bool registering) {
  impl_->set_registering(registering);
}

}  // namespace atdesk::fax_sip
