// Error values carried across ports: a code for callers to branch on and a message for people
// that names the file, field or peer and what was expected.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace atdesk {

enum class Errc {
  invalid_argument,   // bad input from outside: a field, a document, a command
  not_found,          // the named thing does not exist
  conflict,           // the state changed under us (e.g. job no longer held)
  io,                 // disk or network I/O failed
  corrupt,            // stored data failed its integrity check (tampered file, wrong key)
  unsupported,        // well-formed but not something atdesk handles
  limit_exceeded,     // over a configured limit (size, pages, pixels)
  unavailable,        // a peer (printer, chat service) cannot be reached right now
  timeout,            // a peer did not answer in time
  permission_denied,  // caller may not do this
  internal,           // a bug: should not happen
  no_space,           // the disk holding the spool or the store is full
};

std::string_view to_string(Errc code);

struct Error {
  Errc code = Errc::internal;
  std::string message;

  // "<code>: <message>", for logs and API bodies.
  std::string describe() const;
};

inline Error make_error(Errc code, std::string message) {
  return Error{code, std::move(message)};
}

template <class T>
using Result = std::expected<T, Error>;

// Shorthand for returning a failure: `return fail(Errc::not_found, "job " + id + " not found");`
inline std::unexpected<Error> fail(Errc code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}
inline std::unexpected<Error> fail(Error error) {
  return std::unexpected<Error>(std::move(error));
}

}  // namespace atdesk
