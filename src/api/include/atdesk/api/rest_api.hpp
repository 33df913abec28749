// The REST API of docs/api.md on a Router: ingress (upload), jobs, the recipient table, mode
// tables and schedule, presence, the local chat service, printers, audit log, metrics, health.
// Handlers translate between HTTP/JSON and the Engine; they hold no rules of their own.
#pragma once

#include <functional>
#include <string>

#include "atdesk/api/auth.hpp"
#include "atdesk/api/http_server.hpp"
#include "atdesk/chat/local/local_chat_service.hpp"
#include "atdesk/engine/engine.hpp"

namespace atdesk::api {

// Adds every route. `engine`, `auth` and `local` (may be null: the local chat service is not
// configured, its routes answer 404) must outlive the router. Every route except GET /healthz
// goes through `auth`, which also gives the caller's role: a `user` gets 403 on the admin routes
// (recipient table, mode tables, schedule, local chat service, audit, metrics, upload) and sees
// only the jobs and presence of their own recipient keys (404 for other jobs, so ids do not leak).
// `more_metrics`, when given, returns Prometheus families appended to GET /metrics (the parts
// the engine does not know, such as the fax calls' media timing).
void install_rest_api(Router& router, engine::Engine& engine, chat::LocalChatService* local,
                      const Authenticator& auth, std::function<std::string()> more_metrics = {});

}  // namespace atdesk::api
