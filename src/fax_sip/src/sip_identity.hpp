// Who is calling and which number was dialled, from an INVITE: the caller from
// P-Asserted-Identity (RFC 3325, set by a trusted trunk or PBX) or else From; the called number
// from the request URI's user part or else To's (a DID routed by a PBX arrives in either).
#pragma once

#include <string>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>

namespace atdesk::fax_sip {

struct CallIdentity {
  std::string caller_id;  // user part (or tel: number) of the caller's URI
  std::string sip_uri;    // "sip:user@host", scheme and host lowercased
  std::string called;     // user part of the request URI, or of To
  std::string peer_ip;    // the address the request came from
};

// `registered_user`: the account registered with a trunk; a request URI with that user is our
// Contact, not the dialled number, which is then taken from To.
CallIdentity call_identity(const sip_t* sip, msg_t* request,
                           const std::string& registered_user = {});

}  // namespace atdesk::fax_sip
