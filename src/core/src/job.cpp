#include "atdesk/core/job.hpp"

#include <array>

namespace atdesk {
namespace {

constexpr std::array kAllStates = {JobState::received,  JobState::stored,   JobState::held,
                                   JobState::releasing, JobState::printing, JobState::printed,
                                   JobState::deleted,   JobState::expired,  JobState::failed};
constexpr std::array kAllSources = {JobSource::upload, JobSource::inbox,   JobSource::hylafax,
                                    JobSource::sip,    JobSource::webhook, JobSource::ipp};

}  // namespace

std::string_view to_string(JobState s) {
  switch (s) {
    case JobState::received:
      return "received";
    case JobState::stored:
      return "stored";
    case JobState::held:
      return "held";
    case JobState::releasing:
      return "releasing";
    case JobState::printing:
      return "printing";
    case JobState::printed:
      return "printed";
    case JobState::deleted:
      return "deleted";
    case JobState::expired:
      return "expired";
    case JobState::failed:
      return "failed";
  }
  return "failed";
}

std::optional<JobState> parse_job_state(std::string_view text) {
  for (auto s : kAllStates) {
    if (text == to_string(s)) return s;
  }
  return std::nullopt;
}

bool is_working(JobState s) {
  return s == JobState::stored || s == JobState::releasing || s == JobState::printing;
}

bool is_final(JobState s) {
  return s == JobState::printed || s == JobState::deleted || s == JobState::expired ||
         s == JobState::failed;
}

bool can_transition(JobState from, JobState to) {
  if (is_final(from)) return false;
  if (to == JobState::deleted || to == JobState::expired || to == JobState::failed) return true;
  switch (from) {
    case JobState::received:
      return to == JobState::stored;
    case JobState::stored:
      return to == JobState::printing || to == JobState::held;
    case JobState::held:
      return to == JobState::releasing;
    case JobState::releasing:
      return to == JobState::printing || to == JobState::held;
    // printing -> held: the printer is down or refused the job; it is retried later.
    case JobState::printing:
      return to == JobState::printed || to == JobState::held;
    default:
      return false;
  }
}

std::string_view to_string(JobSource s) {
  switch (s) {
    case JobSource::upload:
      return "upload";
    case JobSource::inbox:
      return "inbox";
    case JobSource::hylafax:
      return "hylafax";
    case JobSource::sip:
      return "sip";
    case JobSource::webhook:
      return "webhook";
    case JobSource::ipp:
      return "ipp";
  }
  return "upload";
}

std::optional<JobSource> parse_job_source(std::string_view text) {
  for (auto s : kAllSources) {
    if (text == to_string(s)) return s;
  }
  return std::nullopt;
}

std::string_view to_string(PrintProblem p) {
  switch (p) {
    case PrintProblem::none:
      return "none";
    case PrintProblem::unavailable:
      return "unavailable";
    case PrintProblem::aborted:
      return "aborted";
    case PrintProblem::gave_up:
      return "gave_up";
    case PrintProblem::lost:
      return "lost";
    case PrintProblem::stopped:
      return "stopped";
    case PrintProblem::unprintable:
      return "unprintable";
    case PrintProblem::owner_unknown:
      return "owner_unknown";
  }
  return "none";
}

std::optional<PrintProblem> parse_print_problem(std::string_view text) {
  for (auto p : {PrintProblem::none, PrintProblem::unavailable, PrintProblem::aborted,
                 PrintProblem::gave_up, PrintProblem::lost, PrintProblem::stopped,
                 PrintProblem::unprintable, PrintProblem::owner_unknown}) {
    if (text == to_string(p)) return p;
  }
  return std::nullopt;
}

std::string_view to_string(DocumentFormat f) {
  return f == DocumentFormat::tiff ? "tiff" : "pdf";
}

std::string_view media_type(DocumentFormat f) {
  return f == DocumentFormat::tiff ? "image/tiff" : "application/pdf";
}

}  // namespace atdesk
