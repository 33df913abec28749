// Runs one parsed invocation against atdeskd through a Transport: builds the requests, reads the
// token when a route needs it, prints the answer and returns the exit code (exit_code.hpp).
#pragma once

#include <ostream>

#include "atdesk/cli/http.hpp"
#include "atdesk/cli/invocation.hpp"

namespace atdesk::cli {

int run(const Invocation& invocation, Transport& transport, std::ostream& out, std::ostream& err);

}  // namespace atdesk::cli
