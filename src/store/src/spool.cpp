#include "atdesk/store/spool.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace atdesk::store {
namespace fs = std::filesystem;
namespace {

constexpr char kMagic[] = "ATDSPOOL1";  // 9 bytes, then the secretstream header
constexpr std::size_t kMagicLen = sizeof(kMagic) - 1;
constexpr std::size_t kChunk = 64 * 1024;
constexpr std::size_t kABytes = crypto_secretstream_xchacha20poly1305_ABYTES;
constexpr std::size_t kHeaderBytes = crypto_secretstream_xchacha20poly1305_HEADERBYTES;

// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// A temporary file that is deleted on scope exit unless it was renamed into place.
class TempFile {
 public:
  explicit TempFile(fs::path path) : path_(std::move(path)) {}
  ~TempFile() {
    if (!renamed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const fs::path& path() const { return path_; }
  void renamed() { renamed_ = true; }

 private:
  fs::path path_;
  bool renamed_ = false;
};

std::string errno_text() {
  return std::strerror(errno);
}

Result<void> fsync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.ok() || ::fsync(fd.get()) != 0) {
    return fail(Errc::io, dir.string() + ": cannot fsync the folder: " + errno_text());
  }
  return {};
}

Result<void> write_all(int fd, const unsigned char* p, std::size_t n, const fs::path& file) {
  while (n > 0) {
    const auto w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOSPC || errno == EDQUOT) {
        return fail(Errc::no_space, file.string() + ": write failed: " + errno_text() +
                                        " (the spool's file system is full)");
      }
      return fail(Errc::io, file.string() + ": write failed: " + errno_text());
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return {};
}

// Authenticated with every chunk: which job and which kind the file belongs to.
std::string associated_data(const JobId& job, BlobKind kind) {
  return job.str() + "/" + std::string(to_string(kind));
}

}  // namespace

std::vector<unsigned char> seal(const SecretKey& key, const JobId& job, BlobKind kind,
                                std::span<const std::byte> data) {
  std::vector<unsigned char> sealed(kMagic, kMagic + kMagicLen);
  sealed.reserve(kMagicLen + kHeaderBytes + data.size() + (data.size() / kChunk + 1) * kABytes);
  crypto_secretstream_xchacha20poly1305_state state;
  unsigned char header[kHeaderBytes];
  crypto_secretstream_xchacha20poly1305_init_push(&state, header, key.data());
  sealed.insert(sealed.end(), header, header + kHeaderBytes);
  const auto ad = associated_data(job, kind);
  std::vector<unsigned char> out(kChunk + kABytes);
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t offset = 0;
  do {
    const std::size_t n = std::min(kChunk, data.size() - offset);
    const bool last = offset + n == data.size();
    unsigned long long out_len = 0;
    crypto_secretstream_xchacha20poly1305_push(
        &state, out.data(), &out_len, in + offset, n,
        reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
        last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
    sealed.insert(sealed.end(), out.data(), out.data() + out_len);
    offset += n;
  } while (offset < data.size());
  sodium_memzero(&state, sizeof state);
  return sealed;
}

Result<Bytes> unseal(const SecretKey& key, const JobId& job, BlobKind kind,
                     std::span<const unsigned char> cipher, const std::string& where) {
  const std::string what = "the " + std::string(to_string(kind)) + " document of job " + job.str();
  const auto corrupt = [&](const std::string& why) {
    return fail(Errc::corrupt, what + " cannot be decrypted (" + why + "): " + where +
                                   " is damaged, belongs to another job, or was encrypted with "
                                   "another key");
  };
  if (cipher.size() < kMagicLen + kHeaderBytes + kABytes ||
      std::memcmp(cipher.data(), kMagic, kMagicLen) != 0) {
    return corrupt("bad header");
  }
  crypto_secretstream_xchacha20poly1305_state state;
  if (crypto_secretstream_xchacha20poly1305_init_pull(&state, cipher.data() + kMagicLen,
                                                      key.data()) != 0) {
    return corrupt("bad stream header");
  }
  const auto ad = associated_data(job, kind);
  Bytes plain;
  plain.reserve(cipher.size());
  std::vector<unsigned char> chunk(kChunk);
  std::size_t offset = kMagicLen + kHeaderBytes;
  bool final_seen = false;
  while (offset < cipher.size()) {
    if (final_seen) return corrupt("data after the final chunk");
    const std::size_t n = std::min(kChunk + kABytes, cipher.size() - offset);
    unsigned long long out_len = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(
            &state, chunk.data(), &out_len, &tag, cipher.data() + offset, n,
            reinterpret_cast<const unsigned char*>(ad.data()), ad.size()) != 0) {
      sodium_memzero(&state, sizeof state);
      return corrupt("authentication failed");
    }
    const auto* b = reinterpret_cast<const std::byte*>(chunk.data());
    plain.insert(plain.end(), b, b + out_len);
    final_seen = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    offset += n;
  }
  sodium_memzero(&state, sizeof state);
  if (!final_seen) return corrupt("truncated");
  return plain;
}

Result<SecretKey> load_or_create_key(const fs::path& file) {
  if (sodium_init() < 0) return fail(Errc::internal, "libsodium failed to initialise");
  SecretKey key{};
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.ok() && errno == ENOENT) {
    std::error_code ec;
    if (file.has_parent_path()) fs::create_directories(file.parent_path(), ec);
    crypto_secretstream_xchacha20poly1305_keygen(key.data());
    // Written to a temporary file and linked into place once complete: a crash while the key is
    // written must not leave a short key file that makes every later start fail. link() fails
    // with EEXIST when another process created the key meanwhile; then that key is used.
    auto temp = file;
    temp += ".tmp";
    ::unlink(temp.c_str());  // a leftover of a crash
    {
      Fd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
      if (!out.ok()) {
        return fail(Errc::io, temp.string() + ": cannot create the spool key: " + errno_text());
      }
      auto written = write_all(out.get(), key.data(), key.size(), temp);
      if (written && ::fsync(out.get()) != 0) {
        written = fail(Errc::io, temp.string() + ": fsync failed: " + errno_text());
      }
      if (!written) {
        ::unlink(temp.c_str());
        return fail(written.error());
      }
    }
    const int linked = ::link(temp.c_str(), file.c_str());
    const int link_errno = errno;
    ::unlink(temp.c_str());
    if (linked != 0 && link_errno != EEXIST) {
      errno = link_errno;
      return fail(Errc::io, file.string() + ": cannot create the spool key: " + errno_text());
    }
    if (auto ok = fsync_dir(file.has_parent_path() ? file.parent_path() : fs::path(".")); !ok) {
      return fail(ok.error());
    }
    if (linked == 0) return key;
    sodium_memzero(key.data(), key.size());
    fd.reset(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  }
  if (!fd.ok())
    return fail(Errc::io, file.string() + ": cannot open the spool key: " + errno_text());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(Errc::io, file.string() + ": cannot stat");
  if ((st.st_mode & 077) != 0) {
    return fail(Errc::permission_denied,
                file.string() +
                    ": the spool key must not be readable by group or others "
                    "(chmod 600)");
  }
  if (st.st_size != static_cast<off_t>(key.size())) {
    return fail(Errc::invalid_argument, file.string() + ": expected a 32-byte key, the file has " +
                                            std::to_string(st.st_size) + " bytes");
  }
  if (::read(fd.get(), key.data(), key.size()) != static_cast<ssize_t>(key.size())) {
    return fail(Errc::io, file.string() + ": cannot read the spool key");
  }
  return key;
}

Result<std::unique_ptr<EncryptedSpool>> EncryptedSpool::open(const fs::path& dir,
                                                             const fs::path& key_file) {
  // A spool remembers its key by a small encrypted check blob. Without it, a lost key file would
  // silently be replaced by a new key at the next start, and every held document would become
  // unreadable; a wrong key would only show when a document is printed.
  const JobId check_id = *JobId::parse(std::string(JobId::kLength, '0'));
  std::error_code ec;
  if (!fs::exists(key_file, ec)) {
    std::size_t documents = 0;
    if (fs::is_directory(dir, ec)) {
      for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
        if (entry.is_regular_file() && entry.path().extension() != ".tmp") ++documents;
      }
    }
    if (documents > 0) {
      return fail(Errc::invalid_argument,
                  key_file.string() + ": the spool key is missing, but " + dir.string() +
                      " holds " + std::to_string(documents) +
                      " encrypted file(s) only that key can read: restore the key file (atdesk "
                      "does not make a new key for a spool in use)");
    }
  }
  auto key = load_or_create_key(key_file);
  if (!key) return fail(key.error());
  fs::create_directories(dir, ec);
  if (ec) return fail(Errc::io, dir.string() + ": cannot create the spool folder: " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  auto spool = std::make_unique<EncryptedSpool>(dir, *key);
  sodium_memzero(key->data(), key->size());
  spool->sweep_temporaries();

  static constexpr std::string_view kCheck = "atdesk spool key check";
  auto exists = spool->exists(check_id, BlobKind::original);
  if (!exists) return fail(exists.error());
  if (*exists) {
    auto check = spool->get(check_id, BlobKind::original);
    if (!check || check->size() != kCheck.size() ||
        std::memcmp(check->data(), kCheck.data(), kCheck.size()) != 0) {
      return fail(Errc::corrupt, key_file.string() + ": this key does not open the spool " +
                                     dir.string() +
                                     " (its key check does not decrypt): restore the key file "
                                     "that belongs to this spool");
    }
  } else {
    const auto* bytes = reinterpret_cast<const std::byte*>(kCheck.data());
    if (auto ok = spool->put(check_id, BlobKind::original, {bytes, kCheck.size()}); !ok) {
      return fail(ok.error());
    }
  }
  return spool;
}

EncryptedSpool::EncryptedSpool(fs::path dir, const SecretKey& key)
    : dir_(std::move(dir)), key_(key) {}

EncryptedSpool::~EncryptedSpool() {
  sodium_memzero(key_.data(), key_.size());
}

fs::path EncryptedSpool::path_of(const JobId& job, BlobKind kind) const {
  return dir_ / job.str().substr(0, 2) / (job.str() + "." + std::string(to_string(kind)));
}

Result<void> EncryptedSpool::put(const JobId& job, BlobKind kind, std::span<const std::byte> data) {
  const auto target = path_of(job, kind);
  const auto folder = target.parent_path();
  std::error_code ec;
  const bool new_folder = !fs::exists(folder);
  fs::create_directories(folder, ec);
  if (ec) return fail(Errc::io, folder.string() + ": cannot create: " + ec.message());
  if (new_folder) {
    if (auto ok = fsync_dir(dir_); !ok) return ok;
  }
  auto temp_path = target;
  temp_path += ".tmp";
  ::unlink(temp_path.c_str());  // a leftover of a crash
  // Deleted on every early return (a failed write must not leave a file for the sweep).
  TempFile temp_file(temp_path);
  const auto& temp = temp_file.path();
  Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.ok()) return fail(Errc::io, temp.string() + ": cannot create: " + errno_text());

  const auto sealed = seal(key_, job, kind, data);
  if (auto ok = write_all(fd.get(), sealed.data(), sealed.size(), temp); !ok) return ok;
  if (::fsync(fd.get()) != 0) {
    return fail(Errc::io, temp.string() + ": fsync failed: " + errno_text());
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    return fail(Errc::io, target.string() + ": rename failed: " + errno_text());
  }
  temp_file.renamed();
  return fsync_dir(folder);
}

Result<Bytes> EncryptedSpool::get(const JobId& job, BlobKind kind) {
  const auto file = path_of(job, kind);
  const std::string what = "the " + std::string(to_string(kind)) + " document of job " + job.str();
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) {
    if (errno == ENOENT) return fail(Errc::not_found, what + " is not in the spool");
    return fail(Errc::io, file.string() + ": cannot open: " + errno_text());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(Errc::io, file.string() + ": cannot stat");
  std::vector<unsigned char> cipher(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < cipher.size()) {
    const auto r = ::read(fd.get(), cipher.data() + got, cipher.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return fail(Errc::io, file.string() + ": read failed");
    got += static_cast<std::size_t>(r);
  }
  return unseal(key_, job, kind, cipher, file.string());
}

Result<bool> EncryptedSpool::exists(const JobId& job, BlobKind kind) {
  std::error_code ec;
  return fs::exists(path_of(job, kind), ec);
}

Result<void> EncryptedSpool::remove(const JobId& job) {
  bool any = false;
  for (auto kind : {BlobKind::original, BlobKind::printable, BlobKind::preview}) {
    const auto file = path_of(job, kind);
    if (::unlink(file.c_str()) == 0) {
      any = true;
    } else if (errno != ENOENT) {
      return fail(Errc::io, file.string() + ": cannot delete: " + errno_text());
    }
  }
  if (any) return fsync_dir(path_of(job, BlobKind::original).parent_path());
  return {};
}

std::size_t EncryptedSpool::sweep_temporaries() {
  std::size_t removed = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file() && it->path().extension() == ".tmp") {
      if (::unlink(it->path().c_str()) == 0) ++removed;
    }
  }
  return removed;
}

}  // namespace atdesk::store
