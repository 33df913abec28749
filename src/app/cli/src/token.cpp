#include "atdesk/cli/token.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace atdesk::cli {
namespace {

constexpr const char* kWhereElse =
    "; pass --token-file PATH, set ATDESK_TOKEN_FILE to the file, or set ATDESK_TOKEN to the token";

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

Result<std::string> check_token(std::string token, std::string_view origin) {
  if (token.empty()) {
    return fail(Errc::permission_denied, std::string(origin) + " is empty" + kWhereElse);
  }
  for (char ch : token) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x21 || c == 0x7F) {
      return fail(Errc::permission_denied,
                  std::string(origin) +
                      ": the token contains whitespace or control characters; expected one line");
    }
  }
  return token;
}

Result<std::string> read_token_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return fail(Errc::permission_denied, "cannot read the admin token file " + path.string() +
                                             ": is a directory" + kWhereElse);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int saved = errno;
    return fail(Errc::permission_denied, "cannot read the admin token file " + path.string() +
                                             ": " + std::strerror(saved) + kWhereElse);
  }
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return fail(Errc::permission_denied,
                "cannot read the admin token file " + path.string() + kWhereElse);
  }
  while (!token.empty() && is_space(token.back())) token.pop_back();
  return check_token(std::move(token), "the admin token file " + path.string());
}

}  // namespace atdesk::cli
