// The caller of a route as the authenticator named them: the actor for the audit log, the role,
// and for a `user` the recipient keys they are. Its own header so that a Request can carry the
// caller the router identified (http_server.hpp) without the authenticators (auth.hpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atdesk::api {

// The caller in the words of the audit log: "api:admin", later "user:alice".
using Actor = std::string;

// What a caller may do: `admin` everything; `user` only their own jobs (those with one of
// their recipient keys among the job's recipients) and their own settings.
enum class Role { admin, user };
std::string_view to_string(Role role);
std::optional<Role> parse_role(std::string_view text);

// `account` is the local account's name (empty for the bearer token).
struct Principal {
  Actor actor;
  Role role = Role::admin;
  std::string account;
  std::vector<std::string> recipients;
};

}  // namespace atdesk::api
