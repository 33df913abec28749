#include "sip_ingress.hpp"

#include <charconv>

#include <arpa/inet.h>

#include "config_section.hpp"
#include "secrets.hpp"

namespace atdesk::app {
namespace {

bool is_ip(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

// The audit log's entry ("fax.failed_reception") for a call that brought no page.
std::string failed_reception_subject(const fax_sip::SipFaxReceiver::FailedReception& f) {
  if (!f.caller_id.empty()) return "caller " + f.caller_id;
  if (!f.sip_uri.empty()) return "caller " + f.sip_uri;
  if (!f.tsi.empty()) return "TSI " + f.tsi;
  return f.peer_ip.empty() ? "unknown caller" : "caller at " + f.peer_ip;
}

std::string failed_reception_detail(const fax_sip::SipFaxReceiver::FailedReception& f) {
  std::string d = "fax call";
  if (!f.sip_uri.empty()) d += " from " + f.sip_uri;
  if (!f.peer_ip.empty()) d += " (" + f.peer_ip + ")";
  if (!f.tsi.empty()) d += ", TSI \"" + f.tsi + "\"";
  if (!f.called.empty()) d += " to " + f.called;
  if (!f.started.empty()) d += ", started " + f.started;
  return d + ": " + f.reason;
}

}  // namespace

Result<std::optional<fax_sip::SipFaxReceiver::Settings>> sip_settings(const Config& config) {
  if (!config.sip) return std::nullopt;
  Section s(&*config.sip, "sip", config.source);
  bool enabled = true;
  ATDESK_TRY(s.boolean("enabled", enabled));
  fax_sip::SipFaxReceiver::Settings out;
  ATDESK_TRY(s.string("address", out.listen_address));
  ATDESK_TRY(s.integer("port", out.port, 1, 65535));
  ATDESK_TRY(s.string("media_address", out.media_address));
  ATDESK_TRY(s.string("advertised_address", out.advertised_address));
  long long port_min = 0;
  long long port_max = 0;
  ATDESK_TRY(s.integer("media_port_min", port_min, 1024, 65535));
  ATDESK_TRY(s.integer("media_port_max", port_max, 1024, 65535));
  ATDESK_TRY(s.strings("allowed_peers", out.allowed_peers));
  ATDESK_TRY(s.string("local_id", out.local_ident));
  ATDESK_TRY(s.boolean("ecm", out.ecm));
  ATDESK_TRY(s.boolean("t38", out.t38));
  ATDESK_TRY(s.boolean("t38_reinvite", out.t38_reinvite));
  long long reinvite_delay = out.t38_reinvite_delay.count();
  ATDESK_TRY(s.integer("t38_reinvite_delay_ms", reinvite_delay, 0, 30000));
  out.t38_reinvite_delay = std::chrono::milliseconds(reinvite_delay);
  std::string number_from = "caller_id";
  ATDESK_TRY(s.string("number_from", number_from));
  std::string spool = (config.state_dir / "sip").string();
  ATDESK_TRY(s.string("spool_dir", spool));
  long long silence = out.silence_timeout.count() / 1000;
  ATDESK_TRY(s.integer("silence_timeout_s", silence, 5, 600));
  long long max_minutes = out.max_call.count() / 60;
  ATDESK_TRY(s.integer("max_call_minutes", max_minutes, 1, 600));
  // RFC 4028 §4: no session interval below 90 s on the wire (also our Min-SE).
  long long session_expires = out.session_expires.count();
  ATDESK_TRY(s.integer("session_expires_s", session_expires, 90, 86400));
  out.session_expires = std::chrono::seconds(session_expires);
  ATDESK_TRY(s.string("registrar", out.registrar));
  ATDESK_TRY(s.string("register_user", out.user));
  ATDESK_TRY(s.string("register_auth_user", out.auth_user));
  std::string register_password_file;
  ATDESK_TRY(s.string("register_password_file", register_password_file));
  long long expires = out.register_expires.count();
  ATDESK_TRY(s.integer("register_expires_s", expires, 60, 86400));
  out.register_expires = std::chrono::seconds(expires);
  // UDP bindings of common NAT routers expire after 30 s.
  long long keepalive = out.register_keepalive.count() / 1000;
  ATDESK_TRY(s.integer("register_keepalive_s", keepalive, 5, 25));
  out.register_keepalive = std::chrono::seconds(keepalive);
  std::string password_file;
  ATDESK_TRY(s.string("username", out.auth_username));
  ATDESK_TRY(s.string("password_file", password_file));
  ATDESK_TRY(s.string("realm", out.auth_realm));
  ATDESK_TRY(s.no_unknown_keys());
  if (!enabled) return std::nullopt;

  if (!is_ip(out.listen_address)) {
    return fail(Errc::invalid_argument, s.where("address") +
                                            ": expected an IPv4 or IPv6 address, got \"" +
                                            out.listen_address + "\"");
  }
  if (out.media_address.empty()) {
    if (out.listen_address == "0.0.0.0" || out.listen_address == "::") {
      return fail(Errc::invalid_argument,
                  s.where("media_address") +
                      ": required when address is a wildcard (it goes into the SDP)");
    }
  } else if (!is_ip(out.media_address)) {
    return fail(Errc::invalid_argument, s.where("media_address") +
                                            ": expected an IPv4 or IPv6 address, got \"" +
                                            out.media_address + "\"");
  }
  if (!out.advertised_address.empty() && !is_ip(out.advertised_address)) {
    return fail(Errc::invalid_argument, s.where("advertised_address") +
                                            ": expected an IPv4 or IPv6 address, got \"" +
                                            out.advertised_address + "\"");
  }
  if ((port_min == 0) != (port_max == 0) || port_max < port_min) {
    return fail(
        Errc::invalid_argument,
        s.where("media_port_max") + ": media_port_min and media_port_max go together, min <= max");
  }
  out.media_port_min = static_cast<int>(port_min);
  out.media_port_max = static_cast<int>(port_max);
  for (const auto& peer : out.allowed_peers) {
    if (!fax_sip::is_address_range(peer)) {
      return fail(Errc::invalid_argument,
                  s.where("allowed_peers") +
                      ": expected IP addresses or CIDR ranges (\"192.0.2.0/24\"), got \"" + peer +
                      "\"");
    }
  }
  if (out.auth_username.empty() != password_file.empty()) {
    return fail(Errc::invalid_argument,
                s.where(out.auth_username.empty() ? "username" : "password_file") +
                    ": username and password_file go together (digest authentication)");
  }
  if (!password_file.empty()) {
    auto password = read_secret_file(password_file, s.where("password_file"));
    if (!password) return fail(password.error());
    out.auth_password = std::move(*password);
    if (out.auth_realm.empty() || out.auth_realm.find('"') != std::string::npos) {
      return fail(Errc::invalid_argument,
                  s.where("realm") + ": expected a non-empty realm without quotes");
    }
  }
  if (out.allowed_peers.empty() && out.auth_username.empty()) {
    return fail(Errc::invalid_argument,
                s.where("allowed_peers") +
                    ": required (the addresses of the trunk or PBX allowed to send faxes) unless "
                    "username and password_file are set");
  }
  if (out.local_ident.size() > 20) {
    return fail(Errc::invalid_argument, s.where("local_id") + ": at most 20 characters (T.30)");
  }
  if (number_from == "caller_id") {
    out.number_from = fax_sip::NumberSource::caller_id;
  } else if (number_from == "tsi") {
    out.number_from = fax_sip::NumberSource::tsi;
  } else {
    return fail(Errc::invalid_argument, s.where("number_from") +
                                            ": expected \"caller_id\" or \"tsi\", got \"" +
                                            number_from + "\"");
  }
  if (!out.registrar.empty()) {
    if (!out.registrar.starts_with("sip:") || out.registrar.size() < 5) {
      return fail(Errc::invalid_argument, s.where("registrar") +
                                              ": expected a SIP URI like \"sip:pbx.example.org\", "
                                              "got \"" +
                                              out.registrar + "\"");
    }
    if (out.user.empty()) {
      return fail(Errc::invalid_argument,
                  s.where("register_user") + ": required with a registrar (the account)");
    }
    if (register_password_file.empty()) {
      return fail(Errc::invalid_argument,
                  s.where("register_password_file") +
                      ": required with a registrar (the account's digest password)");
    }
    auto password = read_secret_file(register_password_file, s.where("register_password_file"));
    if (!password) return fail(password.error());
    out.password = std::move(*password);
  } else if (!out.user.empty() || !register_password_file.empty() || !out.auth_user.empty()) {
    return fail(Errc::invalid_argument,
                s.where("registrar") +
                    ": register_user, register_auth_user and register_password_file need a "
                    "registrar");
  }
  out.spool_dir = spool;
  out.numbers = config.numbers;
  out.silence_timeout = std::chrono::seconds(silence);
  out.max_call = std::chrono::minutes(max_minutes);
  return out;
}

Result<std::unique_ptr<fax_sip::SipFaxReceiver>> start_sip_ingress(const Config& config,
                                                                   engine::Engine& engine,
                                                                   fax_sip::MediaTiming* timing) {
  auto settings = sip_settings(config);
  if (!settings) return fail(settings.error());
  auto& configured = *settings;
  if (!configured) return std::unique_ptr<fax_sip::SipFaxReceiver>();
  configured->media_timing = timing;
  auto receiver = std::make_unique<fax_sip::SipFaxReceiver>(
      *configured,
      [&engine](IncomingDocument document) -> Result<void> {
        auto job = engine.submit(std::move(document));
        if (!job) return fail(job.error());
        return {};
      },
      fax_sip::SipFaxReceiver::Observer{},
      [&engine](const fax_sip::SipFaxReceiver::FailedReception& f) {
        (void)engine.record_audit("sip", "fax.failed_reception", failed_reception_subject(f),
                                  failed_reception_detail(f));
      });
  const bool registers = !configured->registrar.empty();
  // Several nodes on one database may share the account: only the holder of the lease
  // "sip-registration" registers (docs/sip.md, "Several nodes"). Not before the lease says so,
  // so that a standby never registers for an instant.
  if (registers) receiver->set_registering(false);
  if (auto ok = receiver->start(); !ok) {
    return fail(ok.error().code, config.source + ": [sip]: " + ok.error().message);
  }
  if (registers) {
    // The receiver outlives the lease's calls: atdeskd stops the engine (whose last call says
    // false) before the receiver is destroyed.
    auto* r = receiver.get();
    engine.singleton("sip-registration", [r](bool primary) { r->set_registering(primary); });
  }
  return receiver;
}

std::string render_media_timing(const fax_sip::MediaTiming& timing) {
  // https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
  const auto number = [](double v) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
  };
  std::string out =
      "# HELP atdesk_fax_media_wake_late_seconds How late a fax call's media thread woke for its "
      "20 ms tick.\n# TYPE atdesk_fax_media_wake_late_seconds histogram\n";
  std::uint64_t cumulative = 0;
  const auto& bounds = fax_sip::MediaTiming::kWakeBuckets;
  for (std::size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += timing.wake_late[i].load(std::memory_order_relaxed);
    out += "atdesk_fax_media_wake_late_seconds_bucket{le=\"" +
           (i < bounds.size() ? number(bounds[i]) : std::string("+Inf")) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += "atdesk_fax_media_wake_late_seconds_sum " +
         number(static_cast<double>(timing.wake_late_ns.load(std::memory_order_relaxed)) / 1e9) +
         "\natdesk_fax_media_wake_late_seconds_count " + std::to_string(cumulative) + "\n";
  out +=
      "# HELP atdesk_fax_media_late_packets_total Fax media packets dropped because they came "
      "after their frame was played (rtp) or delivered (udptl).\n"
      "# TYPE atdesk_fax_media_late_packets_total counter\n"
      "atdesk_fax_media_late_packets_total{media=\"rtp\"} " +
      std::to_string(timing.late_rtp.load(std::memory_order_relaxed)) +
      "\natdesk_fax_media_late_packets_total{media=\"udptl\"} " +
      std::to_string(timing.late_udptl.load(std::memory_order_relaxed)) + "\n";
  return out;
}

}  // namespace atdesk::app
