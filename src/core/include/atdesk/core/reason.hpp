// Why a job is where it is ("held: alice is busy, office (table 'weekday')"), from the message
// catalogues' reason_ keys. The engine stores the English text (the job's `reason` and each
// history entry: the same for every reader, whatever language they use); people are shown it in
// their language by localize_reason(), which reads the stored text back against the English
// templates and renders the same keys and arguments in the other language.
#pragma once

#include <string>
#include <string_view>

#include "atdesk/core/language.hpp"
#include "atdesk/core/presence.hpp"

namespace atdesk {

// "busy" / "取り込み中": a presence value as the reasons name it.
std::string presence_word(Language language, Availability availability);
std::string presence_word(Language language, WorkLocation location);

// The stored (English) reason in `language`. A text that no reason template matches (written
// before the catalogues had it, or a chat service's or printer's own words inside a reason) is
// returned as it is, and those words stay as the peer said them.
std::string localize_reason(std::string_view stored, Language language);

}  // namespace atdesk
