// Helpers shared by the store tests: a temporary folder removed on scope exit, jobs with
// deterministic ids, and a content hash for checking documents read back from the spool.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "atdesk/core/job.hpp"
#include "atdesk/store/blob_store.hpp"

namespace atdesk::store::testing {

// A fresh folder under the system temporary folder; removed (with everything in it) on scope
// exit, after restoring write permission on anything a test made read-only.
class TempDir {
 public:
  TempDir() {
    auto pattern = (std::filesystem::temp_directory_path() / "atdesk-store-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory()) ::chmod(it->path().c_str(), 0700);
    }
    ::chmod(path_.c_str(), 0700);
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A job id whose 16 bytes are `n` in big-endian order, prefixed by `high` (so tests can pick
// ids that share a short-id prefix or not).
inline JobId job_id(std::uint64_t n, std::uint64_t high = 0) {
  std::array<unsigned char, 16> bytes{};
  for (int i = 0; i < 8; ++i) {
    bytes[static_cast<std::size_t>(7 - i)] = static_cast<unsigned char>(high >> (8 * i));
    bytes[static_cast<std::size_t>(15 - i)] = static_cast<unsigned char>(n >> (8 * i));
  }
  return JobId::from_bytes(std::span<const unsigned char, 16>(bytes));
}

inline Timestamp at_ms(std::int64_t ms) {
  return Timestamp(std::chrono::milliseconds(ms));
}

// FNV-1a, 64 bits: enough to tell an intact document from a damaged one in tests.
inline std::uint64_t content_hash(std::span<const std::byte> data) {
  std::uint64_t h = 1469598103934665603ull;
  for (auto b : data) {
    h ^= static_cast<std::uint64_t>(b);
    h *= 1099511628211ull;
  }
  return h;
}

// `size` bytes of a document that depend on `seed` (a cheap xorshift stream).
inline Bytes document_bytes(std::size_t size, std::uint64_t seed) {
  Bytes out(size);
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& b : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::byte>(x & 0xff);
  }
  return out;
}

inline std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_file(const std::filesystem::path& file, const std::string& data) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << data;
}

inline const NumberPlan kJapan{.country_code = "81"};

inline Recipient user(const std::string& address) {
  return Recipient{RecipientKind::user, "local", address};
}

// A job as an inbox fax from 03-1234-5678 for alice, in state `received`.
inline Job make_job(const JobId& id, std::int64_t received_ms) {
  Job j;
  j.id = id;
  j.state = JobState::received;
  j.source = JobSource::inbox;
  j.sender.fax = *FaxNumber::parse("03-1234-5678", kJapan);
  j.sender.tsi = "ACME SALES";
  j.document_name = "fax-" + id.str().substr(24) + ".tif";
  j.format = DocumentFormat::tiff;
  j.pages = 2;
  j.size_bytes = 12345;
  j.received_at = at_ms(received_ms);
  j.updated_at = at_ms(received_ms);
  j.recipients = {user("alice")};
  j.mode_table = "weekday";
  return j;
}

// The history row an insert of `j` writes.
inline Transition first_transition(const Job& j) {
  return Transition{j.id,     j.received_at, JobState::received, JobState::received,
                    "engine", "received"};
}

// Job has no usable operator== (Sender has none), so compare what the stores keep, field by field.
inline void expect_same_job(const Job& a, const Job& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.source, b.source);
  EXPECT_EQ(a.sender.fax, b.sender.fax);
  EXPECT_EQ(a.sender.tsi, b.sender.tsi);
  EXPECT_EQ(a.sender.caller_id, b.sender.caller_id);
  EXPECT_EQ(a.sender.sip_uri, b.sender.sip_uri);
  EXPECT_EQ(a.sender.email, b.sender.email);
  EXPECT_EQ(a.sender.ip, b.sender.ip);
  EXPECT_EQ(a.sender.ipp_user, b.sender.ipp_user);
  EXPECT_EQ(a.sender.called, b.sender.called);
  EXPECT_EQ(a.document_name, b.document_name);
  EXPECT_EQ(a.format, b.format);
  EXPECT_EQ(a.pages, b.pages);
  EXPECT_EQ(a.incomplete, b.incomplete);
  EXPECT_EQ(a.size_bytes, b.size_bytes);
  EXPECT_EQ(a.received_at, b.received_at);
  EXPECT_EQ(a.updated_at, b.updated_at);
  EXPECT_EQ(a.recipients, b.recipients);
  EXPECT_EQ(a.mode_table, b.mode_table);
  EXPECT_EQ(a.printer, b.printer);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.print_attempts, b.print_attempts);
  EXPECT_EQ(a.printer_job, b.printer_job);
  EXPECT_EQ(a.print_problem, b.print_problem);
  EXPECT_EQ(a.print_failures, b.print_failures);
}

}  // namespace atdesk::store::testing
