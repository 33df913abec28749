#include "atdesk/fax/inbox.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>
#include <fstream>
#include <nlohmann/json.hpp>

namespace atdesk::fax {
namespace fs = std::filesystem;
namespace {

const char* const kDocumentExtensions[] = {".tif", ".tiff", ".pdf", ".TIF", ".TIFF", ".PDF"};

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Moves `file` into `dir` under a name that does not exist there yet; durable on return.
Result<fs::path> move_into(const fs::path& file, const fs::path& dir) {
  fs::path target = dir / file.filename();
  for (int i = 1; fs::exists(target); ++i) {
    target = dir / (file.stem().string() + "." + std::to_string(i) + file.extension().string());
  }
  std::error_code ec;
  fs::rename(file, target, ec);
  if (ec)
    return fail(Errc::io, file.string() + ": cannot move to " + dir.string() + ": " + ec.message());
  fsync_dir(dir);
  fsync_dir(file.parent_path());
  return target;
}

// "Permission denied (errno 13 EACCES; atdeskd runs as uid 105, gid 110)": what an admin needs
// to fix a file atdeskd may not read.
std::string errno_text(int err) {
  const char* name = ::strerrorname_np(err);  // nullptr for an unknown errno
  std::string out = std::strerror(err);
  out += " (errno " + std::to_string(err);
  if (name) out += std::string(" ") + name;
  if (err == EACCES || err == EPERM) {
    out += "; atdeskd runs as uid " + std::to_string(::geteuid()) + ", gid " +
           std::to_string(::getegid());
  }
  return out + ")";
}

Result<std::string> read_file(const fs::path& file, std::uint64_t max_bytes) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(Errc::io, file.string() + ": cannot open: " + errno_text(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(Errc::io, file.string() + ": " + errno_text(errno));
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_bytes) {
    return fail(Errc::limit_exceeded, file.string() + ": " + std::to_string(size) +
                                          " bytes exceeds the limit of " +
                                          std::to_string(max_bytes));
  }
  std::string data(size, '\0');
  std::size_t got = 0;
  while (got < size) {
    const auto n = ::read(fd, data.data() + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(Errc::io, file.string() + ": cannot read: " + errno_text(errno));
    if (n == 0) return fail(Errc::io, file.string() + ": short read");
    got += static_cast<std::size_t>(n);
  }
  return data;
}

}  // namespace

InboxWatcher::InboxWatcher(Settings settings, Submit submit, Audit audit)
    : settings_(std::move(settings)), submit_(std::move(submit)), audit_(std::move(audit)) {}

InboxWatcher::~InboxWatcher() {
  stop();
}

Result<void> InboxWatcher::start() {
  std::error_code ec;
  for (const auto& d : {settings_.dir, settings_.dir / "processed", settings_.dir / "rejected"}) {
    fs::create_directories(d, ec);
    if (ec) return fail(Errc::io, d.string() + ": cannot create the inbox folder: " + ec.message());
  }
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      scan_once();
      lock.lock();
      wake_.wait_for(lock, settings_.poll, [this] { return stopping_; });
    }
  });
  return {};
}

void InboxWatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

InboxWatcher::ScanResult InboxWatcher::scan_once() {
  ScanResult r;
  std::error_code ec;
  std::vector<fs::path> markers;
  for (const auto& entry : fs::directory_iterator(settings_.dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      markers.push_back(entry.path());
    }
  }
  std::sort(markers.begin(), markers.end());
  for (const auto& meta : markers) {
    switch (handle(meta)) {
      case Outcome::submitted:
        ++r.submitted;
        break;
      case Outcome::rejected:
        ++r.rejected;
        break;
      case Outcome::deferred:
        ++r.deferred;
        break;
      case Outcome::failed_reception:
        ++r.failed_receptions;
        break;
    }
  }
  return r;
}

InboxWatcher::Outcome InboxWatcher::handle(const fs::path& meta) {
  fs::path document;
  for (const char* ext : kDocumentExtensions) {
    auto candidate = meta;
    candidate.replace_extension(ext);
    if (fs::exists(candidate)) {
      document = candidate;
      break;
    }
  }
  auto reject = [&](const std::string& reason) {
    spdlog::warn("inbox: rejected {}: {}", meta.filename().string(), reason);
    const auto rejected = settings_.dir / "rejected";
    auto reason_file = rejected / (meta.stem().string() + ".reason.txt");
    {
      std::ofstream out(reason_file, std::ios::trunc);
      out << reason << "\n";
    }
    for (const auto& file : {document, meta}) {
      if (file.empty()) continue;
      if (auto moved = move_into(file, rejected); !moved) {
        spdlog::error("inbox: {}", moved.error().message);
      }
    }
    if (audit_) {
      // The pair is in rejected/ with its reason whether or not the audit log takes the entry.
      (void)audit_("inbox.rejected", meta.filename().string(), reason);
    }
    return Outcome::rejected;
  };

  auto meta_text = read_file(meta, 64 * 1024);
  if (!meta_text) return reject(meta_text.error().message);
  auto j = nlohmann::json::parse(*meta_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return reject(meta.filename().string() +
                  ": expected a JSON object like {\"sender\": \"+81...\"}");
  }
  auto text_field = [&](const char* key) -> std::optional<std::string> {
    if (!j.contains(key) || j[key].is_null()) return std::string{};
    if (!j[key].is_string()) return std::nullopt;
    return j[key].get<std::string>();
  };
  auto flag_field = [&](const char* key) -> std::optional<bool> {
    if (!j.contains(key) || j[key].is_null()) return false;
    if (!j[key].is_boolean()) return std::nullopt;
    return j[key].get<bool>();
  };
  auto sender_text = text_field("sender");
  auto called_text = text_field("called");
  auto tsi = text_field("tsi");
  auto name = text_field("name");
  auto caller_name = text_field("caller_name");
  auto source_text = text_field("source");
  auto error_text = text_field("error");
  auto incomplete = flag_field("incomplete");
  auto failed_reception = flag_field("failed_reception");
  if (!sender_text || !called_text || !tsi || !name || !caller_name || !source_text ||
      !error_text) {
    return reject(meta.filename().string() +
                  ": sender, called, tsi, name, caller_name, source and error must be strings "
                  "when present");
  }
  if (!incomplete || !failed_reception) {
    return reject(meta.filename().string() +
                  ": incomplete and failed_reception must be true or false when present");
  }
  JobSource source = JobSource::inbox;
  if (*source_text == "hylafax") {
    source = JobSource::hylafax;
  } else if (!source_text->empty() && *source_text != "inbox") {
    return reject(meta.filename().string() + ": source: expected \"inbox\" or \"hylafax\", got \"" +
                  *source_text + "\"");
  }

  // A fax is never refused for its metadata: what cannot be read as a number leaves the sender
  // unknown (the recipient table's `others` rule decides) and is noted in the job's history.
  std::vector<std::string> notes;
  Sender sender = fax_sender("", *tsi, settings_.numbers);
  if (!sender_text->empty()) {
    if (is_withheld_caller_id(*sender_text)) {
      notes.push_back("caller ID withheld (\"" + *sender_text + "\")");
    } else if (auto parsed = parse_sender(*sender_text, settings_.numbers,
                                          meta.filename().string() + ": sender")) {
      const auto tsi_kept = sender.tsi;
      sender = std::move(*parsed);
      sender.tsi = tsi_kept;
    } else {
      sender = fax_sender(*sender_text, *tsi, settings_.numbers);
      notes.push_back(parsed.error().message + ": the sender is unknown");
    }
  }
  if (!called_text->empty() && !is_withheld_caller_id(*called_text)) {
    if (auto called = FaxNumber::parse(*called_text, settings_.numbers)) {
      sender.called = *called;
    } else {
      notes.push_back("called number not used: " + called.error().message);
    }
  }
  if (!caller_name->empty() && !is_withheld_caller_id(*caller_name)) {
    notes.push_back("caller name \"" + *caller_name + "\"");
  }
  if (!error_text->empty()) notes.push_back("fax server: " + *error_text);
  std::string note;
  for (const auto& n : notes) note += (note.empty() ? "" : "; ") + n;

  if (*failed_reception) {
    // A call that brought no page: nothing to print, but someone must be able to see it.
    std::string subject = sender.fax            ? "caller " + sender.fax->display()
                          : !sender.tsi.empty() ? "TSI " + sender.tsi
                                                : "unknown caller";
    std::string detail = "fax call";
    if (!name->empty()) detail += " (" + *name + ")";
    if (sender.called) detail += " to " + sender.called->display();
    detail += ": no page received";
    if (!note.empty()) detail += "; " + note;
    if (audit_) {
      if (auto ok = audit_("fax.failed_reception", subject, detail); !ok) {
        spdlog::warn("inbox: {} deferred: audit log: {}", meta.filename().string(),
                     ok.error().message);
        return Outcome::deferred;
      }
    }
    spdlog::warn("inbox: failed reception from {}: {}", subject, detail);
    for (const auto& file : {document, meta}) {
      if (file.empty()) continue;
      if (auto moved = move_into(file, settings_.dir / "processed"); !moved) {
        spdlog::error("inbox: {}", moved.error().message);
      }
    }
    return Outcome::failed_reception;
  }
  if (document.empty()) {
    return reject(meta.filename().string() + ": no document next to it (expected " +
                  meta.stem().string() + ".tif, .tiff or .pdf)");
  }
  auto data = read_file(document, settings_.max_file_bytes);
  if (!data) {
    if (data.error().code == Errc::limit_exceeded) return reject(data.error().message);
    spdlog::warn("inbox: {} deferred: {}", document.filename().string(), data.error().message);
    return Outcome::deferred;
  }
  IncomingDocument doc;
  const auto* bytes = reinterpret_cast<const std::byte*>(data->data());
  doc.data.assign(bytes, bytes + data->size());
  doc.name = name->empty() ? document.filename().string() : *name;
  doc.sender = std::move(sender);
  doc.source = source;
  doc.incomplete = *incomplete;
  doc.note = std::move(note);
  auto job = submit_(std::move(doc));
  if (!job) {
    const auto code = job.error().code;
    if (code == Errc::io || code == Errc::unavailable || code == Errc::internal ||
        code == Errc::no_space) {
      spdlog::warn("inbox: {} deferred: {}", document.filename().string(), job.error().message);
      return Outcome::deferred;
    }
    return reject(job.error().message);
  }
  spdlog::info("inbox: {} stored as job {}", document.filename().string(), job->id.short_id());
  const auto processed = settings_.dir / "processed";
  (void)move_into(document, processed);
  (void)move_into(meta, processed);
  return Outcome::submitted;
}

}  // namespace atdesk::fax
