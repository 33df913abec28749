// Local accounts of the web UI: a name, a role, the recipient keys the person is (so a `user`
// sees only their own jobs) and an Argon2id password hash (libsodium crypto_pwhash_str,
// interactive limits). Kept in the TableStore's settings under the namespace "web.account",
// one JSON value per account; the password itself is never stored or logged.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atdesk/api/auth.hpp"
#include "atdesk/core/clock.hpp"
#include "atdesk/core/error.hpp"
#include "atdesk/store/table_store.hpp"

namespace atdesk::api {

// An Argon2id hash string ("$argon2id$v=19$..."). Errc::internal when libsodium cannot hash
// (out of memory).
Result<std::string> hash_password(std::string_view password);
// True when `password` matches `hash` (constant time in libsodium); false for a malformed hash.
bool verify_password(std::string_view hash, std::string_view password);
// A random password for a new account: 20 characters from an unambiguous alphabet.
std::string random_password();

struct Account {
  std::string name;  // 1-64 of [a-z0-9._-], starts with a letter or digit
  Role role = Role::user;
  std::vector<std::string> recipients;  // "user:local:alice", "channel:xmpp:desk@..."
  std::string password_hash;
};

// The account name rule above; the message names the field.
Result<void> check_account_name(std::string_view name);

class AccountStore {
 public:
  static constexpr std::string_view kNamespace = "web.account";

  explicit AccountStore(store::TableStore& tables) : tables_(tables) {}

  Result<std::optional<Account>> find(const std::string& name) const;
  Result<std::vector<Account>> list() const;  // by name
  // A new account with `password` hashed. Errc::conflict if the name is taken,
  // Errc::invalid_argument for a bad name, role-less or short password (< 8 characters).
  Result<Account> create(const std::string& name, std::string_view password, Role role,
                         std::vector<std::string> recipients);
  // Changes role and recipients (and the password when `password` is set).
  Result<Account> update(const std::string& name, std::optional<Role> role,
                         std::optional<std::vector<std::string>> recipients,
                         std::optional<std::string_view> password);
  // Marks the account deleted (the store keeps settings, so the value becomes empty).
  Result<void> remove(const std::string& name);
  // The account when `password` is right; std::nullopt otherwise (unknown name included).
  Result<std::optional<Account>> verify(const std::string& name, std::string_view password) const;

 private:
  Result<void> save(const Account& account);
  store::TableStore& tables_;
};

// Sign-in attempts per key (an account name and a client address are separate keys): after
// `max_failures` failures in a row the key is locked for `lock`, and each further failure once
// locked doubles the lock, up to `max_lock`. A success clears the key.
class SignInLimiter {
 public:
  struct Settings {
    int max_failures = 5;
    std::chrono::seconds lock{30};
    std::chrono::seconds max_lock{3600};
  };
  SignInLimiter(Settings settings, const Clock& clock) : settings_(settings), clock_(clock) {}

  // How long the key is still locked (zero when it is not).
  std::chrono::milliseconds locked_for(const std::string& key) const;
  void failure(const std::string& key);
  void success(const std::string& key);
  // Clears every key that starts with `prefix` (an admin unlocking one account everywhere).
  void forget(std::string_view prefix);

 private:
  struct Entry {
    int failures = 0;
    int locks = 0;
    Timestamp until{};
  };
  Settings settings_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

}  // namespace atdesk::api
