// Local accounts (Argon2id hashes in TableStore settings) and the sign-in rate limit.
#include "atdesk/api/accounts.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "atdesk/core/recipient.hpp"

namespace atdesk::api {
namespace {

using Json = nlohmann::json;

Result<void> check_recipients(const std::vector<std::string>& recipients) {
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    if (!Recipient::parse_key(recipients[i])) {
      return fail(Errc::invalid_argument, "recipients[" + std::to_string(i) +
                                              "]: expected a recipient key such as "
                                              "user:local:alice, got \"" +
                                              recipients[i] + "\"");
    }
  }
  return {};
}

Result<void> check_password(std::string_view password) {
  if (password.size() < 8 || password.size() > 1024) {
    return fail(Errc::invalid_argument, "password: expected 8 to 1024 characters");
  }
  return {};
}

std::string to_text(const Account& a) {
  return Json{{"role", std::string(to_string(a.role))},
              {"recipients", a.recipients},
              {"password_hash", a.password_hash}}
      .dump();
}

Result<Account> from_text(const std::string& name, const std::string& text) {
  const auto bad = [&] {
    return fail(Errc::corrupt, "setting web.account/" + name + ": not a valid account record");
  };
  const auto j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad();
  Account a;
  a.name = name;
  const auto role = j.value("role", std::string());
  const auto parsed = parse_role(role);
  if (!parsed) return bad();
  a.role = *parsed;
  if (!j.contains("recipients") || !j["recipients"].is_array()) return bad();
  for (const auto& r : j["recipients"]) {
    if (!r.is_string()) return bad();
    a.recipients.push_back(r.get<std::string>());
  }
  a.password_hash = j.value("password_hash", std::string());
  return a;
}

}  // namespace

Result<std::string> hash_password(std::string_view password) {
  if (sodium_init() < 0) return fail(Errc::internal, "libsodium could not be initialised");
  std::string out(crypto_pwhash_STRBYTES, '\0');
  if (crypto_pwhash_str(out.data(), password.data(), password.size(),
                        crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return fail(Errc::internal, "password hashing failed (out of memory)");
  }
  out.resize(std::strlen(out.c_str()));
  return out;
}

bool verify_password(std::string_view hash, std::string_view password) {
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  const std::string h(hash);  // NUL-terminated for libsodium
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

std::string random_password() {
  if (sodium_init() < 0) std::abort();  // no randomness: nothing safe to do
  static constexpr std::string_view kAlphabet =
      "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
  std::string out;
  for (int i = 0; i < 20; ++i) {
    out += kAlphabet[randombytes_uniform(static_cast<std::uint32_t>(kAlphabet.size()))];
  }
  return out;
}

Result<void> check_account_name(std::string_view name) {
  const auto ok_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  };
  if (name.empty() || name.size() > 64 || !std::all_of(name.begin(), name.end(), ok_char) ||
      name.front() == '.' || name.front() == '_' || name.front() == '-') {
    return fail(Errc::invalid_argument,
                "account name: expected 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter "
                "or digit");
  }
  return {};
}

Result<std::optional<Account>> AccountStore::find(const std::string& name) const {
  auto text = tables_.get_setting(std::string(kNamespace), name);
  if (!text) return fail(text.error());
  const std::optional<std::string>& stored = *text;
  if (!stored || stored->empty()) return std::optional<Account>{};
  auto account = from_text(name, *stored);
  if (!account) return fail(account.error());
  return std::optional<Account>(std::move(*account));
}

Result<std::vector<Account>> AccountStore::list() const {
  auto all = tables_.settings(std::string(kNamespace));
  if (!all) return fail(all.error());
  std::vector<Account> out;
  for (const auto& [name, text] : *all) {
    if (text.empty()) continue;
    auto account = from_text(name, text);
    if (!account) return fail(account.error());
    out.push_back(std::move(*account));
  }
  std::sort(out.begin(), out.end(),
            [](const Account& a, const Account& b) { return a.name < b.name; });
  return out;
}

Result<Account> AccountStore::create(const std::string& name, std::string_view password, Role role,
                                     std::vector<std::string> recipients) {
  if (auto ok = check_account_name(name); !ok) return fail(ok.error());
  if (auto ok = check_password(password); !ok) return fail(ok.error());
  if (auto ok = check_recipients(recipients); !ok) return fail(ok.error());
  auto existing = find(name);
  if (!existing) return fail(existing.error());
  if (*existing) return fail(Errc::conflict, "account " + name + ": exists already");
  auto hash = hash_password(password);
  if (!hash) return fail(hash.error());
  Account a{name, role, std::move(recipients), std::move(*hash)};
  if (auto ok = save(a); !ok) return fail(ok.error());
  return a;
}

Result<Account> AccountStore::update(const std::string& name, std::optional<Role> role,
                                     std::optional<std::vector<std::string>> recipients,
                                     std::optional<std::string_view> password) {
  auto existing = find(name);
  if (!existing) return fail(existing.error());
  std::optional<Account>& found = *existing;
  if (!found) return fail(Errc::not_found, "account " + name + ": no such account");
  Account a = std::move(*found);
  if (role) a.role = *role;
  if (recipients) {
    if (auto ok = check_recipients(*recipients); !ok) return fail(ok.error());
    a.recipients = std::move(*recipients);
  }
  if (password) {
    if (auto ok = check_password(*password); !ok) return fail(ok.error());
    auto hash = hash_password(*password);
    if (!hash) return fail(hash.error());
    a.password_hash = std::move(*hash);
  }
  if (auto ok = save(a); !ok) return fail(ok.error());
  return a;
}

Result<void> AccountStore::remove(const std::string& name) {
  auto existing = find(name);
  if (!existing) return fail(existing.error());
  if (!*existing) return fail(Errc::not_found, "account " + name + ": no such account");
  return tables_.put_setting(std::string(kNamespace), name, "");
}

Result<std::optional<Account>> AccountStore::verify(const std::string& name,
                                                    std::string_view password) const {
  auto account = check_account_name(name) ? find(name) : Result<std::optional<Account>>{};
  if (!account) return fail(account.error());
  const std::optional<Account>& found = *account;
  if (!found) {
    // Spend the same time as for a real account, so that timing does not tell names apart.
    static const std::string kDummy = hash_password("dummy-password").value_or("");
    (void)verify_password(kDummy, password);
    return std::optional<Account>{};
  }
  if (!verify_password(found->password_hash, password)) return std::optional<Account>{};
  return account;
}

Result<void> AccountStore::save(const Account& account) {
  return tables_.put_setting(std::string(kNamespace), account.name, to_text(account));
}

std::chrono::milliseconds SignInLimiter::locked_for(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return std::chrono::milliseconds{0};
  const auto now = clock_.now();
  return it->second.until > now ? it->second.until - now : std::chrono::milliseconds{0};
}

void SignInLimiter::failure(const std::string& key) {
  std::lock_guard lock(mutex_);
  // Keep the table small: forget keys whose lock is long over.
  if (entries_.size() > 10000) {
    const auto now = clock_.now();
    std::erase_if(entries_,
                  [&](const auto& e) { return e.second.until + settings_.max_lock < now; });
  }
  auto& e = entries_[key];
  ++e.failures;
  if (e.failures >= settings_.max_failures) {
    auto lock = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.lock);
    for (int i = 0; i < e.locks && lock < settings_.max_lock; ++i) lock *= 2;
    lock = std::min<std::chrono::milliseconds>(lock, settings_.max_lock);
    ++e.locks;
    e.until = clock_.now() + lock;
    e.failures = settings_.max_failures - 1;  // the next failure after the lock locks again
  }
}

void SignInLimiter::success(const std::string& key) {
  std::lock_guard lock(mutex_);
  entries_.erase(key);
}

void SignInLimiter::forget(std::string_view prefix) {
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [&](const auto& e) { return e.first.starts_with(prefix); });
}

}  // namespace atdesk::api
