// EncryptedSpool in temporary folders: round trips of empty, small, chunk-boundary and large
// documents, encryption at rest, tamper and misplacement detection, keys, leftovers of crashes.
#include "atdesk/store/spool.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "store_test_support.hpp"

namespace atdesk::store {
namespace {

namespace fs = std::filesystem;
using testing::document_bytes;
using testing::job_id;
using testing::TempDir;

constexpr std::size_t kChunk = 64 * 1024;  // the spool's encryption chunk (spool.cpp)

Bytes bytes_of(const std::string& s) {
  Bytes out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = static_cast<std::byte>(s[i]);
  return out;
}

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = EncryptedSpool::open(spool_dir_, key_file_);
    ASSERT_TRUE(opened) << opened.error().describe();
    spool_ = std::move(*opened);
  }

  void expect_corrupt(const JobId& job, BlobKind kind) {
    auto got = spool_->get(job, kind);
    ASSERT_FALSE(got) << "damaged blob was returned as " << got->size() << " bytes";
    EXPECT_EQ(got.error().code, Errc::corrupt) << got.error().describe();
    EXPECT_NE(got.error().message.find(job.str()), std::string::npos) << got.error().message;
    EXPECT_NE(got.error().message.find(spool_->path_of(job, kind).string()), std::string::npos)
        << got.error().message;
  }

  TempDir dir_;
  fs::path spool_dir_ = dir_ / "spool";
  fs::path key_file_ = dir_ / "keys" / "spool.key";
  std::unique_ptr<EncryptedSpool> spool_;
};

TEST_F(SpoolTest, RoundTripsDocumentsOfEverySize) {
  const std::size_t sizes[] = {0,      1,          100,        kChunk - 1,
                               kChunk, kChunk + 1, 3 * kChunk, 10 * 1024 * 1024};
  std::uint64_t n = 0;
  for (auto size : sizes) {
    const auto id = job_id(++n);
    const auto data = document_bytes(size, n);
    ASSERT_TRUE(spool_->put(id, BlobKind::original, data)) << size;
    EXPECT_TRUE(spool_->exists(id, BlobKind::original).value());
    EXPECT_FALSE(spool_->exists(id, BlobKind::printable).value());
    auto got = spool_->get(id, BlobKind::original);
    ASSERT_TRUE(got) << size << ": " << got.error().describe();
    EXPECT_EQ(got->size(), size);
    EXPECT_TRUE(*got == data) << "content differs for a document of " << size << " bytes";
  }
}

TEST_F(SpoolTest, KindsOfOneJobAreSeparateBlobs) {
  const auto id = job_id(1);
  ASSERT_TRUE(spool_->put(id, BlobKind::original, bytes_of("tiff")));
  ASSERT_TRUE(spool_->put(id, BlobKind::printable, bytes_of("pdf")));
  ASSERT_TRUE(spool_->put(id, BlobKind::preview, bytes_of("png")));
  EXPECT_EQ(spool_->get(id, BlobKind::original).value(), bytes_of("tiff"));
  EXPECT_EQ(spool_->get(id, BlobKind::printable).value(), bytes_of("pdf"));
  EXPECT_EQ(spool_->get(id, BlobKind::preview).value(), bytes_of("png"));
  // put replaces.
  ASSERT_TRUE(spool_->put(id, BlobKind::printable, bytes_of("pdf v2")));
  EXPECT_EQ(spool_->get(id, BlobKind::printable).value(), bytes_of("pdf v2"));
}

TEST_F(SpoolTest, AnAbsentBlobIsNotFound) {
  auto got = spool_->get(job_id(5), BlobKind::original);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::not_found);
  EXPECT_NE(got.error().message.find(job_id(5).str()), std::string::npos);
  EXPECT_FALSE(spool_->exists(job_id(5), BlobKind::original).value());
}

TEST_F(SpoolTest, TheFileOnDiskDoesNotContainThePlaintext) {
  std::string text;
  while (text.size() < 3 * kChunk) text += "CONFIDENTIAL: invoice 4711 for ACME, due 2024-05-01. ";
  const auto id = job_id(1);
  ASSERT_TRUE(spool_->put(id, BlobKind::original, bytes_of(text)));
  const auto on_disk = testing::read_file(spool_->path_of(id, BlobKind::original));
  ASSERT_GE(on_disk.size(), text.size());
  EXPECT_EQ(on_disk.find("CONFIDENTIAL"), std::string::npos);
  EXPECT_EQ(on_disk.find("invoice 4711"), std::string::npos);
  // Two puts of the same document give different files (fresh nonce per file).
  ASSERT_TRUE(spool_->put(job_id(2), BlobKind::original, bytes_of(text)));
  EXPECT_NE(testing::read_file(spool_->path_of(job_id(2), BlobKind::original)).substr(9, 24),
            on_disk.substr(9, 24));
}

TEST_F(SpoolTest, AFlippedByteAnywhereIsCorruptNamingJobAndFile) {
  const auto id = job_id(1);
  const auto data = document_bytes(2 * kChunk + 10, 1);
  ASSERT_TRUE(spool_->put(id, BlobKind::original, data));
  const auto file = spool_->path_of(id, BlobKind::original);
  const auto pristine = testing::read_file(file);
  // Magic, stream header, first chunk, second chunk, last byte (final tag).
  for (std::size_t pos :
       {std::size_t{0}, std::size_t{12}, std::size_t{60}, kChunk + 200, pristine.size() - 1}) {
    auto damaged = pristine;
    damaged[pos] = static_cast<char>(damaged[pos] ^ 0x01);
    testing::write_file(file, damaged);
    SCOPED_TRACE("flipped byte " + std::to_string(pos));
    expect_corrupt(id, BlobKind::original);
  }
  testing::write_file(file, pristine);
  EXPECT_TRUE(spool_->get(id, BlobKind::original).value() == data);
}

TEST_F(SpoolTest, ATruncatedOrExtendedFileIsCorrupt) {
  const auto id = job_id(1);
  ASSERT_TRUE(spool_->put(id, BlobKind::original, document_bytes(2 * kChunk, 1)));
  const auto file = spool_->path_of(id, BlobKind::original);
  const auto pristine = testing::read_file(file);
  const std::size_t first_chunk_end = 9 + 24 + kChunk + 17;  // magic, header, chunk + ABYTES
  for (std::size_t size : {std::size_t{0}, std::size_t{5}, std::size_t{40}, first_chunk_end,
                           first_chunk_end + 3, pristine.size() - 1}) {
    testing::write_file(file, pristine.substr(0, size));
    SCOPED_TRACE("truncated to " + std::to_string(size));
    expect_corrupt(id, BlobKind::original);
  }
  testing::write_file(file, pristine + std::string(40, 'x'));
  SCOPED_TRACE("extended");
  expect_corrupt(id, BlobKind::original);
}

TEST_F(SpoolTest, ABlobMovedToAnotherJobOrKindFailsAuthentication) {
  const auto a = job_id(1), b = job_id(2);
  ASSERT_TRUE(spool_->put(a, BlobKind::original, bytes_of("document of job a")));
  ASSERT_TRUE(spool_->put(b, BlobKind::original, bytes_of("document of job b")));
  // Someone swaps the files: each job must refuse the other's document.
  const auto fa = spool_->path_of(a, BlobKind::original);
  const auto fb = spool_->path_of(b, BlobKind::original);
  const auto tmp = dir_ / "swap";
  fs::rename(fa, tmp);
  fs::rename(fb, fa);
  fs::rename(tmp, fb);
  expect_corrupt(a, BlobKind::original);
  expect_corrupt(b, BlobKind::original);

  const auto c = job_id(3);
  ASSERT_TRUE(spool_->put(c, BlobKind::preview, bytes_of("preview of c")));
  fs::rename(spool_->path_of(c, BlobKind::preview), spool_->path_of(c, BlobKind::printable));
  expect_corrupt(c, BlobKind::printable);
}

TEST_F(SpoolTest, AnotherKeyIsRefusedAtOpenNamingTheKeyFile) {
  const auto id = job_id(1);
  ASSERT_TRUE(spool_->put(id, BlobKind::original, bytes_of("secret")));
  ASSERT_TRUE(load_or_create_key(dir_ / "other.key"));
  auto other = EncryptedSpool::open(spool_dir_, dir_ / "other.key");
  ASSERT_FALSE(other) << "a spool opened with a key that is not its own";
  EXPECT_EQ(other.error().code, Errc::corrupt);
  EXPECT_NE(other.error().message.find("other.key"), std::string::npos) << other.error().message;
  // The right key still opens it and reads the document.
  spool_.reset();
  auto again = EncryptedSpool::open(spool_dir_, key_file_);
  ASSERT_TRUE(again) << again.error().describe();
  auto got = (*again)->get(id, BlobKind::original);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, bytes_of("secret"));
}

TEST_F(SpoolTest, AMissingKeyIsNotReplacedWhileTheSpoolHoldsDocuments) {
  ASSERT_TRUE(spool_->put(job_id(2), BlobKind::original, bytes_of("held fax")));
  spool_.reset();
  fs::remove(key_file_);
  auto reopened = EncryptedSpool::open(spool_dir_, key_file_);
  ASSERT_FALSE(reopened);
  EXPECT_NE(reopened.error().message.find(key_file_.string()), std::string::npos)
      << reopened.error().message;
  EXPECT_NE(reopened.error().message.find("restore the key"), std::string::npos)
      << reopened.error().message;
  EXPECT_FALSE(fs::exists(key_file_)) << "a new key was made for a spool in use";
}

TEST_F(SpoolTest, TheKeyFileIsPrivateAndReused) {
  struct stat st {};
  ASSERT_EQ(::stat(key_file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  ASSERT_EQ(::stat(spool_dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "the spool folder must be private";
  const auto key_bytes = testing::read_file(key_file_);

  const auto id = job_id(1);
  ASSERT_TRUE(spool_->put(id, BlobKind::original, bytes_of("kept across restarts")));
  spool_.reset();
  auto reopened = EncryptedSpool::open(spool_dir_, key_file_);
  ASSERT_TRUE(reopened) << reopened.error().describe();
  EXPECT_EQ(testing::read_file(key_file_), key_bytes);
  EXPECT_EQ((*reopened)->get(id, BlobKind::original).value(), bytes_of("kept across restarts"));

  auto k1 = load_or_create_key(key_file_);
  auto k2 = load_or_create_key(key_file_);
  ASSERT_TRUE(k1 && k2);
  EXPECT_EQ(*k1, *k2);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(k1->data()), k1->size()), key_bytes);
}

TEST(SpoolKey, TwoNewKeysDiffer) {
  TempDir dir;
  auto a = load_or_create_key(dir / "a.key");
  auto b = load_or_create_key(dir / "b.key");
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_NE(*a, SecretKey{});
}

TEST(SpoolKey, AKeyReadableByOthersIsRefused) {
  TempDir dir;
  const auto file = dir / "spool.key";
  ASSERT_TRUE(load_or_create_key(file));
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  auto key = load_or_create_key(file);
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, Errc::permission_denied);
  EXPECT_NE(key.error().message.find(file.string()), std::string::npos);
  auto spool = EncryptedSpool::open(dir / "spool", file);
  EXPECT_FALSE(spool);
}

TEST(SpoolKey, AKeyOfTheWrongSizeIsRefused) {
  TempDir dir;
  const auto file = dir / "spool.key";
  testing::write_file(file, std::string(31, 'k'));
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  auto key = load_or_create_key(file);
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, Errc::invalid_argument);
  EXPECT_NE(key.error().message.find(file.string()), std::string::npos);
  EXPECT_NE(key.error().message.find("31"), std::string::npos) << key.error().message;
}

TEST(SpoolKey, ALeftoverOfAnInterruptedKeyCreationDoesNotBlockANewKey) {
  // A crash while the key was being written must not leave a short key file that makes every
  // later start fail: the key appears under its name only once complete.
  TempDir dir;
  const auto file = dir / "spool.key";
  auto temp = file;
  temp += ".tmp";
  testing::write_file(temp, std::string(7, 'k'));
  auto key = load_or_create_key(file);
  ASSERT_TRUE(key) << key.error().describe();
  EXPECT_EQ(fs::file_size(file), 32u);
  EXPECT_EQ(load_or_create_key(file).value(), *key);
}

TEST_F(SpoolTest, SweepRemovesOnlyTemporaryFiles) {
  const auto id = job_id(1);
  ASSERT_TRUE(spool_->put(id, BlobKind::original, bytes_of("kept")));
  const auto blob = spool_->path_of(id, BlobKind::original);
  auto leftover = spool_->path_of(job_id(2), BlobKind::original);
  leftover += ".tmp";
  fs::create_directories(leftover.parent_path());
  testing::write_file(leftover, "half a document");
  testing::write_file(spool_dir_ / "top.tmp", "x");
  testing::write_file(spool_dir_ / "notes.txt", "keep me");
  testing::write_file(spool_dir_ / "tmp", "keep me too");  // no .tmp extension
  testing::write_file(blob.parent_path() / "x.tmp.keep", "and me");

  EXPECT_EQ(spool_->sweep_temporaries(), 2u);
  EXPECT_FALSE(fs::exists(leftover));
  EXPECT_FALSE(fs::exists(spool_dir_ / "top.tmp"));
  EXPECT_TRUE(fs::exists(spool_dir_ / "notes.txt"));
  EXPECT_TRUE(fs::exists(spool_dir_ / "tmp"));
  EXPECT_TRUE(fs::exists(blob.parent_path() / "x.tmp.keep"));
  EXPECT_EQ(spool_->get(id, BlobKind::original).value(), bytes_of("kept"));
  EXPECT_EQ(spool_->sweep_temporaries(), 0u);

  // open() sweeps too.
  testing::write_file(leftover, "again");
  spool_.reset();
  ASSERT_TRUE(EncryptedSpool::open(spool_dir_, key_file_));
  EXPECT_FALSE(fs::exists(leftover));
  EXPECT_TRUE(fs::exists(blob));
}

TEST_F(SpoolTest, RemoveDeletesEveryKindAndIsIdempotent) {
  const auto id = job_id(1), other = job_id(2);
  ASSERT_TRUE(spool_->put(id, BlobKind::original, bytes_of("o")));
  ASSERT_TRUE(spool_->put(id, BlobKind::preview, bytes_of("p")));
  ASSERT_TRUE(spool_->put(other, BlobKind::original, bytes_of("other")));
  ASSERT_TRUE(spool_->remove(id));
  for (auto kind : {BlobKind::original, BlobKind::printable, BlobKind::preview}) {
    EXPECT_FALSE(spool_->exists(id, kind).value());
    auto got = spool_->get(id, kind);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, Errc::not_found);
  }
  EXPECT_TRUE(spool_->remove(id));
  EXPECT_TRUE(spool_->remove(job_id(77)));  // never stored
  EXPECT_EQ(spool_->get(other, BlobKind::original).value(), bytes_of("other"));
}

TEST(SpoolErrors, AFolderThatCannotBeCreatedIsNamed) {
  TempDir dir;
  testing::write_file(dir / "plain-file", "not a folder");
  auto spool = EncryptedSpool::open(dir / "plain-file" / "spool", dir / "spool.key");
  ASSERT_FALSE(spool);
  EXPECT_EQ(spool.error().code, Errc::io);
  EXPECT_NE(spool.error().message.find((dir / "plain-file" / "spool").string()), std::string::npos)
      << spool.error().message;
}

TEST(SpoolErrors, ToStringNamesEveryKind) {
  EXPECT_EQ(to_string(BlobKind::original), "original");
  EXPECT_EQ(to_string(BlobKind::printable), "printable");
  EXPECT_EQ(to_string(BlobKind::preview), "preview");
}

}  // namespace
}  // namespace atdesk::store
