#include "atdesk/fax_sip/sender.hpp"

#include <sofia-sip/msg_header.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_tag.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <random>

#include "media_session.hpp"
#include "sdp.hpp"
#include "user_agent.hpp"

namespace atdesk::fax_sip {
namespace {

// One outgoing call; its members are touched on the user agent's thread, except the ones under
// `mutex` that the waiting caller reads.
struct Call {
  const SendSettings& settings;
  UserAgent* ua = nullptr;
  nua_handle_t* nh = nullptr;
  SdpOrigin origin;
  std::optional<UdpSocket> audio_socket;
  std::optional<UdpSocket> offered_t38;
  std::unique_ptr<MediaSession> media;
  bool t38 = false;
  bool authenticated = false;  // credentials sent once; a second challenge is a refusal
  int t38_attempts = 0;        // our T.38 re-INVITEs answered 491 so far
  bool t38_pending = false;    // our T.38 re-INVITE awaits its final response

  std::mutex mutex;
  std::condition_variable changed;
  bool terminated = false;
  std::optional<Error> error;

  explicit Call(const SendSettings& s) : settings(s) {}

  void set_error(Error e) {
    std::lock_guard lock(mutex);
    if (!error) error = std::move(e);
  }

  void invite() {
    nh = nua_handle(ua->nua(), this, NUTAG_URL(settings.to.c_str()),
                    SIPTAG_TO_STR(settings.to.c_str()), SIPTAG_FROM_STR(settings.from.c_str()),
                    TAG_END());
    LocalStream audio;
    audio.kind = StreamKind::audio;
    const auto& socket = audio_socket;  // bound before the INVITE
    audio.port = socket ? socket->port() : 0;
    audio.payload_type = -1;
    const auto sdp = build_sdp(origin, {audio});
    const std::string pai = settings.asserted_identity.empty()
                                ? std::string()
                                : "P-Asserted-Identity: <" + settings.asserted_identity + ">";
    nua_invite(nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(sdp.c_str()),
               TAG_IF(!pai.empty(), SIPTAG_HEADER_STR(pai.c_str())), TAG_END());
  }

  void on_event(const NuaEvent& e) {
    if (e.nh != nh) return;
    switch (e.event) {
      case nua_r_invite:
        on_answer(e);
        break;
      case nua_i_invite:
        on_reinvite(e);
        break;
      case nua_i_state: {
        int state = nua_callstate_init;
        tl_gets(e.tags, NUTAG_CALLSTATE_REF(state), TAG_END());
        if (state == nua_callstate_terminated) {
          std::lock_guard lock(mutex);
          terminated = true;
          changed.notify_all();
        }
        break;
      }
      default:
        break;
    }
  }

  void on_answer(const NuaEvent& e) {
    if (e.status < 200) return;
    if (media) {  // our re-INVITE to T.38
      if (!offered_t38 || !t38_pending) return;
      t38_pending = false;
      if (e.status == 491 && t38_attempts < 4 && !t38) {
        // RFC 3261 §14.1: the side that placed the call retries after 2.1 to 4 s.
        ++t38_attempts;
        std::random_device rd;
        ua->post_after(std::chrono::milliseconds(2100 + rd() % 1901), [this] {
          if (!terminated && !t38) offer_t38();
        });
        return;
      }
      auto socket = std::move(*offered_t38);
      offered_t38.reset();
      if (e.status >= 300) {
        spdlog::warn("fax send: {} refused T.38 ({} {}); staying on G.711", settings.to, e.status,
                     e.phrase ? e.phrase : "");
        return;
      }
      T38Params peer;
      if (auto remote = t38_endpoint_of_answer(payload_of(e.sip), &peer)) {
        t38 = true;
        media->switch_to_t38(
            std::move(socket), *remote,
            T38Config{peer.local_tcf, std::min(peer.max_bit_rate, 14400), peer.max_datagram});
      }
      return;
    }
    if ((e.status == 401 || e.status == 407) && !settings.user.empty() && !authenticated && e.sip) {
      // The challenge's realm, quoted as it came, is what sofia-sip's NUTAG_AUTH expects.
      const msg_auth_t* challenge =
          e.status == 401 ? e.sip->sip_www_authenticate : e.sip->sip_proxy_authenticate;
      const char* realm = challenge ? msg_params_find(challenge->au_params, "realm=") : nullptr;
      if (challenge && realm && challenge->au_scheme) {
        authenticated = true;
        const std::string credentials = std::string(challenge->au_scheme) + ":" + realm + ":" +
                                        settings.user + ":" + settings.password;
        nua_authenticate(nh, NUTAG_AUTH(credentials.c_str()), TAG_END());
        return;
      }
    }
    if (e.status >= 300) {
      set_error(make_error(Errc::unavailable,
                           settings.to + ": the call was refused: " + std::to_string(e.status) +
                               " " + (e.phrase ? e.phrase : "")));
      if (e.status == 401 || e.status == 407) {
        // nua keeps a challenged call waiting for credentials (no terminated state follows):
        // there are none (more) to give, so the call is over.
        std::lock_guard lock(mutex);
        terminated = true;
        changed.notify_all();
      }
      return;
    }
    auto answer = parse_sdp(payload_of(e.sip));
    if (!answer) {
      set_error(make_error(Errc::invalid_argument, settings.to + ": " + answer.error().message));
      nua_bye(nh, TAG_END());
      return;
    }
    const SdpStream* chosen = nullptr;
    for (const auto& s : answer->streams) {
      if (s.port != 0 && (s.kind == StreamKind::audio || s.kind == StreamKind::t38)) {
        chosen = &s;
        break;
      }
    }
    const int pt = chosen ? first_g711_payload(*chosen) : -1;
    if (!chosen || (chosen->kind == StreamKind::audio && pt < 0)) {
      set_error(make_error(Errc::unsupported, settings.to + ": the answer has no PCMU/PCMA"));
      nua_bye(nh, TAG_END());
      return;
    }
    auto remote = resolve_endpoint(chosen->address, chosen->port);
    if (!remote) {
      set_error(make_error(Errc::invalid_argument,
                           settings.to + ": SDP answer: " + remote.error().message));
      nua_bye(nh, TAG_END());
      return;
    }
    MediaSession::Settings ms;
    ms.t30 = T30Config{true, true, settings.file.string(), settings.ident, settings.ecm};
    ms.t38 = chosen->kind == StreamKind::t38;
    ms.payload_type = pt < 0 ? 0 : pt;
    ms.ptime = chosen->ptime > 0 ? chosen->ptime : 20;
    ms.remote = *remote;
    t38 = ms.t38;
    auto& socket = audio_socket;  // bound before the INVITE, handed to the media once
    if (!socket) {
      set_error(make_error(Errc::internal, settings.to + ": the media socket is gone"));
      nua_bye(nh, TAG_END());
      return;
    }
    media = std::make_unique<MediaSession>(std::move(*socket), ms, settings.on_page, [this] {
      ua->post([this] {
        if (!terminated) nua_bye(nh, TAG_END());
      });
    });
    audio_socket.reset();
    if (auto ok = media->start(); !ok) {
      set_error(ok.error());
      nua_bye(nh, TAG_END());
      return;
    }
    if (settings.t38 && !t38) offer_t38();
  }

  // Our re-INVITE to T.38 (again after a 491, with the same socket).
  void offer_t38() {
    if (!offered_t38) {
      auto socket = UdpSocket::bind(settings.local_address, 0);
      if (!socket) return;
      offered_t38 = std::move(*socket);
    }
    LocalStream s;
    s.kind = StreamKind::t38;
    s.port = offered_t38->port();
    s.t38 = our_t38_offer();
    ++origin.version;
    const auto sdp = build_sdp(origin, {s});
    t38_pending = true;
    nua_invite(nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(sdp.c_str()),
               TAG_END());
  }

  // A re-INVITE from the receiver (to T.38, as gateways do once they hear a fax).
  void on_reinvite(const NuaEvent& e) {
    auto offer = parse_sdp(payload_of(e.sip));
    if (t38_pending) {
      // Glare: our T.38 re-INVITE crosses the receiver's (RFC 3261 §14.2).
      nua_respond(e.nh, 491, "Request Pending", TAG_END());
      return;
    }
    if (!offer || !media) {
      nua_respond(e.nh, 488, "Not Acceptable Here", TAG_END());
      return;
    }
    auto choice = choose_answer(*offer, true);
    if (!choice || choice->kind != StreamKind::t38 || t38) {
      nua_respond(e.nh, 488, "Not Acceptable Here", TAG_END());
      return;
    }
    const auto& stream = offer->streams[choice->index];
    auto remote = resolve_endpoint(stream.address, stream.port);
    auto socket = UdpSocket::bind(settings.local_address, 0);
    if (!remote || !socket) {
      nua_respond(e.nh, 488, "Not Acceptable Here", TAG_END());
      return;
    }
    std::vector<LocalStream> streams;
    for (std::size_t i = 0; i < offer->streams.size(); ++i) {
      LocalStream s;
      if (i == choice->index) {
        s.kind = StreamKind::t38;
        s.port = socket->port();
        s.t38 = answer_t38(stream.t38);
      } else {
        s.rejected_line = offer->streams[i].line;
      }
      streams.push_back(s);
    }
    ++origin.version;
    const auto sdp = build_sdp(origin, streams);
    t38 = true;
    const auto ours = answer_t38(stream.t38);
    offered_t38.reset();  // the receiver's T.38 won; ours is no longer wanted
    media->switch_to_t38(
        std::move(*socket), *remote,
        T38Config{ours.local_tcf, std::min(stream.t38.max_bit_rate, ours.max_bit_rate),
                  stream.t38.max_datagram});
    nua_respond(e.nh, 200, "OK", SIPTAG_CONTENT_TYPE_STR("application/sdp"),
                SIPTAG_PAYLOAD_STR(sdp.c_str()), TAG_END());
  }
};

}  // namespace

Result<SendReport> send_fax(const SendSettings& settings) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(settings.file, ec)) {
    return fail(Errc::not_found, settings.file.string() + ": no such file (expected a TIFF)");
  }
  if (!(settings.to.starts_with("sip:") || settings.to.starts_with("sips:"))) {
    return fail(Errc::invalid_argument,
                "--to: expected a sip: URI like sip:4930123456@192.0.2.10:5060, got \"" +
                    settings.to + "\"");
  }
  if (settings.user.find(':') != std::string::npos ||
      settings.password.find(':') != std::string::npos) {
    // sofia-sip takes credentials as "scheme:realm:user:password" and cuts at each colon.
    return fail(Errc::invalid_argument,
                "the SIP user name and password cannot contain ':' (sofia-sip's credentials)");
  }
  Call call(settings);
  auto audio = UdpSocket::bind(settings.local_address, 0);
  if (!audio) return fail(audio.error());
  call.audio_socket = std::move(*audio);
  std::random_device rd;
  call.origin = SdpOrigin{settings.local_address, rd(), 1};
  const std::string host = settings.local_address.find(':') != std::string::npos
                               ? "[" + settings.local_address + "]"
                               : settings.local_address;
  UserAgent::Settings ua_settings{"sip:" + host + ":*", "atdesk fax send"};
  ua_settings.udp_receive_buffer = 0;  // one call: the kernel's default buffer is plenty
  auto ua =
      UserAgent::start(std::move(ua_settings), [&call](const NuaEvent& e) { call.on_event(e); });
  if (!ua) return fail(ua.error());
  call.ua = ua->get();
  (*ua)->post([&call] { call.invite(); });
  {
    std::unique_lock lock(call.mutex);
    const auto limit = settings.max_call + std::chrono::seconds(60);
    if (!call.changed.wait_for(lock, limit, [&call] { return call.terminated; })) {
      spdlog::warn("fax send: {}: the call did not end within {} s", settings.to, limit.count());
    }
  }
  SendReport report;
  if (call.media) {
    call.media->stop();
    const auto& out = call.media->outcome();
    report.completed = out.finished && out.completion == 0;
    report.pages = out.pages;
    report.reason = out.reason;
    report.remote_ident = out.remote_ident;
    report.t38 = call.media->is_t38();
    report.ecm = out.ecm;
    report.bit_rate = out.bit_rate;
    report.cpu_seconds = call.media->stats().cpu_seconds;
    report.call_seconds = call.media->stats().wall_seconds;
    report.late_packets = call.media->stats().late;
    report.ticks = call.media->stats().ticks;
    report.late_ticks = call.media->stats().late_ticks;
  }
  std::promise<void> destroyed;
  (*ua)->post([&call, &destroyed] {
    if (call.nh) nua_handle_destroy(call.nh);
    call.nh = nullptr;
    destroyed.set_value();
  });
  destroyed.get_future().wait();
  ua->reset();
  std::lock_guard lock(call.mutex);
  if (call.error) return fail(*call.error);
  if (!call.media)
    return fail(Errc::unavailable, settings.to + ": the call ended before it was answered");
  return report;
}

}  // namespace atdesk::fax_sip
