#include "oauth.hpp"

#include <nlohmann/json.hpp>

#include "http.hpp"

namespace atdesk::chat::graph {
namespace {

std::string first_line(const std::string& s) {
  const auto nl = s.find_first_of("\r\n");
  return nl == std::string::npos ? s : s.substr(0, nl);
}

Result<nlohmann::json> post_form(const std::string& url, const std::string& form,
                                 std::chrono::milliseconds timeout, const std::string& what,
                                 long& status) {
  HttpRequest request{"POST", url, {"Content-Type: application/x-www-form-urlencoded"}, form};
  auto response = http_send(request, timeout);
  if (!response) return fail(response.error());
  status = response->status;
  auto j = nlohmann::json::parse(response->body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return fail(Errc::unavailable, what + ": HTTP " + std::to_string(status) +
                                       " with a body that is not a JSON object");
  }
  return j;
}

}  // namespace

Result<TokenReply> token_request(const std::string& url, const std::string& form,
                                 std::chrono::milliseconds timeout, Timestamp now) {
  long status = 0;
  auto j = post_form(url, form, timeout, "token endpoint", status);
  if (!j) return fail(j.error());
  TokenReply reply;
  if (j->contains("error")) {
    if (!(*j)["error"].is_string()) {
      return fail(Errc::unavailable, "token endpoint: error: expected a string");
    }
    reply.error = (*j)["error"].get<std::string>();
    if (j->contains("error_description") && (*j)["error_description"].is_string()) {
      reply.description = first_line((*j)["error_description"].get<std::string>());
    }
    return reply;
  }
  if (status != 200) {
    return fail(Errc::unavailable, "token endpoint: HTTP " + std::to_string(status));
  }
  const auto access = j->find("access_token");
  if (access == j->end() || !access->is_string() || access->get<std::string>().empty()) {
    return fail(Errc::unavailable, "token endpoint: access_token: expected a non-empty string");
  }
  const auto expires = j->find("expires_in");
  long long seconds = 0;
  if (expires != j->end() && expires->is_number_integer()) {
    seconds = expires->get<long long>();
  } else if (expires != j->end() && expires->is_string()) {
    seconds = std::atoll(expires->get<std::string>().c_str());
  } else {
    return fail(Errc::unavailable, "token endpoint: expires_in: expected a number of seconds");
  }
  TokenSet tokens;
  tokens.access_token = access->get<std::string>();
  if (const auto r = j->find("refresh_token"); r != j->end() && r->is_string()) {
    tokens.refresh_token = r->get<std::string>();
  }
  tokens.expires_at = now + std::chrono::seconds(seconds);
  reply.tokens = std::move(tokens);
  return reply;
}

Result<DeviceCodeReply> device_code_request(const std::string& url, const std::string& form,
                                            std::chrono::milliseconds timeout) {
  long status = 0;
  auto j = post_form(url, form, timeout, "device code endpoint", status);
  if (!j) return fail(j.error());
  if (j->contains("error")) {
    std::string error = (*j)["error"].is_string() ? (*j)["error"].get<std::string>() : "?";
    std::string description =
        j->contains("error_description") && (*j)["error_description"].is_string()
            ? first_line((*j)["error_description"].get<std::string>())
            : std::string();
    return fail(Errc::permission_denied,
                "device code endpoint refused the sign-in: " + error + " " + description);
  }
  DeviceCodeReply reply;
  for (const auto& [field, out] :
       {std::pair<const char*, std::string*>{"device_code", &reply.device_code},
        {"user_code", &reply.user_code},
        {"verification_uri", &reply.verification_uri}}) {
    const auto it = j->find(field);
    if (it == j->end() || !it->is_string()) {
      return fail(Errc::unavailable,
                  std::string("device code endpoint: ") + field + ": expected a string");
    }
    *out = it->get<std::string>();
  }
  if (const auto it = j->find("message"); it != j->end() && it->is_string()) {
    reply.message = it->get<std::string>();
  }
  if (const auto it = j->find("interval"); it != j->end() && it->is_number_integer()) {
    reply.interval = std::chrono::seconds(std::max<long long>(1, it->get<long long>()));
  }
  const auto it = j->find("expires_in");
  if (it == j->end() || !it->is_number_integer()) {
    return fail(Errc::unavailable, "device code endpoint: expires_in: expected a number");
  }
  reply.expires_in = std::chrono::seconds(it->get<long long>());
  return reply;
}

}  // namespace atdesk::chat::graph
