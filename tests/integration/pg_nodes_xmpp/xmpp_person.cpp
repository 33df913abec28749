// A person on XMPP for shell suites (the libstrophe test client of tests/integration/xmpp):
//   xmpp_person <jid> <password> <c2s port on 127.0.0.1> <ca file>
// It connects with TLS, approves subscription requests, and reads orders on stdin, one a line:
//   send <to> <body...>            a chat message
//   presence <show or -> <status...>  its presence ("-": available, no <show/>)
//   raw <xml>                      a stanza as it is
// It prints "connected" once connected, then each message received as
// "message<TAB><from><TAB><body, line breaks as \n>" and each presence as
// "presence<TAB><from><TAB><type, or available>", one a line, flushed. It ends at end of input.
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>

#include "test_client.hpp"

namespace {

std::string one_line(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using atdesk::chat::xmpp::test::Received;
  using atdesk::chat::xmpp::test::TestClient;
  if (argc != 5) {
    std::cerr << "usage: xmpp_person <jid> <password> <c2s port> <ca file>\n";
    return 2;
  }
  std::mutex out;
  const auto print = [&out](const std::string& line) {
    std::lock_guard lock(out);
    std::cout << line << std::endl;  // flushed: the suite reads the file as it grows
  };
  TestClient client(argv[1], argv[2], std::stoi(argv[3]), argv[4]);
  client.listen(
      [&](const Received& m) { print("message\t" + m.from + "\t" + one_line(m.body)); },
      [&](const std::string& from, const std::string& type) {
        print("presence\t" + from + "\t" + (type.empty() ? std::string("available") : type));
      });
  if (!client.wait_connected(std::chrono::seconds(30))) {
    std::cerr << "xmpp_person: " << argv[1] << " did not connect to 127.0.0.1:" << argv[3] << "\n";
    return 1;
  }
  print("connected");
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string order;
    in >> order;
    std::string first;
    in >> first;
    std::string rest;
    std::getline(in, rest);
    if (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
    if (order == "send") {
      client.send_message(first, "chat", rest);
    } else if (order == "presence") {
      client.set_presence(first == "-" ? "" : first, rest);
    } else if (order == "raw") {
      client.send_raw(line.substr(4));
    } else if (!order.empty()) {
      std::cerr << "xmpp_person: unknown order '" << order << "'\n";
    }
  }
  return 0;
}
