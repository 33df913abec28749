#include "atdesk/ippd/handoff_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "socket_io.hpp"

namespace atdesk::ippd {

namespace {

Result<detail::Fd> connect_to(const std::filesystem::path& socket_path,
                              std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.native().size() >= sizeof addr.sun_path) {
    return fail(Errc::invalid_argument, socket_path.string() + ": socket path too long");
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.native().size());
  detail::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.fd < 0) return fail(Errc::io, std::string("hand-off socket: ") + std::strerror(errno));
  if (auto ok = detail::set_timeouts(fd.fd, static_cast<int>(timeout.count())); !ok) {
    return fail(ok.error());
  }
  if (::connect(fd.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return fail(Errc::unavailable,
                socket_path.string() +
                    ": cannot connect to atdeskd's hand-off socket: " + std::strerror(errno));
  }
  return fd;
}

Result<std::string> read_answer(int fd) {
  std::array<std::byte, 4> a4{};
  if (auto ok = detail::read_exact(fd, a4.data(), a4.size(), "atdeskd's answer"); !ok)
    return fail(ok.error());
  const auto len = decode_u32(a4);
  if (len == 0 || len > kMaxHeaderBytes) {
    return fail(Errc::invalid_argument,
                "hand-off answer: length " + std::to_string(len) + " out of range");
  }
  std::string answer(len, '\0');
  if (auto ok = detail::read_exact(fd, answer.data(), len, "atdeskd's answer"); !ok)
    return fail(ok.error());
  return answer;
}

}  // namespace

Result<HandoffAnswer> hand_off(const std::filesystem::path& socket_path, HandoffHeader header,
                               std::span<const std::byte> document,
                               std::chrono::milliseconds timeout) {
  auto connected = connect_to(socket_path, timeout);
  if (!connected) return fail(connected.error());
  detail::Fd fd = std::move(*connected);
  header.size = document.size();
  const auto text = encode_header(header);
  const auto n4 = encode_u32(static_cast<std::uint32_t>(text.size()));
  const auto n8 = encode_u64(document.size());
  auto sent = detail::write_all(fd.fd, n4.data(), n4.size(), "the header's length");
  if (sent) sent = detail::write_all(fd.fd, text.data(), text.size(), "the header");
  if (sent) sent = detail::write_all(fd.fd, n8.data(), n8.size(), "the document's length");
  if (sent) sent = detail::write_all(fd.fd, document.data(), document.size(), "the document");
  if (!sent) {
    // atdeskd answers a header it refuses (too large, malformed) at once and closes without
    // reading the rest, so the write that follows can meet a closed socket. Its answer is still
    // in this socket's receive queue: report that, and the write error only when there is none.
    if (auto early = read_answer(fd.fd)) {
      if (auto parsed = parse_answer(*early)) return parsed;
    }
    return fail(sent.error());
  }
  auto answer = read_answer(fd.fd);
  if (!answer) return fail(answer.error());
  return parse_answer(*answer);
}

Result<std::string> identify(const std::filesystem::path& socket_path,
                             const IdentifyRequest& request, std::chrono::milliseconds timeout) {
  auto connected = connect_to(socket_path, timeout);
  if (!connected) return fail(connected.error());
  detail::Fd fd = std::move(*connected);
  const auto text = encode_identify(request);
  const auto n4 = encode_u32(static_cast<std::uint32_t>(text.size()));
  if (auto ok = detail::write_all(fd.fd, n4.data(), n4.size(), "the request's length"); !ok)
    return fail(ok.error());
  if (auto ok = detail::write_all(fd.fd, text.data(), text.size(), "the request"); !ok)
    return fail(ok.error());
  auto answer = read_answer(fd.fd);
  if (!answer) return fail(answer.error());
  auto parsed = parse_identify_answer(*answer);
  if (!parsed) return fail(parsed.error());
  if (!parsed->ok) return fail(Errc::permission_denied, parsed->error);
  return parsed->user;
}

}  // namespace atdesk::ippd
