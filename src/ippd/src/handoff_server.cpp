#include "atdesk/ippd/handoff_server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "atdesk/ippd/handoff.hpp"
#include "socket_io.hpp"

namespace atdesk::ippd {
namespace fs = std::filesystem;

HandoffServer::HandoffServer(Settings settings, SubmitFn submit, Hooks hooks)
    : settings_(std::move(settings)), submit_(std::move(submit)), hooks_(std::move(hooks)) {}

HandoffServer::~HandoffServer() {
  stop();
}

Result<void> HandoffServer::start() {
  const auto& path = settings_.socket_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof addr.sun_path) {
    return fail(Errc::invalid_argument, path.string() + ": hand-off socket path longer than " +
                                            std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.native().size());
  // A socket file left by a previous atdeskd (killed) is replaced; anything else is not.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return fail(Errc::invalid_argument,
                  path.string() + ": exists and is not a socket; not replacing it");
    }
    ::unlink(path.c_str());
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(Errc::io, std::string("hand-off socket: ") + std::strerror(errno));
  // Created 0600 from the start (umask), not chmod'ed after a window where others could connect.
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const int bind_errno = errno;
  ::umask(old_mask);
  if (bound != 0 || ::listen(fd, 16) != 0) {
    const std::string why = std::strerror(bound != 0 ? bind_errno : errno);
    ::close(fd);
    return fail(Errc::io, path.string() + ": cannot listen on the hand-off socket: " + why);
  }
  listen_fd_ = fd;
  stopping_ = false;
  thread_ = std::thread([this] {
    while (!stopping_) {
      const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (!stopping_) spdlog::error("ipp hand-off: accept: {}", std::strerror(errno));
        break;
      }
      serve(c);
    }
  });
  return {};
}

void HandoffServer::stop() {
  stopping_ = true;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    std::error_code ec;
    fs::remove(settings_.socket_path, ec);
  }
}

HandoffServer::Stats HandoffServer::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

void HandoffServer::serve(int raw_fd) {
  detail::Fd fd(raw_fd);
  auto count = [this](int Stats::*field) {
    std::lock_guard lock(stats_mutex_);
    ++(stats_.*field);
  };
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    spdlog::warn("ipp hand-off: no peer credentials: {}", std::strerror(errno));
    count(&Stats::dropped);
    return;
  }
  const bool allowed =
      settings_.allowed_uids.empty()
          ? cred.uid == ::geteuid()
          : std::ranges::find(settings_.allowed_uids, cred.uid) != settings_.allowed_uids.end();
  if (!allowed) {
    spdlog::warn("ipp hand-off: refused a connection from uid {} (pid {}): not an allowed uid",
                 cred.uid, cred.pid);
    count(&Stats::dropped);
    return;
  }
  const auto timeout_ms = static_cast<int>(settings_.io_timeout.count());
  if (auto ok = detail::set_timeouts(fd.fd, timeout_ms); !ok) {
    spdlog::warn("ipp hand-off: {}", ok.error().message);
    count(&Stats::dropped);
    return;
  }
  auto answer = [&](const HandoffAnswer& a) {
    const auto text = encode_answer(a);
    const auto n = encode_u32(static_cast<std::uint32_t>(text.size()));
    auto ok = detail::write_all(fd.fd, n.data(), n.size(), "the answer's length");
    if (ok) ok = detail::write_all(fd.fd, text.data(), text.size(), "the answer");
    // A stored document whose answer is lost stays stored: atdesk-ippd then aborts the IPP job
    // while atdeskd has the job (the design notes say why that is the safe side).
    if (!ok) spdlog::warn("ipp hand-off (pid {}): {}", cred.pid, ok.error().message);
  };
  auto refuse = [&](const Error& e) {
    spdlog::warn("ipp hand-off (pid {}): refused: {}", cred.pid, e.message);
    count(&Stats::refused);
    answer(HandoffAnswer{false, {}, e.message});
  };

  std::array<std::byte, 4> n4{};
  if (auto ok = detail::read_exact(fd.fd, n4.data(), n4.size(), "the header's length"); !ok) {
    spdlog::warn("ipp hand-off (pid {}): {}", cred.pid, ok.error().message);
    count(&Stats::dropped);
    return;
  }
  const auto header_len = decode_u32(n4);
  if (header_len == 0 || header_len > kMaxHeaderBytes) {
    refuse(make_error(Errc::invalid_argument, "hand-off header: length " +
                                                  std::to_string(header_len) + ", expected 1 to " +
                                                  std::to_string(kMaxHeaderBytes)));
    return;
  }
  std::string header_text(header_len, '\0');
  if (auto ok = detail::read_exact(fd.fd, header_text.data(), header_len, "the header"); !ok) {
    spdlog::warn("ipp hand-off (pid {}): {}", cred.pid, ok.error().message);
    count(&Stats::dropped);
    return;
  }
  if (auto request = parse_identify(header_text);
      request || request.error().code != Errc::not_found) {
    IdentifyAnswer a;
    if (!request) {
      a.error = request.error().message;
    } else if (!hooks_.identify) {
      a.error = "atdeskd checks no sign-ins or tokens here";
    } else if (auto user = hooks_.identify(*request); user) {
      a = {true, *user, {}};
    } else {
      a.error = user.error().message;
    }
    // Only the kind and the outcome: never the password or the token.
    if (a.ok) {
      spdlog::info("ipp hand-off: {} identified as \"{}\"", request->kind, a.user);
    } else {
      spdlog::warn("ipp hand-off: identify refused: {}", a.error);
    }
    count(a.ok ? &Stats::identified : &Stats::not_identified);
    const auto text = encode_identify_answer(a);
    const auto n = encode_u32(static_cast<std::uint32_t>(text.size()));
    auto ok = detail::write_all(fd.fd, n.data(), n.size(), "the answer's length");
    if (ok) ok = detail::write_all(fd.fd, text.data(), text.size(), "the answer");
    if (!ok) spdlog::warn("ipp hand-off (pid {}): {}", cred.pid, ok.error().message);
    return;
  }
  auto header = parse_header(header_text, settings_.max_document_bytes);
  if (!header) {
    refuse(header.error());
    return;
  }
  std::array<std::byte, 8> n8{};
  if (auto ok = detail::read_exact(fd.fd, n8.data(), n8.size(), "the document's length"); !ok) {
    spdlog::warn("ipp hand-off (pid {}): {}", cred.pid, ok.error().message);
    count(&Stats::dropped);
    return;
  }
  if (const auto size = decode_u64(n8); size != header->size) {
    refuse(make_error(Errc::invalid_argument, "hand-off: document length " + std::to_string(size) +
                                                  " differs from the header's size " +
                                                  std::to_string(header->size)));
    return;
  }
  std::vector<std::byte> data(header->size);
  if (auto ok = detail::read_exact(fd.fd, data.data(), data.size(), "the document"); !ok) {
    spdlog::warn("ipp hand-off (pid {}): {}; nothing stored", cred.pid, ok.error().message);
    count(&Stats::dropped);
    return;
  }
  auto incoming = to_incoming(*header, std::move(data));
  if (hooks_.owner_unknown) incoming.owner_unknown = hooks_.owner_unknown(*header);
  auto job = submit_(std::move(incoming));
  if (!job) {
    refuse(job.error());
    return;
  }
  spdlog::info("ipp hand-off: IPP job {} on {} stored as job {}", header->ipp_job_id, header->queue,
               job->id.str());
  count(&Stats::stored);
  answer(HandoffAnswer{true, job->id.str(), {}});
}

}  // namespace atdesk::ippd
