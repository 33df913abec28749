// The languages atdesk speaks, and language tags as chat services, browsers and the environment
// give them. Apart from messages.hpp so that what only names a language (a recipient rule, the
// configuration) does not depend on the generated catalogue.
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace atdesk {

enum class Language { en, ja };
inline constexpr std::array<Language, 2> kLanguages{Language::en, Language::ja};

std::string_view to_string(Language language);  // "en" | "ja"
// A language tag as chat services, browsers and the environment give it: "ja", "ja-JP",
// "ja_JP.UTF-8", "EN-us", "en_GB@euro". Only the primary subtag counts; nullopt for a language
// atdesk has no catalogue for (or "C"/"POSIX").
std::optional<Language> parse_language(std::string_view tag);
// The first language of an HTTP Accept-Language header (RFC 9110 12.5.4) that atdesk speaks,
// by weight; nullopt when none is.
std::optional<Language> pick_language(std::string_view accept_language);

}  // namespace atdesk
