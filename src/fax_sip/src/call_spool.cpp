#include "call_spool.hpp"
#include "atdesk/handles/tiff.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

namespace atdesk::fax_sip {
namespace fs = std::filesystem;
namespace {

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

void fsync_dir(const fs::path& dir) {
  const FdCloser d{::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd >= 0) ::fsync(d.fd);
}

struct TiffOptionsDeleter {
  void operator()(TIFFOpenOptions* o) const { TIFFOpenOptionsFree(o); }
};

// A damaged file is expected here (that is the point); libtiff's messages would only be noise.
int quiet(TIFF*, void*, const char*, const char*, va_list) {
  return 1;
}

// Every strip of the current directory decodes.
bool page_decodes(TIFF* t) {
  std::uint32_t width = 0;
  std::uint32_t length = 0;
  if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &width) ||
      !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &length) || width == 0 || length == 0) {
    return false;
  }
  const tmsize_t strip_size = TIFFStripSize(t);
  const std::uint32_t strips = TIFFNumberOfStrips(t);
  if (strip_size <= 0 || strips == 0) return false;
  std::vector<unsigned char> buf(static_cast<std::size_t>(strip_size));
  for (std::uint32_t s = 0; s < strips; ++s) {
    if (TIFFReadEncodedStrip(t, s, buf.data(), strip_size) < 0) return false;
  }
  return true;
}

std::uint64_t read_uint(const unsigned char* p, int bytes, bool big_endian) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    const int shift = big_endian ? 8 * (bytes - 1 - i) : 8 * i;
    v |= static_cast<std::uint64_t>(p[i]) << shift;
  }
  return v;
}

// Sets the "next directory" offset of the directory at `offset` to 0 (TIFF 6.0 §2, BigTIFF).
bool end_chain_at(const fs::path& file, std::uint64_t offset, bool big_tiff, bool big_endian) {
  const FdCloser f{::open(file.c_str(), O_RDWR | O_CLOEXEC)};
  if (f.fd < 0) return false;
  const int count_bytes = big_tiff ? 8 : 2;
  const int entry_bytes = big_tiff ? 20 : 12;
  const int next_bytes = big_tiff ? 8 : 4;
  unsigned char count_buf[8] = {};
  if (::pread(f.fd, count_buf, static_cast<std::size_t>(count_bytes), static_cast<off_t>(offset)) !=
      count_bytes) {
    return false;
  }
  const std::uint64_t count = read_uint(count_buf, count_bytes, big_endian);
  const std::uint64_t next_at = offset + static_cast<std::uint64_t>(count_bytes) +
                                count * static_cast<std::uint64_t>(entry_bytes);
  const unsigned char zero[8] = {};
  if (::pwrite(f.fd, zero, static_cast<std::size_t>(next_bytes), static_cast<off_t>(next_at)) !=
      next_bytes) {
    return false;
  }
  return ::fsync(f.fd) == 0;
}

}  // namespace

Result<void> make_private_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return fail(Errc::io,
                dir.string() + ": cannot create the SIP fax spool folder: " + ec.message());
  }
  if (::chmod(dir.c_str(), 0700) != 0) {
    return fail(Errc::io, dir.string() + ": cannot make the SIP fax spool folder private (0700): " +
                              std::string(std::strerror(errno)));
  }
  return {};
}

fs::path record_path(const fs::path& tiff) {
  auto p = tiff;
  p.replace_extension(".json");
  return p;
}

Result<void> write_call_record(const fs::path& file, const CallRecord& record) {
  const nlohmann::json j = {
      {"caller_id", record.caller_id}, {"sip_uri", record.sip_uri}, {"peer_ip", record.peer_ip},
      {"called", record.called},       {"tsi", record.tsi},         {"started", record.started},
      {"completed", record.completed},
  };
  // Replace what the TSI may contain that is not valid UTF-8 instead of throwing.
  const std::string text = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  auto tmp = file;
  tmp += ".tmp";
  {
    const FdCloser f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    if (f.fd < 0) {
      return fail(Errc::io, tmp.string() + ": cannot write the call record: " +
                                std::string(std::strerror(errno)));
    }
    std::size_t done = 0;
    while (done < text.size()) {
      const auto n = ::write(f.fd, text.data() + done, text.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail(errno == ENOSPC ? Errc::no_space : Errc::io,
                    tmp.string() + ": cannot write the call record: " + std::strerror(errno));
      }
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(f.fd) != 0) {
      return fail(Errc::io, tmp.string() + ": fsync: " + std::string(std::strerror(errno)));
    }
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec)
    return fail(Errc::io, file.string() + ": cannot replace the call record: " + ec.message());
  fsync_dir(file.parent_path());
  return {};
}

Result<CallRecord> read_call_record(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(Errc::io, file.string() + ": cannot open the call record");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return fail(Errc::corrupt, file.string() + ": not a JSON object");
  CallRecord r;
  const auto text_field = [&](const char* key, std::string& out) {
    if (const auto it = j.find(key); it != j.end() && it->is_string()) out = it->get<std::string>();
  };
  text_field("caller_id", r.caller_id);
  text_field("sip_uri", r.sip_uri);
  text_field("peer_ip", r.peer_ip);
  text_field("called", r.called);
  text_field("tsi", r.tsi);
  text_field("started", r.started);
  if (const auto it = j.find("completed"); it != j.end() && it->is_boolean()) {
    r.completed = it->get<bool>();
  }
  return r;
}

int keep_complete_pages(const fs::path& tiff) {
  std::error_code ec;
  if (!fs::is_regular_file(tiff, ec) || fs::file_size(tiff, ec) == 0) return 0;
  std::unique_ptr<TIFFOpenOptions, TiffOptionsDeleter> options(TIFFOpenOptionsAlloc());
  TIFFOpenOptionsSetErrorHandlerExtR(options.get(), quiet, nullptr);
  TIFFOpenOptionsSetWarningHandlerExtR(options.get(), quiet, nullptr);
  TIFFOpenOptionsSetMaxSingleMemAlloc(options.get(), 256 << 20);
  int pages = 0;
  std::uint64_t last_good = 0;
  bool chain_ends = false;
  bool big_tiff = false;
  bool big_endian = false;
  {
    handles::TiffPtr t(TIFFOpenExt(tiff.c_str(), "rm", options.get()));
    if (!t) return 0;
    big_tiff = TIFFIsBigTIFF(t.get()) != 0;
    big_endian = TIFFIsBigEndian(t.get()) != 0;
    for (;;) {
      if (!page_decodes(t.get())) break;
      ++pages;
      last_good = TIFFCurrentDirOffset(t.get());
      if (TIFFLastDirectory(t.get())) {
        chain_ends = true;
        break;
      }
      if (!TIFFReadDirectory(t.get())) break;
    }
  }
  if (pages > 0 && !chain_ends && !end_chain_at(tiff, last_good, big_tiff, big_endian)) return 0;
  return pages;
}

std::vector<LeftoverCall> leftover_calls(const fs::path& dir) {
  std::map<std::string, LeftoverCall> calls;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto& p = entry.path();
    if (!entry.is_regular_file(ec)) continue;
    const auto ext = p.extension().string();
    if (ext == ".tmp") {
      fs::remove(p, ec);  // a call record being replaced when we stopped; the old one is there
    } else if (ext == ".tif") {
      auto& c = calls[p.stem().string()];
      c.tiff = p;
      if (c.record.empty()) c.record = record_path(p);
    } else if (ext == ".json") {
      auto& c = calls[p.stem().string()];
      c.record = p;
      if (c.tiff.empty()) c.tiff = dir / (p.stem().string() + ".tif");
    }
  }
  std::vector<LeftoverCall> out;
  for (auto& [stem, call] : calls) out.push_back(std::move(call));
  return out;
}

void remove_call_files(const LeftoverCall& call) {
  std::error_code ec;
  fs::remove(call.tiff, ec);
  fs::remove(call.record, ec);
  fsync_dir(call.tiff.parent_path());
}

}  // namespace atdesk::fax_sip
