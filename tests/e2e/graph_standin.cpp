// The Microsoft Graph and identity platform stand-in as a process, for the browser tests of the
// Teams sign-in (teams.test.mjs): the small tenant of atdesk/testing/graph_tenant.hpp (the one
// the daemon scenarios of tests/integration/teams_daemon use) with its authorization code flow
// with PKCE (atdesk/testing/fake_identity.hpp), on 127.0.0.1, port chosen by the kernel.
//
// usage: graph_standin <atdeskd base URL> <file>
//   writes the stand-in's base URL into <file> once it listens, registers
//   <atdeskd base URL>/api/v1/chat-services/teams/sign-in/callback as the app's redirect URI and
//   serves until SIGTERM or SIGINT.
//
// The test looks into it and steers it under /_standin/ (not Graph's):
//   GET  /_standin/received     every request so far: method, target, body, status, reply
//   GET  /_standin/violations   the broken rules (FakeGraph::violations()), [] when none
//   POST /_standin/code-lifetime  body: seconds; authorization codes issued from now live this long
//   POST /_standin/presence     body: {"id","availability","activity","location"}
#include <curl/curl.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "atdesk/testing/fake_graph.hpp"
#include "atdesk/testing/graph_tenant.hpp"

namespace {

using atdesk::testing::FakeGraph;
using atdesk::testing::Received;
using atdesk::testing::Reply;
using atdesk::testing::Tenant;
using Json = nlohmann::json;
using namespace std::chrono_literals;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: graph_standin <atdeskd base URL> <file for the stand-in's URL>\n";
    return 2;
  }
  const std::string atdesk = argv[1];
  // Signals are taken by sigwait below, not by the server's thread.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  curl_global_init(CURL_GLOBAL_DEFAULT);

  FakeGraph graph;
  Tenant tenant(graph,
                Tenant::Options{{{"alice@contoso.com", "alice-id"}, {"bob@contoso.com", "bob-id"}},
                                "/api/v1/webhooks/graph/teams",
                                2});
  tenant.set_webhook_base(atdesk);
  tenant.authorization_codes().register_redirect_uri(
      atdesk + "/api/v1/chat-services/teams/sign-in/callback");
  // Documented limits, counted as in the daemon scenarios ("Microsoft Graph service-specific
  // throttling limits", https://learn.microsoft.com/graph/throttling-limits).
  graph.limit({"POST", "/v1.0/communications/getPresencesByUserId", "", 1500, 30s,
               "getPresencesByUserId: 1500 requests in 30 s per app and tenant"});
  graph.limit({"POST", "/v1.0/chats/", "/messages", 20, 1s,
               "POST 1:1/group chat message: 20 rps per app and tenant"});

  graph.on("GET", "/_standin/received", [&graph](const Received&) {
    Json out = Json::array();
    for (const auto& r : graph.received()) {
      if (r.path.starts_with("/_standin/")) continue;
      out.push_back({{"method", r.method},
                     {"target", r.target},
                     {"path", r.path},
                     {"body", r.body},
                     {"status", r.status},
                     {"reply", r.reply}});
    }
    return Reply{200, out.dump()};
  });
  graph.on("GET", "/_standin/violations", [&graph](const Received&) {
    return Reply{200, Json(graph.violations()).dump()};
  });
  graph.on("POST", "/_standin/code-lifetime", [&tenant](const Received& r) {
    tenant.authorization_codes().set_code_lifetime(std::chrono::seconds(std::stoi(r.body)));
    return Reply{204, ""};
  });
  graph.on("POST", "/_standin/presence", [&tenant](const Received& r) {
    const auto j = Json::parse(r.body, nullptr, false);
    if (!j.is_object()) return Reply{400, R"({"error":"expected a JSON object"})"};
    tenant.set_presence(j.value("id", ""), j.value("availability", ""), j.value("activity", ""),
                        j.value("location", ""));
    return Reply{204, ""};
  });

  {
    std::ofstream out(argv[2] + std::string(".tmp"));
    out << graph.url() << "\n";
  }
  std::rename((argv[2] + std::string(".tmp")).c_str(), argv[2]);
  int signal = 0;
  sigwait(&stop, &signal);
  curl_global_cleanup();
  return 0;
}
