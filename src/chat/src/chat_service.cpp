#include "atdesk/chat/chat_service.hpp"

namespace atdesk::chat {

std::string_view to_string(ServiceState s) {
  switch (s) {
    case ServiceState::connected:
      return "connected";
    case ServiceState::connecting:
      return "connecting";
    case ServiceState::broken:
      return "broken";
  }
  return "broken";
}

}  // namespace atdesk::chat
