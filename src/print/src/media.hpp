// Which medium a document is printed on: the printer's `media-ready` (what is loaded) or else
// `media-supported` (what it can take), PWG 5101.1 self-describing names, against the size of
// the document's pages. Pure (sizes from libcups' PWG media table); private to atdesk::print.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "atdesk/core/error.hpp"

namespace atdesk::print::detail {

// Sizes in hundredths of millimetres, as PWG 5101.1 and IPP media-col use.
struct MediaSize {
  std::string keyword;  // "iso_a4_210x297mm"; empty for the document's own page
  int width = 0;
  int length = 0;
};

struct MediaChoice {
  MediaSize media;
  double scale = 1.0;  // how much the page is scaled to fit the medium (1: as it is)
  bool from_ready = false;
};

// A page is scaled to fit its medium down to this much (an A4 page on Letter: 0.94) or up to
// kMaxMediaScale (an A4 page on A3: 1.41); anything further is refused rather than printed
// unreadably small (a fax on a 4x6 label) or poster-sized.
constexpr double kMinMediaScale = 0.85;
constexpr double kMaxMediaScale = 1.5;

// The sizes of PWG media keywords; names it cannot size (custom_ and roll_ min/max ranges,
// vendor names without dimensions) are left out.
std::vector<MediaSize> media_sizes(const std::vector<std::string>& keywords);

// "210x297mm" for messages.
std::string size_text(const MediaSize& size);

// The medium for a page of `page` size: from media-ready when the printer lists any, else from
// media-supported. The same size (within 2 mm, either orientation) first; else the medium that
// needs the least shrinking down to kMinMediaScale; else the smallest larger one up to
// kMaxMediaScale. Errc::unsupported when nothing fits, naming `who`, the page size and the
// printer's sizes. An empty result (no error) when the printer lists no media at all.
Result<std::optional<MediaChoice>> choose_media(const MediaSize& page,
                                                const std::vector<std::string>& ready,
                                                const std::vector<std::string>& supported,
                                                const std::string& who);

}  // namespace atdesk::print::detail
