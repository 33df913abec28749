// The XMPP server of an integration run: Prosody (scripts/test-prosody) or ejabberd
// (scripts/test-ejabberd), chosen by ATDESK_XMPP_SERVER ("prosody" when unset). Both scripts take
// the same arguments and run the server on 127.0.0.1 only, with a self-signed certificate for
// localhost written to <dir>/ca.pem, MUC on conference.localhost and HTTP upload over TLS.
#pragma once

#include <cstdlib>
#include <string>

namespace atdesk::chat::xmpp::test {

class TestServer {
 public:
  // `scripts` is the repository's scripts/ folder.
  explicit TestServer(std::string scripts) : scripts_(std::move(scripts)) {
    const char* env = std::getenv("ATDESK_XMPP_SERVER");
    kind_ = env && *env ? env : "prosody";
  }

  const std::string& kind() const { return kind_; }
  bool known() const { return kind_ == "prosody" || kind_ == "ejabberd"; }
  std::string script() const { return scripts_ + "/test-" + kind_; }
  // The server's own log in its directory, for failure messages.
  std::string log(const std::string& dir) const {
    return kind_ == "ejabberd" ? dir + "/logs/ejabberd.log" : dir + "/prosody.log";
  }

  // Starts the server in `dir` and creates `accounts` ("user password user password ...").
  bool start(const std::string& dir, int c2s_port, int http_port,
             const std::string& accounts = "") const {
    const std::string cmd = script() + " start " + dir + " " + std::to_string(c2s_port) + " " +
                            std::to_string(http_port) + " " + accounts + " >/dev/null";
    return std::system(cmd.c_str()) == 0;
  }
  void stop(const std::string& dir) const {
    const std::string cmd = script() + " stop " + dir + " >/dev/null 2>&1";
    (void)std::system(cmd.c_str());  // nothing to do when it is not running
  }

 private:
  std::string scripts_;
  std::string kind_;
};

}  // namespace atdesk::chat::xmpp::test
