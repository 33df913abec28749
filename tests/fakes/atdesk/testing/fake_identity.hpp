// The Microsoft identity platform's authorization code flow with PKCE, as a stand-in for the
// browser sign-in of the Teams service account (tests/e2e, through graph_tenant.hpp): the
// authorize endpoint answers a consent page whose buttons send the browser back to the
// registered redirect URI with a code (or error=access_denied), and the token endpoint's
// authorization_code grant redeems that code. It enforces the rules of
//   "Microsoft identity platform and OAuth 2.0 authorization code flow"
//   (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow),
//   RFC 7636 "Proof Key for Code Exchange by OAuth Public Clients"
//   (https://www.rfc-editor.org/rfc/rfc7636) and RFC 6749 section 4.1,
// with the AADSTS codes of "Microsoft Entra authentication and authorization error codes"
// (https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes):
//   - client_id must be the registered application (else an error page, AADSTS700016);
//   - redirect_uri must exactly match a registered one (else an error page, AADSTS50011: the
//     identity platform never redirects to an unregistered URI), and the token request must
//     carry the same redirect_uri as the authorize request;
//   - response_type must be code;
//   - a code_challenge is required and code_challenge_method must be S256. (Stricter than Entra,
//     which also accepts "plain": RFC 7636 section 4.2 says a client that can use S256 MUST.)
//   - state is echoed unchanged on every redirect, success or error;
//   - a refresh token is only issued when the scope asked for included offline_access (atdesk
//     needs one; a request without it is recorded as a violation);
//   - a code is short-lived ("typically expire after about 10 minutes": code_lifetime) and good
//     for one redemption attempt (a second is invalid_grant AADSTS54005);
//   - the code_verifier must hash to the challenge: BASE64URL(SHA256(ASCII(code_verifier)))
//     (RFC 7636 section 4.6; else invalid_grant AADSTS501481) and be 43..128 unreserved
//     characters (section 4.1);
//   - errors from the token endpoint are HTTP 400 with the documented JSON body (error,
//     error_description starting with the AADSTS code, error_codes, timestamp, trace_id,
//     correlation_id); errors of the authorize endpoint go back to the redirect URI as
//     ?error=...&error_description=...&state=....
#pragma once

#include <sodium.h>

#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "atdesk/testing/fake_graph.hpp"

namespace atdesk::testing {

class AuthorizationCodes {
 public:
  explicit AuthorizationCodes(FakeGraph& graph) : graph_(graph) {
    if (sodium_init() < 0) graph_.violation("libsodium could not be initialised");
  }

  // The app registration: its tenant and client id, and the redirect URIs of its Web platform.
  void set_application(std::string tenant, std::string client_id, std::string client_secret) {
    std::lock_guard lock(mutex_);
    tenant_ = std::move(tenant);
    client_id_ = std::move(client_id);
    client_secret_ = std::move(client_secret);
  }
  void register_redirect_uri(std::string uri) {
    std::lock_guard lock(mutex_);
    redirect_uris_.push_back(std::move(uri));
  }
  void set_code_lifetime(std::chrono::seconds lifetime) {
    std::lock_guard lock(mutex_);
    code_lifetime_ = lifetime;
  }
  // How many codes were redeemed successfully so far.
  int redeemed() {
    std::lock_guard lock(mutex_);
    return redeemed_;
  }

  // GET /{tenant}/oauth2/v2.0/authorize: "Request an authorization code".
  Reply authorize(const Received& r) {
    const auto q = form_of(query_of(r.target));
    std::lock_guard lock(mutex_);
    const auto get = [&](const char* key) {
      const auto it = q.find(key);
      return it == q.end() ? std::string() : it->second;
    };
    const std::string client_id = get("client_id"), redirect_uri = get("redirect_uri");
    const std::string state = get("state");
    if (client_id != client_id_) {
      return page(400, "AADSTS700016: Application with identifier '" + client_id +
                           "' was not found in the directory '" + tenant_ + "'.");
    }
    if (std::find(redirect_uris_.begin(), redirect_uris_.end(), redirect_uri) ==
        redirect_uris_.end()) {
      return page(400, "AADSTS50011: The redirect URI '" + redirect_uri +
                           "' specified in the request does not match the redirect URIs "
                           "configured for the application '" +
                           client_id_ + "'.");
    }
    if (get("response_type") != "code") {
      return back(redirect_uri, state, "unsupported_response_type",
                  "AADSTS700054: response_type '" + get("response_type") +
                      "' is not enabled for the application.");
    }
    if (const auto mode = get("response_mode"); !mode.empty() && mode != "query") {
      return back(redirect_uri, state, "invalid_request",
                  "response_mode '" + mode + "': this stand-in answers in the query only");
    }
    const std::string challenge = get("code_challenge");
    if (challenge.empty()) {
      return back(redirect_uri, state, "invalid_request",
                  "AADSTS9002325: Proof Key for Code Exchange is required (code_challenge).");
    }
    if (get("code_challenge_method") != "S256") {
      return back(redirect_uri, state, "invalid_request",
                  "code_challenge_method '" + get("code_challenge_method") +
                      "': expected S256 (RFC 7636 section 4.2)");
    }
    // BASE64URL of a SHA-256 digest: 43 characters without padding (RFC 7636 section 4.2).
    if (challenge.size() != 43 || !unreserved(challenge)) {
      return back(redirect_uri, state, "invalid_request",
                  "code_challenge: expected 43 base64url characters, got " +
                      std::to_string(challenge.size()));
    }
    const std::string scope = get("scope");
    if (scope.empty()) {
      return back(redirect_uri, state, "invalid_request",
                  "AADSTS900144: The request body must contain the following parameter: "
                  "'scope'.");
    }
    if (state.empty()) {
      graph_.violation("authorize without state: nothing ties the redirect to the sign-in");
    }
    if (!has_scope(scope, "offline_access")) {
      graph_.violation("authorize without offline_access in scope '" + scope +
                       "': no refresh token would be issued");
    }
    Pending p{client_id, redirect_uri, state, challenge, scope};
    const std::string id = random_token(16);
    pending_[id] = p;
    return consent_page(id, p);
  }

  // POST /{tenant}/oauth2/v2.0/authorize: the consent page's answer (the user accepted or
  // declined). Declining is "access_denied" (AADSTS65004) back at the redirect URI.
  Reply consent(const Received& r) {
    const auto form = form_of(r.body);
    std::lock_guard lock(mutex_);
    const auto request = form.find("request");
    const auto it = request == form.end() ? pending_.end() : pending_.find(request->second);
    if (it == pending_.end()) {
      return page(400, "AADSTS90014: this sign-in page is no longer valid; start again.");
    }
    const Pending p = it->second;
    pending_.erase(it);
    const auto answer = form.find("consent");
    if (answer == form.end() || answer->second != "accept") {
      return back(p.redirect_uri, p.state, "access_denied",
                  "AADSTS65004: User declined to consent to access the app.");
    }
    const std::string code = "code-" + random_token(24);
    codes_[code] = Code{p, std::chrono::steady_clock::now(), false};
    std::string location = p.redirect_uri + "?code=" + code;
    if (!p.state.empty()) location += "&state=" + percent(p.state);
    return {302, "", {{"Location", location}}};
  }

  // The token endpoint's grant_type=authorization_code ("Redeem a code for an access token"):
  // the error answer, or nothing and the scope and whether a refresh token goes with it.
  struct Redeemed {
    std::optional<Reply> error;
    std::string scope;
    bool offline_access = false;
  };
  static Redeemed refused(Reply error) {
    Redeemed out;
    out.error = std::move(error);
    return out;
  }
  Redeemed redeem(const std::map<std::string, std::string>& form) {
    std::lock_guard lock(mutex_);
    const auto get = [&](const char* key) {
      const auto it = form.find(key);
      return it == form.end() ? std::string() : it->second;
    };
    if (!form.contains("client_secret")) {
      return refused(token_error(401, "invalid_client", 7000218,
                                 "The request body must contain the following parameter: "
                                 "'client_assertion' or 'client_secret'."));
    }
    if (get("client_secret") != client_secret_) {
      return refused(
          token_error(401, "invalid_client", 7000215, "Invalid client secret provided."));
    }
    for (const char* key : {"code", "redirect_uri", "code_verifier"}) {
      if (get(key).empty()) {
        return refused(token_error(
            400, "invalid_request", 900144,
            std::string("The request body must contain the following parameter: '") + key + "'."));
      }
    }
    const auto it = codes_.find(get("code"));
    if (it == codes_.end()) {
      return refused(token_error(400, "invalid_grant", 70000,
                                 "The provided value for the 'code' parameter is not valid."));
    }
    Code& c = it->second;
    if (c.used) {
      return refused(
          token_error(400, "invalid_grant", 54005,
                      "OAuth2 Authorization code was already redeemed, please retry with a "
                      "new valid code or use an existing refresh token."));
    }
    c.used = true;  // one attempt per code (RFC 6749 section 4.1.2: used once)
    if (std::chrono::steady_clock::now() - c.issued >= code_lifetime_) {
      return refused(
          token_error(400, "invalid_grant", 70008,
                      "The provided authorization code or refresh token has expired due to "
                      "inactivity. Send a new interactive authorization request for this "
                      "user and resource."));
    }
    if (get("client_id") != c.request.client_id) {
      return refused(
          token_error(400, "invalid_grant", 70000, "The code was issued to another application."));
    }
    if (get("redirect_uri") != c.request.redirect_uri) {
      return refused(token_error(400, "invalid_grant", 50011,
                                 "The redirect URI '" + get("redirect_uri") +
                                     "' does not match the one of the authorization request."));
    }
    const std::string verifier = get("code_verifier");
    if (verifier.size() < 43 || verifier.size() > 128 || !unreserved(verifier)) {
      return refused(
          token_error(400, "invalid_grant", 501481,
                      "The Code_Verifier does not match the code_challenge supplied in the "
                      "authorization request (43 to 128 unreserved characters expected)."));
    }
    if (s256(verifier) != c.request.challenge) {
      return refused(
          token_error(400, "invalid_grant", 501481,
                      "The Code_Verifier does not match the code_challenge supplied in the "
                      "authorization request."));
    }
    ++redeemed_;
    Redeemed ok;
    ok.scope = c.request.scope;
    ok.offline_access = has_scope(c.request.scope, "offline_access");
    return ok;
  }

  // BASE64URL-ENCODE(SHA256(ASCII(verifier))), RFC 7636 section 4.2.
  static std::string s256(const std::string& verifier) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(verifier.data()),
                       verifier.size());
    return base64url(digest, sizeof digest);
  }

 private:
  struct Pending {
    std::string client_id, redirect_uri, state, challenge, scope;
  };
  struct Code {
    Pending request;
    std::chrono::steady_clock::time_point issued;
    bool used = false;
  };

  static std::string query_of(const std::string& target) {
    const auto q = target.find('?');
    return q == std::string::npos ? std::string() : target.substr(q + 1);
  }
  static bool has_scope(const std::string& scope, const std::string& want) {
    std::size_t pos = 0;
    while (pos <= scope.size()) {
      const auto space = scope.find(' ', pos);
      if (scope.substr(pos, space == std::string::npos ? std::string::npos : space - pos) == want)
        return true;
      if (space == std::string::npos) break;
      pos = space + 1;
    }
    return false;
  }
  // RFC 7636 section 4.1: ALPHA / DIGIT / "-" / "." / "_" / "~".
  static bool unreserved(const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' || ch == '_' ||
             ch == '~';
    });
  }
  static std::string base64url(const unsigned char* data, std::size_t size) {
    std::string out(sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                    '\0');
    sodium_bin2base64(out.data(), out.size(), data, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    out.resize(std::strlen(out.c_str()));
    return out;
  }
  static std::string random_token(std::size_t bytes) {
    std::vector<unsigned char> raw(bytes);
    randombytes_buf(raw.data(), raw.size());
    return base64url(raw.data(), raw.size());
  }
  static std::string percent(const std::string& s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (const unsigned char ch : s) {
      if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
        out += static_cast<char>(ch);
      } else {
        out += '%';
        out += hex[ch >> 4];
        out += hex[ch & 15];
      }
    }
    return out;
  }
  static std::string html(const std::string& s) {
    std::string out;
    for (const char ch : s) {
      if (ch == '<')
        out += "&lt;";
      else if (ch == '>')
        out += "&gt;";
      else if (ch == '&')
        out += "&amp;";
      else if (ch == '"')
        out += "&quot;";
      else
        out += ch;
    }
    return out;
  }

  // "Error response" of the authorize endpoint: back to the redirect URI with the state.
  static Reply back(const std::string& redirect_uri, const std::string& state,
                    const std::string& error, const std::string& description) {
    std::string location =
        redirect_uri + "?error=" + percent(error) + "&error_description=" + percent(description);
    if (!state.empty()) location += "&state=" + percent(state);
    return {302, "", {{"Location", location}}};
  }
  // What the identity platform shows itself when it must not redirect (unknown app, redirect
  // URI not registered).
  static Reply page(int status, const std::string& text) {
    Reply r{status,
            "<!doctype html><meta charset=\"utf-8\"><title>Sign in to your account</title>"
            "<h1>Sorry, but we're having trouble signing you in.</h1><p id=\"error\">" +
                html(text) + "</p>\n"};
    r.content_type = "text/html; charset=utf-8";
    return r;
  }
  // The sign-in and consent the user goes through, as one page: the account that signs in and
  // the permissions asked, with Accept and Cancel.
  Reply consent_page(const std::string& id, const Pending& p) const {
    std::string scopes;
    std::size_t pos = 0;
    while (pos < p.scope.size()) {
      const auto space = p.scope.find(' ', pos);
      scopes +=
          "<li>" +
          html(p.scope.substr(pos, space == std::string::npos ? std::string::npos : space - pos)) +
          "</li>";
      if (space == std::string::npos) break;
      pos = space + 1;
    }
    const std::string action = "/" + tenant_ + "/oauth2/v2.0/authorize";
    Reply r{200,
            "<!doctype html><meta charset=\"utf-8\"><title>Permissions requested</title>"
            "<h1>Permissions requested</h1><p>Signed in as <b>fax@contoso.com</b>. The app " +
                html(p.client_id) + " would like to:</p><ul>" + scopes +
                "</ul><form method=\"post\" action=\"" + html(action) +
                "\"><input type=\"hidden\" name=\"request\" value=\"" + html(id) +
                "\"><button name=\"consent\" value=\"accept\" id=\"accept\">Accept</button> "
                "<button name=\"consent\" value=\"decline\" id=\"cancel\">Cancel</button>"
                "</form>\n"};
    r.content_type = "text/html; charset=utf-8";
    return r;
  }
  // The token endpoint's error body ("Error response" of "Redeem a code for an access token").
  static Reply token_error(int status, const std::string& error, int code,
                           const std::string& text) {
    const std::string aadsts = "AADSTS" + std::to_string(code) + ": " + text;
    return {status,
            nlohmann::json{{"error", error},
                           {"error_description", aadsts + "\r\nTrace ID: "
                                                          "00000000-0000-0000-0000-000000000000"
                                                          "\r\nCorrelation ID: "
                                                          "00000000-0000-0000-0000-000000000000"
                                                          "\r\nTimestamp: 2025-03-10 09:00:00Z"},
                           {"error_codes", nlohmann::json::array({code})},
                           {"timestamp", "2025-03-10 09:00:00Z"},
                           {"trace_id", "00000000-0000-0000-0000-000000000000"},
                           {"correlation_id", "00000000-0000-0000-0000-000000000000"}}
                .dump()};
  }

  FakeGraph& graph_;
  std::mutex mutex_;
  std::string tenant_ = "tenant-1";
  std::string client_id_ = "client-1";
  std::string client_secret_ = "secret-1";
  std::vector<std::string> redirect_uris_;
  std::chrono::seconds code_lifetime_{600};
  std::map<std::string, Pending> pending_;  // by the consent page's request id
  std::map<std::string, Code> codes_;
  int redeemed_ = 0;
};

}  // namespace atdesk::testing
