// Stanzas as the server would deliver them (RFC 6121, XEP-0045, XEP-0203, XEP-0363 examples),
// parsed with libstrophe's stanza API.
#include "stanzas.hpp"

#include <gtest/gtest.h>

#include "strophe_handles.hpp"

namespace atdesk::chat::xmpp {
namespace {

class Stanzas : public ::testing::Test {
 protected:
  Stanzas() : ctx_(xmpp_ctx_new(nullptr, nullptr)) {}

  StanzaPtr parse(const std::string& xml) {
    StanzaPtr s(xmpp_stanza_new_from_string(ctx_.get(), xml.c_str()));
    EXPECT_NE(s, nullptr) << xml;
    return s;
  }

  std::map<std::string, RoomState> rooms() const {
    RoomState room;
    room.nick = "atdesk";
    room.joined = true;
    room.real_jids = {{"bob", "bob@localhost"}, {"atdesk", "bot@localhost"}};
    return {{"fax@conference.localhost", room}};
  }

  std::optional<ChatCommand> command(const std::string& xml) {
    auto s = parse(xml);
    return extract_command(s.get(), "xmpp", "bot@localhost", rooms());
  }

  CtxPtr ctx_;
};

TEST_F(Stanzas, ChatMessageIsCommandFromBareJid) {
  auto c = command(
      "<message type='chat' from='Alice@Localhost/phone' to='bot@localhost'>"
      "<body>  print 3fa2c9d1 \n</body></message>");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->service, "xmpp");
  EXPECT_EQ(c->from, "alice@localhost");  // case-folded like every JID
  EXPECT_FALSE(c->channel.has_value());
  EXPECT_EQ(c->text, "print 3fa2c9d1");
}

// The language of a command (RFC 6120 8.1.5 xml:lang; the body's wins, RFC 6121 5.2.3), for
// the reply's language; something that is not a language tag is dropped.
TEST_F(Stanzas, CommandCarriesItsLanguage) {
  auto stanza = command(
      "<message type='chat' xml:lang='ja-JP' "
      "from='alice@localhost/phone'><body>一覧</body></message>");
  ASSERT_TRUE(stanza.has_value());
  EXPECT_EQ(stanza->language, "ja-JP");
  EXPECT_EQ(stanza->text, "一覧");
  auto body = command(
      "<message type='chat' xml:lang='en' from='alice@localhost/phone'>"
      "<body xml:lang='ja'>一覧</body></message>");
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(body->language, "ja");
  auto none =
      command("<message type='chat' from='alice@localhost/phone'><body>list</body></message>");
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->language, "");
  auto odd = command(
      "<message type='chat' xml:lang='ja&quot;;x' "
      "from='alice@localhost/phone'><body>list</body></message>");
  ASSERT_TRUE(odd.has_value());
  EXPECT_EQ(odd->language, "");
}

TEST_F(Stanzas, GroupchatUsesOccupantRealJid) {
  auto c = command(
      "<message type='groupchat' from='fax@conference.localhost/bob'><body>print</body></message>");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->from, "bob@localhost");
  EXPECT_EQ(c->channel, std::optional<std::string>("fax@conference.localhost"));
}

TEST_F(Stanzas, IgnoredMessages) {
  const char* ignored[] = {
      // our own message echoed by the room, and one from our own account
      "<message type='groupchat' from='fax@conference.localhost/atdesk'><body>x</body></message>",
      "<message type='chat' from='bot@localhost/other'><body>print</body></message>",
      // occupant whose real JID is unknown (anonymous room)
      "<message type='groupchat' from='fax@conference.localhost/eve'><body>print</body></message>",
      // a room we are not in, and the room itself (subject, status)
      "<message type='groupchat' "
      "from='other@conference.localhost/bob'><body>print</body></message>",
      "<message type='groupchat' from='fax@conference.localhost'><body>print</body></message>",
      // private message through the room
      "<message type='chat' from='fax@conference.localhost/bob'><body>print</body></message>",
      // room history (XEP-0045 7.2.15 with XEP-0203 delay)
      "<message type='groupchat' from='fax@conference.localhost/bob'><body>print</body>"
      "<delay xmlns='urn:xmpp:delay' from='fax@conference.localhost' "
      "stamp='2002-09-10T23:08:25Z'/></message>",
      // no body, empty body, other types, no sender, a domain as sender
      "<message type='chat' from='alice@localhost/p'><composing/></message>",
      "<message type='chat' from='alice@localhost/p'><body>   </body></message>",
      "<message type='headline' from='alice@localhost/p'><body>print</body></message>",
      "<message type='error' from='alice@localhost/p'><body>print</body></message>",
      "<message from='alice@localhost/p'><body>print</body></message>",
      "<message type='chat'><body>print</body></message>",
      "<message type='chat' from='localhost'><body>print</body></message>",
      "<presence from='alice@localhost/p'><status>print</status></presence>",
  };
  for (const char* xml : ignored) EXPECT_FALSE(command(xml).has_value()) << xml;
}

// Carbon copies (XEP-0280 6 and 7, the examples' shape with our addresses): atdesk never enables
// carbons, but a server that sent them anyway (or another client of the bot's account that did)
// must not make a node run a command that another resource received: the wrapper comes from our
// own account and has no body of its own. Several nodes share the account, so this matters.
TEST_F(Stanzas, CarbonCopiesAreNotCommands) {
  const char* carbons[] = {
      "<message xmlns='jabber:client' from='bot@localhost' to='bot@localhost/atdesk-1f2e3d4c' "
      "type='chat'><received xmlns='urn:xmpp:carbons:2'>"
      "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' "
      "from='alice@localhost/phone' to='bot@localhost/atdesk' type='chat'>"
      "<body>print 3fa2c9d1</body></message></forwarded></received></message>",
      "<message xmlns='jabber:client' from='bot@localhost' to='bot@localhost/atdesk-1f2e3d4c' "
      "type='chat'><sent xmlns='urn:xmpp:carbons:2'>"
      "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' "
      "to='alice@localhost/phone' from='bot@localhost/atdesk' type='chat'>"
      "<body>list</body></message></forwarded></sent></message>",
  };
  for (const char* xml : carbons) {
    EXPECT_FALSE(command(xml).has_value()) << xml;
    auto s = parse(xml);
    EXPECT_FALSE(read_command(s.get(), "xmpp", "bot@localhost", rooms()).has_value()) << xml;
  }
}

// Offline storage (XEP-0160 delivers with a XEP-0203 <delay/>) and a resent stream-management
// queue (ejabberd adds <delay from='localhost'>Resent</delay>): a late command with its stamp,
// which extract_command (live commands only) leaves out.
TEST_F(Stanzas, LateDirectMessageCarriesItsStamp) {
  const std::string offline =
      "<message type='chat' from='Alice@localhost/p' to='bot@localhost'><body>print 3fa2c9d1</body>"
      "<delay xmlns='urn:xmpp:delay' from='localhost' stamp='2002-09-10T23:08:25Z'>"
      "Offline Storage</delay></message>";
  auto s = parse(offline);
  auto late = read_command(s.get(), "xmpp", "bot@localhost", rooms());
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->command.from, "alice@localhost");
  EXPECT_EQ(late->command.text, "print 3fa2c9d1");
  ASSERT_TRUE(late->sent_at.has_value());
  EXPECT_EQ(late->sent_at->time_since_epoch(), std::chrono::milliseconds(1031699305000));
  EXPECT_FALSE(command(offline).has_value());

  auto legacy = parse(
      "<message type='chat' from='alice@localhost/p'><body>print</body>"
      "<x xmlns='jabber:x:delay' stamp='20020910T23:08:25'/></message>");
  auto l = read_command(legacy.get(), "xmpp", "bot@localhost", rooms());
  ASSERT_TRUE(l && l->sent_at);
  EXPECT_EQ(l->sent_at->time_since_epoch(), std::chrono::milliseconds(1031699305000));

  // A stamp that does not parse reads as the epoch: too old to carry out, answered.
  auto odd = parse(
      "<message type='chat' from='alice@localhost/p'><body>print</body>"
      "<delay xmlns='urn:xmpp:delay' stamp='soon'/></message>");
  auto o = read_command(odd.get(), "xmpp", "bot@localhost", rooms());
  ASSERT_TRUE(o && o->sent_at);
  EXPECT_EQ(o->sent_at->time_since_epoch().count(), 0);

  // A live message has no stamp.
  auto live = parse("<message type='chat' from='alice@localhost/p'><body>list</body></message>");
  auto v = read_command(live.get(), "xmpp", "bot@localhost", rooms());
  ASSERT_TRUE(v.has_value());
  EXPECT_FALSE(v->sent_at.has_value());
}

TEST_F(Stanzas, HugeBodyIgnored) {
  const std::string big(kMaxCommandBytes + 1, 'p');
  EXPECT_FALSE(
      command("<message type='chat' from='alice@localhost/p'><body>" + big + "</body></message>")
          .has_value());
  const std::string fits(kMaxCommandBytes, 'p');
  EXPECT_TRUE(
      command("<message type='chat' from='alice@localhost/p'><body>" + fits + "</body></message>")
          .has_value());
}

TEST_F(Stanzas, MessageBuiltWithStanzaApi) {
  StanzaPtr m(xmpp_message_new(ctx_.get(), "chat", "bot@localhost", "m1"));
  xmpp_stanza_set_from(m.get(), "carol@localhost/laptop");
  xmpp_message_set_body(m.get(), "list");
  auto c = extract_command(m.get(), "jabber", "bot@localhost", {});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->service, "jabber");
  EXPECT_EQ(c->from, "carol@localhost");
  EXPECT_EQ(c->text, "list");
}

TEST_F(Stanzas, RoomNotJoinedIgnoresGroupchat) {
  auto r = rooms();
  r.begin()->second.joined = false;
  auto s = parse(
      "<message type='groupchat' from='fax@conference.localhost/bob'><body>print</body></message>");
  EXPECT_FALSE(extract_command(s.get(), "xmpp", "bot@localhost", r).has_value());
}

TEST_F(Stanzas, ContactPresence) {
  auto s = parse(
      "<presence from='alice@localhost/desk'><show>dnd</show><status>im Büro</status>"
      "<priority>5</priority></presence>");
  auto p = parse_contact_presence(s.get());
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->bare, "alice@localhost");
  EXPECT_EQ(p->resource, "desk");
  EXPECT_EQ(p->type, "");
  EXPECT_EQ(p->show, "dnd");
  EXPECT_EQ(p->status, "im Büro");
  EXPECT_EQ(p->priority, 5);

  auto u = parse(
      "<presence type='unavailable' from='alice@localhost/desk'><priority>x</priority>"
      "</presence>");
  auto pu = parse_contact_presence(u.get());
  ASSERT_TRUE(pu.has_value());
  EXPECT_EQ(pu->type, "unavailable");
  EXPECT_EQ(pu->priority, 0);

  auto muc = parse(
      "<presence from='fax@conference.localhost/bob'>"
      "<x xmlns='http://jabber.org/protocol/muc#user'/></presence>");
  EXPECT_FALSE(parse_contact_presence(muc.get()).has_value());
  auto nofrom = parse("<presence/>");
  EXPECT_FALSE(parse_contact_presence(nofrom.get()).has_value());
}

TEST_F(Stanzas, OccupantPresence) {
  auto s = parse(
      "<presence from='fax@conference.localhost/bob'><show>xa</show><status>WFH</status>"
      "<x xmlns='http://jabber.org/protocol/muc#user'>"
      "<item affiliation='member' role='participant' jid='Bob@localhost/pda'/></x></presence>");
  auto o = parse_occupant_presence(s.get());
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->room, "fax@conference.localhost");
  EXPECT_EQ(o->nick, "bob");
  EXPECT_EQ(o->real_bare, "bob@localhost");  // case-folded
  EXPECT_EQ(o->show, "xa");
  EXPECT_EQ(o->status, "WFH");
  EXPECT_FALSE(o->self);
  EXPECT_FALSE(o->unavailable);

  auto self = parse(
      "<presence from='fax@conference.localhost/atdesk' type='unavailable'>"
      "<x xmlns='http://jabber.org/protocol/muc#user'><item role='none'/>"
      "<status code='110'/></x></presence>");
  auto os = parse_occupant_presence(self.get());
  ASSERT_TRUE(os.has_value());
  EXPECT_TRUE(os->self);
  EXPECT_TRUE(os->unavailable);
  EXPECT_EQ(os->real_bare, "");
  EXPECT_FALSE(os->non_anonymous);
  EXPECT_EQ(os->role, "none");

  // XEP-0045 example 24: our own presence in a non-anonymous room carries status 100.
  auto joined = parse(
      "<presence from='fax@conference.localhost/atdesk'>"
      "<x xmlns='http://jabber.org/protocol/muc#user'>"
      "<item affiliation='none' jid='bot@localhost/atdesk' role='participant'/>"
      "<status code='100'/><status code='110'/></x></presence>");
  auto oj = parse_occupant_presence(joined.get());
  ASSERT_TRUE(oj.has_value());
  EXPECT_TRUE(oj->self);
  EXPECT_TRUE(oj->non_anonymous);
  EXPECT_EQ(oj->role, "participant");

  auto err = parse(
      "<presence from='fax@conference.localhost/atdesk' type='error'>"
      "<error type='auth'><registration-required xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
      "</error></presence>");
  auto oe = parse_occupant_presence(err.get());
  ASSERT_TRUE(oe.has_value());
  EXPECT_TRUE(oe->error);
  EXPECT_EQ(oe->error_condition, "registration-required");
}

TEST_F(Stanzas, DiscoInfoWithUploadForm) {
  auto s = parse(
      "<iq type='result' from='upload.localhost' id='1'>"
      "<query xmlns='http://jabber.org/protocol/disco#info'>"
      "<identity category='store' type='file' name='HTTP File Upload'/>"
      "<feature var='urn:xmpp:http:upload:0'/>"
      "<x type='result' xmlns='jabber:x:data'>"
      "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:http:upload:0</value></field>"
      "<field var='max-file-size'><value>5242880</value></field></x></query></iq>");
  auto info = parse_disco_info(s.get());
  EXPECT_TRUE(info.has_feature("urn:xmpp:http:upload:0"));
  EXPECT_FALSE(info.has_feature("muc_nonanonymous"));
  ASSERT_EQ(info.identities.size(), 1u);
  EXPECT_EQ(info.identities[0].first, "store");
  EXPECT_EQ(info.max_file_size, 5242880u);
}

TEST_F(Stanzas, DiscoItems) {
  auto s = parse(
      "<iq type='result' id='2'><query xmlns='http://jabber.org/protocol/disco#items'>"
      "<item jid='conference.localhost'/><item jid='upload.localhost'/><item/></query></iq>");
  EXPECT_EQ(parse_disco_items(s.get()),
            (std::vector<std::string>{"conference.localhost", "upload.localhost"}));
}

// XEP-0013 §2.4 (Example 9): a message the server sends in answer to a fetch names its node;
// §2.6 (Example 13): the fetch; §2.5 (Example 11): removal by node.
TEST_F(Stanzas, FlexibleOfflineRetrieval) {
  auto fetched = parse(
      "<message to='bot@localhost/atdesk' from='carol@localhost/phone' type='chat'>"
      "<body>print 0ff1ce01</body>"
      "<delay xmlns='urn:xmpp:delay' from='localhost' stamp='2026-11-30T09:38:00Z'/>"
      "<offline xmlns='http://jabber.org/protocol/offline'>"
      "<item node='1764495480123456'/></offline></message>");
  EXPECT_EQ(offline_node(fetched.get()), std::optional<std::string>("1764495480123456"));
  auto live = parse("<message type='chat' from='carol@localhost'><body>list</body></message>");
  EXPECT_EQ(offline_node(live.get()), std::nullopt);
  auto no_node = parse(
      "<message type='chat'><body>x</body><offline xmlns='http://jabber.org/protocol/offline'>"
      "<item/></offline></message>");
  EXPECT_EQ(offline_node(no_node.get()), std::nullopt);

  auto fetch = offline_fetch(ctx_.get());
  EXPECT_EQ(attribute(fetch.get(), "xmlns"), "http://jabber.org/protocol/offline");
  EXPECT_NE(xmpp_stanza_get_child_by_name(fetch.get(), "fetch"), nullptr);

  auto remove = offline_remove(ctx_.get(), {"n1", "n2"});
  std::vector<std::pair<std::string, std::string>> items;
  for (xmpp_stanza_t* c = xmpp_stanza_get_children(remove.get()); c; c = xmpp_stanza_get_next(c)) {
    items.emplace_back(attribute(c, "action"), attribute(c, "node"));
  }
  EXPECT_EQ(items,
            (std::vector<std::pair<std::string, std::string>>{{"remove", "n1"}, {"remove", "n2"}}));
}

TEST_F(Stanzas, UploadSlot) {
  auto s = parse(
      "<iq type='result' id='3'><slot xmlns='urn:xmpp:http:upload:0'>"
      "<put url='https://upload.localhost/f/abc.png'>"
      "<header name='Authorization'>Bearer t0k</header>"
      "<header name='X-Evil'>no</header></put>"
      "<get url='https://upload.localhost/f/abc.png'/></slot></iq>");
  auto slot = parse_upload_slot(s.get());
  ASSERT_TRUE(slot.has_value());
  EXPECT_EQ(slot->put_url, "https://upload.localhost/f/abc.png");
  EXPECT_EQ(slot->get_url, "https://upload.localhost/f/abc.png");
  ASSERT_EQ(slot->headers.size(), 1u);
  EXPECT_EQ(slot->headers[0].first, "Authorization");
  EXPECT_EQ(slot->headers[0].second, "Bearer t0k");

  auto plain = parse(
      "<iq type='result' id='3'><slot xmlns='urn:xmpp:http:upload:0'>"
      "<put url='http://upload.localhost/f'/><get url='http://upload.localhost/f'/></slot></iq>");
  EXPECT_FALSE(parse_upload_slot(plain.get()).has_value());
}

TEST_F(Stanzas, RosterAndErrors) {
  auto s = parse(
      "<iq type='result' id='4'><query xmlns='jabber:iq:roster'>"
      "<item jid='alice@localhost' subscription='both'/><item jid='bob@localhost'/>"
      "<item jid='bad jid' subscription='to'/></query></iq>");
  auto roster = parse_roster(s.get());
  EXPECT_EQ(roster.size(), 2u);
  EXPECT_EQ(roster["alice@localhost"], "both");
  EXPECT_EQ(roster["bob@localhost"], "none");

  auto e = parse(
      "<iq type='error' id='5'><error type='cancel'>"
      "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
      "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>gone</text></error></iq>");
  EXPECT_EQ(error_condition(e.get()), "item-not-found");
  auto ok = parse("<iq type='result' id='6'/>");
  EXPECT_EQ(error_condition(ok.get()), "");
}

}  // namespace
}  // namespace atdesk::chat::xmpp
