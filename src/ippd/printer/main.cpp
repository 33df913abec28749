// atdesk-ippd: atdesk as an IPP Everywhere printer (PAPPL), one process of its own because it
// faces the network, PAPPL starts a thread per client and per job and installs process-wide
// signal handlers, and atdeskd holds the spool key. Each complete document goes to atdeskd over
// its hand-off socket (atdesk/ippd/handoff.hpp); the IPP job completes only when atdeskd answers
// that the document is stored (encrypted, fsync'd, committed). PAPPL's spool is a 0700 folder
// that keeps no document (max_preserved_jobs 0); DNS-SD is off unless --dnssd is given.
//
//   PDF           PAPPL spools the file; a MIME filter hands it over as it is
//   JPEG, PNG     PAPPL's own filters decode them to raster lines -> the raster path below
//   PWG, Apple    PAPPL streams raster lines to the driver -> a multi-page TIFF (raster_tiff.hpp)
//
// Who a job is for (docs/printing.md): the client's requesting-user-name ("claimed"), a personal
// queue of --owner ("queue"), and with --tls, HTTP Basic against atdesk's accounts (--sign-in,
// "basic") and personal queue URLs /ipp/print/u/<token> (--token-queue, "token"). Sign-ins and
// tokens are checked by atdeskd over the hand-off socket, in PAPPL's authentication callback,
// before PAPPL takes the job; the job carries a one-time mark of the identity found there.
#include <arpa/inet.h>
#include <fcntl.h>
#include <pappl/pappl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "atdesk/ippd/handoff_client.hpp"
#include "raster_tiff.hpp"

namespace {
namespace fs = std::filesystem;
using atdesk::ippd::HandoffHeader;

constexpr const char* kDriverName = "atdesk";

constexpr const char* kTokenQueue = "u";                  // /ipp/print/u/<token>
constexpr const char* kIdentityMark = "atdesk-identity";  // job attribute: a one-time mark
constexpr auto kSignInCacheTime = std::chrono::seconds(30);

// An identity the authentication callback established for one request.
struct Identity {
  std::string kind;  // "basic", "token", or "claimed" (only the host is known)
  std::string user;
  std::string host;  // the client's address
  std::chrono::steady_clock::time_point at;
};

struct Context {
  fs::path socket;
  fs::path spool;
  std::chrono::milliseconds timeout{120000};
  std::uint64_t max_document_bytes = 64ull << 20;  // atdeskd's [limits] max_file_mb
  std::map<std::string, std::string> owners;       // queue -> the person all its jobs belong to
  bool sign_in = false;      // queues other than personal ones require HTTP Basic (over TLS)
  bool token_queue = false;  // /ipp/print/u/<token>
  std::mutex mutex;
  // Marks put on requests by the authentication callback, taken by the job's hand-off. A mark a
  // client sends itself is removed before the callback adds its own, and an unknown mark is
  // worth nothing: only marks made here count.
  std::map<std::string, Identity> marks;
  // Successful sign-ins by the SHA-256 of the Authorization header, for kSignInCacheTime, so
  // that a client's polling does not cost atdeskd a password hash each time.
  std::map<std::string, Identity> signed_in;
  // Wrong passwords per account name: after kMaxFailures in a row the name is refused here,
  // without asking atdeskd, for a lock that doubles with each further failure (as the web UI's
  // sign-in does), so guessing costs atdeskd no password hashes and cannot hold up hand-offs.
  struct Failures {
    int count = 0;
    std::chrono::seconds lock{0};
    std::chrono::steady_clock::time_point until{};
  };
  std::map<std::string, Failures> failures;
};

constexpr int kMaxFailures = 5;
constexpr auto kFirstLock = std::chrono::seconds(30);
constexpr auto kLongestLock = std::chrono::seconds(3600);

// The state of one raster job between rstartjob and rendjob.
struct RasterJob {
  std::unique_ptr<atdesk::ippd::TiffPages> pages;
  atdesk::ippd::RasterPage page;
  bool failed = false;
};

Context* context_of(pappl_job_t* job) {
  pappl_pr_driver_data_t data;
  papplPrinterGetDriverData(papplJobGetPrinter(job), &data);
  return static_cast<Context*>(data.extension);
}

// The identity the authentication callback marked the job with, taken (a mark counts once).
std::optional<Identity> take_mark(pappl_job_t* job, Context& ctx) {
  ipp_attribute_t* attr = papplJobGetAttribute(job, kIdentityMark);
  const char* mark = attr ? ippGetString(attr, 0, nullptr) : nullptr;
  if (!mark) return std::nullopt;
  std::lock_guard lock(ctx.mutex);
  auto it = ctx.marks.find(mark);
  if (it == ctx.marks.end()) return std::nullopt;
  Identity found = it->second;
  ctx.marks.erase(it);
  return found;
}

HandoffHeader header_for(pappl_job_t* job, Context& ctx) {
  HandoffHeader h;
  h.queue = papplPrinterGetName(papplJobGetPrinter(job));
  h.ipp_job_id = papplJobGetID(job);
  if (const char* name = papplJobGetName(job)) h.job_name = name;
  if (const char* user = papplJobGetUsername(job)) h.user = user;
  h.identity = "claimed";
  // PAPPL 1.3.1 keeps no originating host with a job: h.host comes with the mark, so it is known
  // only when the authentication callback runs (--sign-in, --token-queue).
  const auto mark = take_mark(job, ctx);
  if (mark) h.host = mark->host;
  if (auto it = ctx.owners.find(h.queue); it != ctx.owners.end()) {
    h.user = it->second;
    h.identity = "queue";
  } else if (mark && mark->kind != "claimed") {
    h.user = mark->user;
    h.identity = mark->kind;
  } else if (h.queue == kTokenQueue) {
    h.user.clear();  // cannot happen (the callback refuses the queue without a token): nobody's
  }
  if (const char* format = papplJobGetFormat(job)) h.ipp_format = format;
  return h;
}

// Hands the document over and returns true only when atdeskd answered "stored".
bool hand_over(pappl_job_t* job, HandoffHeader header, std::span<const std::byte> document) {
  Context& ctx = *context_of(job);
  auto answer = atdesk::ippd::hand_off(ctx.socket, header, document, ctx.timeout);
  if (!answer) {
    papplLogJob(job, PAPPL_LOGLEVEL_ERROR, "not handed to atdeskd: %s",
                answer.error().message.c_str());
    return false;
  }
  if (!answer->stored) {
    papplLogJob(job, PAPPL_LOGLEVEL_ERROR, "atdeskd refused the document: %s",
                answer->error.c_str());
    papplJobSetReasons(job, PAPPL_JREASON_DOCUMENT_UNPRINTABLE_ERROR, PAPPL_JREASON_NONE);
    return false;
  }
  papplLogJob(job, PAPPL_LOGLEVEL_INFO, "stored by atdeskd as job %s", answer->job.c_str());
  return true;
}

// application/pdf: the spooled file as it is.
bool pdf_filter(pappl_job_t* job, pappl_device_t* /*device*/, void* /*data*/) {
  const char* file = papplJobGetFilename(job);
  std::error_code ec;
  const auto size = file ? fs::file_size(file, ec) : 0;
  if (!file || ec || size == 0) {
    papplLogJob(job, PAPPL_LOGLEVEL_ERROR, "no document file to hand over");
    return false;
  }
  if (size > context_of(job)->max_document_bytes) {
    papplLogJob(job, PAPPL_LOGLEVEL_ERROR, "document of %llu bytes exceeds the limit of %llu",
                static_cast<unsigned long long>(size),
                static_cast<unsigned long long>(context_of(job)->max_document_bytes));
    papplJobSetReasons(job, PAPPL_JREASON_DOCUMENT_UNPRINTABLE_ERROR, PAPPL_JREASON_NONE);
    return false;
  }
  std::vector<std::byte> data(size);
  FILE* in = std::fopen(file, "rb");
  if (!in) {
    papplLogJob(job, PAPPL_LOGLEVEL_ERROR, "%s: %s", file, std::strerror(errno));
    return false;
  }
  const auto got = std::fread(data.data(), 1, data.size(), in);
  std::fclose(in);
  if (got != size) {
    papplLogJob(job, PAPPL_LOGLEVEL_ERROR, "%s: short read", file);
    return false;
  }
  if (papplJobIsCanceled(job)) return true;  // cancelled before the hand-off: nothing to store
  auto h = header_for(job, *context_of(job));
  h.format = "application/pdf";
  return hand_over(job, std::move(h), data);
}

atdesk::ippd::RasterKind kind_of(const cups_page_header2_t& header) {
  using atdesk::ippd::RasterKind;
  if (header.cupsBitsPerPixel == 1) return RasterKind::black_1;
  if (header.cupsBitsPerPixel >= 24) return RasterKind::srgb_8;
  return header.cupsColorSpace == CUPS_CSPACE_K ? RasterKind::black_8 : RasterKind::sgray_8;
}

bool rstartjob(pappl_job_t* job, pappl_pr_options_t* /*options*/, pappl_device_t* /*device*/) {
  const Context& ctx = *context_of(job);
  auto state = std::make_unique<RasterJob>();
  const auto file = ctx.spool / ("raster-" + std::to_string(papplJobGetID(job)) + ".tif");
  auto pages = atdesk::ippd::TiffPages::create(file);
  if (!pages) {
    papplLogJob(job, PAPPL_LOGLEVEL_ERROR, "%s", pages.error().message.c_str());
    return false;
  }
  state->pages = std::move(*pages);
  papplJobSetData(job, state.release());
  return true;
}

bool rstartpage(pappl_job_t* job, pappl_pr_options_t* options, pappl_device_t* /*device*/,
                unsigned /*page*/) {
  auto* state = static_cast<RasterJob*>(papplJobGetData(job));
  if (!state || state->failed) return false;
  const auto& hd = options->header;
  const unsigned bpp = hd.cupsBitsPerPixel;
  if (bpp != 1 && bpp != 8 && bpp != 24) {
    papplLogJob(job, PAPPL_LOGLEVEL_ERROR, "raster with %u bits per pixel is not supported", bpp);
    state->failed = true;
    return false;
  }
  state->page = {hd.cupsWidth, hd.cupsHeight, kind_of(hd), hd.HWResolution[0], hd.HWResolution[1]};
  if (auto ok = state->pages->start_page(state->page); !ok) {
    papplLogJob(job, PAPPL_LOGLEVEL_ERROR, "%s", ok.error().message.c_str());
    state->failed = true;
    return false;
  }
  return true;
}

bool rwriteline(pappl_job_t* job, pappl_pr_options_t* /*options*/, pappl_device_t* /*device*/,
                unsigned y, const unsigned char* line) {
  auto* state = static_cast<RasterJob*>(papplJobGetData(job));
  if (!state || state->failed) return false;
  if (auto ok = state->pages->write_line(y, line); !ok) {
    papplLogJob(job, PAPPL_LOGLEVEL_ERROR, "%s", ok.error().message.c_str());
    state->failed = true;
    return false;
  }
  return true;
}

bool rendpage(pappl_job_t* job, pappl_pr_options_t* /*options*/, pappl_device_t* /*device*/,
              unsigned /*page*/) {
  auto* state = static_cast<RasterJob*>(papplJobGetData(job));
  if (!state || state->failed) return false;
  if (auto ok = state->pages->end_page(); !ok) {
    papplLogJob(job, PAPPL_LOGLEVEL_ERROR, "%s", ok.error().message.c_str());
    state->failed = true;
    return false;
  }
  return true;
}

bool rendjob(pappl_job_t* job, pappl_pr_options_t* /*options*/, pappl_device_t* /*device*/) {
  std::unique_ptr<RasterJob> state(static_cast<RasterJob*>(papplJobGetData(job)));
  papplJobSetData(job, nullptr);
  if (!state || state->failed) return false;
  if (papplJobIsCanceled(job)) return true;  // nothing to hand over; the file goes with state
  const int pages = state->pages->pages();
  auto tiff = state->pages->finish();
  if (!tiff) {
    papplLogJob(job, PAPPL_LOGLEVEL_ERROR, "%s", tiff.error().message.c_str());
    return false;
  }
  auto h = header_for(job, *context_of(job));
  h.format = "image/tiff";
  h.pages = pages;
  return hand_over(job, std::move(h), *tiff);
}

bool printfile(pappl_job_t* job, pappl_pr_options_t* /*options*/, pappl_device_t* /*device*/) {
  // The driver's own format is raster, which never reaches here (PAPPL streams it): anything
  // else has a filter or is refused at submission.
  papplLogJob(job, PAPPL_LOGLEVEL_ERROR, "unexpected format %s", papplJobGetFormat(job));
  return false;
}

std::string random_mark() {
  std::random_device rd;  // /dev/urandom
  std::string out;
  for (int i = 0; i < 4; ++i) {
    char part[9];
    std::snprintf(part, sizeof part, "%08x", rd());
    out += part;
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char hash[32];
  if (cupsHashData("sha2-256", data.data(), data.size(), hash, sizeof hash) != sizeof hash) {
    return {};
  }
  std::string out;
  for (unsigned char c : hash) {
    char two[3];
    std::snprintf(two, sizeof two, "%02x", c);
    out += two;
  }
  return out;
}

// Puts the one-time mark of `who` on the request, so that the job PAPPL makes from it carries
// it (PAPPL copies the request's job attributes into the job).
void mark_request(pappl_client_t* client, Context& ctx, Identity who) {
  if (!who.user.empty()) papplClientSetUsername(client, who.user.c_str());
  // The plain numeric address (httpAddrString writes IPv6 as "[v1.::1]", a URI form).
  char address[INET6_ADDRSTRLEN] = "";
  if (const http_addr_t* addr = httpGetAddress(papplClientGetHTTP(client))) {
    if (addr->addr.sa_family == AF_INET) {
      ::inet_ntop(AF_INET, &addr->ipv4.sin_addr, address, sizeof address);
    } else if (addr->addr.sa_family == AF_INET6) {
      ::inet_ntop(AF_INET6, &addr->ipv6.sin6_addr, address, sizeof address);
    }
  }
  who.host = address;
  // Only the operations that make a job need the mark (not Get-Jobs, Validate-Job, polls).
  const ipp_op_t op = papplClientGetOperation(client);
  ipp_t* request = papplClientGetRequest(client);
  if (!request || (op != IPP_OP_PRINT_JOB && op != IPP_OP_CREATE_JOB)) return;
  const auto mark = random_mark();
  ippAddString(request, IPP_TAG_JOB, IPP_TAG_TEXT, kIdentityMark, nullptr, mark.c_str());
  std::lock_guard lock(ctx.mutex);
  const auto now = std::chrono::steady_clock::now();
  // Marks of requests that made no job (a job refused after this) are dropped after an hour.
  std::erase_if(ctx.marks,
                [&](const auto& m) { return now - m.second.at > std::chrono::hours(1); });
  who.at = now;
  ctx.marks[mark] = std::move(who);
}

// The token of a personal queue URL /ipp/print/u/<token>[/...], empty when there is none.
std::string token_of(pappl_client_t* client) {
  ipp_t* request = papplClientGetRequest(client);
  const char* uri = nullptr;
  for (const char* name : {"printer-uri", "job-uri"}) {
    if (auto* attr = request ? ippFindAttribute(request, name, IPP_TAG_URI) : nullptr) {
      uri = ippGetString(attr, 0, nullptr);
      break;
    }
  }
  if (!uri) return {};
  char scheme[32], userpass[256], host[256], resource[1024];
  int port = 0;
  if (httpSeparateURI(HTTP_URI_CODING_ALL, uri, scheme, sizeof scheme, userpass, sizeof userpass,
                      host, sizeof host, &port, resource, sizeof resource) < HTTP_URI_STATUS_OK) {
    return {};
  }
  const std::string path = resource;
  const std::string prefix = std::string("/ipp/print/") + kTokenQueue + "/";
  if (!path.starts_with(prefix)) return {};
  const auto rest = path.substr(prefix.size());
  return rest.substr(0, rest.find('/'));
}

// PAPPL's authentication callback, for every operation PAPPL authorizes (Print-Job, Create-Job,
// Validate-Job, Get-Jobs, Cancel-Job, ...), installed only with --sign-in or --token-queue.
// PAPPL itself already answered 426 (upgrade to TLS) to other hosts on a plain connection.
http_status_t authenticate(pappl_client_t* client, const char* /*group*/, gid_t /*gid*/,
                           void* data) {
  auto& ctx = *static_cast<Context*>(data);
  // PAPPL asks this callback for administrative operations too (Delete-Printer,
  // Shutdown-All-Printers, Pause-Printer, ...). Without a callback PAPPL allows them to local
  // clients only; so does atdesk-ippd with one: neither a sign-in nor a token is an admin's.
  switch (papplClientGetOperation(client)) {
    case IPP_OP_PRINT_JOB:
    case IPP_OP_VALIDATE_JOB:
    case IPP_OP_CREATE_JOB:
    case IPP_OP_SEND_DOCUMENT:
    case IPP_OP_CANCEL_JOB:
    case IPP_OP_CANCEL_MY_JOBS:
    case IPP_OP_CLOSE_JOB:
    case IPP_OP_GET_JOBS:
    case IPP_OP_GET_JOB_ATTRIBUTES:
    case IPP_OP_GET_PRINTER_ATTRIBUTES:
    case IPP_OP_IDENTIFY_PRINTER:
      break;
    default:
      return httpAddrLocalhost(httpGetAddress(papplClientGetHTTP(client))) ? HTTP_STATUS_CONTINUE
                                                                           : HTTP_STATUS_FORBIDDEN;
  }
  if (ipp_t* request = papplClientGetRequest(client)) {
    while (ipp_attribute_t* forged = ippFindAttribute(request, kIdentityMark, IPP_TAG_ZERO)) {
      ippDeleteAttribute(request, forged);
    }
  }
  pappl_printer_t* printer = papplClientGetPrinter(client);
  const std::string queue = printer ? papplPrinterGetName(printer) : "";
  if (ctx.token_queue && queue == kTokenQueue) {
    const auto token = token_of(client);
    if (token.empty()) return HTTP_STATUS_FORBIDDEN;
    atdesk::ippd::IdentifyRequest r;
    r.kind = "token";
    r.token = token;
    auto user = atdesk::ippd::identify(ctx.socket, r, std::chrono::seconds(30));
    if (!user) {
      papplLogClient(client, PAPPL_LOGLEVEL_WARN, "personal queue URL refused: %s",
                     user.error().message.c_str());
      return user.error().code == atdesk::Errc::permission_denied ? HTTP_STATUS_FORBIDDEN
                                                                  : HTTP_STATUS_SERVER_ERROR;
    }
    mark_request(client, ctx, {"token", *user, {}, {}});
    return HTTP_STATUS_CONTINUE;
  }
  const char* authorization = httpGetField(papplClientGetHTTP(client), HTTP_FIELD_AUTHORIZATION);
  const bool has_credentials = authorization && *authorization;
  if (!ctx.sign_in || ctx.owners.contains(queue)) {
    // Names as sent (trusted per atdeskd's settings); the mark carries the client's address.
    mark_request(client, ctx, {"claimed", {}, {}, {}});
    return HTTP_STATUS_CONTINUE;
  }
  // Credentials are taken over TLS only, and asked for only there (a 401 on a plain connection
  // would invite a client to send its password in the clear).
  if (!papplClientIsEncrypted(client)) {
    if (has_credentials) {
      papplLogClient(client, PAPPL_LOGLEVEL_WARN,
                     "credentials on a connection without TLS refused (use ipps://)");
      return HTTP_STATUS_FORBIDDEN;
    }
    return HTTP_STATUS_UPGRADE_REQUIRED;
  }
  if (!has_credentials) return HTTP_STATUS_UNAUTHORIZED;
  const std::string_view value = authorization;
  if (!value.starts_with("Basic ")) return HTTP_STATUS_UNAUTHORIZED;
  const auto key = sha256_hex(value);
  std::optional<Identity> cached;
  {
    std::lock_guard lock(ctx.mutex);
    if (auto it = ctx.signed_in.find(key); it != ctx.signed_in.end()) {
      if (std::chrono::steady_clock::now() - it->second.at < kSignInCacheTime) {
        cached = it->second;
      } else {
        ctx.signed_in.erase(it);
      }
    }
  }
  if (cached) {
    mark_request(client, ctx, *cached);
    return HTTP_STATUS_CONTINUE;
  }
  char decoded[1024];
  int len = sizeof decoded - 1;
  auto encoded = value.substr(6);
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  httpDecode64_2(decoded, &len, std::string(encoded).c_str());
  const std::string pair(decoded, static_cast<std::size_t>(len));
  const auto colon = pair.find(':');
  if (colon == std::string::npos || colon == 0) return HTTP_STATUS_BAD_REQUEST;
  atdesk::ippd::IdentifyRequest r;
  r.kind = "basic";
  r.user = pair.substr(0, colon);
  r.password = pair.substr(colon + 1);
  {
    std::lock_guard lock(ctx.mutex);
    if (auto it = ctx.failures.find(r.user);
        it != ctx.failures.end() && std::chrono::steady_clock::now() < it->second.until) {
      papplLogClient(client, PAPPL_LOGLEVEL_WARN,
                     "sign-in refused: too many wrong passwords for this account name");
      return HTTP_STATUS_UNAUTHORIZED;
    }
  }
  auto user = atdesk::ippd::identify(ctx.socket, r, std::chrono::seconds(30));
  if (!user) {
    papplLogClient(client, PAPPL_LOGLEVEL_WARN, "sign-in refused: %s",
                   user.error().message.c_str());
    if (user.error().code != atdesk::Errc::permission_denied) return HTTP_STATUS_SERVER_ERROR;
    std::lock_guard lock(ctx.mutex);
    if (ctx.failures.size() > 10000) ctx.failures.clear();  // a flood of names: start over
    auto& f = ctx.failures[r.user];
    if (++f.count >= kMaxFailures) {
      f.lock = f.lock.count() == 0 ? kFirstLock : std::min(f.lock * 2, kLongestLock);
      f.until = std::chrono::steady_clock::now() + f.lock;
    }
    return HTTP_STATUS_UNAUTHORIZED;
  }
  Identity who{"basic", *user, {}, std::chrono::steady_clock::now()};
  {
    std::lock_guard lock(ctx.mutex);
    ctx.failures.erase(r.user);
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(ctx.signed_in,
                  [&](const auto& e) { return now - e.second.at >= kSignInCacheTime; });
    ctx.signed_in[key] = who;
  }
  mark_request(client, ctx, who);
  return HTTP_STATUS_CONTINUE;
}

bool status(pappl_printer_t* /*printer*/) {
  return true;
}

// Identify-Printer: atdesk has no panel or speaker; the message goes to the log (IPP Everywhere
// requires one of display, flash, sound or speak).
void identify(pappl_printer_t* printer, pappl_identify_actions_t /*actions*/, const char* message) {
  papplLogPrinter(printer, PAPPL_LOGLEVEL_INFO, "Identify-Printer: %s",
                  message ? message : "(no message)");
}

const char* const kMedia[] = {
    "iso_a4_210x297mm", "na_letter_8.5x11in",       "na_legal_8.5x14in",
    "iso_a5_148x210mm", "iso_a3_297x420mm",         "na_executive_7.25x10.5in",
    "iso_b5_176x250mm", "na_number-10_4.125x9.5in", "iso_dl_110x220mm"};

bool driver_callback(pappl_system_t* system, const char* driver_name, const char* /*device_uri*/,
                     const char* /*device_id*/, pappl_pr_driver_data_t* d, ipp_t** driver_attrs,
                     void* data) {
  if (!driver_name || std::strcmp(driver_name, kDriverName) != 0) {
    papplLog(system, PAPPL_LOGLEVEL_ERROR, "unknown driver '%s'", driver_name ? driver_name : "");
    return false;
  }
  d->extension = data;
  d->printfile_cb = printfile;
  d->rstartjob_cb = rstartjob;
  d->rstartpage_cb = rstartpage;
  d->rwriteline_cb = rwriteline;
  d->rendpage_cb = rendpage;
  d->rendjob_cb = rendjob;
  d->status_cb = status;
  d->identify_cb = identify;
  d->identify_default = PAPPL_IDENTIFY_ACTIONS_DISPLAY;
  d->identify_supported = PAPPL_IDENTIFY_ACTIONS_DISPLAY;
  d->format = "image/pwg-raster";
  papplCopyString(d->make_and_model, "atdesk held printing", sizeof d->make_and_model);
  d->kind = PAPPL_KIND_DOCUMENT;
  d->ppm = 60;
  d->ppm_color = 60;
  d->orient_default = IPP_ORIENT_PORTRAIT;
  d->quality_default = IPP_QUALITY_NORMAL;
  d->color_supported = static_cast<pappl_color_mode_t>(
      PAPPL_COLOR_MODE_AUTO | PAPPL_COLOR_MODE_COLOR | PAPPL_COLOR_MODE_MONOCHROME);
  d->color_default = PAPPL_COLOR_MODE_AUTO;
  d->raster_types = static_cast<pappl_raster_type_t>(
      PAPPL_PWG_RASTER_TYPE_BLACK_1 | PAPPL_PWG_RASTER_TYPE_SGRAY_8 | PAPPL_PWG_RASTER_TYPE_SRGB_8);
  d->num_resolution = 1;
  d->x_resolution[0] = d->y_resolution[0] = 300;
  d->x_default = d->y_default = 300;
  d->sides_supported = static_cast<pappl_sides_t>(
      PAPPL_SIDES_ONE_SIDED | PAPPL_SIDES_TWO_SIDED_LONG_EDGE | PAPPL_SIDES_TWO_SIDED_SHORT_EDGE);
  d->sides_default = PAPPL_SIDES_ONE_SIDED;
  d->duplex = PAPPL_DUPLEX_NORMAL;
  d->left_right = 423;  // 1/6 inch, as office printers
  d->bottom_top = 423;
  d->num_media = static_cast<int>(std::size(kMedia));
  for (int i = 0; i < d->num_media; ++i) d->media[i] = kMedia[i];
  d->num_source = 1;
  d->source[0] = "main";
  d->num_type = 1;
  d->type[0] = "stationery";
  // PAPPL validates the default and ready media in full: size, margins, source and type.
  const char* size_name = papplLocGetDefaultMediaSizeName();
  const pwg_media_t* pwg = pwgMediaForPWG(size_name);
  if (!pwg) pwg = pwgMediaForPWG("iso_a4_210x297mm");
  auto& m = d->media_default;
  papplCopyString(m.size_name, pwg->pwg, sizeof m.size_name);
  m.size_width = pwg->width;
  m.size_length = pwg->length;
  m.left_margin = m.right_margin = d->left_right;
  m.top_margin = m.bottom_margin = d->bottom_top;
  papplCopyString(m.source, "main", sizeof m.source);
  papplCopyString(m.type, "stationery", sizeof m.type);
  d->media_ready[0] = m;
  // Required by IPP Everywhere (PWG 5100.14) and not added by PAPPL 1.3.1; false because
  // atdesk-ippd has no preferred attributes to offer. overrides-supported, also required, is not
  // claimed: PAPPL 1.3.1 does not apply "overrides".
  if (!*driver_attrs) *driver_attrs = ippNew();
  ippAddBoolean(*driver_attrs, IPP_TAG_PRINTER, "preferred-attributes-supported", 0);
  return true;
}

// PAPPL logs every request's path (level info) and, at level debug, its printer-uri; a personal
// queue URL's path holds the person's token. With --token-queue, atdesk-ippd's stderr, where
// PAPPL logs, goes through a pipe that blanks the tokens out before the lines reach atdeskd's
// log. Lines are passed on whole; the rest at the end.
class TokenRedactor {
 public:
  TokenRedactor() = default;
  TokenRedactor(const TokenRedactor&) = delete;
  TokenRedactor& operator=(const TokenRedactor&) = delete;
  ~TokenRedactor() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);  // closes the pipe's last write end: the reader sees EOF
    if (thread_.joinable()) thread_.join();
    ::close(saved_);
  }

  bool start() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    saved_ = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (saved_ < 0 || ::dup2(fds[1], STDERR_FILENO) < 0) {
      ::close(fds[0]);
      ::close(fds[1]);
      if (saved_ >= 0) ::close(saved_);
      saved_ = -1;
      return false;
    }
    ::close(fds[1]);
    thread_ = std::thread([this, in = fds[0]] {
      std::string pending;
      char buf[4096];
      while (true) {
        const auto n = ::read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        pending.append(buf, static_cast<std::size_t>(n));
        const auto end = pending.rfind('\n');
        if (end == std::string::npos) continue;
        pass_on(redact(pending.substr(0, end + 1)));
        pending.erase(0, end + 1);
      }
      if (!pending.empty()) pass_on(redact(pending));
      ::close(in);
    });
    return true;
  }

  static std::string redact(std::string text) {
    const std::string prefix = std::string("/ipp/print/") + kTokenQueue + "/";
    for (auto at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
      const auto from = at + prefix.size();
      auto to = from;
      while (to < text.size() && std::isxdigit(static_cast<unsigned char>(text[to]))) ++to;
      text.replace(from, to - from, "(token)");
    }
    return text;
  }

 private:
  void pass_on(const std::string& text) const {
    for (std::size_t done = 0; done < text.size();) {
      const auto n = ::write(saved_, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }
  int saved_ = -1;
  std::thread thread_;
};

void log_to_stderr(const std::string& text) {
  std::cerr << "atdesk-ippd: " << text << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"atdesk-ippd: atdesk as an IPP Everywhere printer; hands each document to atdeskd"};
  Context ctx;
  std::string socket;
  std::string spool;
  std::string listen = "127.0.0.1";
  int port = 8632;
  std::vector<std::string> queues;
  std::vector<std::string> owner_specs;
  bool dnssd = false;
  std::string log_level = "info";
  std::string name = "atdesk";
  long long timeout_s = 120;
  std::uint64_t max_bytes = ctx.max_document_bytes;
  cli.add_option("--socket", socket, "atdeskd's hand-off socket")->required();
  cli.add_option("--spool", spool, "PAPPL's spool folder (made 0700)")->required();
  cli.add_option("--listen", listen, "address or host name to listen on ('*' for every address)");
  cli.add_option("--port", port, "TCP port")->check(CLI::Range(1, 65535));
  cli.add_option("--queue", queues, "a queue (printer) name; repeat for more")->required();
  cli.add_option("--owner", owner_specs,
                 "QUEUE=USER: every job on QUEUE belongs to USER (a personal queue)");
  cli.add_flag("--dnssd", dnssd, "announce the queues with DNS-SD (Avahi)");
  cli.add_option("--log-level", log_level, "debug, info, warn or error");
  cli.add_option("--name", name, "the system's name");
  cli.add_option("--handoff-timeout-s", timeout_s, "longest wait for atdeskd's answer")
      ->check(CLI::Range(1, 3600));
  cli.add_option("--max-document-bytes", max_bytes, "largest document handed to atdeskd");
  bool tls = false;
  std::string tls_dir;
  cli.add_flag("--tls", tls, "TLS (ipps://) on the port, beside plain IPP");
  cli.add_option("--tls-dir", tls_dir,
                 "folder of the TLS key and certificate (<host name>.key/.crt; a self-signed "
                 "pair is made there when missing)");
  cli.add_flag("--sign-in", ctx.sign_in,
               "queues other than personal ones require HTTP Basic over TLS, checked by atdeskd");
  cli.add_flag("--token-queue", ctx.token_queue,
               "personal queue URLs /ipp/print/u/<token>, checked by atdeskd");
  CLI11_PARSE(cli, argc, argv);
  TokenRedactor redactor;
  if (ctx.token_queue && !redactor.start()) {
    log_to_stderr(std::string("cannot filter the log for tokens: ") + std::strerror(errno));
    return 1;
  }
  if ((ctx.sign_in || ctx.token_queue) && !tls) {
    // PAPPL asks for TLS before any authorized operation from another host once an
    // authentication callback is set.
    log_to_stderr("--sign-in and --token-queue need --tls");
    return 2;
  }
  ctx.max_document_bytes = max_bytes;
  ctx.socket = socket;
  ctx.spool = spool;
  ctx.timeout = std::chrono::seconds(timeout_s);
  for (const auto& spec : owner_specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      log_to_stderr("--owner: expected QUEUE=USER, got \"" + spec + "\"");
      return 2;
    }
    ctx.owners[spec.substr(0, eq)] = spec.substr(eq + 1);
  }

  // PAPPL keeps documents here in plaintext until atdeskd has them: owner only.
  std::error_code ec;
  fs::create_directories(ctx.spool, ec);
  if (ec || ::chmod(ctx.spool.c_str(), 0700) != 0) {
    log_to_stderr(ctx.spool.string() + ": cannot create the spool folder with mode 0700");
    return 2;
  }
  const std::map<std::string, pappl_loglevel_t> levels = {{"debug", PAPPL_LOGLEVEL_DEBUG},
                                                          {"info", PAPPL_LOGLEVEL_INFO},
                                                          {"warn", PAPPL_LOGLEVEL_WARN},
                                                          {"error", PAPPL_LOGLEVEL_ERROR}};
  const auto level = levels.find(log_level);
  if (level == levels.end()) {
    log_to_stderr("--log-level: expected debug, info, warn or error, got \"" + log_level + "\"");
    return 2;
  }

  const auto options = static_cast<pappl_soptions_t>(
      PAPPL_SOPTIONS_MULTI_QUEUE | (tls ? PAPPL_SOPTIONS_NONE : PAPPL_SOPTIONS_NO_TLS));
  pappl_system_t* system = papplSystemCreate(options, name.c_str(), port, nullptr,
                                             ctx.spool.c_str(), "-", level->second, nullptr, false);
  if (!system) {
    log_to_stderr("cannot create the PAPPL system");
    return 1;
  }
  if (tls) {
    // PAPPL 1.3.1 points libcups at its default key folder; ours is a folder of atdesk's own.
    if (tls_dir.empty()) tls_dir = (ctx.spool / "tls").string();
    fs::create_directories(tls_dir, ec);
    if (ec || ::chmod(tls_dir.c_str(), 0700) != 0) {
      log_to_stderr(tls_dir + ": cannot create the TLS folder with mode 0700");
      papplSystemDelete(system);
      return 2;
    }
    char host[256];
    papplSystemGetHostName(system, host, sizeof host);
    if (!cupsSetServerCredentials(tls_dir.c_str(), host, 1)) {
      log_to_stderr(tls_dir + ": cannot use TLS credentials for " + host + ": " +
                    cupsLastErrorString());
      papplSystemDelete(system);
      return 2;
    }
  }
  if (ctx.sign_in || ctx.token_queue) {
    papplSystemSetAuthCallback(system, "Basic", authenticate, &ctx);
  }
  if (!dnssd) papplSystemSetDNSSDName(system, nullptr);
  if (!papplSystemAddListeners(system, listen == "*" ? nullptr : listen.c_str())) {
    log_to_stderr("cannot listen on " + listen + " port " + std::to_string(port) + ": " +
                  std::strerror(errno));
    papplSystemDelete(system);
    return 1;
  }
  pappl_pr_driver_t drivers[] = {{kDriverName, "atdesk held printing", nullptr, nullptr}};
  papplSystemSetPrinterDrivers(system, 1, drivers, nullptr, nullptr, driver_callback, &ctx);
  papplSystemAddMIMEFilter(system, "application/pdf", "image/pwg-raster", pdf_filter, &ctx);
  if (ctx.token_queue) {
    if (std::find(queues.begin(), queues.end(), kTokenQueue) != queues.end()) {
      log_to_stderr(std::string("--queue ") + kTokenQueue +
                    ": the name of the personal queue URLs");
      papplSystemDelete(system);
      return 2;
    }
    queues.push_back(kTokenQueue);
  }
  for (const auto& queue : queues) {
    pappl_printer_t* printer =
        papplPrinterCreate(system, 0, queue.c_str(), kDriverName,
                           "MFG:atdesk;MDL:atdesk;CMD:PDF,PWGRaster;", "file:///dev/null");
    if (!printer) {
      log_to_stderr("cannot create the queue \"" + queue + "\": " + std::strerror(errno));
      papplSystemDelete(system);
      return 1;
    }
    if (!dnssd) papplPrinterSetDNSSDName(printer, nullptr);
    papplPrinterSetMaxPreservedJobs(printer, 0);
  }
  log_to_stderr("listening on " + listen + " port " + std::to_string(port) + ", " +
                std::to_string(queues.size()) + " queue(s), DNS-SD " + (dnssd ? "on" : "off") +
                ", TLS " + (tls ? "on" : "off") + (ctx.sign_in ? ", sign-in required" : "") +
                (ctx.token_queue ? ", personal queue URLs" : ""));
  papplSystemRun(system);  // until SIGTERM or SIGINT
  papplSystemDelete(system);
  return 0;
}
