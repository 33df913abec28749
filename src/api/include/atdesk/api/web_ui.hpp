// The web UI's pages: static HTML, CSS and a little plain JavaScript (web/, embedded at build
// time) that call the REST API with the session cookie and the CSRF token. Every response
// carries Content-Security-Policy default-src 'self' (no inline script), X-Frame-Options DENY and
// Referrer-Policy no-referrer.
#pragma once

#include "atdesk/api/auth.hpp"
#include "atdesk/api/http_server.hpp"

namespace atdesk::api {

// The security headers of every UI response.
void add_ui_security_headers(Response& response);

// GET /signin and /static/<file> for everyone; the pages /, /jobs, /jobs/{id}, /settings for a
// signed-in caller and /modes, /recipients, /audit, /accounts for an admin. Without a session a
// page answers 303 to /signin?next=<page>; a `user` asking for an admin page is sent to /.
// `auth` (the session authenticator, or a composite) must outlive the router.
void install_web_ui(Router& router, const Authenticator& auth);

}  // namespace atdesk::api
