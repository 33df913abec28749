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

  // The browser sign-in (authorization code with PKCE): the URL the admin's browser opens. The
  // identity platform sends the browser back to <redirect_base><callback path>, which must be a
  // redirect URI of the app registration.
  api::Response begin_browser(chat::GraphChatService& service, const std::string& redirect_base) {
    const std::string redirect_uri =
        redirect_base + "/api/v1/chat-services/" + service.name() + "/sign-in/callback";
    auto started = service.begin_browser_sign_in(redirect_uri);
    if (!started) return api::Response::error(started.error());
    std::lock_guard lock(mutex_);
    // One attempt per service at a time: a new one replaces the old.
    std::erase_if(browser_, [&](const auto& b) { return b.second.first == service.name(); });
    browser_[started->state] = {service.name(), *started};
    state_[service.name()].status = "pending";
    state_[service.name()].error.clear();
    return json_response(
        202, {{"authorize_url", started->authorize_url}, {"redirect_uri", redirect_uri}});
  }

  // Where the identity platform sends the browser back: ?code=...&state=... or ?error=...
  // The random single-use state (from begin_browser) authenticates it.
  api::Response callback(chat::GraphChatService& service, const api::Request& request) {
    const std::string state(request.query_value("state").value_or(""));
    const std::string code(request.query_value("code").value_or(""));
    const std::string error(request.query_value("error").value_or(""));
    chat::BrowserSignIn sign_in;
    {
      std::lock_guard lock(mutex_);
      const auto it = browser_.find(state);
      if (state.empty() || it == browser_.end() || it->second.first != service.name()) {
        return page(400,
                    "This sign-in is not known here (expired, used, or not started here). "
                    "Start it again from the web UI.");
      }
      sign_in = it->second.second;
      browser_.erase(it);
    }
    std::string why;
    if (error == "access_denied") {
      // The admin pressed Cancel on the consent page, or a policy said no.
      why = "the sign-in was declined at the identity platform (access_denied: " +
            std::string(request.query_value("error_description").value_or("")) + ")";
    } else if (!error.empty()) {
      why = "the identity platform answered " + error + ": " +
            std::string(request.query_value("error_description").value_or(""));
    } else if (code.empty()) {
      why = "the identity platform sent no code";
    } else if (auto ok = service.finish_browser_sign_in(sign_in, code); !ok) {
      why = ok.error().message;
    }
    std::lock_guard lock(mutex_);
    auto& s = state_[service.name()];
    if (!why.empty()) {
      spdlog::warn("teams {}: browser sign-in: {}", service.name(), why);
      s.status = "failed";
      s.error = why;
      return page(400, "Sign-in failed: " + why);
    }
    s.status = "signed_in";
    spdlog::info("teams {}: the service account is signed in (browser)", service.name());
    return page(200, "Signed in. You can close this tab and return to atdesk.");
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
  static api::Response page(int status, const std::string& text) {
    std::string escaped;
    for (const char c : text) {
      escaped += c == '<'   ? std::string("&lt;")
                 : c == '&' ? std::string("&amp;")
                            : std::string(1, c);
    }
    return api::Response::text(
        status,
        "<!doctype html><meta charset=\"utf-8\"><title>atdesk sign-in</title>"
        "<h1>Teams sign-in</h1><p>" +
            escaped + "</p><p><a href=\"/\">Back to atdesk</a></p>\n",
        "text/html; charset=utf-8");
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
  std::map<std::string, std::pair<std::string, chat::BrowserSignIn>> browser_;  // by state
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
    router.add("POST", path + "/browser",
               api::authorized(auth, [service, sign_ins, admin_only](const api::Request& request,
                                                                     const api::Principal& who) {
                 if (auto denied = admin_only(who)) return *denied;
                 const auto body = nlohmann::json::parse(request.body, nullptr, false);
                 const std::string base =
                     body.is_object() ? body.value("redirect_base", "") : std::string();
                 if (!base.starts_with("https://") && !base.starts_with("http://")) {
                   return api::Response::error(
                       400, "invalid_argument",
                       "redirect_base: expected the web UI's origin (https://host[:port])");
                 }
                 return sign_ins->begin_browser(*service, base);
               }));
    // The identity platform redirects the browser here: a cross-site navigation, so the
    // SameSite=Strict session cookie is not sent. The single-use `state` ties the answer to the
    // sign-in an administrator started, and the code is worthless without the PKCE verifier.
    router.add_public(
        "GET", path + "/callback",
        [service, sign_ins](const api::Request& request) {
          return sign_ins->callback(*service, request);
        },
        "the browser sign-in's return from the identity platform; checked by its single-use "
        "state and the PKCE verifier");
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
