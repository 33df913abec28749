#include "graph_routes.hpp"

#include <spdlog/spdlog.h>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

namespace atdesk::app {

// One device-code sign-in per service at a time, polled on its own thread at the interval the
// identity platform asks for.
class GraphSignIns {
 public:
  ~GraphSignIns() {
    std::vector<std::jthread> threads;
    {
      std::lock_guard lock(mutex_);
      for (auto& [name, s] : state_) {
        s.stop = true;
        threads.push_back(std::move(s.thread));
      }
    }
    threads.clear();  // joins: each poll loop checks `stop` every 100 ms
  }

  api::Response begin(chat::GraphChatService& service) {
    std::unique_lock lock(mutex_);
    auto& s = state_[service.name()];
    if (s.status == "pending") {
      return json_response(
          409, {{"error",
                 {{"code", "conflict"},
                  {"message", "a sign-in is already waiting: enter code " + s.sign_in.user_code +
                                  " at " + s.sign_in.verification_uri}}}});
    }
    lock.unlock();
    auto started = service.begin_device_sign_in();
    if (!started) return api::Response::error(started.error());
    lock.lock();
    s.sign_in = *started;
    s.status = "pending";
    s.error.clear();
    s.stop = false;
    if (s.thread.joinable()) s.thread.join();
    s.thread = std::jthread([this, &service] { poll(service); });
    return json_response(202, {{"user_code", started->user_code},
                               {"verification_uri", started->verification_uri},
                               {"message", started->message}});
  }

  api::Response status(chat::GraphChatService& service) {
    std::lock_guard lock(mutex_);
    const auto it = state_.find(service.name());
    const std::string status = it == state_.end() ? "idle" : it->second.status;
    std::string problem = service.problem();
    if (problem.empty() && it != state_.end()) problem = it->second.error;
    nlohmann::json body{{"status", status}, {"problem", problem}};
    if (status == "pending") {
      body["user_code"] = it->second.sign_in.user_code;
      body["verification_uri"] = it->second.sign_in.verification_uri;
    }
    return json_response(200, body);
  }

 private:
  struct State {
    chat::DeviceSignIn sign_in;
    std::string status = "idle";
    std::string error;  // why the last sign-in failed ("failed": bad_verification_code, ...)
    bool stop = false;
    std::jthread thread;
  };

  static api::Response json_response(int status, const nlohmann::json& body) {
    return api::Response::json_text(status, body.dump());
  }

  void poll(chat::GraphChatService& service) {
    while (true) {
      chat::DeviceSignIn sign_in;
      {
        std::lock_guard lock(mutex_);
        auto& s = state_[service.name()];
        if (s.stop) return;
        sign_in = s.sign_in;
      }
      // Wait the interval in short steps so that a shutdown is not held up.
      for (auto waited = std::chrono::milliseconds(0); waited < sign_in.interval;
           waited += std::chrono::milliseconds(100)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        std::lock_guard lock(mutex_);
        if (state_[service.name()].stop) return;
      }
      auto result = service.poll_device_sign_in(sign_in);
      std::lock_guard lock(mutex_);
      auto& s = state_[service.name()];
      s.sign_in.interval = sign_in.interval;
      if (!result) {
        spdlog::warn("teams {}: sign-in: {}", service.name(), result.error().message);
        s.status = "failed";
        s.error = result.error().message;
        return;
      }
      switch (*result) {
        case chat::SignInStatus::pending:
        case chat::SignInStatus::slow_down:
          continue;
        case chat::SignInStatus::signed_in:
          s.status = "signed_in";
          spdlog::info("teams {}: the service account is signed in", service.name());
          return;
        case chat::SignInStatus::expired:
          s.status = "expired";
          return;
        case chat::SignInStatus::denied:
          s.status = "denied";
          return;
      }
    }
  }

  std::mutex mutex_;
  std::map<std::string, State> state_;
};

std::shared_ptr<GraphSignIns> install_graph_routes(api::Router& router,
                                                   const api::Authenticator& auth,
                                                   std::vector<chat::GraphChatService*> services) {
  auto sign_ins = std::make_shared<GraphSignIns>();
  for (auto* service : services) {
    router.add_public(
        "POST", service->webhook_path(),
        [service](const api::Request& request) {
          const auto token = request.query_value("validationToken").value_or("");
          auto r = service->handle_webhook(token, request.body);
          return api::Response::text(r.status, std::move(r.body), std::move(r.content_type));
        },
        "Graph change notifications; each carries the subscription's clientState, checked "
        "before anything is read");
    const std::string path = "/api/v1/chat-services/" + service->name() + "/sign-in";
    auto admin_only = [](const api::Principal& who) {
      return who.role == api::Role::admin
                 ? std::optional<api::Response>{}
                 : std::optional<api::Response>{api::Response::error(
                       403, "permission_denied", "only an admin signs in a chat service")};
    };
    router.add("POST", path,
               api::authorized(auth, [service, sign_ins, admin_only](const api::Request&,
                                                                     const api::Principal& who) {
                 if (auto denied = admin_only(who)) return *denied;
                 return sign_ins->begin(*service);
               }));
    router.add("GET", path,
               api::authorized(auth, [service, sign_ins, admin_only](const api::Request&,
                                                                     const api::Principal& who) {
                 if (auto denied = admin_only(who)) return *denied;
                 return sign_ins->status(*service);
               }));
  }
  return sign_ins;
}

}  // namespace atdesk::app
