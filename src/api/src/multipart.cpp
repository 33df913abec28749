// The strict multipart/form-data parser. Everything from outside that ends up in an error
// message is quoted with control characters replaced, so a hostile body cannot forge log lines.
#include "atdesk/api/multipart.hpp"
#include "atdesk/core/text.hpp"

#include <algorithm>
#include <functional>

namespace atdesk::api {
namespace {

constexpr std::size_t kMaxBoundary = 70;

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 7230 tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

// RFC 2046 bchars (space allowed, but not last).
bool is_bchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

std::unexpected<Error> malformed(std::string message) {
  return fail(Errc::invalid_argument, "multipart body: " + std::move(message));
}

// A parameter list after a media type or disposition type: *( OWS ";" OWS name "=" value ),
// value a token or a quoted-string. Names are lowercased. `where` prefixes error messages.
struct Parameter {
  std::string name;
  std::string value;
};

Result<std::vector<Parameter>> parse_parameters(std::string_view text, const std::string& where) {
  std::vector<Parameter> out;
  std::size_t i = 0;
  const auto skip_ows = [&] {
    while (i < text.size() && is_ows(text[i])) ++i;
  };
  while (true) {
    skip_ows();
    if (i == text.size()) return out;
    if (text[i] != ';') {
      return fail(Errc::invalid_argument, where + ": expected ';' before a parameter");
    }
    ++i;
    skip_ows();
    const auto name_start = i;
    while (i < text.size() && is_tchar(text[i])) ++i;
    const auto name = text.substr(name_start, i - name_start);
    if (name.empty()) {
      return fail(Errc::invalid_argument, where + ": expected a parameter name after ';'");
    }
    if (i == text.size() || text[i] != '=') {
      return fail(Errc::invalid_argument, where + ": expected '=' after parameter " + quote(name));
    }
    ++i;
    std::string value;
    if (i < text.size() && text[i] == '"') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '"') {
          closed = true;
          ++i;
          break;
        }
        if (c == '\\') {
          if (i + 1 == text.size()) break;
          ++i;
        }
        const auto v = static_cast<unsigned char>(text[i]);
        if ((v < 0x20 && v != '\t') || v == 0x7f) {
          return fail(Errc::invalid_argument,
                      where + ": control character in the value of " + quote(name));
        }
        value += text[i];
        ++i;
      }
      if (!closed) {
        return fail(Errc::invalid_argument,
                    where + ": unterminated quoted value of " + quote(name));
      }
    } else {
      const auto value_start = i;
      while (i < text.size() && is_tchar(text[i])) ++i;
      value = std::string(text.substr(value_start, i - value_start));
      if (value.empty()) {
        return fail(Errc::invalid_argument,
                    where + ": expected a token or a quoted string as the value of " + quote(name));
      }
    }
    std::string lowered(name);
    std::transform(lowered.begin(), lowered.end(), lowered.begin(), lower);
    if (std::any_of(out.begin(), out.end(),
                    [&](const Parameter& p) { return p.name == lowered; })) {
      return fail(Errc::invalid_argument, where + ": parameter " + quote(name) + " appears twice");
    }
    out.push_back(Parameter{std::move(lowered), std::move(value)});
  }
}

// Content-Disposition of a form-data part: `form-data; name="..."[; filename="..."]`.
Result<void> read_disposition(std::string_view value, const std::string& where, FormPart& part) {
  const auto semi = value.find(';');
  const auto type = trim(value.substr(0, semi));
  if (!iequals(type, "form-data")) {
    return fail(Errc::invalid_argument,
                where + ": Content-Disposition: expected form-data, got " + quote(type));
  }
  auto params =
      parse_parameters(semi == std::string_view::npos ? std::string_view{} : value.substr(semi),
                       where + ": Content-Disposition");
  if (!params) return fail(params.error());
  bool named = false;
  for (auto& p : *params) {
    if (p.name == "name") {
      part.name = std::move(p.value);
      named = true;
    } else if (p.name == "filename") {
      part.filename = std::move(p.value);
    } else if (p.name == "filename*") {
      // RFC 7578 4.2: senders must not use it; ignored when present.
    } else {
      return fail(Errc::invalid_argument,
                  where + ": Content-Disposition: unexpected parameter " + quote(p.name));
    }
  }
  if (!named || part.name.empty()) {
    return fail(Errc::invalid_argument,
                where + ": Content-Disposition: expected a non-empty name parameter");
  }
  return {};
}

// The header block of one part (without its final empty line): lines separated by CRLF.
Result<void> read_headers(std::string_view block, const std::string& where, FormPart& part) {
  bool disposition = false;
  bool content_type = false;
  bool encoding = false;
  while (!block.empty()) {
    const auto eol = block.find("\r\n");
    const auto line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view{} : block.substr(eol + 2);
    if (line.find_first_of("\r\n") != std::string_view::npos) {
      return fail(Errc::invalid_argument, where + ": bare CR or LF in a header line");
    }
    if (line.empty()) {
      return fail(Errc::invalid_argument, where + ": empty header line");
    }
    if (is_ows(line.front())) {
      return fail(Errc::invalid_argument, where + ": folded header lines are not allowed");
    }
    const auto colon = line.find(':');
    const auto name = line.substr(0, colon);
    if (colon == std::string_view::npos || !is_token(name)) {
      return fail(Errc::invalid_argument,
                  where + ": expected a header line 'Name: value', got " + quote(line));
    }
    const auto value = trim(line.substr(colon + 1));
    if (std::any_of(value.begin(), value.end(), [](char ch) {
          const auto c = static_cast<unsigned char>(ch);
          return (c < 0x20 && c != '\t') || c == 0x7f;
        })) {
      return fail(Errc::invalid_argument, where + ": control character in header " + quote(name));
    }
    if (iequals(name, "Content-Disposition")) {
      if (disposition) {
        return fail(Errc::invalid_argument, where + ": Content-Disposition appears twice");
      }
      disposition = true;
      if (auto ok = read_disposition(value, where, part); !ok) return ok;
    } else if (iequals(name, "Content-Type")) {
      if (content_type) {
        return fail(Errc::invalid_argument, where + ": Content-Type appears twice");
      }
      content_type = true;
      part.content_type = std::string(value);
    } else if (iequals(name, "Content-Transfer-Encoding")) {
      if (encoding) {
        return fail(Errc::invalid_argument, where + ": Content-Transfer-Encoding appears twice");
      }
      encoding = true;
      if (!iequals(value, "binary") && !iequals(value, "8bit") && !iequals(value, "7bit")) {
        return fail(Errc::unsupported, where + ": Content-Transfer-Encoding " + quote(value) +
                                           " is not supported (expected binary, 8bit or 7bit)");
      }
    }
    // Other header fields are allowed and ignored.
  }
  if (!disposition) {
    return fail(Errc::invalid_argument, where + ": expected a Content-Disposition header");
  }
  return {};
}

std::string describe_part(std::size_t index, const FormPart* part) {
  std::string s = "part " + std::to_string(index + 1);
  if (part && !part->name.empty()) s += " (" + quote(part->name) + ")";
  return s;
}

}  // namespace

Result<std::string> multipart_boundary(std::string_view content_type) {
  const auto semi = content_type.find(';');
  const auto media = trim(content_type.substr(0, semi));
  if (!iequals(media, "multipart/form-data")) {
    return fail(Errc::unsupported,
                "Content-Type: expected multipart/form-data, got " + quote(media));
  }
  auto params = parse_parameters(
      semi == std::string_view::npos ? std::string_view{} : content_type.substr(semi),
      "Content-Type");
  if (!params) return fail(params.error());
  const auto it = std::find_if(params->begin(), params->end(),
                               [](const Parameter& p) { return p.name == "boundary"; });
  if (it == params->end()) {
    return fail(Errc::invalid_argument, "Content-Type: expected a boundary parameter");
  }
  const auto& b = it->value;
  if (b.empty() || b.size() > kMaxBoundary || !std::all_of(b.begin(), b.end(), is_bchar) ||
      b.back() == ' ') {
    return fail(Errc::invalid_argument,
                "Content-Type: boundary: expected 1-70 characters of letters, digits and "
                "'()+_,-./:=? (not ending in a space), got " +
                    quote(b));
  }
  return b;
}

Result<std::vector<FormPart>> parse_multipart(std::string_view body, std::string_view boundary,
                                              const MultipartLimits& limits) {
  if (boundary.empty() || boundary.size() > kMaxBoundary) {
    return malformed("expected a boundary of 1-70 characters");
  }
  const std::string first = "--" + std::string(boundary);
  const std::string delimiter = "\r\n--" + std::string(boundary);
  const std::boyer_moore_horspool_searcher find_delimiter(delimiter.begin(), delimiter.end());

  if (!body.starts_with(first)) {
    return malformed("expected the body to start with --" + quote(boundary, kMaxBoundary));
  }
  std::vector<FormPart> parts;
  std::size_t pos = first.size();
  while (true) {
    // At the end of a delimiter: "--" closes the body; otherwise padding and CRLF start a part.
    if (body.substr(pos).starts_with("--")) {
      pos += 2;
      while (pos < body.size() && is_ows(body[pos])) ++pos;
      const auto rest = body.substr(pos);
      if (!rest.empty() && rest != "\r\n") {
        return malformed("unexpected data after the closing boundary");
      }
      return parts;
    }
    const auto index = parts.size();
    while (pos < body.size() && is_ows(body[pos])) ++pos;
    if (!body.substr(pos).starts_with("\r\n")) {
      if (pos == body.size()) {
        return malformed("truncated after the boundary of " + describe_part(index, nullptr));
      }
      return malformed("expected CRLF after the boundary of " + describe_part(index, nullptr) +
                       " (is the boundary text inside a part?)");
    }
    pos += 2;
    if (index == limits.max_parts) {
      return fail(Errc::limit_exceeded,
                  "multipart body: more than " + std::to_string(limits.max_parts) + " parts");
    }

    FormPart part;
    const auto where = "multipart body: " + describe_part(index, nullptr);
    std::string_view headers;
    std::size_t data_start = 0;
    if (body.substr(pos).starts_with("\r\n")) {
      data_start = pos + 2;  // no header lines at all
    } else {
      const auto window = body.substr(pos, limits.max_header_bytes + 4);
      const auto end = window.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        if (body.size() - pos > limits.max_header_bytes + 3) {
          return fail(Errc::limit_exceeded, where + ": header block larger than " +
                                                std::to_string(limits.max_header_bytes) + " bytes");
        }
        return fail(Errc::invalid_argument,
                    where + ": truncated header block (expected an empty line after it)");
      }
      if (end > limits.max_header_bytes) {
        return fail(Errc::limit_exceeded, where + ": header block larger than " +
                                              std::to_string(limits.max_header_bytes) + " bytes");
      }
      headers = window.substr(0, end);
      data_start = pos + end + 4;
    }
    if (auto ok = read_headers(headers, where, part); !ok) return fail(ok.error());

    const auto it = std::search(body.begin() + static_cast<std::ptrdiff_t>(data_start), body.end(),
                                find_delimiter);
    if (it == body.end()) {
      return malformed(describe_part(index, &part) + ": truncated (no boundary after its content)");
    }
    const auto data_end = static_cast<std::size_t>(it - body.begin());
    part.data = body.substr(data_start, data_end - data_start);
    const auto limit = part.filename ? limits.max_part_bytes : limits.max_field_bytes;
    if (part.data.size() > limit) {
      return fail(Errc::limit_exceeded, "multipart body: " + describe_part(index, &part) +
                                            " is larger than " + std::to_string(limit) + " bytes");
    }
    parts.push_back(std::move(part));
    pos = data_end + delimiter.size();
  }
}

Result<std::vector<FormPart>> parse_form_data(std::string_view content_type, std::string_view body,
                                              const MultipartLimits& limits) {
  auto boundary = multipart_boundary(content_type);
  if (!boundary) return fail(boundary.error());
  return parse_multipart(body, *boundary, limits);
}

}  // namespace atdesk::api
