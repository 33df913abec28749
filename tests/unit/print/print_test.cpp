// Unit tests for atdesk::print that need no printer: names of states, IPP value mappings, URI
// parsing, and the checks IppPrinter makes before it opens a connection.
#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

#include "atdesk/print/ipp_printer.hpp"
#include "atdesk/print/printer.hpp"
#include "ipp_mapping.hpp"
#include "media.hpp"

namespace atdesk::print {
namespace {

using detail::errc_from_ipp_status;
using detail::IppEndpoint;
using detail::job_state_from_ipp;
using detail::parse_printer_uri;
using detail::printer_state_from_ipp;

TEST(PrintNames, RemoteJobStates) {
  EXPECT_EQ(to_string(RemoteJobState::pending), "pending");
  EXPECT_EQ(to_string(RemoteJobState::held), "held");
  EXPECT_EQ(to_string(RemoteJobState::processing), "processing");
  EXPECT_EQ(to_string(RemoteJobState::stopped), "stopped");
  EXPECT_EQ(to_string(RemoteJobState::canceled), "canceled");
  EXPECT_EQ(to_string(RemoteJobState::aborted), "aborted");
  EXPECT_EQ(to_string(RemoteJobState::completed), "completed");
}

TEST(PrintNames, PrinterStates) {
  EXPECT_EQ(to_string(PrinterState::idle), "idle");
  EXPECT_EQ(to_string(PrinterState::processing), "processing");
  EXPECT_EQ(to_string(PrinterState::stopped), "stopped");
  EXPECT_EQ(to_string(PrinterState::unreachable), "unreachable");
}

TEST(PrinterUri, IppWithPortAndPath) {
  auto e = parse_printer_uri("ipp://127.0.0.1:8631/ipp/print");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(*e, (IppEndpoint{"127.0.0.1", 8631, "/ipp/print", false}));
}

TEST(PrinterUri, DefaultPortIs631) {
  auto e = parse_printer_uri("ipp://printer.example/printers/office");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->port, 631);
  EXPECT_EQ(e->resource, "/printers/office");
}

TEST(PrinterUri, IppsMeansTls) {
  auto e = parse_printer_uri("ipps://[::1]:443/ipp/print");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_TRUE(e->tls);
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 443);
}

TEST(PrinterUri, OtherSchemesAreRejectedNamingTheUri) {
  auto e = parse_printer_uri("http://printer.example/ipp/print");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, Errc::invalid_argument);
  EXPECT_NE(e.error().message.find("http://printer.example/ipp/print"), std::string::npos);
  EXPECT_NE(e.error().message.find("ipp or ipps"), std::string::npos);
}

TEST(PrinterUri, GarbageIsRejected) {
  for (const char* uri : {"", "printer", "ipp://", "ipp:///ipp/print"}) {
    auto e = parse_printer_uri(uri);
    ASSERT_FALSE(e) << uri;
    EXPECT_EQ(e.error().code, Errc::invalid_argument) << uri;
  }
}

TEST(IppMapping, JobStates) {
  EXPECT_EQ(job_state_from_ipp(3), RemoteJobState::pending);
  EXPECT_EQ(job_state_from_ipp(4), RemoteJobState::held);
  EXPECT_EQ(job_state_from_ipp(5), RemoteJobState::processing);
  EXPECT_EQ(job_state_from_ipp(6), RemoteJobState::stopped);
  EXPECT_EQ(job_state_from_ipp(7), RemoteJobState::canceled);
  EXPECT_EQ(job_state_from_ipp(8), RemoteJobState::aborted);
  EXPECT_EQ(job_state_from_ipp(9), RemoteJobState::completed);
  EXPECT_EQ(job_state_from_ipp(0), std::nullopt);
  EXPECT_EQ(job_state_from_ipp(2), std::nullopt);
  EXPECT_EQ(job_state_from_ipp(10), std::nullopt);
}

TEST(IppMapping, PrinterStates) {
  EXPECT_EQ(printer_state_from_ipp(3, true), PrinterState::idle);
  EXPECT_EQ(printer_state_from_ipp(4, true), PrinterState::processing);
  EXPECT_EQ(printer_state_from_ipp(5, true), PrinterState::stopped);
  // A printer that refuses jobs cannot print for atdesk, whatever its state.
  EXPECT_EQ(printer_state_from_ipp(3, false), PrinterState::stopped);
  EXPECT_EQ(printer_state_from_ipp(42, true), PrinterState::stopped);
}

TEST(IppMapping, StatusCodes) {
  EXPECT_TRUE(detail::ipp_succeeded(0x0000));
  EXPECT_TRUE(detail::ipp_succeeded(0x0001));  // successful-ok-ignored-or-substituted-attributes
  EXPECT_FALSE(detail::ipp_succeeded(0x0400));
  EXPECT_EQ(errc_from_ipp_status(0x0400), Errc::invalid_argument);   // bad-request
  EXPECT_EQ(errc_from_ipp_status(0x0401), Errc::permission_denied);  // forbidden
  EXPECT_EQ(errc_from_ipp_status(0x0406), Errc::not_found);          // not-found
  EXPECT_EQ(errc_from_ipp_status(0x0408), Errc::limit_exceeded);     // request-entity-too-large
  EXPECT_EQ(errc_from_ipp_status(0x040A), Errc::unsupported);  // document-format-not-supported
  EXPECT_EQ(errc_from_ipp_status(0x0501), Errc::unsupported);  // operation-not-supported
  EXPECT_EQ(errc_from_ipp_status(0x0500), Errc::unavailable);  // internal-error / transport
  EXPECT_EQ(errc_from_ipp_status(0x0502), Errc::unavailable);  // service-unavailable
  EXPECT_EQ(errc_from_ipp_status(0x0506), Errc::unavailable);  // not-accepting-jobs
  EXPECT_EQ(errc_from_ipp_status(0x0507), Errc::unavailable);  // busy
}

// These fail before any connection is attempted, so they need no printer. The URI names a port
// on the loopback address in case a bug lets a call through: it then fails differently.
IppPrinter::Settings settings(std::string uri = "ipp://127.0.0.1:9/ipp/print") {
  return IppPrinter::Settings{"office", std::move(uri), std::chrono::milliseconds(500)};
}

TEST(IppPrinterChecks, EmptyDocumentIsInvalid) {
  IppPrinter printer(settings());
  auto r = printer.submit({}, PrintOptions{"atdesk-1", "atdesk", 1});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_NE(r.error().message.find("office"), std::string::npos);
}

TEST(IppPrinterChecks, ZeroCopiesIsInvalid) {
  IppPrinter printer(settings());
  const std::vector<std::byte> pdf(16, std::byte{'%'});
  auto r = printer.submit(pdf, PrintOptions{"atdesk-1", "atdesk", 0});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_NE(r.error().message.find("copies"), std::string::npos);
}

TEST(IppPrinterChecks, BadUriIsInvalidInEveryCall) {
  IppPrinter printer(settings("lpd://printer.example/queue"));
  EXPECT_EQ(printer.name(), "office");
  const std::vector<std::byte> pdf(16, std::byte{'%'});
  auto submitted = printer.submit(pdf, PrintOptions{"atdesk-1", "atdesk", 1});
  ASSERT_FALSE(submitted);
  EXPECT_EQ(submitted.error().code, Errc::invalid_argument);
  EXPECT_NE(submitted.error().message.find("lpd://printer.example/queue"), std::string::npos);
  auto status = printer.status(Submission{"office", 1, "atdesk-1", {}});
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::invalid_argument);
  auto found = printer.find("atdesk-1", 0);
  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code, Errc::invalid_argument);
  // A configuration mistake is an error, not an unreachable printer.
  auto described = printer.describe();
  ASSERT_FALSE(described);
  EXPECT_EQ(described.error().code, Errc::invalid_argument);
}

// Media choice (#20 item 5). Sizes are PWG 5101.1's self-describing names, sized by libcups'
// table; pages in hundredths of millimetres.
const detail::MediaSize kA4Page{"", 21000, 29700};
const detail::MediaSize kLetterPage{"", 21590, 27940};

TEST(MediaChoice, TheSameSizeWhenThePrinterHasIt) {
  auto c = detail::choose_media(kA4Page, {}, {"na_letter_8.5x11in", "iso_a4_210x297mm"}, "p");
  ASSERT_TRUE(c && c->has_value());
  EXPECT_EQ((*c)->media.keyword, "iso_a4_210x297mm");
  EXPECT_DOUBLE_EQ((*c)->scale, 1.0);
}

TEST(MediaChoice, LoadedMediaComeFirstAndAPageIsShrunkALittleToFit) {
  // A4 is supported but Letter is what is loaded: the A4 fax goes on Letter at 94%.
  auto c = detail::choose_media(kA4Page, {"na_letter_8.5x11in"},
                                {"na_letter_8.5x11in", "iso_a4_210x297mm"}, "p");
  ASSERT_TRUE(c && c->has_value());
  EXPECT_EQ((*c)->media.keyword, "na_letter_8.5x11in");
  EXPECT_NEAR((*c)->scale, 279.4 / 297.0, 0.001);
  EXPECT_TRUE((*c)->from_ready);
  // A Letter page on A4: 97%.
  auto l = detail::choose_media(kLetterPage, {"iso_a4_210x297mm"}, {}, "p");
  ASSERT_TRUE(l && l->has_value());
  EXPECT_EQ((*l)->media.keyword, "iso_a4_210x297mm");
}

TEST(MediaChoice, ShrinkingALittleBeatsALargerSheetAndALargerSheetBeatsNothing) {
  auto c = detail::choose_media(
      kA4Page, {}, {"na_legal_8.5x14in", "na_letter_8.5x11in", "iso_a3_297x420mm"}, "p");
  ASSERT_TRUE(c && c->has_value());
  EXPECT_EQ((*c)->media.keyword, "na_letter_8.5x11in");
  auto big = detail::choose_media(kA4Page, {}, {"iso_a3_297x420mm", "na_legal_8.5x14in"}, "p");
  ASSERT_TRUE(big && big->has_value());
  EXPECT_EQ((*big)->media.keyword, "na_legal_8.5x14in");  // the smaller of the two
}

TEST(MediaChoice, WhatCannotBeFittedIsRefusedNamingThePrinterAndTheSizes) {
  // A label printer (LPrint's roll media and a 4x6 label loaded): a fax page would be printed
  // at a third of its size.
  auto c = detail::choose_media(
      kA4Page, {"oe_4x6-label_4x6in"},
      {"custom_min_0.25x0.25in", "custom_max_4.25x22in", "oe_4x6-label_4x6in", "iso_a4_210x297mm"},
      "printer labels (ipp://127.0.0.1:1/ipp/print)");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::unsupported);
  const auto& m = c.error().message;
  EXPECT_NE(m.find("printer labels"), std::string::npos) << m;
  EXPECT_NE(m.find("210x297mm"), std::string::npos) << m;
  EXPECT_NE(m.find("media-ready: oe_4x6-label_4x6in (101.6x152.4mm)"), std::string::npos) << m;
  // An A5-only printer: 70%.
  EXPECT_FALSE(detail::choose_media(kA4Page, {}, {"iso_a5_148x210mm"}, "p"));
}

TEST(MediaChoice, NoMediaListedMeansNoneChosenAndCustomRangesAreNotSizes) {
  auto none = detail::choose_media(kA4Page, {}, {}, "p");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  // LPrint 1.1 lists roll_min_/roll_max_ ranges (seen with its zpl_4inch-203dpi-dt driver).
  EXPECT_TRUE(detail::media_sizes({"custom_min_1x1in", "custom_max_9x9in", "roll_max_4x39.6in",
                                   "roll_min_0.75x0.25in", "nonsense"})
                  .empty());
}

TEST(MediaChoice, ALandscapePageIsTurned) {
  auto c = detail::choose_media({"", 29700, 21000}, {}, {"iso_a4_210x297mm"}, "p");
  ASSERT_TRUE(c && c->has_value());
  EXPECT_DOUBLE_EQ((*c)->scale, 1.0);
}

}  // namespace
}  // namespace atdesk::print
