// The libstrophe side of the XMPP chat service. Every libstrophe call happens on the loop
// thread; the engine's threads hand work over as tasks and wait for a completion with a
// deadline. libstrophe 0.12 cannot add a foreign descriptor to its select(), so the loop wakes
// at least every kPollMs to take new tasks: that is the added latency of a call.
//
// Roles (several nodes on one account): the primary binds the configured resource with priority
// 1, a standby `<resource>-<random>` with priority -1 (RFC 6121 4.7.2.3: the server never hands a
// negative-priority resource a message sent to the bare address, and 8.5.2.1.1: with no
// non-negative resource it goes to offline storage). A change of role is a new session: the
// server delivers the offline storage only at an initial presence with a non-negative priority
// (Prosody's mod_presence, ejabberd's mod_offline), and binding the configured resource replaces
// a session a killed primary left behind (RFC 6120 7.7.2.2; ejabberd keeps it for XEP-0198
// resumption and would route commands to it).
//
// Connections: the bot binds one stable resource, and keeps libstrophe's stream-management
// (XEP-0198) state across the reconnects of a running process, so that a stream the server
// still holds is resumed (no stanza lost either way) instead of opened anew. libstrophe 0.12
// says whether a reconnect resumed only in its debug log ("Session resumed successfully."), and
// why a SASL attempt failed only there too: the adapter's logger reads those two lines and
// otherwise logs libstrophe's warnings and errors (debug lines, which show the SASL exchange,
// are never written anywhere).
#include "atdesk/chat/xmpp/xmpp_chat_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "http_upload.hpp"
#include "stanzas.hpp"
#include "strophe_handles.hpp"
#include "xmpp_rules.hpp"

namespace atdesk::chat {

using namespace xmpp;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr unsigned long kPollMs = 10;
// XEP-0013 fetches of what waits in the server's offline storage (the primary only): the first as
// soon as the server says it offers XEP-0013 (a new primary takes over what waited), the second
// this long after, then at kOfflineFetchInterval. ejabberd stores offline messages
// asynchronously, so a message sent while atdesk was away (or queued in a session the new one
// replaced) can be stored just after the server flushed the offline queue at our initial
// presence; it would wait there until the next login.
constexpr auto kOfflineSecondFetch = std::chrono::seconds(2);
constexpr auto kOfflineFetchInterval = std::chrono::seconds(60);
constexpr const char* kNsPing = "urn:xmpp:ping";

// A result handed from the loop thread to a waiting caller.
template <class T>
struct Pending {
  std::mutex m;
  std::condition_variable cv;
  std::optional<Result<T>> value;

  void complete(Result<T> r) {
    {
      std::lock_guard lock(m);
      if (value) return;
      value = std::move(r);
    }
    cv.notify_all();
  }
};

bool subscribed_to(const std::string& subscription) {
  return subscription == "to" || subscription == "both";
}

// RFC 6120 4.9.3 condition names of libstrophe's stream error types.
const char* stream_error_name(xmpp_error_type_t type) {
  switch (type) {
    case XMPP_SE_BAD_FORMAT:
      return "bad-format";
    case XMPP_SE_BAD_NS_PREFIX:
      return "bad-namespace-prefix";
    case XMPP_SE_CONFLICT:
      return "conflict";
    case XMPP_SE_CONN_TIMEOUT:
      return "connection-timeout";
    case XMPP_SE_HOST_GONE:
      return "host-gone";
    case XMPP_SE_HOST_UNKNOWN:
      return "host-unknown";
    case XMPP_SE_IMPROPER_ADDR:
      return "improper-addressing";
    case XMPP_SE_INTERNAL_SERVER_ERROR:
      return "internal-server-error";
    case XMPP_SE_INVALID_FROM:
      return "invalid-from";
    case XMPP_SE_INVALID_ID:
      return "invalid-id";
    case XMPP_SE_INVALID_NS:
      return "invalid-namespace";
    case XMPP_SE_INVALID_XML:
      return "invalid-xml";
    case XMPP_SE_NOT_AUTHORIZED:
      return "not-authorized";
    case XMPP_SE_POLICY_VIOLATION:
      return "policy-violation";
    case XMPP_SE_REMOTE_CONN_FAILED:
      return "remote-connection-failed";
    case XMPP_SE_RESOURCE_CONSTRAINT:
      return "resource-constraint";
    case XMPP_SE_RESTRICTED_XML:
      return "restricted-xml";
    case XMPP_SE_SEE_OTHER_HOST:
      return "see-other-host";
    case XMPP_SE_SYSTEM_SHUTDOWN:
      return "system-shutdown";
    case XMPP_SE_UNDEFINED_CONDITION:
      return "undefined-condition";
    case XMPP_SE_UNSUPPORTED_ENCODING:
      return "unsupported-encoding";
    case XMPP_SE_UNSUPPORTED_STANZA_TYPE:
      return "unsupported-stanza-type";
    case XMPP_SE_UNSUPPORTED_VERSION:
      return "unsupported-version";
    case XMPP_SE_XML_NOT_WELL_FORMED:
      return "not-well-formed";
  }
  return "undefined-condition";
}

std::string utc_text(Timestamp t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(
      std::chrono::time_point_cast<std::chrono::system_clock::duration>(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace

class XmppChatService::Loop {
 public:
  Loop(Settings settings, const Clock& clock) : settings_(std::move(settings)), clock_(clock) {
    log_.handler = &Loop::on_log;
    log_.userdata = this;
    rule_.default_location = settings_.default_location;
    rule_.keywords = settings_.location_keywords.empty() ? LocationRule::defaults().keywords
                                                         : settings_.location_keywords;
    own_bare_ = bare_of(settings_.jid);
    std::random_device seed;
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(seed()));
    standby_resource_ = settings_.resource + "-" + suffix;
    for (const auto& room : settings_.rooms) {
      const auto bare = bare_of(room);
      if (!bare.empty()) {
        rooms_[bare].nick = settings_.nick;
        room_names_[bare] = room;
      }
    }
  }

  ~Loop() { stop(); }

  Settings settings_;
  const Clock& clock_;
  LocationRule rule_;
  std::string own_bare_;
  std::atomic<ServiceState> state_{ServiceState::connecting};
  std::atomic<bool> want_primary_{true};  // the role set_primary asked for
  std::atomic<int> session_role_{-1};     // the role of the session up: 1 primary, 0 standby
  xmpp_log_t log_{};

  // ---- shared with the callers' threads (mutex_) ----
  std::mutex mutex_;
  std::deque<std::function<void()>> tasks_;
  bool running_ = false;
  std::atomic<bool> stopping_{false};
  std::map<std::string, Presence> presence_;  // bare JID -> combined presence
  std::string last_error_;                    // why the connection failed or was lost
  // The language each person last wrote in (xml:lang), by the address the engine uses.
  std::map<std::string, std::string> languages_;
  std::mutex handlers_mutex_;
  PresenceHandler presence_handler_;
  CommandHandler command_handler_;
  std::thread thread_;

  // ---- loop thread only ----
  CtxPtr ctx_;
  ConnPtr conn_;
  bool connected_ = false;
  bool roster_loaded_ = false;    // subscriptions are asked for once the roster is known
  bool disconnected_ = false;     // set by the connection handler: release and retry
  bool ever_connected_ = false;   // a session existed (a fresh one after it is a new session)
  bool resumed_ = false;          // libstrophe logged that this connection resumed the stream
  std::string sasl_failure_;      // libstrophe's "SASL <mechanism> auth failed" of this attempt
  std::string tls_failure_;       // the certificate check's reason, from the certfail handler
  std::string strophe_error_;     // libstrophe's last error line of this attempt
  std::string logged_failure_;    // the failure last logged (a retry failing alike stays quiet)
  SmStatePtr sm_state_;           // stream-management state kept across reconnects
  bool primary_ = true;           // the role of the current (or next) connection
  bool switching_ = false;        // this connection is closed for a change of role
  bool fresh_next_ = false;       // the next connection opens a new session (no resumption)
  bool conflict_ = false;         // another session took the configured resource from us
  std::string standby_resource_;  // `<resource>-<random>`, new for each process
  std::string bound_resource_;    // the resource of the current connection
  std::map<std::string, std::string> room_names_;  // bare room -> the engine's spelling
  SteadyClock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_{0};
  std::minstd_rand jitter_{std::random_device{}()};  // spreads the reconnect attempts
  std::uint64_t next_id_ = 1;
  std::uint64_t seq_ = 0;
  std::map<std::string, std::string> watched_;  // bare JID -> the name the engine uses
  std::map<std::string, std::string> roster_;   // bare JID -> subscription
  std::map<std::string, std::map<std::string, ResourcePresence>> resources_;
  std::map<std::string, Presence> pushed_;  // last presence pushed per watched user
  std::map<std::string, RoomState> rooms_;
  struct PendingIq {
    SteadyClock::time_point deadline;
    std::function<void(xmpp_stanza_t*)> done;  // null stanza: timeout or disconnect
  };
  std::map<std::string, PendingIq> iqs_;
  std::map<std::string, std::vector<std::function<void(const std::string& error)>>> room_waiters_;
  std::map<std::string, std::vector<std::function<void(const std::string& outcome)>>>
      subscribe_waiters_;
  struct UploadService {
    std::string jid;
    std::size_t max_file_size = 0;
  };
  std::optional<UploadService> upload_;
  int discovery_pending_ = 0;  // disco requests of discover_upload() not answered yet
  std::vector<std::function<void()>> after_discovery_;
  bool offline_retrieval_ = false;  // the server offers XEP-0013
  SteadyClock::time_point next_offline_fetch_{};
  int offline_fetches_ = 0;  // fetches in this session
  bool offline_fetching_ = false;
  std::vector<std::string> offline_handled_;  // XEP-0013 nodes handled, to remove

  std::string who() const { return "xmpp service '" + settings_.name + "'"; }
  std::string peer() const {
    return settings_.server.empty() ? Jid::parse(settings_.jid).value_or(Jid{}).domain
                                    : settings_.server;
  }

  // ---------------------------------------------------------------- lifecycle (any thread)

  Result<void> start() {
    if (!parse_user_jid(settings_.jid)) {
      return fail(Errc::invalid_argument, who() + ": jid '" + settings_.jid +
                                              "': expected the bot's bare address local@domain");
    }
    std::lock_guard lock(mutex_);
    if (running_) return {};
    xmpp_initialize();
    // Our logger (on_log) writes no debug line: libstrophe's debug shows the SASL exchange.
    ctx_.reset(xmpp_ctx_new(nullptr, &log_));
    if (!ctx_) return fail(Errc::internal, who() + ": libstrophe failed to initialise");
    running_ = true;
    stopping_ = false;
    state_ = ServiceState::connecting;
    thread_ = std::thread([this] { run(); });
    return {};
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (!running_) return;
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mutex_);
    running_ = false;
    state_ = ServiceState::broken;
  }

  // Runs `task` on the loop thread and waits for it to complete `pending`, until `deadline`.
  template <class T>
  Result<T> call(SteadyClock::time_point deadline,
                 std::function<void(const std::shared_ptr<Pending<T>>&)> task,
                 const std::string& what) {
    auto pending = std::make_shared<Pending<T>>();
    {
      std::lock_guard lock(mutex_);
      if (!running_ || stopping_) return fail(Errc::unavailable, who() + ": not started");
      tasks_.emplace_back([pending, task = std::move(task)] { task(pending); });
    }
    std::unique_lock lock(pending->m);
    if (!pending->cv.wait_until(lock, deadline, [&] { return pending->value.has_value(); })) {
      return fail(Errc::timeout, who() + ": " + what + ": no answer from " + peer() + " within " +
                                     std::to_string(settings_.timeout.count()) + " ms");
    }
    auto& answer = pending->value;  // wait_until returned true: it holds a value
    if (!answer) return fail(Errc::internal, who() + ": " + what + ": woken without an answer");
    return std::move(*answer);
  }

  void post(std::function<void()> task) {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }

  // ---------------------------------------------------------------- the loop thread

  void run() {
    certfail_loop_ = this;
    while (!stopping_) {
      if (!conn_ && SteadyClock::now() >= next_attempt_) connect();
      xmpp_run_once(ctx_.get(), kPollMs);
      if (disconnected_) release_connection();
      run_tasks();
      check_role();
      expire();
      fetch_offline();
    }
    if (conn_ && (connected_ || switching_)) {
      if (!switching_) sign_off();  // a change of role already closes it
      const auto until = SteadyClock::now() + std::chrono::seconds(1);
      while (!disconnected_ && SteadyClock::now() < until) xmpp_run_once(ctx_.get(), kPollMs);
    }
    disconnected_ = true;
    release_connection();
    run_tasks();  // tasks see no connection and fail at once
    conn_.reset();
    sm_state_.reset();  // before the context it belongs to
    ctx_.reset();
  }

  void run_tasks() {
    std::deque<std::function<void()>> tasks;
    {
      std::lock_guard lock(mutex_);
      tasks.swap(tasks_);
    }
    for (auto& t : tasks) t();
  }

  void expire() {
    const auto now = SteadyClock::now();
    for (auto it = iqs_.begin(); it != iqs_.end();) {
      if (it->second.deadline <= now) {
        auto done = std::move(it->second.done);
        it = iqs_.erase(it);
        if (done) done(nullptr);
      } else {
        ++it;
      }
    }
  }

  // A change of role asked by set_primary: close this connection; the next one binds the role's
  // resource and sends its priority, as a new session.
  // Says goodbye (unavailable presence, RFC 6121 §4.5) when a session is up, and closes the
  // connection; the connection handler then releases it.
  void sign_off() {
    if (connected_) {
      StanzaPtr p(xmpp_presence_new(ctx_.get()));
      xmpp_stanza_set_type(p.get(), "unavailable");
      xmpp_send(conn_.get(), p.get());
    }
    xmpp_disconnect(conn_.get());
  }

  void check_role() {
    const bool want = want_primary_.load();
    if (want == primary_) return;
    primary_ = want;
    if (want) conflict_ = false;
    session_role_ = -1;
    sm_state_.reset();
    spdlog::info("chat {}: {}", settings_.name,
                 want ? "now primary: reconnecting as " + own_bare_ + "/" + settings_.resource +
                            " (priority 1) to take the commands sent to " + own_bare_
                      : "now standby: reconnecting as " + own_bare_ + "/" + standby_resource_ +
                            " (priority -1); commands sent to " + own_bare_ + " go to the primary");
    if (!conn_) {
      next_attempt_ = SteadyClock::now();
      return;
    }
    switching_ = true;
    fresh_next_ = true;  // release_connection keeps no resumption state of this session
    state_ = ServiceState::connecting;
    sign_off();
  }

  void connect() {
    primary_ = want_primary_.load();
    bound_resource_ = primary_ && !conflict_ ? settings_.resource : standby_resource_;
    conn_.reset(xmpp_conn_new(ctx_.get()));
    connected_ = false;
    disconnected_ = false;
    resumed_ = false;
    sasl_failure_.clear();
    tls_failure_.clear();
    strophe_error_.clear();
    state_ = ServiceState::connecting;
    if (sm_state_ && xmpp_conn_set_sm_state(conn_.get(), sm_state_.get()) == XMPP_EOK) {
      (void)sm_state_.release();  // the connection owns it now
    }
    sm_state_.reset();
    xmpp_conn_set_certfail_handler(conn_.get(), &Loop::on_certfail);
    long flags = 0;
    if (settings_.tls_required) flags |= XMPP_CONN_FLAG_MANDATORY_TLS;
    if (settings_.trust_self_signed) flags |= XMPP_CONN_FLAG_TRUST_TLS;
    xmpp_conn_set_flags(conn_.get(), flags);
    if (!settings_.ca_file.empty()) xmpp_conn_set_cafile(conn_.get(), settings_.ca_file.c_str());
    const std::string full = own_bare_ + "/" + bound_resource_;
    xmpp_conn_set_jid(conn_.get(), full.c_str());
    xmpp_conn_set_pass(conn_.get(), settings_.password.c_str());
    xmpp_conn_set_sockopt_callback(conn_.get(), xmpp_sockopt_cb_keepalive);
    const int rc = xmpp_connect_client(
        conn_.get(), settings_.server.empty() ? nullptr : settings_.server.c_str(), settings_.port,
        &Loop::on_connection, this);
    if (rc != XMPP_EOK) {
      strophe_error_ = "cannot start connecting (libstrophe error " + std::to_string(rc) + ")";
      note_failure(why_failed(0, nullptr));
      disconnected_ = true;
    }
  }

  // ---------------------------------------------------------------- connection log

  // libstrophe's log: warnings and errors go to atdeskd's log; two debug lines are read (see the
  // file's head comment) and no debug line is written.
  static void on_log(void* userdata, xmpp_log_level_t level, const char* area, const char* msg) {
    auto* self = static_cast<Loop*>(userdata);
    if (!msg) return;
    if (level == XMPP_LEVEL_DEBUG) {
      if (std::strcmp(msg, "Session resumed successfully.") == 0) self->resumed_ = true;
      if (std::strncmp(msg, "SASL ", 5) == 0 && std::strstr(msg, " auth failed")) {
        self->sasl_failure_ = msg;
      }
      return;
    }
    if (level == XMPP_LEVEL_INFO) return;
    self->strophe_error_ = msg;
    spdlog::warn("chat {}: libstrophe {}: {}", self->settings_.name, area ? area : "", msg);
  }

  // The server's certificate failed verification: refuse it, keeping the reason for the log.
  static thread_local Loop* certfail_loop_;
  static int on_certfail(const xmpp_tlscert_t* cert, const char* errormsg) {
    if (Loop* self = certfail_loop_) {
      const char* subject = cert ? xmpp_tlscert_get_string(cert, XMPP_CERT_SUBJECT) : nullptr;
      self->tls_failure_ = std::string(errormsg ? errormsg : "verification failed") +
                           (subject ? std::string(" (certificate subject ") + subject + ")" : "");
    }
    return 0;
  }

  // Why this connection attempt failed or ended, in words that name the peer and the cause.
  std::string why_failed(int error, const xmpp_stream_error_t* stream_error) const {
    const std::string server =
        peer() + (settings_.port ? ":" + std::to_string(settings_.port) : "");
    if (!tls_failure_.empty()) {
      return "TLS: the certificate of " + server + " is not trusted: " + tls_failure_ +
             (settings_.ca_file.empty() ? " (no ca_file is set)"
                                        : " (ca_file " + settings_.ca_file + ")");
    }
    if (!sasl_failure_.empty()) {
      return "authentication of " + own_bare_ + " refused by " + server + " (" + sasl_failure_ +
             "): check the account and password_file";
    }
    if (stream_error) {
      std::string text =
          "stream error from " + server + ": " + stream_error_name(stream_error->type);
      if (stream_error->text && *stream_error->text)
        text += " (" + std::string(stream_error->text) + ")";
      if (stream_error->type == XMPP_SE_CONFLICT) {
        text += ": another client bound the resource '" + bound_resource_ + "'; binding '" +
                standby_resource_ +
                "' from now on (on several nodes the other one is the new primary; otherwise "
                "give each atdeskd on this account its own resource)";
      }
      return text;
    }
    if (error != 0) return "connection to " + server + " failed: " + std::strerror(error);
    if (!strophe_error_.empty()) return "connection to " + server + ": " + strophe_error_;
    return "connection to " + server + " refused or closed before the session began";
  }

  // Records a failure for last_error() and logs it unless the previous attempt failed alike.
  void note_failure(const std::string& why) {
    {
      std::lock_guard lock(mutex_);
      last_error_ = why;
    }
    if (why == logged_failure_) return;
    logged_failure_ = why;
    spdlog::error("chat {}: {}; retrying with backoff", settings_.name, why);
  }

  // After a failure or a lost connection: fail what waits for an answer, keep the stream
  // management state for the next attempt, and retry later. What the session knew (roster,
  // rooms, presence) is kept until the next connection says whether it resumed the stream.
  void release_connection() {
    disconnected_ = false;
    session_role_ = -1;
    if (conn_ && !stopping_ && !fresh_next_) {
      if (xmpp_sm_state_t* sm = xmpp_conn_get_sm_state(conn_.get())) sm_state_.reset(sm);
    }
    fresh_next_ = false;
    conn_.reset();
    connected_ = false;
    if (switching_) {
      // A change of role, not a failure: reconnect at once.
      switching_ = false;
      if (!stopping_) state_ = ServiceState::connecting;
      next_attempt_ = SteadyClock::now();
    } else {
      if (!stopping_) state_ = ServiceState::broken;
      backoff_ = backoff_.count() == 0 ? settings_.reconnect_min
                                       : std::min(backoff_ * 2, settings_.reconnect_max);
      // Half the backoff plus a random part of the other half: services and nodes that lost the
      // server together (a server restart) do not all come back at the same instants.
      const auto half = backoff_ / 2;
      next_attempt_ = SteadyClock::now() + half +
                      std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(
                          0, std::max<std::int64_t>(0, half.count()))(jitter_));
    }
    auto iqs = std::move(iqs_);
    iqs_.clear();
    for (auto& [id, iq] : iqs) {
      if (iq.done) iq.done(nullptr);
    }
    auto waiters = std::move(room_waiters_);
    room_waiters_.clear();
    for (auto& [room, list] : waiters) {
      for (auto& w : list) w("connection lost");
    }
    auto subs = std::move(subscribe_waiters_);
    subscribe_waiters_.clear();
    for (auto& [jid, list] : subs) {
      for (auto& w : list) w("connection lost");
    }
    discovery_pending_ = 0;
    auto after = std::move(after_discovery_);
    after_discovery_.clear();
    for (auto& f : after) f();  // they see no connection and fail
    if (stopping_) forget_session();
  }

  // A new session (not a resumed stream): what the previous one knew is void.
  void forget_session() {
    for (auto& [jid, room] : rooms_) {
      room.joined = false;
      room.real_jids.clear();
    }
    resources_.clear();
    roster_.clear();
    roster_loaded_ = false;
    pushed_.clear();
    upload_.reset();
    offline_retrieval_ = false;
    std::lock_guard lock(mutex_);
    presence_.clear();
  }

  static void on_connection(xmpp_conn_t*, xmpp_conn_event_t event, int error,
                            xmpp_stream_error_t* stream_error, void* userdata) {
    auto* self = static_cast<Loop*>(userdata);
    if (event == XMPP_CONN_CONNECT) {
      self->on_connected();
    } else if (event == XMPP_CONN_DISCONNECT || event == XMPP_CONN_FAIL) {
      const bool was_connected = self->connected_;
      self->disconnected_ = true;
      self->connected_ = false;
      if (self->stopping_ || self->switching_) return;
      self->state_ = ServiceState::broken;
      if (stream_error && stream_error->type == XMPP_SE_CONFLICT) {
        // Someone bound our resource (RFC 6120 7.7.2.2): do not take it back, or the two
        // sessions would replace each other for ever.
        self->conflict_ = true;
        self->fresh_next_ = true;
      }
      const auto why = self->why_failed(error, stream_error);
      if (was_connected) {
        {
          std::lock_guard lock(self->mutex_);
          self->last_error_ = why;
        }
        self->logged_failure_.clear();
        spdlog::warn("chat {}: lost the connection: {}; reconnecting", self->settings_.name, why);
      } else {
        self->note_failure(why);
      }
    }
  }

  void on_connected() {
    connected_ = true;
    backoff_ = std::chrono::milliseconds(0);
    logged_failure_.clear();
    {
      std::lock_guard lock(mutex_);
      last_error_.clear();
    }
    xmpp_conn_t* c = conn_.get();
    xmpp_handler_add(c, &Loop::on_presence, nullptr, "presence", nullptr, this);
    xmpp_handler_add(c, &Loop::on_message, nullptr, "message", nullptr, this);
    xmpp_handler_add(c, &Loop::on_iq, nullptr, "iq", nullptr, this);
    const char* bound = xmpp_conn_get_bound_jid(c);
    next_offline_fetch_ = SteadyClock::now();  // the first as soon as XEP-0013 is known
    offline_fetches_ = 0;
    offline_fetching_ = false;
    offline_handled_.clear();
    const char* role = primary_ ? "primary" : "standby";
    if (resumed_ && ever_connected_) {
      // The server kept our session: roster, rooms and presence subscriptions are as they were,
      // and the stanzas either side had not acknowledged were sent again.
      spdlog::info("chat {}: reconnected to {} as {} ({}): stream resumed (XEP-0198)",
                   settings_.name, peer(), bound ? bound : own_bare_, role);
      session_role_ = primary_ ? 1 : 0;
      state_ = ServiceState::connected;
      return;
    }
    spdlog::info("chat {}: connected to {} as {} ({}){}", settings_.name, peer(),
                 bound ? bound : own_bare_, role, ever_connected_ ? " (new session)" : "");
    forget_session();
    ever_connected_ = true;
    // The roster first, so that the presence flood after our initial presence finds it.
    auto iq = new_iq("get", nullptr);
    append(iq.get(), element(ctx(), "query", kNsRoster));
    send_iq(std::move(iq), [this](xmpp_stanza_t* result) {
      if (!result) return;
      roster_loaded_ = true;
      for (auto& [jid, sub] : parse_roster(result)) roster_[jid] = sub;
      for (const auto& [jid, sub] : roster_) {
        if (subscribed_to(sub)) mark_known(jid);
      }
      for (const auto& [jid, name] : watched_) ensure_subscription(jid);
    });
    // The initial presence: the primary's positive priority takes the messages sent to the bare
    // address (and the offline storage, which the server delivers now); a standby's negative one
    // takes neither, and still receives everyone's presence (RFC 6121 4.7.2.3).
    StanzaPtr presence(xmpp_presence_new(ctx()));
    auto priority = element(ctx(), "priority");
    append_text(priority.get(), primary_ ? "1" : "-1");
    append(presence.get(), std::move(priority));
    xmpp_send(c, presence.get());
    for (const auto& [room, state] : rooms_) join(room);
    discover_upload();
    session_role_ = primary_ ? 1 : 0;
    state_ = ServiceState::connected;
  }

  xmpp_ctx_t* ctx() const { return ctx_.get(); }

  StanzaPtr new_iq(const char* type, const char* to) {
    const auto id = "atdesk" + std::to_string(next_id_++);
    StanzaPtr iq(xmpp_iq_new(ctx(), type, id.c_str()));
    if (to) xmpp_stanza_set_to(iq.get(), to);
    return iq;
  }

  void send_iq(StanzaPtr iq, std::function<void(xmpp_stanza_t*)> done) {
    if (!connected_) {
      if (done) done(nullptr);
      return;
    }
    const std::string id = xmpp_stanza_get_id(iq.get());
    iqs_[id] = PendingIq{SteadyClock::now() + settings_.timeout, std::move(done)};
    xmpp_send(conn_.get(), iq.get());
  }

  void send_presence(const std::string& to, const char* type) {
    if (!connected_) return;
    StanzaPtr p(xmpp_presence_new(ctx()));
    xmpp_stanza_set_to(p.get(), to.c_str());
    if (type) xmpp_stanza_set_type(p.get(), type);
    xmpp_send(conn_.get(), p.get());
  }

  // Asks for the user's presence unless we have it, and pre-approves their subscription to us
  // (RFC 6121 3.4) so their client does not ask them about the bot.
  void ensure_subscription(const std::string& jid) {
    const auto it = roster_.find(jid);
    if (it != roster_.end() && subscribed_to(it->second)) return;
    send_presence(jid, "subscribed");
    send_presence(jid, "subscribe");
  }

  // A contact we are subscribed to is known: offline until a resource says otherwise.
  void mark_known(const std::string& jid) {
    if (resources_.contains(jid)) return;
    resources_[jid];
    update_presence(jid);
  }

  void update_presence(const std::string& jid) {
    const auto res = resources_.find(jid);
    if (res == resources_.end()) return;
    const Presence p = combine_presence(res->second, rule_, clock_.now());
    {
      std::lock_guard lock(mutex_);
      presence_[jid] = p;
    }
    const auto w = watched_.find(jid);
    if (w == watched_.end()) return;
    const auto last = pushed_.find(jid);
    if (last != pushed_.end() && last->second.availability == p.availability &&
        last->second.location == p.location && last->second.status_text == p.status_text) {
      return;
    }
    pushed_[jid] = p;
    PresenceHandler handler;
    {
      std::lock_guard lock(handlers_mutex_);
      handler = presence_handler_;
    }
    if (handler) handler(w->second, p);
  }

  void join(const std::string& room) {
    auto& state = rooms_[room];
    if (state.nick.empty()) state.nick = settings_.nick;
    if (!connected_) return;
    StanzaPtr p(xmpp_presence_new(ctx()));
    const auto to = room + "/" + state.nick;
    xmpp_stanza_set_to(p.get(), to.c_str());
    auto* x = append(p.get(), element(ctx(), "x", kNsMuc));
    auto history = element(ctx(), "history");
    xmpp_stanza_set_attribute(history.get(), "maxstanzas", "0");
    append(x, std::move(history));
    xmpp_send(conn_.get(), p.get());
  }

  // Calls `then` with "" once the room is joined, or with the reason it cannot be.
  void when_joined(const std::string& room, std::function<void(const std::string&)> then) {
    if (!connected_) {
      then("not connected to " + peer());
      return;
    }
    const auto it = rooms_.find(room);
    if (it != rooms_.end() && it->second.joined) {
      then("");
      return;
    }
    const bool first = room_waiters_[room].empty();
    room_waiters_[room].push_back(std::move(then));
    if (first) join(room);
  }

  // Fetches what waits in the server's offline storage (XEP-0013) and removes each message once
  // handled: the server sends the stored messages, then the result of the fetch.
  // Only the primary: the stored messages are the commands sent to the bare address.
  void fetch_offline() {
    if (!connected_ || session_role_ != 1 || !offline_retrieval_ || offline_fetching_ ||
        SteadyClock::now() < next_offline_fetch_) {
      return;
    }
    next_offline_fetch_ = SteadyClock::now() +
                          (offline_fetches_++ == 0 ? kOfflineSecondFetch : kOfflineFetchInterval);
    offline_fetching_ = true;
    auto iq = new_iq("get", nullptr);
    append(iq.get(), offline_fetch(ctx()));
    send_iq(std::move(iq), [this](xmpp_stanza_t* result) {
      offline_fetching_ = false;
      auto handled = std::move(offline_handled_);
      offline_handled_.clear();
      if (!result || attribute(result, "type") != "result" || handled.empty()) return;
      spdlog::info("chat {}: {} message(s) fetched from the offline storage of {} (XEP-0013)",
                   settings_.name, handled.size(), peer());
      auto remove = new_iq("set", nullptr);
      append(remove.get(), offline_remove(ctx(), handled));
      send_iq(std::move(remove), [this, count = handled.size()](xmpp_stanza_t* answer) {
        if (!answer || attribute(answer, "type") != "result") {
          spdlog::warn(
              "chat {}: {} did not confirm removing the {} offline message(s) handled ({}); it "
              "may deliver them again at the next login",
              settings_.name, peer(), count,
              answer ? error_condition(answer) : std::string("no answer"));
        }
      });
    });
  }

  // Finds the XEP-0363 service among the domain and its disco items. Slot requests made
  // meanwhile wait for the answer (after_discovery_), so a send right after connecting still
  // gets its preview.
  std::string own_domain() const { return Jid::parse(own_bare_).value_or(Jid{}).domain; }

  void discover_upload() {
    const auto domain = own_domain();
    auto check = [this](const std::string& jid) {
      auto info = new_iq("get", jid.c_str());
      append(info.get(), element(ctx(), "query", kNsDiscoInfo));
      ++discovery_pending_;
      send_iq(std::move(info), [this, jid](xmpp_stanza_t* result) {
        if (result && attribute(result, "type") == "result") {
          const auto parsed = parse_disco_info(result);
          if (parsed.has_feature(kNsUpload) && !upload_) {
            upload_ = UploadService{jid, parsed.max_file_size};
          }
          if (jid == own_domain() && parsed.has_feature(kNsOffline)) offline_retrieval_ = true;
        }
        discovery_step_done();
      });
    };
    check(domain);
    auto items = new_iq("get", domain.c_str());
    append(items.get(), element(ctx(), "query", kNsDiscoItems));
    ++discovery_pending_;
    send_iq(std::move(items), [this, check](xmpp_stanza_t* result) {
      if (result && attribute(result, "type") == "result") {
        for (const auto& jid : parse_disco_items(result)) check(jid);
      }
      discovery_step_done();
    });
  }

  void discovery_step_done() {
    if (discovery_pending_ > 0) --discovery_pending_;
    if (discovery_pending_ > 0) return;
    auto waiting = std::move(after_discovery_);
    after_discovery_.clear();
    for (auto& f : waiting) f();
  }

  // Runs `f` once the upload service is known (or known to be absent).
  void after_discovery(std::function<void()> f) {
    if (discovery_pending_ == 0 || !connected_) {
      f();
    } else {
      after_discovery_.push_back(std::move(f));
    }
  }

  // ---------------------------------------------------------------- stanza handlers

  static int on_presence(xmpp_conn_t*, xmpp_stanza_t* stanza, void* userdata) {
    static_cast<Loop*>(userdata)->handle_presence(stanza);
    return 1;
  }
  static int on_message(xmpp_conn_t*, xmpp_stanza_t* stanza, void* userdata) {
    static_cast<Loop*>(userdata)->handle_message(stanza);
    return 1;
  }
  static int on_iq(xmpp_conn_t*, xmpp_stanza_t* stanza, void* userdata) {
    static_cast<Loop*>(userdata)->handle_iq(stanza);
    return 1;
  }

  void handle_presence(xmpp_stanza_t* stanza) {
    const auto from = bare_of(attribute(stanza, "from"));
    if (from.empty() || from == own_bare_) return;
    if (rooms_.contains(from) || room_waiters_.contains(from)) {
      handle_occupant(stanza);
      return;
    }
    auto p = parse_contact_presence(stanza);
    if (!p) return;
    if (p->type == "subscribe") {
      // Recipients may follow the bot; strangers get no answer (their request stays pending).
      if (watched_.contains(p->bare)) {
        send_presence(p->bare, "subscribed");
        ensure_subscription(p->bare);
      }
      return;
    }
    if (p->type == "subscribed" || p->type == "unsubscribed" || p->type == "error") {
      const std::string outcome = p->type == "error" ? "error:" + error_condition(stanza) : p->type;
      if (p->type == "subscribed") mark_known(p->bare);
      if (p->type == "unsubscribed") {
        resources_.erase(p->bare);
        std::lock_guard lock(mutex_);
        presence_.erase(p->bare);
      }
      if (auto it = subscribe_waiters_.find(p->bare); it != subscribe_waiters_.end()) {
        auto list = std::move(it->second);
        subscribe_waiters_.erase(it);
        for (auto& w : list) w(outcome);
      }
      return;
    }
    if (!p->type.empty() && p->type != "unavailable") return;  // probe, unsubscribe
    auto& resources = resources_[p->bare];
    if (p->type == "unavailable") {
      if (p->resource.empty()) {
        resources.clear();
      } else {
        resources.erase(p->resource);
      }
    } else {
      resources[p->resource] =
          ResourcePresence{availability_from_show("", p->show), p->status, p->priority, ++seq_};
    }
    update_presence(p->bare);
  }

  void handle_occupant(xmpp_stanza_t* stanza) {
    auto o = parse_occupant_presence(stanza);
    if (!o) return;
    auto& room = rooms_[o->room];
    if (o->error) {
      if (o->nick.empty() || o->nick == room.nick) finish_join(o->room, o->error_condition);
      return;
    }
    // An occupant whose real JID we know tells us the presence of one of their resources:
    // channel members count even when they never approved a subscription.
    const auto seen = room.real_jids.find(o->nick);
    if (seen != room.real_jids.end() && (o->unavailable || seen->second != o->real_bare)) {
      const auto previous = seen->second;
      room.real_jids.erase(seen);
      if (auto r = resources_.find(previous); r != resources_.end()) {
        r->second.erase(occupant_resource(o->room, o->nick));
        update_presence(previous);
      }
    }
    if (o->unavailable) {
      if (o->self) room.joined = false;
      return;
    }
    if (o->real_bare.empty() && !o->self && o->nick != room.nick && !room.warned_anonymous) {
      room.warned_anonymous = true;
      spdlog::warn(
          "chat {}: room {} does not tell atdesk the real address of occupant '{}' "
          "(a semi-anonymous room where atdesk is not a moderator): commands sent there "
          "are ignored; make the room non-anonymous or atdesk a moderator",
          settings_.name, o->room, o->nick);
    }
    if (!o->real_bare.empty()) {
      room.real_jids[o->nick] = o->real_bare;
      if (o->real_bare != own_bare_) {
        resources_[o->real_bare][occupant_resource(o->room, o->nick)] =
            ResourcePresence{availability_from_show("", o->show), o->status, 0, ++seq_};
        update_presence(o->real_bare);
      }
    }
    if (o->self && !room.joined && !o->non_anonymous && o->role != "moderator" &&
        !room.warned_anonymous) {
      // XEP-0045 7.2.3: without status 100 the room shows real JIDs to moderators only.
      room.warned_anonymous = true;
      spdlog::warn(
          "chat {}: room {} is semi-anonymous and atdesk is not a moderator there: it "
          "cannot tell who sends a command in the room, so such commands are ignored; "
          "make the room non-anonymous (docs/xmpp.md) or atdesk a moderator",
          settings_.name, o->room);
    }
    if (o->self || o->nick == room.nick) {
      room.joined = true;
      finish_join(o->room, "");
    }
  }

  // The pseudo-resource under which a room occupant's presence is kept ("\x01" cannot start a
  // real resource).
  static std::string occupant_resource(const std::string& room, const std::string& nick) {
    return "\x01" + room + "/" + nick;
  }

  void finish_join(const std::string& room, const std::string& error) {
    auto it = room_waiters_.find(room);
    if (it == room_waiters_.end()) return;
    auto list = std::move(it->second);
    room_waiters_.erase(it);
    if (!error.empty() && !settings_rooms_contains(room)) rooms_.erase(room);
    for (auto& w : list) w(error.empty() ? "" : "cannot join: " + error);
  }

  bool settings_rooms_contains(const std::string& room) const {
    return std::any_of(settings_.rooms.begin(), settings_.rooms.end(),
                       [&](const std::string& r) { return bare_of(r) == room; });
  }

  void handle_message(xmpp_stanza_t* stanza) {
    // A stored message we fetched is removed from the server once handled, whatever it held.
    if (auto node = offline_node(stanza); node && offline_fetching_) {
      offline_handled_.push_back(std::move(*node));
    }
    auto incoming = read_command(stanza, settings_.name, own_bare_, rooms_);
    if (!incoming) return;
    // Every node in a room receives each room message (they share the nick): the primary's
    // session runs it (not one being closed for a change of role). A direct message reached this
    // resource alone (a bare-address one the primary, one to this node's full address this
    // node): it is ours to run.
    if (incoming->command.channel && session_role_ != 1) return;
    ChatCommand& command = incoming->command;
    const std::string address = command.from;  // case-folded bare JID, to answer
    // The engine knows people and rooms by the address its rules spell: give it that one.
    if (const auto w = watched_.find(command.from); w != watched_.end()) command.from = w->second;
    if (command.channel) {
      if (const auto r = room_names_.find(*command.channel); r != room_names_.end()) {
        command.channel = r->second;
      }
    }
    if (incoming->sent_at) {
      const auto now = clock_.now();
      const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - *incoming->sent_at);
      const auto sent = incoming->sent_at->time_since_epoch().count() == 0
                            ? std::string("at an unknown time")
                            : "at " + utc_text(*incoming->sent_at);
      if (settings_.late_command_max_age.count() == 0 || age > settings_.late_command_max_age) {
        spdlog::warn(
            "chat {}: not carrying out '{}' from {}: sent {} and delivered late (after "
            "{} s; late_command_max_age_s = {})",
            settings_.name, command.text.substr(0, 64), address, sent, age.count(),
            settings_.late_command_max_age.count());
        if (connected_) {
          send_message(address, "chat",
                       "Your message \"" + command.text.substr(0, 200) + "\" was sent " + sent +
                           " while atdesk was away and reached it only now, " +
                           std::to_string(age.count() / 60) +
                           " minute(s) later. atdesk carries out late commands only up to " +
                           std::to_string(settings_.late_command_max_age.count() / 60) +
                           " minute(s) old, so it did nothing. Send it again if it still applies.",
                       "");
        }
        return;
      }
      spdlog::info("chat {}: carrying out '{}' from {}, sent {} while atdesk was away",
                   settings_.name, command.text.substr(0, 64), address, sent);
    }
    if (!command.language.empty()) {
      std::lock_guard lock(mutex_);
      languages_[command.from] = command.language;
    }
    CommandHandler handler;
    {
      std::lock_guard lock(handlers_mutex_);
      handler = command_handler_;
    }
    if (handler) handler(command);
  }

  void handle_iq(xmpp_stanza_t* stanza) {
    const auto type = attribute(stanza, "type");
    if (type == "result" || type == "error") {
      const auto it = iqs_.find(attribute(stanza, "id"));
      if (it == iqs_.end()) return;
      auto done = std::move(it->second.done);
      iqs_.erase(it);
      if (done) done(stanza);
      return;
    }
    if (type != "get" && type != "set") return;
    const auto from = attribute(stanza, "from");
    if (type == "set" && xmpp_stanza_get_child_by_name_and_ns(stanza, "query", kNsRoster) &&
        (from.empty() || bare_of(from) == own_bare_)) {
      for (auto& [jid, sub] : parse_roster(stanza)) {
        if (sub == "remove") {
          roster_.erase(jid);
        } else {
          roster_[jid] = sub;
          if (subscribed_to(sub)) mark_known(jid);
        }
      }
      send_result(stanza);
      return;
    }
    if (type == "get" && xmpp_stanza_get_child_by_name_and_ns(stanza, "ping", kNsPing)) {
      send_result(stanza);
      return;
    }
    if (from.empty()) return;  // xmpp_stanza_reply_error needs a sender to answer
    StanzaPtr error(xmpp_stanza_reply_error(stanza, "cancel", "service-unavailable", nullptr));
    if (error) xmpp_send(conn_.get(), error.get());
  }

  // An empty result to an iq get/set (xmpp_stanza_reply cannot answer one without 'from').
  void send_result(xmpp_stanza_t* request) {
    const auto id = attribute(request, "id");
    const auto from = attribute(request, "from");
    StanzaPtr reply(xmpp_iq_new(ctx(), "result", id.c_str()));
    if (!from.empty()) xmpp_stanza_set_to(reply.get(), from.c_str());
    xmpp_send(conn_.get(), reply.get());
  }

  // ---------------------------------------------------------------- operations (loop thread)

  void send_message(const std::string& to, const char* type, const std::string& body,
                    const std::string& oob_url) {
    const auto id = "atdesk" + std::to_string(next_id_++);
    StanzaPtr m(xmpp_message_new(ctx(), type, to.c_str(), id.c_str()));
    xmpp_message_set_body(m.get(), body.c_str());
    if (!oob_url.empty()) {
      auto* x = append(m.get(), element(ctx(), "x", kNsOob));
      auto url = element(ctx(), "url");
      append_text(url.get(), oob_url);
      append(x, std::move(url));
    }
    xmpp_send(conn_.get(), m.get());
  }
};

thread_local XmppChatService::Loop* XmppChatService::Loop::certfail_loop_ = nullptr;

// ------------------------------------------------------------------ the port

XmppChatService::XmppChatService(Settings settings, const Clock& clock)
    : loop_(std::make_unique<Loop>(std::move(settings), clock)) {}

XmppChatService::~XmppChatService() = default;

const std::string& XmppChatService::name() const {
  return loop_->settings_.name;
}

ServiceState XmppChatService::state() const {
  return loop_->state_.load();
}

std::string XmppChatService::last_error() const {
  std::lock_guard lock(loop_->mutex_);
  return loop_->last_error_;
}

std::string XmppChatService::language(const std::string& user) const {
  std::lock_guard lock(loop_->mutex_);
  const auto it = loop_->languages_.find(user);
  return it == loop_->languages_.end() ? std::string() : it->second;
}

Result<void> XmppChatService::start() {
  return loop_->start();
}

void XmppChatService::set_primary(bool primary) {
  loop_->want_primary_ = primary;  // the connection thread acts on it (check_role)
}

bool XmppChatService::serving_as(bool primary) const {
  return state() == ServiceState::connected && loop_->session_role_.load() == (primary ? 1 : 0);
}

void XmppChatService::stop() {
  loop_->stop();
}

Result<std::map<std::string, Presence>> XmppChatService::presence(
    std::span<const std::string> users) {
  if (state() != ServiceState::connected) {
    return fail(Errc::unavailable, loop_->who() + ": not connected to " + loop_->peer());
  }
  std::map<std::string, Presence> out;
  std::lock_guard lock(loop_->mutex_);
  for (const auto& user : users) {
    const auto it = loop_->presence_.find(bare_of(user));
    if (it != loop_->presence_.end()) out.emplace(user, it->second);
  }
  return out;
}

void XmppChatService::watch(std::vector<std::string> users, PresenceHandler handler) {
  {
    std::lock_guard lock(loop_->handlers_mutex_);
    loop_->presence_handler_ = std::move(handler);
  }
  std::map<std::string, std::string> watched;
  for (const auto& user : users) {
    if (auto jid = parse_user_jid(user)) watched.emplace(jid->bare(), user);
  }
  Loop* loop = loop_.get();
  loop->post([loop, watched = std::move(watched)] {
    loop->watched_ = watched;
    for (auto it = loop->pushed_.begin(); it != loop->pushed_.end();) {
      it = watched.contains(it->first) ? std::next(it) : loop->pushed_.erase(it);
    }
    for (const auto& [jid, name] : watched) {
      if (!loop->connected_) break;
      if (loop->roster_loaded_) loop->ensure_subscription(jid);
      loop->update_presence(jid);  // pushes what is already known about a new user
    }
  });
}

void XmppChatService::on_command(CommandHandler handler) {
  std::lock_guard lock(loop_->handlers_mutex_);
  loop_->command_handler_ = std::move(handler);
}

Result<std::vector<std::string>> XmppChatService::channel_members(const std::string& channel) {
  auto room = Jid::parse(channel);
  if (!room || room->local.empty() || !room->resource.empty()) {
    return fail(Errc::invalid_argument,
                loop_->who() + ": channel '" + channel + "': expected a room address room@service");
  }
  const auto deadline = SteadyClock::now() + loop_->settings_.timeout;
  Loop* loop = loop_.get();
  const auto bare = room->bare();
  return loop->call<std::vector<std::string>>(
      deadline,
      [loop, bare, channel](const std::shared_ptr<Pending<std::vector<std::string>>>& done) {
        loop->room_names_[bare] = channel;
        loop->when_joined(bare, [loop, bare, done](const std::string& error) {
          if (!error.empty()) {
            done->complete(fail(Errc::unavailable, loop->who() + ": room " + bare + ": " + error));
            return;
          }
          std::set<std::string> members;
          for (const auto& [nick, real] : loop->rooms_[bare].real_jids) {
            if (real != loop->own_bare_) members.insert(real);
          }
          done->complete(std::vector<std::string>(members.begin(), members.end()));
        });
      },
      "members of " + bare);
}

Result<void> XmppChatService::send(const Recipient& to, const ChatMessage& message) {
  Loop* loop = loop_.get();
  Result<Jid> target =
      to.kind == RecipientKind::user ? parse_user_jid(to.address) : Jid::parse(to.address);
  if (!target) return fail(target.error());
  if (to.kind == RecipientKind::channel && (target->local.empty() || !target->resource.empty())) {
    return fail(Errc::invalid_argument,
                loop->who() + ": channel '" + to.address + "': expected room@service");
  }
  if (state() != ServiceState::connected) {
    return fail(Errc::unavailable, loop->who() + ": not connected to " + loop->peer());
  }
  const auto deadline = SteadyClock::now() + loop->settings_.timeout;
  const auto bare = target->bare();

  // The preview: a slot from the upload service, then the PUT on this thread (it must not hold
  // up the loop). Any failure leaves the message without its preview.
  std::string link;
  if (!message.preview_png.empty()) {
    const auto size = message.preview_png.size();
    const std::string filename =
        "atdesk-" + (message.job_id.empty() ? std::string("preview") : message.job_id) + ".png";
    auto slot = loop->call<UploadSlot>(
        deadline,
        [loop, size, filename](const std::shared_ptr<Pending<UploadSlot>>& done) {
          loop->after_discovery([loop, size, filename, done] {
            if (!loop->connected_) {
              done->complete(fail(Errc::unavailable, loop->who() + ": not connected"));
              return;
            }
            if (!loop->upload_) {
              done->complete(fail(Errc::unsupported, loop->who() + ": no XEP-0363 upload service"));
              return;
            }
            if (loop->upload_->max_file_size != 0 && size > loop->upload_->max_file_size) {
              done->complete(fail(Errc::limit_exceeded, loop->who() + ": preview over the upload "
                                                                      "service's max-file-size"));
              return;
            }
            auto iq = loop->new_iq("get", loop->upload_->jid.c_str());
            auto request = element(loop->ctx(), "request", kNsUpload);
            xmpp_stanza_set_attribute(request.get(), "filename", filename.c_str());
            xmpp_stanza_set_attribute(request.get(), "size", std::to_string(size).c_str());
            xmpp_stanza_set_attribute(request.get(), "content-type", "image/png");
            append(iq.get(), std::move(request));
            loop->send_iq(std::move(iq), [loop, done](xmpp_stanza_t* result) {
              auto slot = result ? parse_upload_slot(result) : std::nullopt;
              if (!slot) {
                done->complete(fail(Errc::unavailable, loop->who() + ": upload slot refused"));
              } else {
                done->complete(std::move(*slot));
              }
            });
          });
        },
        "upload slot");
    if (slot) {
      UploadOptions options;
      options.ca_file = loop->settings_.ca_file;
      options.insecure = loop->settings_.trust_self_signed;
      options.timeout =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      if (options.timeout.count() > 0 && http_put(*slot, message.preview_png, options)) {
        link = slot->get_url;
      }
    }
  }

  const std::string text = message.text;
  if (to.kind == RecipientKind::user) {
    return loop->call<void>(
        deadline,
        [loop, bare, text, link](const std::shared_ptr<Pending<void>>& done) {
          if (!loop->connected_) {
            done->complete(fail(Errc::unavailable, loop->who() + ": not connected"));
            return;
          }
          loop->send_message(bare, "chat", text, "");
          // Clients show an inline image when the body is the link itself.
          if (!link.empty()) loop->send_message(bare, "chat", link, link);
          done->complete({});
        },
        "message to " + bare);
  }
  const std::string channel = to.address;
  return loop->call<void>(
      deadline,
      [loop, bare, text, link, channel](const std::shared_ptr<Pending<void>>& done) {
        loop->room_names_[bare] = channel;
        loop->when_joined(bare, [loop, bare, text, link, done](const std::string& error) {
          if (!error.empty()) {
            done->complete(fail(Errc::unavailable, loop->who() + ": room " + bare + ": " + error));
            return;
          }
          loop->send_message(bare, "groupchat", text, "");
          if (!link.empty()) loop->send_message(bare, "groupchat", link, link);
          done->complete({});
        });
      },
      "message to room " + bare);
}

Result<void> XmppChatService::verify(const Recipient& recipient) {
  Loop* loop = loop_.get();
  const auto deadline = SteadyClock::now() + loop->settings_.timeout;
  if (recipient.kind == RecipientKind::user) {
    auto jid = parse_user_jid(recipient.address);
    if (!jid) return fail(jid.error());
    if (state() != ServiceState::connected) {
      return fail(Errc::unavailable, loop->who() + ": not connected to " + loop->peer());
    }
    const auto bare = jid->bare();
    auto verified = loop->call<void>(
        deadline,
        [loop, bare](const std::shared_ptr<Pending<void>>& done) {
          const auto it = loop->roster_.find(bare);
          if (it != loop->roster_.end() && subscribed_to(it->second)) {
            done->complete({});
            return;
          }
          if (!loop->connected_) {
            done->complete(fail(Errc::unavailable, loop->who() + ": not connected"));
            return;
          }
          loop->subscribe_waiters_[bare].push_back([loop, bare, done](const std::string& outcome) {
            if (outcome == "subscribed") {
              done->complete({});
            } else if (outcome == "unsubscribed") {
              done->complete(
                  fail(Errc::permission_denied,
                       loop->who() + ": " + bare + " refused the presence subscription"));
            } else if (outcome.rfind("error:", 0) == 0) {
              done->complete(
                  fail(Errc::not_found, loop->who() + ": " + bare + ": " + outcome.substr(6)));
            } else {
              done->complete(fail(Errc::unavailable, loop->who() + ": " + bare + ": " + outcome));
            }
          });
          loop->send_presence(bare, "subscribed");
          loop->send_presence(bare, "subscribe");
        },
        "subscription to " + bare);
    if (!verified && verified.error().code == Errc::timeout) {
      // No answer is not a "pending" state the caller can rely on: the address may not exist
      // (some servers drop requests to unknown accounts), or the person has not accepted yet.
      return fail(Errc::timeout,
                  loop->who() + ": " + recipient.address + " did not answer atdesk's presence " +
                      "subscription request within " +
                      std::to_string(loop->settings_.timeout.count()) +
                      " ms, so the recipient was not added. Check that the address exists; if " +
                      "it does, ask the person to accept the request from " + loop->own_bare_ +
                      " (or pre-approve it on the server, docs/xmpp.md) and add it again.");
    }
    return verified;
  }
  auto room = Jid::parse(recipient.address);
  if (!room) return fail(room.error());
  if (room->local.empty() || !room->resource.empty()) {
    return fail(Errc::invalid_argument, loop->who() + ": channel '" + recipient.address +
                                            "': expected a room address room@service");
  }
  if (state() != ServiceState::connected) {
    return fail(Errc::unavailable, loop->who() + ": not connected to " + loop->peer());
  }
  const auto bare = room->bare();
  const std::string channel = recipient.address;
  return loop->call<void>(
      deadline,
      [loop, bare, channel](const std::shared_ptr<Pending<void>>& done) {
        loop->room_names_[bare] = channel;
        auto iq = loop->new_iq("get", bare.c_str());
        append(iq.get(), element(loop->ctx(), "query", kNsDiscoInfo));
        loop->send_iq(std::move(iq), [loop, bare, done](xmpp_stanza_t* result) {
          if (!result) {
            done->complete(fail(Errc::unavailable, loop->who() + ": room " + bare + ": no answer"));
            return;
          }
          if (attribute(result, "type") == "error") {
            done->complete(fail(Errc::not_found,
                                loop->who() + ": room " + bare + ": " + error_condition(result)));
            return;
          }
          const auto info = parse_disco_info(result);
          const bool is_room = std::any_of(info.identities.begin(), info.identities.end(),
                                           [](const auto& i) { return i.first == "conference"; });
          if (!is_room) {
            done->complete(fail(Errc::not_found, loop->who() + ": " + bare + " is not a MUC room"));
          } else if (!info.has_feature("muc_nonanonymous")) {
            done->complete(
                fail(Errc::unsupported, loop->who() + ": room " + bare +
                                            " hides its occupants' real addresses; atdesk needs a "
                                            "non-anonymous room to know who sends a command"));
          } else {
            done->complete({});
          }
        });
      },
      "disco#info of room " + bare);
}

}  // namespace atdesk::chat
