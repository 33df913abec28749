// IppPrinter against a scripted IPP printer (scripted_ipp_printer.hpp): the printer behaviours
// that ippeveprinter does not show but CUPS queues, PAPPL printers and printers that restart do.
// Each test says which document or observed behaviour its printer follows.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>

#include "atdesk/print/ipp_printer.hpp"
#include "scripted_ipp_printer.hpp"

namespace atdesk::print {
namespace {

using testing::Ipp;
using testing::ScriptedIppPrinter;

IppPrinter::Settings settings(const ScriptedIppPrinter& printer) {
  return IppPrinter::Settings{"office", printer.uri(), std::chrono::milliseconds(5000)};
}

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// One job in a job-attributes group (RFC 8011 4.2.6.2: Get-Jobs returns one group per job,
// separated by a separator tag); `name` empty leaves job-name out.
void add_job(ipp_t* response, int id, const std::string& name, ipp_jstate_t state,
             const std::string& uuid = {}) {
  if (ippFindAttribute(response, "job-id", IPP_TAG_INTEGER) != nullptr) ippAddSeparator(response);
  ippAddInteger(response, IPP_TAG_JOB, IPP_TAG_INTEGER, "job-id", id);
  if (!name.empty()) {
    ippAddString(response, IPP_TAG_JOB, IPP_TAG_NAME, "job-name", nullptr, name.c_str());
  }
  ippAddInteger(response, IPP_TAG_JOB, IPP_TAG_ENUM, "job-state", state);
  if (!uuid.empty()) {
    ippAddString(response, IPP_TAG_JOB, IPP_TAG_URI, "job-uuid", nullptr, uuid.c_str());
  }
}

// Get-Job-Attributes (RFC 8011 4.3.4) needs job-id (or job-uri); an unknown id is
// client-error-not-found.
ScriptedIppPrinter::Reply one_job(ipp_t* request, int known_id, const std::string& name,
                                  ipp_jstate_t state, const std::string& uuid = {}) {
  const int id = ScriptedIppPrinter::job_id(request);
  if (id == 0) return {ScriptedIppPrinter::error(request, IPP_STATUS_ERROR_BAD_REQUEST)};
  if (id != known_id) return {ScriptedIppPrinter::error(request, IPP_STATUS_ERROR_NOT_FOUND)};
  Ipp response = ScriptedIppPrinter::ok(request);
  add_job(response.get(), id, name, state, uuid);
  return {std::move(response)};
}

// #20 item 1. A CUPS 2.4 server leaves job-name out of Get-Jobs for jobs it has unloaded from
// memory (about half a second after they finished) when only job-id, job-name and job-state are
// asked for; asking for the job-description group, or Get-Job-Attributes on the id, makes it load
// the job again (observed with cupsd 2.4.2, Debian 12). Played here: job-name only with
// "job-description" or for Get-Job-Attributes.
ScriptedIppPrinter::Reply cups_like(ipp_t* request, const std::string&) {
  const auto op = ippGetOperation(request);
  if (op == IPP_OP_GET_JOB_ATTRIBUTES) {
    return one_job(request, 7, "atdesk-abc", IPP_JSTATE_COMPLETED);
  }
  if (op == IPP_OP_GET_JOBS) {
    const bool loads = contains(ScriptedIppPrinter::requested(request), "job-description");
    Ipp response = ScriptedIppPrinter::ok(request);
    add_job(response.get(), 6, loads ? "someone-elses-report" : "", IPP_JSTATE_COMPLETED);
    add_job(response.get(), 7, loads ? "atdesk-abc" : "", IPP_JSTATE_COMPLETED);
    return {std::move(response)};
  }
  return {ScriptedIppPrinter::error(request, IPP_STATUS_ERROR_OPERATION_NOT_SUPPORTED)};
}

TEST(IppPrinterScripted, FindsAFinishedJobWhoseNameCupsLeftOutByItsRecordedId) {
  ScriptedIppPrinter server(cups_like);
  IppPrinter printer(settings(server));
  auto found = printer.find("atdesk-abc", 7);
  ASSERT_TRUE(found) << found.error().describe();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->first.job_id, 7);
  EXPECT_EQ((*found)->second, RemoteJobState::completed);
  EXPECT_EQ(server.operations(), std::vector<std::string>{"Get-Job-Attributes"});
}

TEST(IppPrinterScripted, FindsAFinishedJobWhoseNameCupsLeftOutWithoutARecordedId) {
  ScriptedIppPrinter server(cups_like);
  IppPrinter printer(settings(server));
  auto found = printer.find("atdesk-abc", 0);  // a crash before the id was recorded
  ASSERT_TRUE(found) << found.error().describe();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->first.job_id, 7);
  EXPECT_EQ(server.operations(), std::vector<std::string>{"Get-Jobs"});
}

// #20 item 2. A printer that restarted numbers jobs from 1 again (LPrint 1.1 did; RFC 8011
// 5.3.2 only asks job-id to be unique while the printer runs): the recorded id now belongs to
// someone else's job, which must neither be tracked as ours nor found as ours.
ScriptedIppPrinter::Reply restarted(ipp_t* request, const std::string&) {
  const auto op = ippGetOperation(request);
  if (op == IPP_OP_GET_JOB_ATTRIBUTES) {
    return one_job(request, 1, "someone-elses-report", IPP_JSTATE_COMPLETED,
                   "urn:uuid:00000000-0000-4000-8000-000000000002");
  }
  if (op == IPP_OP_GET_JOBS) {
    Ipp response = ScriptedIppPrinter::ok(request);
    add_job(response.get(), 1, "someone-elses-report", IPP_JSTATE_COMPLETED);
    return {std::move(response)};
  }
  return {ScriptedIppPrinter::error(request, IPP_STATUS_ERROR_OPERATION_NOT_SUPPORTED)};
}

TEST(IppPrinterScripted, AReusedJobIdIsAConflictNotOurCompletedJob) {
  ScriptedIppPrinter server(restarted);
  IppPrinter printer(settings(server));
  auto state = printer.status(Submission{"office", 1, "atdesk-abc", {}});
  ASSERT_FALSE(state) << "someone else's completed job was taken as ours";
  EXPECT_EQ(state.error().code, Errc::conflict) << state.error().describe();
  EXPECT_NE(state.error().message.find("someone-elses-report"), std::string::npos);

  auto found = printer.find("atdesk-abc", 1);
  ASSERT_TRUE(found) << found.error().describe();
  EXPECT_FALSE(found->has_value());

  // An unknown id is not_found (RFC 8011 4.3.4: client-error-not-found).
  auto gone = printer.status(Submission{"office", 2, "atdesk-abc", {}});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::not_found) << gone.error().describe();
}

TEST(IppPrinterScripted, ADifferentJobUuidUnderTheSameNameIsAConflict) {
  ScriptedIppPrinter server([](ipp_t* request, const std::string&) {
    // job-uuid (PWG 5100.13, RFC 4122 URN) identifies a job across printer restarts.
    return one_job(request, 1, "atdesk-abc", IPP_JSTATE_COMPLETED,
                   "urn:uuid:00000000-0000-4000-8000-000000000002");
  });
  IppPrinter printer(settings(server));
  auto state = printer.status(
      Submission{"office", 1, "atdesk-abc", "urn:uuid:00000000-0000-4000-8000-000000000001"});
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().code, Errc::conflict) << state.error().describe();
  auto same = printer.status(
      Submission{"office", 1, "atdesk-abc", "urn:uuid:00000000-0000-4000-8000-000000000002"});
  ASSERT_TRUE(same) << same.error().describe();
  EXPECT_EQ(*same, RemoteJobState::completed);
}

// #20 item 3. The printer reads the whole Print-Job request with its document, then the
// connection is reset before any answer (a printer application that crashed on the document,
// as LPrint 1.1 did): the error says the printer may have the job, so the caller looks it up
// before sending it again.
TEST(IppPrinterScripted, AConnectionResetAfterTheDocumentSaysThePrinterMayHaveIt) {
  std::atomic<std::size_t> received{0};
  ScriptedIppPrinter server([&](ipp_t* request, const std::string& document) {
    if (ippGetOperation(request) == IPP_OP_GET_PRINTER_ATTRIBUTES) {
      // RFC 8011 5.4: printer-state idle (3), accepting jobs, taking PDF.
      Ipp response = ScriptedIppPrinter::ok(request);
      ippAddInteger(response.get(), IPP_TAG_PRINTER, IPP_TAG_ENUM, "printer-state",
                    IPP_PSTATE_IDLE);
      ippAddBoolean(response.get(), IPP_TAG_PRINTER, "printer-is-accepting-jobs", 1);
      ippAddString(response.get(), IPP_TAG_PRINTER, IPP_TAG_KEYWORD, "printer-state-reasons",
                   nullptr, "none");
      ippAddString(response.get(), IPP_TAG_PRINTER, IPP_TAG_MIMETYPE, "document-format-supported",
                   nullptr, "application/pdf");
      return ScriptedIppPrinter::Reply{std::move(response)};
    }
    received = document.size();
    return ScriptedIppPrinter::Reply{nullptr, true};
  });
  IppPrinter printer(settings(server));
  const std::string text = "%PDF-1.4\n% a document the printer takes and then crashes on\n";
  std::vector<std::byte> pdf;
  for (char c : text) pdf.push_back(static_cast<std::byte>(c));
  auto submitted = printer.submit(pdf, PrintOptions{"atdesk-abc", "atdesk", 1});
  ASSERT_FALSE(submitted);
  EXPECT_EQ(submitted.error().code, Errc::unavailable) << submitted.error().describe();
  EXPECT_NE(submitted.error().message.find("after the document was sent"), std::string::npos)
      << submitted.error().message;
  EXPECT_EQ(received.load(), pdf.size());
}

// A CUPS queue whose backend failed: the job is processing-stopped (job-state 6, RFC 8011
// 5.3.7) and the printer stopped (printer-state 5) with "paused" and the message the scheduler
// sets (CUPS 2.4 scheduler/job.c, finalize_job). The job is the printer's and not done: status()
// says stopped, not an error, and describe() carries the printer's own words.
TEST(IppPrinterScripted, AStoppedJobOnAStoppedQueueIsStoppedNotAnError) {
  ScriptedIppPrinter server([](ipp_t* request, const std::string&) {
    if (ippGetOperation(request) == IPP_OP_GET_PRINTER_ATTRIBUTES) {
      Ipp response = ScriptedIppPrinter::ok(request);
      ippAddInteger(response.get(), IPP_TAG_PRINTER, IPP_TAG_ENUM, "printer-state",
                    IPP_PSTATE_STOPPED);
      ippAddBoolean(response.get(), IPP_TAG_PRINTER, "printer-is-accepting-jobs", 1);
      ippAddString(response.get(), IPP_TAG_PRINTER, IPP_TAG_KEYWORD, "printer-state-reasons",
                   nullptr, "paused");
      ippAddString(response.get(), IPP_TAG_PRINTER, IPP_TAG_TEXT, "printer-state-message", nullptr,
                   "Backend failed");
      return ScriptedIppPrinter::Reply{std::move(response)};
    }
    return one_job(request, 4, "atdesk-abc", IPP_JSTATE_STOPPED);
  });
  IppPrinter printer(settings(server));
  auto state = printer.status(Submission{"office", 4, "atdesk-abc", {}});
  ASSERT_TRUE(state) << state.error().describe();
  EXPECT_EQ(*state, RemoteJobState::stopped);
  EXPECT_FALSE(is_terminal(*state));
  auto found = printer.find("atdesk-abc", 4);
  ASSERT_TRUE(found && found->has_value());
  EXPECT_EQ((*found)->second, RemoteJobState::stopped);
  auto described = printer.describe();
  ASSERT_TRUE(described) << described.error().describe();
  EXPECT_EQ(described->state, PrinterState::stopped);
  EXPECT_EQ(described->message, "Backend failed");
  EXPECT_TRUE(contains(described->state_reasons, "paused"));
}

}  // namespace
}  // namespace atdesk::print
