#include "atdesk/cli/http.hpp"

#include <algorithm>
#include <cctype>

namespace atdesk::cli {
namespace {

bool is_unreserved(unsigned char c) {
  return std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~';
}

std::string encode(std::string_view text, std::string_view also_keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c) || also_keep.find(ch) != std::string_view::npos) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0F]);
    }
  }
  return out;
}

}  // namespace

std::string percent_encode_segment(std::string_view text) {
  return encode(text, "");
}

std::string percent_encode_query_value(std::string_view text) {
  return encode(text, ",:@/");
}

std::string Request::target() const {
  std::string out = path;
  char separator = '?';
  for (const auto& [key, value] : query) {
    out += separator;
    out += percent_encode_query_value(key);
    out += '=';
    out += percent_encode_query_value(value);
    separator = '&';
  }
  return out;
}

std::string join_url(std::string_view base, std::string_view target) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  return std::string(base) + std::string(target);
}

std::string content_type_for(const std::filesystem::path& file) {
  std::string ext = file.extension().string();
  std::ranges::transform(ext, ext.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".pdf") return "application/pdf";
  if (ext == ".tif" || ext == ".tiff") return "image/tiff";
  return "application/octet-stream";
}

}  // namespace atdesk::cli
