#include "ipp_events.hpp"

#include <algorithm>
#include <array>
#include <string_view>
#include <vector>

#include "ipp_session.hpp"

namespace atdesk::print::detail {
namespace {

constexpr const char* kUser = "atdesk";
// A Get-Notifications that comes back sooner than this without events did not wait.
constexpr std::chrono::milliseconds kWaited{1000};
// The longest a printer may hold Get-Notifications before the connection counts as dead (PAPPL
// holds it 30 s). A printer that holds it longer is asked again over a new connection.
constexpr std::chrono::milliseconds kLongestWait{70000};
constexpr std::chrono::milliseconds kFirstBackoff{1000};
constexpr std::chrono::milliseconds kLongestBackoff{30000};
constexpr std::chrono::milliseconds kCancelTimeout{2000};

IppPtr request(const IppSession& session, ipp_op_t op) {
  IppPtr r = session.new_request(op);
  ippAddString(r.get(), IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", nullptr, kUser);
  return r;
}

bool lists(const std::vector<int>& values, int value) {
  return std::ranges::find(values, value) != values.end();
}

std::vector<int> ipp_integers(ipp_t* response, const char* name) {
  std::vector<int> values;
  if (ipp_attribute_t* attr = ippFindAttribute(response, name, IPP_TAG_ZERO)) {
    for (int i = 0; i < ippGetCount(attr); ++i) values.push_back(ippGetInteger(attr, i));
  }
  return values;
}

// One event of a Get-Notifications response (RFC 3995 9: an event-notification group with
// notify-sequence-number and, for job events, notify-job-id).
struct Event {
  int sequence = 0;
  int job_id = 0;
};

std::vector<Event> events_of(ipp_t* response) {
  std::vector<Event> events;
  bool in_group = false;
  for (ipp_attribute_t* attr = ippFirstAttribute(response); attr != nullptr;
       attr = ippNextAttribute(response)) {
    const char* name = ippGetName(attr);
    if (ippGetGroupTag(attr) != IPP_TAG_EVENT_NOTIFICATION || name == nullptr) {
      in_group = false;  // a separator ends a group
      continue;
    }
    if (!in_group) {
      events.emplace_back();
      in_group = true;
    }
    const std::string_view n = name;
    if (n == "notify-sequence-number") events.back().sequence = ippGetInteger(attr, 0);
    if (n == "notify-job-id") events.back().job_id = ippGetInteger(attr, 0);
  }
  return events;
}

}  // namespace

JobEventListener::JobEventListener(Settings settings, Printer::JobChanged changed)
    : settings_(std::move(settings)), changed_(std::move(changed)) {
  thread_ = std::thread([this] { run(); });
}

JobEventListener::~JobEventListener() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    if (current_ != nullptr) current_->shutdown();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool JobEventListener::pause(std::chrono::milliseconds for_how_long) {
  std::unique_lock lock(mutex_);
  return !cv_.wait_for(lock, for_how_long, [this] { return stopping_; });
}

void JobEventListener::set_current(IppSession* session) {
  std::lock_guard lock(mutex_);
  current_ = session;
  if (session != nullptr && stopping_) session->shutdown();
}

void JobEventListener::run() {
  auto backoff = kFirstBackoff;
  for (;;) {
    subscribed_ = false;
    const Outcome outcome = follow();
    active_ = false;
    if (outcome != Outcome::failed) return;
    if (subscribed_) backoff = kFirstBackoff;  // it worked for a while: not a flapping printer
    if (!pause(backoff)) return;
    backoff = std::min(backoff * 2, kLongestBackoff);
  }
}

JobEventListener::Outcome JobEventListener::follow() {
  auto session = IppSession::open(settings_.name, settings_.uri, settings_.timeout);
  if (!session) {
    return session.error().code == Errc::invalid_argument ? Outcome::unsupported : Outcome::failed;
  }
  set_current(&*session);
  struct Clear {
    JobEventListener* self;
    ~Clear() { self->set_current(nullptr); }
  } clear{this};

  // Does the printer have ippget notifications (RFC 3996 7: operations-supported lists
  // Create-Printer-Subscriptions and Get-Notifications; notify-pull-method-supported ippget)?
  {
    IppPtr get = request(*session, IPP_OP_GET_PRINTER_ATTRIBUTES);
    const std::array names{"operations-supported", "notify-pull-method-supported"};
    ippAddStrings(get.get(), IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
                  static_cast<int>(names.size()), nullptr, names.data());
    auto attributes = session->call(std::move(get));
    if (!attributes) return Outcome::failed;
    const auto ops = ipp_integers(attributes->get(), "operations-supported");
    const auto methods = ipp_strings(attributes->get(), "notify-pull-method-supported");
    if (!lists(ops, IPP_OP_CREATE_PRINTER_SUBSCRIPTIONS) || !lists(ops, IPP_OP_GET_NOTIFICATIONS) ||
        (!methods.empty() && std::ranges::find(methods, "ippget") == methods.end())) {
      return Outcome::unsupported;
    }
  }

  // RFC 3995 11.1.2: a printer subscription, pulled (notify-pull-method ippget), to the events
  // that end or move a job.
  auto subscribe = [&]() -> Result<int> {
    IppPtr create = request(*session, IPP_OP_CREATE_PRINTER_SUBSCRIPTIONS);
    ippAddString(create.get(), IPP_TAG_SUBSCRIPTION, IPP_TAG_KEYWORD, "notify-pull-method", nullptr,
                 "ippget");
    const std::array events{"job-completed", "job-state-changed"};
    ippAddStrings(create.get(), IPP_TAG_SUBSCRIPTION, IPP_TAG_KEYWORD, "notify-events",
                  static_cast<int>(events.size()), nullptr, events.data());
    ippAddInteger(create.get(), IPP_TAG_SUBSCRIPTION, IPP_TAG_INTEGER, "notify-lease-duration",
                  static_cast<int>(kLease.count()));
    auto created = session->call(std::move(create));
    if (!created) return fail(created.error());
    const auto id = ipp_integer(created->get(), "notify-subscription-id");
    if (!id || *id <= 0) {
      return fail(Errc::unavailable, session->who() +
                                         ": Create-Printer-Subscriptions succeeded without a "
                                         "notify-subscription-id");
    }
    return *id;
  };
  auto subscription = subscribe();
  if (!subscription) {
    const Errc code = subscription.error().code;
    // A printer that refuses the subscription itself (not supported, not allowed) will not
    // change its mind; one that is busy or gone is asked again.
    return code == Errc::unsupported || code == Errc::invalid_argument ||
                   code == Errc::permission_denied
               ? Outcome::unsupported
               : Outcome::failed;
  }
  // Best effort: a subscription not cancelled expires with its lease anyway.
  auto cancel = [&](IppSession& on) {
    IppPtr cancel = request(on, IPP_OP_CANCEL_SUBSCRIPTION);
    ippAddInteger(cancel.get(), IPP_TAG_OPERATION, IPP_TAG_INTEGER, "notify-subscription-id",
                  *subscription);
    return on.call(std::move(cancel)).has_value();
  };
  auto stopped = [&] {
    std::lock_guard lock(mutex_);
    return stopping_;
  };
  // Once stopping, the session may have been shut down (by the destructor, at any instant):
  // it is closed (a printer that serves one connection at a time would otherwise wait for it)
  // and the subscription is cancelled over a new connection.
  auto cancel_after_stop = [&] {
    set_current(nullptr);  // from here on, no other thread touches the session
    session->close();
    auto last = IppSession::open(settings_.name, settings_.uri, kCancelTimeout);
    if (last) (void)cancel(*last);  // best effort, see cancel
    return Outcome::stopped;
  };
  active_ = true;
  subscribed_ = true;
  // Events may have been missed while there was no subscription: look at every job once.
  changed_(0);

  session->set_timeout(std::max(settings_.timeout, kLongestWait));
  int next_sequence = 1;
  int quick_empty = 0;
  auto renewed = std::chrono::steady_clock::now();
  for (;;) {
    if (stopped()) break;
    if (std::chrono::steady_clock::now() - renewed > kLease / 2) {
      // RFC 3995 11.2.6: the lease is extended by another kLease.
      IppPtr renew = request(*session, IPP_OP_RENEW_SUBSCRIPTION);
      ippAddInteger(renew.get(), IPP_TAG_OPERATION, IPP_TAG_INTEGER, "notify-subscription-id",
                    *subscription);
      ippAddInteger(renew.get(), IPP_TAG_SUBSCRIPTION, IPP_TAG_INTEGER, "notify-lease-duration",
                    static_cast<int>(kLease.count()));
      if (!session->call(std::move(renew))) return Outcome::failed;  // subscribed again
      renewed = std::chrono::steady_clock::now();
    }
    // RFC 3996 5.2: the events after the last one seen; notify-wait asks the printer to answer
    // only when there is one (or when it chooses to).
    IppPtr get = request(*session, IPP_OP_GET_NOTIFICATIONS);
    ippAddInteger(get.get(), IPP_TAG_OPERATION, IPP_TAG_INTEGER, "notify-subscription-ids",
                  *subscription);
    ippAddInteger(get.get(), IPP_TAG_OPERATION, IPP_TAG_INTEGER, "notify-sequence-numbers",
                  next_sequence);
    ippAddBoolean(get.get(), IPP_TAG_OPERATION, "notify-wait", 1);
    const auto asked = std::chrono::steady_clock::now();
    auto answer = session->call(std::move(get));
    if (!answer) {
      if (!stopped()) return Outcome::failed;  // the subscription is gone, or the printer: again
      return cancel_after_stop();  // stopped while waiting: the connection was shut down
    }
    const auto events = events_of(answer->get());
    if (events.empty() && std::chrono::steady_clock::now() - asked < kWaited) {
      // Answered at once with nothing: this printer does not wait (CUPS 2.4 says come back in
      // notify-get-interval seconds), so its events would come late. Polling is faster.
      active_ = false;
      if (stopped()) break;
      if (++quick_empty >= 2) {
        if (!cancel(*session) && stopped()) return cancel_after_stop();
        return Outcome::unsupported;
      }
      continue;
    }
    quick_empty = 0;
    active_ = true;
    for (const auto& event : events) {
      next_sequence = std::max(next_sequence, event.sequence + 1);
      changed_(event.job_id);
    }
  }
  return cancel_after_stop();
}

}  // namespace atdesk::print::detail
