// Tokens at rest: sealed with crypto_secretbox under a key derived from the spool key (keyed
// BLAKE2b with a fixed context, so the spool key itself is never used for a second purpose),
// kept in the TableStore namespace "graph.tokens" as "v1:" + base64(nonce || box).
#pragma once

#include <array>
#include <filesystem>
#include <string>

#include "atdesk/core/error.hpp"
#include "atdesk/store/table_store.hpp"

namespace atdesk::chat::graph {

inline constexpr const char* kTokenNamespace = "graph.tokens";

class TokenVault {
 public:
  TokenVault(store::TableStore& tables, std::filesystem::path key_file);
  ~TokenVault();
  TokenVault(const TokenVault&) = delete;
  TokenVault& operator=(const TokenVault&) = delete;

  // The plaintext stored under `key`, or an empty string when none is stored.
  Result<std::string> load(const std::string& key);
  Result<void> save(const std::string& key, const std::string& plaintext);

 private:
  Result<void> ensure_key();

  store::TableStore& tables_;
  std::filesystem::path key_file_;
  std::array<unsigned char, 32> key_{};
  bool have_key_ = false;
};

}  // namespace atdesk::chat::graph
