#include "secrets.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace atdesk::app {
namespace {

void fsync_parent(const std::filesystem::path& file) {
  const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

Result<std::string> load_or_create_token(const std::filesystem::path& file, bool& created) {
  created = false;
  if (sodium_init() < 0) return fail(Errc::internal, "libsodium failed to initialise");
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    std::array<unsigned char, 32> raw{};
    randombytes_buf(raw.data(), raw.size());
    std::array<char, 65> hex{};
    sodium_bin2hex(hex.data(), hex.size(), raw.data(), raw.size());
    sodium_memzero(raw.data(), raw.size());
    const std::string token(hex.data(), 64);
    sodium_memzero(hex.data(), hex.size());
    int out = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0) {
      return fail(Errc::io,
                  file.string() + ": cannot create the admin token file: " + std::strerror(errno));
    }
    const std::string line = token + "\n";
    const bool ok = ::write(out, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                    ::fsync(out) == 0;
    ::close(out);
    if (!ok) return fail(Errc::io, file.string() + ": cannot write the admin token file");
    fsync_parent(file);
    created = true;
    return token;
  }
  if (fd < 0) {
    return fail(Errc::io,
                file.string() + ": cannot open the admin token file: " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    ::close(fd);
    return fail(Errc::permission_denied,
                file.string() +
                    ": the admin token file must not be readable by group or others "
                    "(chmod 600)");
  }
  std::string text(256, '\0');
  const auto n = ::read(fd, text.data(), text.size());
  ::close(fd);
  if (n <= 0) return fail(Errc::io, file.string() + ": the admin token file is empty");
  text.resize(static_cast<std::size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  if (text.size() < 32) {
    return fail(Errc::invalid_argument,
                file.string() + ": expected a token of at least 32 characters");
  }
  return text;
}

Result<std::string> read_secret_file(const std::string& path, const std::string& where) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return fail(Errc::io, where + ": cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
    ::close(fd);
    return fail(Errc::permission_denied, where + ": " + path +
                                             " must be a regular file not readable by group or "
                                             "others (chmod 600)");
  }
  std::string text(4096, '\0');
  const auto n = ::read(fd, text.data(), text.size());
  ::close(fd);
  if (n <= 0) return fail(Errc::invalid_argument, where + ": " + path + " is empty");
  text.resize(static_cast<std::size_t>(n));
  if (const auto nl = text.find_first_of("\r\n"); nl != std::string::npos) text.resize(nl);
  while (!text.empty() && text.back() == ' ') text.pop_back();
  if (text.empty()) return fail(Errc::invalid_argument, where + ": " + path + " is empty");
  return text;
}

}  // namespace atdesk::app
