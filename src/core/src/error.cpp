#include "atdesk/core/error.hpp"

namespace atdesk {

std::string_view to_string(Errc code) {
  switch (code) {
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::not_found:
      return "not_found";
    case Errc::conflict:
      return "conflict";
    case Errc::io:
      return "io";
    case Errc::corrupt:
      return "corrupt";
    case Errc::unsupported:
      return "unsupported";
    case Errc::limit_exceeded:
      return "limit_exceeded";
    case Errc::unavailable:
      return "unavailable";
    case Errc::timeout:
      return "timeout";
    case Errc::permission_denied:
      return "permission_denied";
    case Errc::no_space:
      return "no_space";
    case Errc::internal:
      return "internal";
  }
  return "internal";
}

std::string Error::describe() const {
  return std::string(to_string(code)) + ": " + message;
}

}  // namespace atdesk
