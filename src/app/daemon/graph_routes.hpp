// HTTP routes of the Teams (Microsoft Graph) services: the change-notification webhook (no
// bearer token: Graph cannot send one; each notification's clientState is checked by the
// service) and the admin's device-code sign-in of the service account.
#pragma once

#include <memory>
#include <vector>

#include "atdesk/api/auth.hpp"
#include "atdesk/api/http_server.hpp"
#include "atdesk/chat/graph/graph_chat_service.hpp"

namespace atdesk::app {

class GraphSignIns;

// Adds, for each service:
//   POST /api/v1/webhooks/graph/<name>            Graph's notifications and validation handshake
//   POST /api/v1/chat-services/<name>/sign-in     admin: start the device-code sign-in; returns
//                                                 {"user_code","verification_uri","message"}
//   GET  /api/v1/chat-services/<name>/sign-in     admin: {"status": "pending"|"signed_in"|
//                                                 "expired"|"denied"|"failed"|"idle", "problem"}
//                                                 ("failed": the identity platform's error, such
//                                                 as bad_verification_code, in "problem")
//   POST /api/v1/chat-services/<name>/sign-in/browser   admin: {"redirect_base": origin};
//                                                 starts the authorization code sign-in with PKCE;
//                                                 returns {"authorize_url","redirect_uri"}
//   GET  /api/v1/chat-services/<name>/sign-in/callback  the identity platform's redirect (no
//                                                 bearer token: the single-use state authenticates
//                                                 it); answers a short HTML page
// The returned object polls the identity platform in the background; keep it alive as long as
// the router.
std::shared_ptr<GraphSignIns> install_graph_routes(api::Router& router,
                                                   const api::Authenticator& auth,
                                                   std::vector<chat::GraphChatService*> services);

}  // namespace atdesk::app
