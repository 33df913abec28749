#include "token_vault.hpp"

#include <sodium.h>

#include <cstring>
#include <vector>

#include "atdesk/store/spool.hpp"

namespace atdesk::chat::graph {
namespace {

constexpr std::string_view kPrefix = "v1:";
constexpr std::string_view kContext = "atdesk graph.tokens v1";

}  // namespace

TokenVault::TokenVault(store::TableStore& tables, std::filesystem::path key_file)
    : tables_(tables), key_file_(std::move(key_file)) {}

TokenVault::~TokenVault() {
  sodium_memzero(key_.data(), key_.size());
}

Result<void> TokenVault::ensure_key() {
  if (have_key_) return {};
  if (key_file_.empty()) {
    return fail(Errc::invalid_argument, "graph tokens: no key file to seal them with");
  }
  auto spool_key = store::load_or_create_key(key_file_);
  if (!spool_key) return fail(spool_key.error());
  static_assert(crypto_secretbox_KEYBYTES == 32);
  crypto_generichash(key_.data(), key_.size(),
                     reinterpret_cast<const unsigned char*>(kContext.data()), kContext.size(),
                     spool_key->data(), spool_key->size());
  sodium_memzero(spool_key->data(), spool_key->size());
  have_key_ = true;
  return {};
}

Result<void> TokenVault::save(const std::string& key, const std::string& plaintext) {
  if (auto ok = ensure_key(); !ok) return ok;
  std::vector<unsigned char> sealed(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES +
                                    plaintext.size());
  randombytes_buf(sealed.data(), crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(sealed.data() + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                        sealed.data(), key_.data());
  std::string text(sodium_base64_ENCODED_LEN(sealed.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(text.data(), text.size(), sealed.data(), sealed.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  text.resize(std::strlen(text.c_str()));
  return tables_.put_setting(kTokenNamespace, key, std::string(kPrefix) + text);
}

Result<std::string> TokenVault::load(const std::string& key) {
  auto stored = tables_.get_setting(kTokenNamespace, key);
  if (!stored) return fail(stored.error());
  const std::optional<std::string>& value = *stored;
  if (!value) return std::string();
  if (auto ok = ensure_key(); !ok) return fail(ok.error());
  const std::string& text = *value;
  const std::string where = std::string("setting ") + kTokenNamespace + "/" + key;
  if (!text.starts_with(kPrefix)) {
    return fail(Errc::corrupt, where + ": expected sealed tokens (\"v1:...\")");
  }
  const std::string_view b64 = std::string_view(text).substr(kPrefix.size());
  std::vector<unsigned char> sealed(b64.size());
  std::size_t len = 0;
  if (sodium_base642bin(sealed.data(), sealed.size(), b64.data(), b64.size(), nullptr, &len,
                        nullptr, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return fail(Errc::corrupt, where + ": not valid base64 of a sealed box");
  }
  std::string plain(len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()),
                                 sealed.data() + crypto_secretbox_NONCEBYTES,
                                 len - crypto_secretbox_NONCEBYTES, sealed.data(),
                                 key_.data()) != 0) {
    return fail(Errc::corrupt, where + ": does not open with the spool key (another key file?)");
  }
  return plain;
}

}  // namespace atdesk::chat::graph
