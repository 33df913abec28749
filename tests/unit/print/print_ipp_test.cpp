// Integration tests of IppPrinter against a real IPP printer: CUPS' ippeveprinter, started on a
// free loopback port by scripts/test-printer, which keeps every document it receives in
// <dir>/spool. PDFs are written by hand here and checked with pdfinfo (poppler-utils).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cups/raster.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "atdesk/print/ipp_printer.hpp"

namespace atdesk::print {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct PipeCloser {
  void operator()(FILE* f) const { pclose(f); }
};

// Runs a shell command; returns its stdout, or nullopt when it exits non-zero.
std::optional<std::string> run(const std::string& command) {
  std::unique_ptr<FILE, PipeCloser> pipe(popen(command.c_str(), "r"));
  if (!pipe) return std::nullopt;
  std::string out;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe.get()) != nullptr) out += buf.data();
  const int status = pclose(pipe.release());
  if (status != 0) return std::nullopt;
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
  return out;
}

std::string quote(const std::string& s) {
  return "'" + s + "'";
}

// A loopback port nothing listens on right now (bound and released).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

// A valid PDF with `pages` pages (US Letter unless told), each with a line and a box on it.
std::vector<std::byte> make_pdf(int pages, int width = 612, int height = 792) {
  std::vector<std::string> objects;
  objects.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  std::string kids;
  for (int i = 0; i < pages; ++i) kids += std::to_string(3 + 2 * i) + " 0 R ";
  objects.push_back("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(pages) + " >>");
  for (int i = 0; i < pages; ++i) {
    objects.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 " + std::to_string(width) + " " +
                      std::to_string(height) + "] /Contents " + std::to_string(4 + 2 * i) +
                      " 0 R >>");
    const std::string content = "72 " + std::to_string(700 - 20 * i) + " m 540 700 l S 72 72 " +
                                std::to_string(50 + 10 * i) + " 40 re S";
    objects.push_back("<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content +
                      "\nendstream");
  }
  std::string out = "%PDF-1.4\n";
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(out.size());
    out += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const std::size_t xref = out.size();
  out += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (std::size_t offset : offsets) {
    std::array<char, 24> line{};
    std::snprintf(line.data(), line.size(), "%010zu 00000 n \n", offset);
    out += line.data();
  }
  out += "trailer\n<< /Size " + std::to_string(objects.size() + 1) +
         " /Root 1 0 R >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  std::vector<std::byte> bytes(out.size());
  std::transform(out.begin(), out.end(), bytes.begin(), [](char c) { return std::byte(c); });
  return bytes;
}

// Pages of a PDF file as pdfinfo counts them; -1 when pdfinfo cannot read it.
int pdf_pages(const fs::path& file) {
  auto info = run("pdfinfo " + quote(file.string()) + " 2>/dev/null | sed -n 's/^Pages: *//p'");
  if (!info || info->empty()) return -1;
  return std::atoi(info->c_str());
}

std::string lower(std::string s) {
  std::ranges::transform(s, s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class IppPrinterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "atdesk-print-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }

  void TearDown() override {
    if (started_) run(script() + " stop " + quote(dir_.string()) + " >/dev/null 2>&1");
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static std::string script() { return ATDESK_TEST_PRINTER_SCRIPT; }

  // Starts the printer; env: variable assignments for scripts/test-printer, e.g. the formats.
  void start_printer(const std::string& env = {}) {
    port_ = free_port();
    ASSERT_GT(port_, 0);
    started_ = true;
    auto uri = run(env + " " + script() + " start " + quote(dir_.string()) + " " +
                   std::to_string(port_) + " atdesk-test");
    ASSERT_TRUE(uri) << "scripts/test-printer start failed; see " << (dir_ / "log");
    uri_ = *uri;
    ASSERT_EQ(uri_, "ipp://127.0.0.1:" + std::to_string(port_) + "/ipp/print");
  }

  void stop_printer() { ASSERT_TRUE(run(script() + " stop " + quote(dir_.string()))); }

  IppPrinter::Settings settings() const { return IppPrinter::Settings{"office", uri_, 5000ms}; }

  // Polls the printer's job until it ends (real time: ippeveprinter simulates printing).
  RemoteJobState wait_until_done(IppPrinter& printer, const Submission& submission) {
    RemoteJobState last = RemoteJobState::pending;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto state = printer.status(submission);
      EXPECT_TRUE(state) << state.error().describe();
      if (!state) return last;
      last = *state;
      if (is_terminal(last)) return last;
      std::this_thread::sleep_for(200ms);
    }
    ADD_FAILURE() << "job " << submission.job_id << " still " << to_string(last) << " after 60 s";
    return last;
  }

  // ippeveprinter takes one job at a time and answers server-error-busy meanwhile (which
  // IppPrinter reports as unavailable, for the engine to retry); tests that send several jobs
  // retry the same way.
  Result<Submission> submit_when_free(IppPrinter& printer, int pages, const std::string& job) {
    Result<Submission> result = fail(Errc::internal, "not sent");
    for (int attempt = 0; attempt < 100; ++attempt) {
      result = printer.submit(make_pdf(pages), PrintOptions{job, "atdesk", 1});
      if (result || !contains(result.error().message, "busy")) return result;
      std::this_thread::sleep_for(100ms);
    }
    return result;
  }

  // Spool files whose name contains the (lower-cased) job name.
  std::vector<fs::path> spooled(const std::string& job_name) const {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir_ / "spool")) {
      if (contains(entry.path().filename().string(), lower(job_name))) {
        files.push_back(entry.path());
      }
    }
    return files;
  }

  fs::path dir_;
  int port_ = 0;
  std::string uri_;
  bool started_ = false;
};

TEST_F(IppPrinterTest, HandMadePdfsAreValid) {
  for (int pages : {1, 3}) {
    const auto pdf = make_pdf(pages);
    const fs::path file = dir_ / ("check-" + std::to_string(pages) + ".pdf");
    std::ofstream(file, std::ios::binary)
        .write(reinterpret_cast<const char*>(pdf.data()), static_cast<std::streamsize>(pdf.size()));
    EXPECT_EQ(pdf_pages(file), pages);
  }
}

TEST_F(IppPrinterTest, OnePageJobIsPrintedKeptAndFound) {
  start_printer();
  IppPrinter printer(settings());
  EXPECT_EQ(printer.name(), "office");
  const std::string job_name = "atdesk-XYZ";
  auto submission = printer.submit(make_pdf(1), PrintOptions{job_name, "alice", 1});
  ASSERT_TRUE(submission) << submission.error().describe();
  EXPECT_EQ(submission->printer, "office");
  EXPECT_GT(submission->job_id, 0);

  EXPECT_EQ(wait_until_done(printer, *submission), RemoteJobState::completed);

  // ippeveprinter names the file "<job-id>-<job-name, lower-cased>.pdf".
  const auto files = spooled(job_name);
  ASSERT_EQ(files.size(), 1u) << "no spool file containing " << lower(job_name);
  EXPECT_EQ(files[0].filename().string(),
            std::to_string(submission->job_id) + "-" + lower(job_name) + ".pdf");
  EXPECT_EQ(pdf_pages(files[0]), 1);
  EXPECT_EQ(run(script() + " count " + quote(dir_.string())), "1");

  auto found = printer.find(job_name, 0);
  ASSERT_TRUE(found) << found.error().describe();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->first.job_id, submission->job_id);
  EXPECT_EQ((*found)->first.job_name, job_name);
  EXPECT_EQ((*found)->second, RemoteJobState::completed);

  // By the recorded id too, which is taken only when its job-name is ours.
  auto by_id = printer.find(job_name, submission->job_id);
  ASSERT_TRUE(by_id) << by_id.error().describe();
  ASSERT_TRUE(by_id->has_value());
  EXPECT_EQ((*by_id)->first.job_id, submission->job_id);

  auto none = printer.find("atdesk-no-such-job", 0);
  ASSERT_TRUE(none) << none.error().describe();
  EXPECT_FALSE(none->has_value());
}

TEST_F(IppPrinterTest, ThreePageJobKeepsItsPages) {
  start_printer();
  IppPrinter printer(settings());
  auto submission = printer.submit(make_pdf(3), PrintOptions{"atdesk-three", "bob", 2});
  ASSERT_TRUE(submission) << submission.error().describe();
  EXPECT_EQ(wait_until_done(printer, *submission), RemoteJobState::completed);
  const auto files = spooled("atdesk-three");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(pdf_pages(files[0]), 3);
}

TEST_F(IppPrinterTest, FindReturnsTheNewestJobWithTheName) {
  start_printer();
  IppPrinter printer(settings());
  auto first = submit_when_free(printer, 1, "atdesk-again");
  ASSERT_TRUE(first) << first.error().describe();
  auto other = submit_when_free(printer, 1, "atdesk-other");
  ASSERT_TRUE(other) << other.error().describe();
  auto second = submit_when_free(printer, 2, "atdesk-again");
  ASSERT_TRUE(second) << second.error().describe();
  ASSERT_GT(second->job_id, first->job_id);

  auto found = printer.find("atdesk-again", 0);
  ASSERT_TRUE(found) << found.error().describe();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->first.job_id, second->job_id);

  // A recorded id that is now another job's (as after a printer restart) is not taken: the job
  // is found by its name instead.
  auto not_other = printer.find("atdesk-again", other->job_id);
  ASSERT_TRUE(not_other) << not_other.error().describe();
  ASSERT_TRUE(not_other->has_value());
  EXPECT_EQ((*not_other)->first.job_id, second->job_id);
}

TEST_F(IppPrinterTest, StatusOfAnIdReusedByAnotherJobIsAConflict) {
  start_printer();
  IppPrinter printer(settings());
  auto theirs = submit_when_free(printer, 1, "someone-elses-report");
  ASSERT_TRUE(theirs) << theirs.error().describe();
  // atdesk recorded this id for its own job before the printer restarted and reused it.
  auto state = printer.status(Submission{"office", theirs->job_id, "atdesk-mine", {}});
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().code, Errc::conflict) << state.error().describe();
  EXPECT_TRUE(contains(state.error().message, "someone-elses-report")) << state.error().message;
}

TEST_F(IppPrinterTest, FailedPrintingIsAborted) {
  start_printer("TEST_PRINTER_COMMAND=/bin/false");
  IppPrinter printer(settings());
  auto submission = printer.submit(make_pdf(1), PrintOptions{"atdesk-jam", "atdesk", 1});
  ASSERT_TRUE(submission) << submission.error().describe();
  EXPECT_EQ(wait_until_done(printer, *submission), RemoteJobState::aborted);
  auto found = printer.find("atdesk-jam", submission->job_id);
  ASSERT_TRUE(found) << found.error().describe();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->second, RemoteJobState::aborted);
}

TEST_F(IppPrinterTest, StatusOfAnUnknownJobIsNotFound) {
  start_printer();
  IppPrinter printer(settings());
  auto state = printer.status(Submission{"office", 4242, "atdesk-gone", {}});
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().code, Errc::not_found) << state.error().describe();
  EXPECT_TRUE(contains(state.error().message, uri_)) << state.error().message;
}

TEST_F(IppPrinterTest, DescribeReportsAnIdlePrinterTakingPdf) {
  start_printer();
  IppPrinter printer(settings());
  auto status = printer.describe();
  ASSERT_TRUE(status) << status.error().describe();
  EXPECT_EQ(status->name, "office");
  EXPECT_EQ(status->uri, uri_);
  EXPECT_EQ(status->state, PrinterState::idle);
  EXPECT_NE(std::ranges::find(status->formats, "application/pdf"), status->formats.end());
  EXPECT_FALSE(status->state_reasons.empty());  // "none" when all is well
}

// Pages in a PWG Raster stream, read back with libcups' raster reader.
int raster_pages(const fs::path& file, unsigned* width = nullptr) {
  const int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) return -1;
  cups_raster_t* r = cupsRasterOpen(fd, CUPS_RASTER_READ);
  int pages = 0;
  cups_page_header2_t header;
  std::vector<unsigned char> line;
  while (r && cupsRasterReadHeader2(r, &header)) {
    if (width) *width = header.cupsWidth;
    line.resize(header.cupsBytesPerLine);
    for (unsigned y = 0; y < header.cupsHeight; ++y) {
      if (cupsRasterReadPixels(r, line.data(), header.cupsBytesPerLine) == 0) break;
    }
    ++pages;
  }
  if (r) cupsRasterClose(r);
  ::close(fd);
  return pages;
}

TEST_F(IppPrinterTest, PrinterWithoutPdfGetsPwgRasterWithEveryPage) {
  start_printer("TEST_PRINTER_FORMATS=image/pwg-raster,image/urf");
  IppPrinter printer(settings());
  auto submission = printer.submit(make_pdf(2), PrintOptions{"atdesk-raster", "atdesk", 1});
  ASSERT_TRUE(submission) << submission.error().describe();
  EXPECT_EQ(wait_until_done(printer, *submission), RemoteJobState::completed);
  const auto files = spooled("atdesk-raster");
  ASSERT_EQ(files.size(), 1u);
  unsigned width = 0;
  EXPECT_EQ(raster_pages(files[0], &width), 2);
  EXPECT_GT(width, 1000u);  // a full page at the printer's resolution, not a thumbnail
}

// #20 item 5: an A4 fax on ippeveprinter, whose media-ready is Letter and #10 envelopes (CUPS
// 2.4.2's defaults): rendered on Letter (8.5 x 11 in at the printer's resolution), every page.
TEST_F(IppPrinterTest, AnA4DocumentIsRenderedOnTheLoadedLetterPaper) {
  start_printer("TEST_PRINTER_FORMATS=image/pwg-raster");
  IppPrinter printer(settings());
  auto submission = printer.submit(make_pdf(3, 595, 842), PrintOptions{"atdesk-a4", "atdesk", 1});
  ASSERT_TRUE(submission) << submission.error().describe();
  EXPECT_EQ(wait_until_done(printer, *submission), RemoteJobState::completed);
  const auto files = spooled("atdesk-a4");
  ASSERT_EQ(files.size(), 1u);
  const int fd = ::open(files[0].c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  cups_raster_t* r = cupsRasterOpen(fd, CUPS_RASTER_READ);
  cups_page_header2_t header;
  ASSERT_TRUE(r && cupsRasterReadHeader2(r, &header));
  EXPECT_EQ(header.cupsWidth, header.HWResolution[0] * 17 / 2);
  EXPECT_EQ(header.cupsHeight, header.HWResolution[1] * 11);
  cupsRasterClose(r);
  ::close(fd);
  EXPECT_EQ(raster_pages(files[0]), 3);
}

TEST_F(IppPrinterTest, PrinterWithNeitherPdfNorPwgRasterIsUnsupported) {
  start_printer("TEST_PRINTER_FORMATS=image/urf");
  IppPrinter printer(settings());
  auto submission = printer.submit(make_pdf(1), PrintOptions{"atdesk-urf", "atdesk", 1});
  ASSERT_FALSE(submission);
  EXPECT_EQ(submission.error().code, Errc::unsupported) << submission.error().describe();
  EXPECT_TRUE(contains(submission.error().message, "image/pwg-raster"));
  EXPECT_EQ(run(script() + " count " + quote(dir_.string())), "0");
}

TEST_F(IppPrinterTest, ConcurrentSubmissionsGetTheirOwnJobs) {
  start_printer();
  IppPrinter printer(settings());
  constexpr int kThreads = 4;
  std::vector<Result<Submission>> results(kThreads, fail(Errc::internal, "not run"));
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        results[i] = submit_when_free(printer, 1 + i % 3, "atdesk-par" + std::to_string(i));
      });
    }
  }
  std::vector<int> ids;
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.error().describe();
    ids.push_back(r->job_id);
  }
  std::ranges::sort(ids);
  EXPECT_EQ(std::ranges::adjacent_find(ids), ids.end()) << "two submissions got the same job-id";
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(spooled("atdesk-par" + std::to_string(i)).size(), 1u) << i;
  }
}

TEST_F(IppPrinterTest, StoppedPrinterIsUnavailable) {
  start_printer();
  IppPrinter printer(settings());
  auto submission = printer.submit(make_pdf(1), PrintOptions{"atdesk-before", "atdesk", 1});
  ASSERT_TRUE(submission) << submission.error().describe();

  stop_printer();

  auto again = printer.submit(make_pdf(1), PrintOptions{"atdesk-after", "atdesk", 1});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::unavailable) << again.error().describe();
  EXPECT_TRUE(contains(again.error().message, "office"));
  EXPECT_TRUE(contains(again.error().message, uri_));
  auto state = printer.status(*submission);
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().code, Errc::unavailable) << state.error().describe();
  auto found = printer.find("atdesk-before", 0);
  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code, Errc::unavailable);
  auto status = printer.describe();
  ASSERT_TRUE(status) << status.error().describe();
  EXPECT_EQ(status->state, PrinterState::unreachable);
}

TEST_F(IppPrinterTest, NothingListeningIsUnavailableAndUnreachable) {
  const int port = free_port();
  ASSERT_GT(port, 0);
  const std::string uri = "ipp://127.0.0.1:" + std::to_string(port) + "/ipp/print";
  IppPrinter printer(IppPrinter::Settings{"office", uri, 2000ms});

  auto submission = printer.submit(make_pdf(1), PrintOptions{"atdesk-nowhere", "atdesk", 1});
  ASSERT_FALSE(submission);
  EXPECT_EQ(submission.error().code, Errc::unavailable) << submission.error().describe();
  EXPECT_TRUE(contains(submission.error().message, uri)) << submission.error().message;
  EXPECT_TRUE(contains(submission.error().message, "office")) << submission.error().message;
  EXPECT_TRUE(
      contains(submission.error().message, "cannot connect to 127.0.0.1:" + std::to_string(port)))
      << submission.error().message;

  auto status = printer.describe();
  ASSERT_TRUE(status) << status.error().describe();
  EXPECT_EQ(status->state, PrinterState::unreachable);
  EXPECT_EQ(status->uri, uri);
  EXPECT_TRUE(contains(status->message, "cannot connect")) << status->message;
  EXPECT_TRUE(status->formats.empty());
}

}  // namespace
}  // namespace atdesk::print
