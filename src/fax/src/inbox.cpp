#include "atdesk/fax/inbox.hpp"

#include <fcntl.h>
#include <unistd.h>

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

Result<std::string> read_file(const fs::path& file, std::uint64_t max_bytes) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) return fail(Errc::io, file.string() + ": " + ec.message());
  if (size > max_bytes) {
    return fail(Errc::limit_exceeded, file.string() + ": " + std::to_string(size) +
                                          " bytes exceeds the limit of " +
                                          std::to_string(max_bytes));
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(Errc::io, file.string() + ": cannot open");
  std::string data(size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (!in) return fail(Errc::io, file.string() + ": short read");
  return data;
}

}  // namespace

InboxWatcher::InboxWatcher(Settings settings, Submit submit)
    : settings_(std::move(settings)), submit_(std::move(submit)) {}

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
    if (!document.empty()) (void)move_into(document, rejected);
    (void)move_into(meta, rejected);
    return Outcome::rejected;
  };

  if (document.empty()) {
    return reject(meta.filename().string() + ": no document next to it (expected " +
                  meta.stem().string() + ".tif, .tiff or .pdf)");
  }
  auto meta_text = read_file(meta, 64 * 1024);
  if (!meta_text) return reject(meta_text.error().message);
  auto j = nlohmann::json::parse(*meta_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return reject(meta.filename().string() +
                  ": expected a JSON object like {\"sender\": \"+81...\"}");
  }
  auto text_field = [&](const char* key) -> std::optional<std::string> {
    if (!j.contains(key)) return std::string{};
    if (!j[key].is_string()) return std::nullopt;
    return j[key].get<std::string>();
  };
  auto sender_text = text_field("sender");
  auto called_text = text_field("called");
  auto tsi = text_field("tsi");
  auto name = text_field("name");
  if (!sender_text || !called_text || !tsi || !name) {
    return reject(meta.filename().string() +
                  ": sender, called, tsi and name must be strings when present");
  }
  // A fax without caller ID is still a fax: with no sender (or only a TSI that is not a number)
  // the job has an unknown sender, which the recipient table's `others` rule routes.
  Result<Sender> sender = Sender{};
  if (!sender_text->empty()) {
    sender = parse_sender(*sender_text, settings_.numbers, meta.filename().string() + ": sender");
    if (!sender) return reject(sender.error().message);
  } else if (auto from_tsi = FaxNumber::parse(*tsi, settings_.numbers); from_tsi) {
    sender->fax = *from_tsi;
  }
  sender->tsi = *tsi;
  if (!called_text->empty()) {
    auto called = FaxNumber::parse(*called_text, settings_.numbers);
    if (!called) return reject(meta.filename().string() + ": called: " + called.error().message);
    sender->called = *called;
  }
  auto data = read_file(document, settings_.max_file_bytes);
  if (!data) {
    if (data.error().code == Errc::limit_exceeded) return reject(data.error().message);
    spdlog::warn("inbox: {} deferred: {}", document.filename().string(), data.error().message);
    return Outcome::deferred;
  }
  engine::IncomingDocument doc;
  const auto* bytes = reinterpret_cast<const std::byte*>(data->data());
  doc.data.assign(bytes, bytes + data->size());
  doc.name = name->empty() ? document.filename().string() : *name;
  doc.sender = std::move(*sender);
  doc.source = JobSource::inbox;
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
