// A tiny libstrophe client that plays the person in the XMPP integration tests: it approves
// subscription requests, sets its presence, sends chat and room messages and records what it
// receives. Its loop runs on its own thread; calls from the test are queued to it.
#pragma once

#include <strophe.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "strophe_handles.hpp"

namespace atdesk::chat::xmpp::test {

struct Received {
  std::string type;
  std::string from;
  std::string body;
  std::string oob_url;
};

class TestClient {
 public:
  TestClient(std::string jid, std::string password, int port, std::string ca_file)
      : jid_(std::move(jid)),
        password_(std::move(password)),
        port_(port),
        ca_file_(std::move(ca_file)),
        ctx_(xmpp_ctx_new(nullptr, nullptr)) {
    thread_ = std::thread([this] { run(); });
  }
  ~TestClient() {
    stop_ = true;
    thread_.join();
  }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  bool wait_connected(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return connected_; });
  }

  // <presence><show/><status/></presence>; show "" = available.
  void set_presence(std::string show, std::string status) {
    post([this, show, status] {
      StanzaPtr p(xmpp_presence_new(ctx_.get()));
      if (!show.empty()) {
        auto s = element(ctx_.get(), "show");
        append_text(s.get(), show);
        append(p.get(), std::move(s));
      }
      if (!status.empty()) {
        auto s = element(ctx_.get(), "status");
        append_text(s.get(), status);
        append(p.get(), std::move(s));
      }
      xmpp_send(conn_.get(), p.get());
    });
  }

  void send_message(std::string to, std::string type, std::string body) {
    post([this, to, type, body] {
      StanzaPtr m(xmpp_message_new(ctx_.get(), type.c_str(), to.c_str(), nullptr));
      xmpp_message_set_body(m.get(), body.c_str());
      xmpp_send(conn_.get(), m.get());
    });
  }

  void send_raw(std::string xml) {
    post([this, xml] { xmpp_send_raw(conn_.get(), xml.data(), xml.size()); });
  }

  void join_room(std::string room, std::string nick, std::string show = "") {
    post([this, room, nick, show] {
      StanzaPtr p(xmpp_presence_new(ctx_.get()));
      const auto to = room + "/" + nick;
      xmpp_stanza_set_to(p.get(), to.c_str());
      append(p.get(), element(ctx_.get(), "x", "http://jabber.org/protocol/muc"));
      if (!show.empty()) {
        auto s = element(ctx_.get(), "show");
        append_text(s.get(), show);
        append(p.get(), std::move(s));
      }
      xmpp_send(conn_.get(), p.get());
    });
  }

  // Waits for a received message matching `match`, returns it (or nothing at the deadline).
  std::optional<Received> wait_message(
      const std::function<bool(const Received&)>& match,
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    std::optional<Received> found;
    cv_.wait_for(lock, timeout, [&] {
      for (const auto& m : received_) {
        if (match(m)) {
          found = m;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  // Called on the client's thread for each message and presence received (after it is recorded).
  void listen(std::function<void(const Received&)> on_message,
              std::function<void(const std::string& from, const std::string& type)> on_presence) {
    std::lock_guard lock(mutex_);
    message_listener_ = std::move(on_message);
    presence_listener_ = std::move(on_presence);
  }

  // Waits until a presence of `type` ("" = available) from the full address `from` arrived.
  bool wait_presence_from(const std::string& from, const std::string& type,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] {
      for (const auto& [f, t] : presences_) {
        if (f == from && t == type) return true;
      }
      return false;
    });
  }

  // Waits until a room's self-presence (status 110) arrived.
  bool wait_joined(const std::string& room,
                   std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] {
      for (const auto& r : joined_) {
        if (r == room) return true;
      }
      return false;
    });
  }

 private:
  void post(std::function<void()> f) {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(f));
  }

  void run() {
    conn_.reset(xmpp_conn_new(ctx_.get()));
    xmpp_conn_set_flags(conn_.get(), XMPP_CONN_FLAG_MANDATORY_TLS);
    xmpp_conn_set_cafile(conn_.get(), ca_file_.c_str());
    xmpp_conn_set_jid(conn_.get(), jid_.c_str());
    xmpp_conn_set_pass(conn_.get(), password_.c_str());
    xmpp_connect_client(conn_.get(), "127.0.0.1", static_cast<unsigned short>(port_), on_conn,
                        this);
    while (!stop_) {
      xmpp_run_once(ctx_.get(), 10);
      std::deque<std::function<void()>> tasks;
      {
        std::lock_guard lock(mutex_);
        if (connected_) tasks.swap(tasks_);
      }
      for (auto& t : tasks) t();
    }
    if (connected_) {
      xmpp_disconnect(conn_.get());
      for (int i = 0; i < 50 && connected_; ++i) xmpp_run_once(ctx_.get(), 10);
    }
    conn_.reset();
    ctx_.reset();
  }

  static void on_conn(xmpp_conn_t* conn, xmpp_conn_event_t event, int, xmpp_stream_error_t*,
                      void* userdata) {
    auto* self = static_cast<TestClient*>(userdata);
    if (event == XMPP_CONN_CONNECT) {
      xmpp_handler_add(conn, on_presence, nullptr, "presence", nullptr, self);
      xmpp_handler_add(conn, on_message, nullptr, "message", nullptr, self);
      // Initial presence: without it the server delivers neither messages nor subscription
      // requests to this session.
      StanzaPtr p(xmpp_presence_new(self->ctx_.get()));
      xmpp_send(conn, p.get());
      {
        std::lock_guard lock(self->mutex_);
        self->connected_ = true;
      }
      self->cv_.notify_all();
    } else {
      std::lock_guard lock(self->mutex_);
      self->connected_ = false;
    }
  }

  static int on_presence(xmpp_conn_t* conn, xmpp_stanza_t* stanza, void* userdata) {
    auto* self = static_cast<TestClient*>(userdata);
    const auto type = attribute(stanza, "type");
    const auto from = attribute(stanza, "from");
    std::function<void(const std::string&, const std::string&)> listener;
    {
      std::lock_guard lock(self->mutex_);
      self->presences_.emplace_back(from, type);
      listener = self->presence_listener_;
    }
    self->cv_.notify_all();
    if (listener) listener(from, type);
    if (type == "subscribe") {
      StanzaPtr p(xmpp_presence_new(self->ctx_.get()));
      xmpp_stanza_set_type(p.get(), "subscribed");
      xmpp_stanza_set_to(p.get(), from.c_str());
      xmpp_send(conn, p.get());
    }
    if (xmpp_stanza_t* x = xmpp_stanza_get_child_by_name_and_ns(
            stanza, "x", "http://jabber.org/protocol/muc#user")) {
      for (xmpp_stanza_t* c = xmpp_stanza_get_children(x); c; c = xmpp_stanza_get_next(c)) {
        const char* name = xmpp_stanza_get_name(c);
        if (name && std::string(name) == "status" && attribute(c, "code") == "110") {
          {
            std::lock_guard lock(self->mutex_);
            self->joined_.push_back(from.substr(0, from.find('/')));
          }
          self->cv_.notify_all();
        }
      }
    }
    return 1;
  }

  static int on_message(xmpp_conn_t*, xmpp_stanza_t* stanza, void* userdata) {
    auto* self = static_cast<TestClient*>(userdata);
    Received r;
    r.type = attribute(stanza, "type");
    r.from = attribute(stanza, "from");
    r.body = child_text(stanza, "body");
    if (xmpp_stanza_t* x = xmpp_stanza_get_child_by_name_and_ns(stanza, "x", "jabber:x:oob")) {
      r.oob_url = child_text(x, "url");
    }
    std::function<void(const Received&)> listener;
    {
      std::lock_guard lock(self->mutex_);
      self->received_.push_back(r);
      listener = self->message_listener_;
    }
    self->cv_.notify_all();
    if (listener) listener(r);
    return 1;
  }

  std::string jid_;
  std::string password_;
  int port_;
  std::string ca_file_;
  CtxPtr ctx_;
  ConnPtr conn_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool connected_ = false;
  std::deque<std::function<void()>> tasks_;
  std::vector<Received> received_;
  std::vector<std::string> joined_;
  std::vector<std::pair<std::string, std::string>> presences_;  // from, type
  std::function<void(const Received&)> message_listener_;
  std::function<void(const std::string&, const std::string&)> presence_listener_;
  std::thread thread_;
};

}  // namespace atdesk::chat::xmpp::test
