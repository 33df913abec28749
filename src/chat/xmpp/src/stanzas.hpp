// Reading the stanzas atdesk cares about (presence, MUC presence, messages, disco and upload
// slots) into plain structs, and the command a message carries. Pure: no connection needed,
// so the unit tests build stanzas with libstrophe's stanza API and check the results.
#pragma once

#include <strophe.h>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "atdesk/chat/chat_service.hpp"
#include "strophe_handles.hpp"

namespace atdesk::chat::xmpp {

inline constexpr const char* kNsMuc = "http://jabber.org/protocol/muc";
inline constexpr const char* kNsMucUser = "http://jabber.org/protocol/muc#user";
inline constexpr const char* kNsDiscoInfo = "http://jabber.org/protocol/disco#info";
inline constexpr const char* kNsDiscoItems = "http://jabber.org/protocol/disco#items";
inline constexpr const char* kNsUpload = "urn:xmpp:http:upload:0";
inline constexpr const char* kNsOob = "jabber:x:oob";
inline constexpr const char* kNsDelay = "urn:xmpp:delay";
inline constexpr const char* kNsLegacyDelay = "jabber:x:delay";
inline constexpr const char* kNsRoster = "jabber:iq:roster";
inline constexpr const char* kNsXData = "jabber:x:data";
inline constexpr const char* kNsOffline = "http://jabber.org/protocol/offline";  // XEP-0013

// Messages longer than this are ignored rather than parsed as commands.
inline constexpr std::size_t kMaxCommandBytes = 4096;

// A joined (or joining) MUC room as the adapter sees it.
struct RoomState {
  std::string nick;  // our nick in the room
  bool joined = false;
  bool warned_anonymous = false;  // the log said once that the room hides real addresses
  // occupant nick -> real bare JID; occupants whose real JID the room hides are absent.
  std::map<std::string, std::string> real_jids;
};

// <presence/> from a contact (not a MUC occupant).
struct ContactPresence {
  std::string bare;
  std::string resource;
  std::string type;  // "", "unavailable", "subscribe", "subscribed", "unsubscribe", "error"...
  std::string show;
  std::string status;
  int priority = 0;
};
std::optional<ContactPresence> parse_contact_presence(xmpp_stanza_t* presence);

// <presence/> from a MUC occupant (it carries <x xmlns='...muc#user'/>).
struct OccupantPresence {
  std::string room;  // bare room JID
  std::string nick;
  std::string real_bare;  // "" when the room does not tell (anonymous rooms)
  bool unavailable = false;
  bool self = false;  // status code 110: this is our own presence in the room
  // Status code 100 (XEP-0045 7.2.3): every occupant may see everyone's real JID.
  bool non_anonymous = false;
  std::string role;    // "moderator", "participant", "visitor", "none"
  bool error = false;  // type='error' (join refused)
  std::string error_condition;
  std::string show;    // the occupant's <show/> and <status/>: a presence of one of their
  std::string status;  // resources, known even without a subscription
};
std::optional<OccupantPresence> parse_occupant_presence(xmpp_stanza_t* presence);

// A command read from a <message/>, with when it was sent when it arrives late.
struct IncomingCommand {
  ChatCommand command;
  // Set for a direct message that carries a XEP-0203 <delay/> (or the legacy jabber:x:delay):
  // it waited in the server's offline storage, or in a stream-management queue the server
  // resent, while atdesk was away. Its stamp, or the epoch when the stamp does not parse.
  std::optional<Timestamp> sent_at;
};

// The command in an incoming <message/>, or nothing when it must be ignored: not chat or
// groupchat, no body, too long, room history (a groupchat with a delay), sent by us, from a room
// we are not in, or from an occupant whose real JID is unknown.
std::optional<IncomingCommand> read_command(xmpp_stanza_t* message, const std::string& service,
                                            const std::string& own_bare,
                                            const std::map<std::string, RoomState>& rooms);

// read_command without the late ones: live commands only.
std::optional<ChatCommand> extract_command(xmpp_stanza_t* message, const std::string& service,
                                           const std::string& own_bare,
                                           const std::map<std::string, RoomState>& rooms);

// disco#info result: identities (category/type) and features, plus the XEP-0363 max-file-size
// from its data form (0 when not given).
struct DiscoInfo {
  std::vector<std::pair<std::string, std::string>> identities;
  std::vector<std::string> features;
  std::size_t max_file_size = 0;
  bool has_feature(const std::string& f) const;
};
DiscoInfo parse_disco_info(xmpp_stanza_t* iq);
std::vector<std::string> parse_disco_items(xmpp_stanza_t* iq);

// XEP-0013 (flexible offline message retrieval). A message the server sent in answer to a fetch
// carries <offline><item node='...'/></offline>: its node, to remove it once handled; nothing for
// any other message.
std::optional<std::string> offline_node(xmpp_stanza_t* message);
// <offline xmlns='http://jabber.org/protocol/offline'><fetch/></offline>, the child of the get IQ
// that asks for every stored message.
StanzaPtr offline_fetch(xmpp_ctx_t* ctx);
// <offline><item action='remove' node='...'/>...</offline>, the child of the set IQ that removes
// the stored messages handled.
StanzaPtr offline_remove(xmpp_ctx_t* ctx, const std::vector<std::string>& nodes);

// XEP-0363 slot: where to PUT, the headers to send with it, and the URL to share.
struct UploadSlot {
  std::string put_url;
  std::string get_url;
  std::vector<std::pair<std::string, std::string>> headers;  // Authorization, Cookie, Expires
};
std::optional<UploadSlot> parse_upload_slot(xmpp_stanza_t* iq);

// The roster items of a roster result or push: bare JID -> subscription ("none", "to", "from",
// "both", "remove").
std::map<std::string, std::string> parse_roster(xmpp_stanza_t* iq);

// The defined condition of an error stanza ("item-not-found", ...), "" when none.
std::string error_condition(xmpp_stanza_t* stanza);

}  // namespace atdesk::chat::xmpp
