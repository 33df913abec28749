// atdesk-ippd's side of the hand-off (handoff.hpp): connects to atdeskd's socket, sends one
// document and waits for the answer. A document counts as stored only when the answer says so.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <span>

#include "atdesk/core/error.hpp"
#include "atdesk/ippd/handoff.hpp"

namespace atdesk::ippd {

// header.size is set from document. `timeout` bounds connecting, each write and the wait for the
// answer (which includes atdeskd's fsync and commit).
[[nodiscard]] Result<HandoffAnswer> hand_off(const std::filesystem::path& socket_path,
                                             HandoffHeader header,
                                             std::span<const std::byte> document,
                                             std::chrono::milliseconds timeout);

// Asks atdeskd who a client is (a sign-in, a personal queue's token): the person's user name,
// Errc::permission_denied with atdeskd's reason when it says no, another error when atdeskd
// cannot be asked.
[[nodiscard]] Result<std::string> identify(const std::filesystem::path& socket_path,
                                           const IdentifyRequest& request,
                                           std::chrono::milliseconds timeout);

}  // namespace atdesk::ippd
