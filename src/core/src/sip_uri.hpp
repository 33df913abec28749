// SIP URI normalisation shared by parse_sender, SenderPattern and the recipient table (private
// to core).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace atdesk::detail {

// "SIP:Alice@Example.ORG;transport=tcp" -> "sip:Alice@example.org": scheme and host lowercased
// (they are case-insensitive), the user part kept as sent, URI parameters and headers dropped
// (they do not identify the sender). Nothing when `text` is not "sip:"/"sips:" followed by
// "user@host" or "host".
std::optional<std::string> normalize_sip_uri(std::string_view text);

}  // namespace atdesk::detail
