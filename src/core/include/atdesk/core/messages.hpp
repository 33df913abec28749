// What atdesk says to people, in their language: the message catalogues of data/messages/ (one
// JSON file per language, checked and embedded at build time by data/messages/catalogue.cmake,
// which also generates the MessageKey enumeration, so a key used here exists in every language).
#pragma once

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "atdesk/core/language.hpp"
#include "atdesk/core/message_keys.hpp"

namespace atdesk {

struct MessageArg {
  std::string_view name;  // the placeholder without braces: "id" for {id}
  std::string value;
};

// The text of `key` in `language` with each {name} replaced by its argument's value. Values are
// not scanned again, so a value with braces in it stays as it is. A placeholder without an
// argument stays as it is.
std::string message(Language language, MessageKey key, std::initializer_list<MessageArg> args = {});
std::string_view message_template(Language language, MessageKey key);
std::string_view message_name(MessageKey key);  // the key as in the JSON files
std::span<const MessageKey> all_message_keys();

// "3 pages" / "3ページ".
std::string pages_text(Language language, int pages);
// A local date and time: "2026-11-30 09:38" / "2026年11月30日 09:38".
std::string date_time_text(Language language, int year, unsigned month, unsigned day, long hour,
                           long minute);

}  // namespace atdesk
