// [sip] of atdesk.toml: the SIP fax receiver (atdesk::fax_sip) that atdeskd starts next to the
// inbox folder; every received fax is submitted to the engine. docs/sip.md lists the keys.
#pragma once

#include <memory>
#include <optional>

#include "atdesk/engine/engine.hpp"
#include "atdesk/fax_sip/receiver.hpp"
#include "config.hpp"

namespace atdesk::app {

// The receiver's settings from [sip] (errors name the file, the table and the key); nullopt when
// there is no [sip] table or it says enabled = false.
Result<std::optional<fax_sip::SipFaxReceiver::Settings>> sip_settings(const Config& config);

// Starts the receiver when [sip] asks for one (null otherwise).
Result<std::unique_ptr<fax_sip::SipFaxReceiver>> start_sip_ingress(const Config& config,
                                                                   engine::Engine& engine);

}  // namespace atdesk::app
