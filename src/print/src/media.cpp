#include "media.hpp"

#include <cups/cups.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>

namespace atdesk::print::detail {
namespace {

constexpr int kSameSizeTolerance = 200;  // 2 mm

// Portrait: width <= length. Printers list portrait sizes; a landscape page is rotated by the
// printer (and by the raster renderer here).
MediaSize portrait(MediaSize s) {
  if (s.width > s.length) std::swap(s.width, s.length);
  return s;
}

double fit_scale(const MediaSize& page, const MediaSize& media) {
  return std::min(static_cast<double>(media.width) / page.width,
                  static_cast<double>(media.length) / page.length);
}

bool same_size(const MediaSize& a, const MediaSize& b) {
  return std::abs(a.width - b.width) <= kSameSizeTolerance &&
         std::abs(a.length - b.length) <= kSameSizeTolerance;
}

std::optional<MediaChoice> choose_from(const MediaSize& page, const std::vector<MediaSize>& media,
                                       bool from_ready) {
  const MediaSize p = portrait(page);
  for (const auto& m : media) {
    if (same_size(p, portrait(m))) return MediaChoice{m, 1.0, from_ready};
  }
  std::optional<MediaChoice> shrink;
  std::optional<MediaChoice> grow;
  for (const auto& m : media) {
    const double scale = fit_scale(p, portrait(m));
    if (scale < 1.0 && scale >= kMinMediaScale && (!shrink || scale > shrink->scale)) {
      shrink = MediaChoice{m, scale, from_ready};
    }
    if (scale >= 1.0 && scale <= kMaxMediaScale && (!grow || scale < grow->scale)) {
      grow = MediaChoice{m, scale, from_ready};
    }
  }
  return shrink ? shrink : grow;
}

std::string list(const std::vector<MediaSize>& media) {
  std::string out;
  for (const auto& m : media) {
    out += (out.empty() ? "" : ", ") + m.keyword + " (" + size_text(m) + ")";
  }
  return out.empty() ? "none" : out;
}

}  // namespace

std::vector<MediaSize> media_sizes(const std::vector<std::string>& keywords) {
  std::vector<MediaSize> out;
  for (const auto& k : keywords) {
    // PWG 5101.1 ranges (custom_min_/custom_max_, roll_min_/roll_max_) are not sizes.
    if (k.starts_with("custom_") || k.starts_with("roll_")) continue;
    const pwg_media_t* media = pwgMediaForPWG(k.c_str());
    if (media == nullptr || media->width <= 0 || media->length <= 0) continue;
    out.push_back({k, media->width, media->length});
  }
  return out;
}

std::string size_text(const MediaSize& size) {
  char text[64];
  std::snprintf(text, sizeof text, "%gx%gmm", size.width / 100.0, size.length / 100.0);
  return text;
}

Result<std::optional<MediaChoice>> choose_media(const MediaSize& page,
                                                const std::vector<std::string>& ready,
                                                const std::vector<std::string>& supported,
                                                const std::string& who) {
  if (page.width <= 0 || page.length <= 0) {
    return fail(Errc::invalid_argument, who + ": the document has no page size");
  }
  const auto ready_sizes = media_sizes(ready);
  const auto supported_sizes = media_sizes(supported);
  if (ready_sizes.empty() && supported_sizes.empty()) return std::optional<MediaChoice>{};
  if (!ready_sizes.empty()) {
    if (auto choice = choose_from(page, ready_sizes, true)) return choice;
  }
  if (ready_sizes.empty()) {
    if (auto choice = choose_from(page, supported_sizes, false)) return choice;
  }
  // Loaded media that do not fit are not replaced by what the printer could take: a person
  // would have to load it, so the refusal says what is loaded.
  return fail(Errc::unsupported,
              who + ": no medium fits the document's " + size_text(page) + " pages (scaled " +
                  std::to_string(static_cast<int>(kMinMediaScale * 100)) + "% to " +
                  std::to_string(static_cast<int>(kMaxMediaScale * 100)) + "%); " +
                  (ready_sizes.empty() ? "media-supported: " + list(supported_sizes)
                                       : "media-ready: " + list(ready_sizes)));
}

}  // namespace atdesk::print::detail
