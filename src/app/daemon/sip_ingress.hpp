// [sip] of atdesk.toml: the SIP fax receiver (atdesk::fax_sip) that atdeskd starts next to the
// inbox folder; every received fax is submitted to the engine. docs/sip.md lists the keys.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "atdesk/engine/engine.hpp"
#include "atdesk/fax_sip/receiver.hpp"
#include "config.hpp"

namespace atdesk::app {

// The receiver's settings from [sip] (errors name the file, the table and the key); nullopt when
// there is no [sip] table or it says enabled = false.
Result<std::optional<fax_sip::SipFaxReceiver::Settings>> sip_settings(const Config& config);

// Starts the receiver when [sip] asks for one (null otherwise). Its calls' media threads add to
// `timing` (null: not counted), which must outlive the receiver. With a registrar, the receiver
// registers while this node holds the engine's singleton lease "sip-registration" (every node
// on SQLite); stop the engine before destroying the receiver.
Result<std::unique_ptr<fax_sip::SipFaxReceiver>> start_sip_ingress(
    const Config& config, engine::Engine& engine, fax_sip::MediaTiming* timing = nullptr);

// The Prometheus families of the calls' media timing (text format 0.0.4), for GET /metrics:
//   atdesk_fax_media_wake_late_seconds        histogram: how late a media thread woke for its
//                                             20 ms tick (atdeskd keeping up with its calls)
//   atdesk_fax_media_late_packets_total{media} counter (rtp, udptl): packets that came after
//                                             their frame was played (the peers keeping up)
std::string render_media_timing(const fax_sip::MediaTiming& timing);

}  // namespace atdesk::app
