#include "sip_identity.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_extra.h>
#include <sofia-sip/url.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace atdesk::fax_sip {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string str(const char* s) {
  return s ? std::string(s) : std::string();
}

std::string number_of(const url_t* url) {
  if (!url) return {};
  if (url->url_type == url_tel) return str(url->url_host);
  return str(url->url_user);
}

std::string uri_of(const url_t* url) {
  if (!url || !url->url_host) return {};
  const std::string scheme = url->url_scheme ? lower(url->url_scheme) : std::string("sip");
  if (url->url_type == url_tel) return scheme + ":" + str(url->url_host);
  std::string out = scheme + ":";
  if (url->url_user) out += std::string(url->url_user) + "@";
  return out + lower(url->url_host);
}

// P-Asserted-Identity's URI: the parsed header when sofia-sip knows it, else the raw one.
std::string asserted_uri_text(const sip_t* sip) {
  for (const sip_unknown_t* u = sip->sip_unknown; u; u = u->un_next) {
    if (u->un_name && strcasecmp(u->un_name, "P-Asserted-Identity") == 0 && u->un_value) {
      std::string v = u->un_value;
      const auto open = v.find('<');
      const auto close = v.find('>', open == std::string::npos ? 0 : open);
      if (open != std::string::npos && close != std::string::npos) {
        return v.substr(open + 1, close - open - 1);
      }
      const auto comma = v.find(',');
      return v.substr(0, comma);
    }
  }
  return {};
}

}  // namespace

CallIdentity call_identity(const sip_t* sip, msg_t* request, const std::string& registered_user) {
  CallIdentity id;
  if (request) {
    if (const su_addrinfo_t* ai = msg_addrinfo(request); ai && ai->ai_addr) {
      char buf[INET6_ADDRSTRLEN] = {};
      if (ai->ai_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr, buf,
                  sizeof buf);
      } else if (ai->ai_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr, buf,
                  sizeof buf);
      }
      id.peer_ip = buf;
      if (id.peer_ip.starts_with("::ffff:")) id.peer_ip = id.peer_ip.substr(7);
    }
  }
  if (!sip) return id;
  const url_t* caller = nullptr;
  su_home_t home[1] = {SU_HOME_INIT(home)};
  if (const auto* paid = sip_p_asserted_identity(sip)) {
    caller = paid->paid_url;
  } else if (const auto text = asserted_uri_text(sip); !text.empty()) {
    caller = url_make(home, text.c_str());
  }
  if (!caller && sip->sip_from) caller = sip->sip_from->a_url;
  id.caller_id = number_of(caller);
  id.sip_uri = uri_of(caller);
  if (sip->sip_request) id.called = number_of(sip->sip_request->rq_url);
  if (!registered_user.empty() && id.called == registered_user) id.called.clear();
  if (id.called.empty() && sip->sip_to) id.called = number_of(sip->sip_to->a_url);
  su_home_deinit(home);
  return id;
}

}  // namespace atdesk::fax_sip
