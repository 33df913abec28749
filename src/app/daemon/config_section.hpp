// Reading one table of atdesk.toml with errors that name the file, the table and the key, and
// with unknown keys reported (they are usually typos). Used by config.cpp and by the adapters'
// factories, which read their own tables ([chat.<name>], ...).
#pragma once

#include <set>
#include <string>
#include <toml.hpp>

#include "atdesk/core/error.hpp"

namespace atdesk::app {

// Reads one table of the config, remembering which keys were used so the rest can be reported.
class Section {
 public:
  Section(const toml::value* table, std::string path, std::string file)
      : table_(table), path_(std::move(path)), file_(std::move(file)) {}

  bool present() const { return table_ != nullptr; }

  std::string where(const std::string& key) const {
    return file_ + ": " + (path_.empty() ? "" : "[" + path_ + "] ") + key;
  }

  const toml::value* get(const std::string& key) {
    used_.insert(key);
    if (!table_ || !table_->contains(key)) return nullptr;
    return &table_->at(key);
  }

  Result<void> string(const std::string& key, std::string& out) {
    if (const auto* v = get(key)) {
      if (!v->is_string()) return fail(Errc::invalid_argument, where(key) + ": expected a string");
      out = v->as_string().str;
    }
    return {};
  }

  template <class Int>
  Result<void> integer(const std::string& key, Int& out, long long min, long long max) {
    if (const auto* v = get(key)) {
      if (!v->is_integer()) {
        return fail(Errc::invalid_argument, where(key) + ": expected an integer");
      }
      const auto n = v->as_integer();
      if (n < min || n > max) {
        return fail(Errc::invalid_argument, where(key) + ": expected " + std::to_string(min) +
                                                " to " + std::to_string(max) + ", got " +
                                                std::to_string(n));
      }
      out = static_cast<Int>(n);
    }
    return {};
  }

  Result<void> boolean(const std::string& key, bool& out) {
    if (const auto* v = get(key)) {
      if (!v->is_boolean())
        return fail(Errc::invalid_argument, where(key) + ": expected true or false");
      out = v->as_boolean();
    }
    return {};
  }

  // A list of strings.
  Result<void> strings(const std::string& key, std::vector<std::string>& out) {
    if (const auto* v = get(key)) {
      if (!v->is_array()) {
        return fail(Errc::invalid_argument, where(key) + ": expected a list of strings");
      }
      std::vector<std::string> list;
      for (const auto& item : v->as_array()) {
        if (!item.is_string()) {
          return fail(Errc::invalid_argument, where(key) + ": expected a list of strings");
        }
        list.push_back(item.as_string().str);
      }
      out = std::move(list);
    }
    return {};
  }

  // A string that must be present and non-empty.
  Result<void> required_string(const std::string& key, std::string& out) {
    if (auto ok = string(key, out); !ok) return ok;
    if (out.empty()) return fail(Errc::invalid_argument, where(key) + ": required");
    return {};
  }

  Result<void> no_unknown_keys() const {
    if (!table_) return {};
    for (const auto& [key, value] : table_->as_table()) {
      if (!used_.contains(key)) {
        return fail(Errc::invalid_argument, where(key) + ": unknown key");
      }
    }
    return {};
  }

 private:
  const toml::value* table_;
  std::string path_;
  std::string file_;
  std::set<std::string> used_;
};

#define ATDESK_TRY(expr)                                   \
  do {                                                     \
    if (auto ok_ = (expr); !ok_) return fail(ok_.error()); \
  } while (0)

}  // namespace atdesk::app
