#include "atdesk/print/printer.hpp"

namespace atdesk::print {

std::string_view to_string(RemoteJobState s) {
  switch (s) {
    case RemoteJobState::pending:
      return "pending";
    case RemoteJobState::held:
      return "held";
    case RemoteJobState::processing:
      return "processing";
    case RemoteJobState::stopped:
      return "stopped";
    case RemoteJobState::canceled:
      return "canceled";
    case RemoteJobState::aborted:
      return "aborted";
    case RemoteJobState::completed:
      return "completed";
  }
  return "unknown";
}

std::string_view to_string(PrinterState s) {
  switch (s) {
    case PrinterState::idle:
      return "idle";
    case PrinterState::processing:
      return "processing";
    case PrinterState::stopped:
      return "stopped";
    case PrinterState::unreachable:
      return "unreachable";
  }
  return "unknown";
}

}  // namespace atdesk::print
