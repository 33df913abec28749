#include "atdesk/print/ipp_printer.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "ipp_events.hpp"
#include "ipp_session.hpp"
#include "pwg_raster.hpp"

namespace atdesk::print {
namespace {

using detail::IppPtr;
using detail::IppSession;

constexpr const char* kPdf = "application/pdf";
constexpr const char* kPwgRaster = "image/pwg-raster";
// requesting-user-name for queries, which act for atdesk rather than for a person.
constexpr const char* kQueryUser = "atdesk";

void add_user(ipp_t* request, const std::string& user) {
  ippAddString(request, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", nullptr,
               user.empty() ? kQueryUser : user.c_str());
}

template <std::size_t N>
void add_requested(ipp_t* request, const std::array<const char*, N>& names) {
  ippAddStrings(request, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
                static_cast<int>(N), nullptr, names.data());
}

constexpr std::array kPrinterAttributes = {
    "printer-state",
    "printer-state-reasons",
    "printer-state-message",
    "printer-is-accepting-jobs",
    "document-format-supported",
    "pwg-raster-document-resolution-supported",
    "pwg-raster-document-type-supported",
    "media-supported",
    "media-ready",
    "print-scaling-supported",
};

Result<IppPtr> get_printer_attributes(IppSession& session) {
  IppPtr request = session.new_request(IPP_OP_GET_PRINTER_ATTRIBUTES);
  add_user(request.get(), {});
  add_requested(request.get(), kPrinterAttributes);
  return session.call(std::move(request));
}

PrinterStatus to_status(ipp_t* response, const std::string& name, const std::string& uri) {
  PrinterStatus status;
  status.name = name;
  status.uri = uri;
  const int state = detail::ipp_integer(response, "printer-state").value_or(IPP_PSTATE_STOPPED);
  const bool accepting = detail::ipp_boolean(response, "printer-is-accepting-jobs").value_or(true);
  status.state = detail::printer_state_from_ipp(state, accepting);
  status.halted = state == IPP_PSTATE_STOPPED;
  status.state_reasons = detail::ipp_strings(response, "printer-state-reasons");
  status.formats = detail::ipp_strings(response, "document-format-supported");
  status.message = detail::ipp_text(response, "printer-state-message");
  if (!accepting) {
    status.message = "not accepting jobs" + (status.message.empty() ? "" : "; " + status.message);
  }
  return status;
}

// The raster the printer asks for: its first square resolution from 150 to 600 dpi (else 300),
// 8-bit gray when it takes it, else 1-bit black.
detail::RasterSettings raster_settings(ipp_t* attributes) {
  detail::RasterSettings settings;
  if (ipp_attribute_t* res = ippFindAttribute(
          attributes, "pwg-raster-document-resolution-supported", IPP_TAG_RESOLUTION)) {
    for (int i = 0; i < ippGetCount(res); ++i) {
      int y = 0;
      ipp_res_t units{};
      const int x = ippGetResolution(res, i, &y, &units);
      if (units == IPP_RES_PER_INCH && x == y && x >= 150 && x <= 600) {
        settings.dpi = x;
        break;
      }
    }
  }
  const auto types = detail::ipp_strings(attributes, "pwg-raster-document-type-supported");
  if (!types.empty() && std::ranges::find(types, "sgray_8") == types.end() &&
      std::ranges::find(types, "black_1") != types.end()) {
    settings.type = detail::RasterType::black_1;
  }
  return settings;
}

std::string join(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ",") + v;
  return out.empty() ? "none" : out;
}

}  // namespace

IppPrinter::IppPrinter(Settings settings) : settings_(std::move(settings)) {}

IppPrinter::~IppPrinter() = default;

void IppPrinter::watch_jobs(JobChanged changed) {
  std::unique_ptr<detail::JobEventListener> old;
  {
    std::lock_guard lock(listener_mutex_);
    old = std::move(listener_);
  }
  old.reset();  // joins its thread: no call of the old function after this
  if (!changed) return;
  auto listener = std::make_unique<detail::JobEventListener>(
      detail::JobEventListener::Settings{settings_.name, settings_.uri, settings_.timeout},
      std::move(changed));
  std::lock_guard lock(listener_mutex_);
  listener_ = std::move(listener);
}

bool IppPrinter::pushes_job_events() const {
  std::lock_guard lock(listener_mutex_);
  return listener_ && listener_->active();
}

Result<Submission> IppPrinter::submit(std::span<const std::byte> pdf, const PrintOptions& options) {
  const std::string who = "printer " + settings_.name + " (" + settings_.uri + ")";
  if (pdf.empty()) return fail(Errc::invalid_argument, who + ": the document to print is empty");
  if (options.copies < 1) {
    return fail(Errc::invalid_argument,
                who + ": copies must be at least 1, got " + std::to_string(options.copies));
  }
  auto session = IppSession::open(settings_.name, settings_.uri, settings_.timeout);
  if (!session) return fail(session.error());

  // Look before sending: a stopped printer would otherwise queue the job (or refuse it with a
  // less clear status), and a printer without PDF would reject it after the upload.
  auto attributes = get_printer_attributes(*session);
  if (!attributes) return fail(attributes.error());
  const PrinterStatus printer = to_status(attributes->get(), settings_.name, settings_.uri);
  if (printer.state == PrinterState::stopped) {
    const int state = detail::ipp_integer(attributes->get(), "printer-state").value_or(0);
    return fail(Errc::unavailable,
                who + ": printer is stopped or not accepting jobs (printer-state " +
                    std::to_string(state) + ", reasons " + join(printer.state_reasons) +
                    (printer.message.empty() ? "" : ", message '" + printer.message + "'") + ")");
  }
  if (std::ranges::find(printer.formats, kPdf) == printer.formats.end() &&
      std::ranges::find(printer.formats, kPwgRaster) == printer.formats.end()) {
    return fail(Errc::unsupported, who +
                                       ": printer takes neither application/pdf nor "
                                       "image/pwg-raster (document-format-supported: " +
                                       join(printer.formats) + ")");
  }
  // The medium: what is loaded (media-ready) or else what the printer takes (media-supported),
  // for the document's page size; the page is scaled to fit it (print-scaling "fit", PWG
  // 5100.16, by the printer for PDF; here for raster). A printer that lists no media gets none.
  const auto media_ready = detail::ipp_strings(attributes->get(), "media-ready");
  const auto media_supported = detail::ipp_strings(attributes->get(), "media-supported");
  Result<std::optional<detail::MediaChoice>> media{std::nullopt};
  if (!media_ready.empty() || !media_supported.empty()) {
    auto page_size = detail::pdf_page_size(pdf, who);
    if (!page_size) return fail(page_size.error());
    media = detail::choose_media(*page_size, media_ready, media_supported, who);
    if (!media) return fail(media.error());
  }
  const auto scaling = detail::ipp_strings(attributes->get(), "print-scaling-supported");
  const bool fit = std::ranges::find(scaling, "fit") != scaling.end();

  // PDF when the printer takes it; otherwise PWG Raster, rendered here at the printer's
  // resolution (IPP Everywhere printers must take PWG Raster).
  std::vector<std::byte> raster;
  std::span<const std::byte> document = pdf;
  const char* format = kPdf;
  if (std::ranges::find(printer.formats, kPdf) == printer.formats.end()) {
    detail::RasterSettings raster_options = raster_settings(attributes->get());
    if (*media) raster_options.media = (*media)->media;
    auto converted = detail::pdf_to_pwg_raster(pdf, raster_options, who);
    if (!converted) return fail(converted.error());
    raster = std::move(*converted);
    document = raster;
    format = kPwgRaster;
  }

  IppPtr request = session->new_request(IPP_OP_PRINT_JOB);
  add_user(request.get(), options.user);
  if (!options.job_name.empty()) {
    ippAddString(request.get(), IPP_TAG_OPERATION, IPP_TAG_NAME, "job-name", nullptr,
                 options.job_name.c_str());
  }
  ippAddString(request.get(), IPP_TAG_OPERATION, IPP_TAG_MIMETYPE, "document-format", nullptr,
               format);
  ippAddInteger(request.get(), IPP_TAG_JOB, IPP_TAG_INTEGER, "copies", options.copies);
  if (*media) {
    ippAddString(request.get(), IPP_TAG_JOB, IPP_TAG_KEYWORD, "media", nullptr,
                 (*media)->media.keyword.c_str());
  }
  if (fit) {
    ippAddString(request.get(), IPP_TAG_JOB, IPP_TAG_KEYWORD, "print-scaling", nullptr, "fit");
  }
  auto response = session->call(std::move(request), document);
  if (!response) return fail(response.error());
  const auto job_id = detail::ipp_integer(response->get(), "job-id");
  if (!job_id || *job_id <= 0) {
    return fail(Errc::unavailable, who + ": Print-Job succeeded but the response has no job-id");
  }
  return Submission{settings_.name, *job_id, options.job_name,
                    detail::ipp_text(response->get(), "job-uuid")};
}

namespace {

// What Get-Job-Attributes says about one job id.
struct JobAttributes {
  int id = 0;
  std::optional<RemoteJobState> state;
  int raw_state = 0;
  std::optional<std::string> name;  // absent when the printer did not return job-name
  std::string uuid;
};

Result<std::optional<JobAttributes>> get_job(IppSession& session, int job_id) {
  IppPtr request = session.new_request(IPP_OP_GET_JOB_ATTRIBUTES);
  ippAddInteger(request.get(), IPP_TAG_OPERATION, IPP_TAG_INTEGER, "job-id", job_id);
  add_user(request.get(), {});
  add_requested(request.get(), std::array{"job-id", "job-name", "job-state", "job-uuid"});
  auto response = session.call(std::move(request));
  if (!response) {
    if (response.error().code == Errc::not_found) return std::optional<JobAttributes>{};
    return fail(response.error());
  }
  JobAttributes job;
  job.id = job_id;
  job.raw_state = detail::ipp_integer(response->get(), "job-state").value_or(0);
  job.state = detail::job_state_from_ipp(job.raw_state);
  if (ippFindAttribute(response->get(), "job-name", IPP_TAG_ZERO) != nullptr) {
    job.name = detail::ipp_text(response->get(), "job-name");
  }
  job.uuid = detail::ipp_text(response->get(), "job-uuid");
  return std::optional<JobAttributes>(std::move(job));
}

// Whether the printer's job is the one atdesk sent: same job-name, and the same job-uuid when
// both sides have one. Empty when it is; otherwise what differs, for messages.
std::string identity_mismatch(const JobAttributes& job, const std::string& job_name,
                              const std::string& job_uuid) {
  if (job.name && *job.name != job_name) {
    return "job " + std::to_string(job.id) + " is now '" + *job.name + "', not '" + job_name +
           "' (the printer restarted and reused the id?)";
  }
  if (!job_uuid.empty() && !job.uuid.empty() && job.uuid != job_uuid) {
    return "job " + std::to_string(job.id) + " has job-uuid " + job.uuid + ", not " + job_uuid +
           " (the printer restarted and reused the id?)";
  }
  if (!job.name && (job_uuid.empty() || job.uuid.empty())) {
    return "job " + std::to_string(job.id) + " has no job-name or job-uuid to recognise it by";
  }
  return {};
}

}  // namespace

Result<RemoteJobState> IppPrinter::status(const Submission& submission) {
  auto session = IppSession::open(settings_.name, settings_.uri, settings_.timeout);
  if (!session) return fail(session.error());
  auto found = get_job(*session, submission.job_id);
  if (!found) return fail(found.error());
  const std::optional<JobAttributes>& job = *found;
  if (!job) {
    return fail(Errc::not_found, session->who() + ": the printer no longer knows job " +
                                     std::to_string(submission.job_id) + " ('" +
                                     submission.job_name + "')");
  }
  if (!submission.job_name.empty()) {
    const std::string mismatch = identity_mismatch(*job, submission.job_name, submission.job_uuid);
    // A job without name or uuid (a printer that returns neither) cannot be checked; only a
    // job that shows another identity is taken as someone else's.
    if (!mismatch.empty() && (job->name || !job->uuid.empty())) {
      return fail(Errc::conflict, session->who() + ": " + mismatch);
    }
  }
  const std::optional<RemoteJobState> state = job->state;
  if (!state) {
    return fail(Errc::unavailable, session->who() + ": job " + std::to_string(submission.job_id) +
                                       " has no valid job-state (got " +
                                       std::to_string(job->raw_state) + ", expected 3..9)");
  }
  return *state;
}

Result<std::optional<std::pair<Submission, RemoteJobState>>> IppPrinter::find(
    const std::string& job_name, int recorded_job_id) {
  using Found = std::optional<std::pair<Submission, RemoteJobState>>;
  auto session = IppSession::open(settings_.name, settings_.uri, settings_.timeout);
  if (!session) return fail(session.error());

  // The recorded id first: Get-Job-Attributes on one id also makes a CUPS server load a
  // finished job's attributes, which Get-Jobs leaves out once the job is unloaded.
  if (recorded_job_id > 0) {
    auto found = get_job(*session, recorded_job_id);
    if (!found) return fail(found.error());
    const std::optional<JobAttributes>& job = *found;
    if (job) {
      const std::optional<RemoteJobState> state = job->state;
      const std::optional<std::string> name = job->name;
      if (state && name && *name == job_name) {
        return Found(std::pair{Submission{settings_.name, job->id, job_name, job->uuid}, *state});
      }
    }
  }

  IppPtr request = session->new_request(IPP_OP_GET_JOBS);
  add_user(request.get(), {});
  ippAddString(request.get(), IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "which-jobs", nullptr, "all");
  // "job-description" (the whole group), not a list of single attributes: CUPS returns
  // job-name of jobs it has unloaded from memory only when more than their summary is asked
  // for (CUPS 2.4, about half a second after a job finished).
  add_requested(request.get(),
                std::array{"job-id", "job-name", "job-state", "job-uuid", "job-description"});
  auto response = session->call(std::move(request));
  if (!response) return fail(response.error());

  // The response lists one job-attributes group per job; a group ends at a separator (an
  // attribute without a name) or where another group starts.
  Found newest;
  ipp_t* ipp = response->get();
  ipp_attribute_t* attr = ippFirstAttribute(ipp);
  while (attr != nullptr) {
    if (ippGetGroupTag(attr) != IPP_TAG_JOB) {
      attr = ippNextAttribute(ipp);
      continue;
    }
    int id = 0;
    int state = 0;
    std::string name;
    std::string uuid;
    for (; attr != nullptr && ippGetGroupTag(attr) == IPP_TAG_JOB && ippGetName(attr) != nullptr;
         attr = ippNextAttribute(ipp)) {
      const std::string_view attr_name = ippGetName(attr);
      if (attr_name == "job-id") {
        id = ippGetInteger(attr, 0);
      } else if (attr_name == "job-state") {
        state = ippGetInteger(attr, 0);
      } else if (attr_name == "job-name") {
        const char* value = ippGetString(attr, 0, nullptr);
        name = value != nullptr ? value : "";
      } else if (attr_name == "job-uuid") {
        const char* value = ippGetString(attr, 0, nullptr);
        uuid = value != nullptr ? value : "";
      }
    }
    if (name == job_name && id > 0 && (!newest || id > newest->first.job_id)) {
      if (const auto remote = detail::job_state_from_ipp(state)) {
        newest.emplace(Submission{settings_.name, id, job_name, uuid}, *remote);
      }
    }
    if (attr != nullptr && ippGetName(attr) == nullptr) attr = ippNextAttribute(ipp);
  }
  return newest;
}

Result<PrinterStatus> IppPrinter::describe() {
  auto unreachable = [this](std::string message) {
    PrinterStatus status;
    status.name = settings_.name;
    status.uri = settings_.uri;
    status.state = PrinterState::unreachable;
    status.message = std::move(message);
    return status;
  };
  auto session = IppSession::open(settings_.name, settings_.uri, settings_.timeout);
  if (!session) {
    if (session.error().code == Errc::invalid_argument) return fail(session.error());
    return unreachable(session.error().message);
  }
  auto response = get_printer_attributes(*session);
  if (!response) {
    const Errc code = response.error().code;
    if (code == Errc::unavailable || code == Errc::timeout) {
      return unreachable(response.error().message);
    }
    return fail(response.error());
  }
  return to_status(response->get(), settings_.name, settings_.uri);
}

}  // namespace atdesk::print
