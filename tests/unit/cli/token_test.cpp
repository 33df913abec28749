// Token file handling: trailing whitespace, missing and bad files, and which source wins.
#include <gtest/gtest.h>

#include "atdesk/cli/token.hpp"
#include "cli_test_support.hpp"

namespace atdesk::cli {
namespace {

using testing::FakeTransport;
using testing::TempDir;

TEST(TokenFile, TrailingWhitespaceIsStripped) {
  TempDir dir;
  auto token = read_token_file(dir.write("t", "abc123\n"));
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(*token, "abc123");
  token = read_token_file(dir.write("u", "abc123 \r\n\t\n"));
  ASSERT_TRUE(token);
  EXPECT_EQ(*token, "abc123");
}

TEST(TokenFile, MissingFileNamesThePathAndTheAlternatives) {
  TempDir dir;
  const auto path = dir.path() / "admin.token";
  auto token = read_token_file(path);
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().code, Errc::permission_denied);
  const std::string& m = token.error().message;
  EXPECT_NE(m.find(path.string()), std::string::npos) << m;
  EXPECT_NE(m.find("No such file"), std::string::npos) << m;
  EXPECT_NE(m.find("--token-file"), std::string::npos) << m;
  EXPECT_NE(m.find("ATDESK_TOKEN_FILE"), std::string::npos) << m;
  EXPECT_NE(m.find("ATDESK_TOKEN "), std::string::npos) << m;
}

TEST(TokenFile, EmptyOrMultiWordFilesAreRejectedWithoutEchoingTheToken) {
  TempDir dir;
  auto empty = read_token_file(dir.write("e", " \n"));
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("is empty"), std::string::npos);
  auto two = read_token_file(dir.write("two", "secretpart1 secretpart2\n"));
  ASSERT_FALSE(two);
  EXPECT_NE(two.error().message.find("whitespace"), std::string::npos);
  EXPECT_EQ(two.error().message.find("secretpart"), std::string::npos);
}

TEST(TokenFile, DirectoryIsAnErrorNamingThePath) {
  TempDir dir;
  auto token = read_token_file(dir.path());
  ASSERT_FALSE(token);
  EXPECT_NE(token.error().message.find(dir.path().string() + ": is a directory"), std::string::npos)
      << token.error().message;
}

TEST(TokenSource, FileFromFlagIsSentAsBearer) {
  TempDir dir;
  const auto file = dir.write("admin.token", "file-token\n");
  FakeTransport t;
  t.answer(200, R"({"printers":[]})");
  Environment env;
  env.token = "env-token";  // --token-file beats ATDESK_TOKEN
  auto ran = testing::run_words({"--token-file", file.string(), "printers"}, t, env);
  ASSERT_EQ(ran.code, 0) << ran.err;
  ASSERT_EQ(t.requests.size(), 1u);
  EXPECT_EQ(t.requests[0].bearer_token, "file-token");
}

TEST(TokenSource, EnvironmentFileAndEnvironmentToken) {
  TempDir dir;
  Environment env;
  env.token_file = dir.write("t", "from-env-file").string();
  FakeTransport t;
  ASSERT_EQ(testing::run_words({"printers"}, t, env).code, 0);
  EXPECT_EQ(t.requests[0].bearer_token, "from-env-file");

  env.token = "from-env";
  FakeTransport t2;
  ASSERT_EQ(testing::run_words({"printers"}, t2, env).code, 0);
  EXPECT_EQ(t2.requests[0].bearer_token, "from-env");

  env.token = "bad token";
  FakeTransport t3;
  auto ran = testing::run_words({"printers"}, t3, env);
  EXPECT_EQ(ran.code, 4);
  EXPECT_NE(ran.err.find("ATDESK_TOKEN"), std::string::npos);
  EXPECT_EQ(ran.err.find("bad token"), std::string::npos);
  EXPECT_TRUE(t3.requests.empty());
}

}  // namespace
}  // namespace atdesk::cli
