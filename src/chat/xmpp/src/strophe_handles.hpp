// RAII for libstrophe handles, and small helpers around its C stanza API. Only the XMPP adapter
// and its tests include this: libstrophe types never appear in a port.
#pragma once

#include <strophe.h>

#include <memory>
#include <string>

namespace atdesk::chat::xmpp {

struct CtxDeleter {
  void operator()(xmpp_ctx_t* ctx) const { xmpp_ctx_free(ctx); }
};
struct ConnDeleter {
  void operator()(xmpp_conn_t* conn) const { xmpp_conn_release(conn); }
};
struct StanzaDeleter {
  void operator()(xmpp_stanza_t* stanza) const { xmpp_stanza_release(stanza); }
};
// A stream-management (XEP-0198) state taken from a disconnected connection, to resume on the
// next one.
struct SmStateDeleter {
  void operator()(xmpp_sm_state_t* state) const { xmpp_free_sm_state(state); }
};
using CtxPtr = std::unique_ptr<xmpp_ctx_t, CtxDeleter>;
using SmStatePtr = std::unique_ptr<xmpp_sm_state_t, SmStateDeleter>;
using ConnPtr = std::unique_ptr<xmpp_conn_t, ConnDeleter>;
using StanzaPtr = std::unique_ptr<xmpp_stanza_t, StanzaDeleter>;

// A string libstrophe allocated (xmpp_stanza_get_text, xmpp_message_get_body, ...), copied and
// freed. Null becomes "".
inline std::string take_string(xmpp_ctx_t* ctx, char* s) {
  if (!s) return {};
  std::string out(s);
  xmpp_free(ctx, s);
  return out;
}

inline std::string attribute(xmpp_stanza_t* stanza, const char* name) {
  const char* v = stanza ? xmpp_stanza_get_attribute(stanza, name) : nullptr;
  return v ? std::string(v) : std::string();
}

// The concatenated text of a child element, "" when there is none.
inline std::string child_text(xmpp_stanza_t* stanza, const char* name) {
  xmpp_stanza_t* child = stanza ? xmpp_stanza_get_child_by_name(stanza, name) : nullptr;
  if (!child) return {};
  return take_string(xmpp_stanza_get_context(child), xmpp_stanza_get_text(child));
}

// A new element <name xmlns=ns/> (ns may be null).
inline StanzaPtr element(xmpp_ctx_t* ctx, const char* name, const char* ns = nullptr) {
  StanzaPtr s(xmpp_stanza_new(ctx));
  xmpp_stanza_set_name(s.get(), name);
  if (ns) xmpp_stanza_set_ns(s.get(), ns);
  return s;
}

// Appends `child` to `parent` (the parent takes its own reference).
inline xmpp_stanza_t* append(xmpp_stanza_t* parent, StanzaPtr child) {
  xmpp_stanza_t* raw = child.get();
  xmpp_stanza_add_child(parent, raw);
  return raw;  // still alive: owned by the parent now that `child` releases its reference
}

inline void append_text(xmpp_stanza_t* parent, const std::string& text) {
  StanzaPtr t(xmpp_stanza_new(xmpp_stanza_get_context(parent)));
  xmpp_stanza_set_text(t.get(), text.c_str());
  xmpp_stanza_add_child(parent, t.get());
}

}  // namespace atdesk::chat::xmpp
