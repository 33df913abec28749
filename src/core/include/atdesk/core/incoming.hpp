// What an ingress hands over: a received document with its sender, before it is a job. Every
// ingress (SIP, the inbox folder, the HylaFAX hook, REST upload, later the IPP printer) builds
// one and passes it to a submit function; only the engine turns it into a job. Kept in core so
// that ingress parts depend on the domain, not on the engine.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "atdesk/core/error.hpp"
#include "atdesk/core/job.hpp"
#include "atdesk/core/recipient.hpp"
#include "atdesk/core/sender.hpp"

namespace atdesk {

struct IncomingDocument {
  std::vector<std::byte> data;
  std::string name;  // file name or IPP job-name, for people and error messages
  Sender sender;
  JobSource source = JobSource::upload;
  bool incomplete = false;  // fax call dropped before the end
  // What the ingress noticed about the reception ("37 bad lines (no ECM)"); kept in the job's
  // first history entry.
  std::string note;
  // Set by an ingress that could not establish whom the document is for and must not let it
  // print unattended (a print job from nobody atdesk can trust): the job is held for
  // `hold_for` (the admin's choice; nobody is told when it is empty) whatever anyone's presence,
  // and prints only when a person releases it. `why` says what was missing, for the notice.
  struct OwnerUnknown {
    std::vector<Recipient> hold_for;
    std::string why;
  };
  std::optional<OwnerUnknown> owner_unknown;
};

// Stores the document durably and returns the job (Engine::submit in atdeskd). An ingress
// confirms receipt to its sender only after this returned a job.
using SubmitFn = std::function<Result<Job>(IncomingDocument)>;

}  // namespace atdesk
