#include "atdesk/cli/help.hpp"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <memory>
#include <sstream>

#include "atdesk/cli/exit_code.hpp"
#include "atdesk/core/messages.hpp"

namespace atdesk::cli {
namespace {

// Columns `text` (UTF-8) takes on a terminal. A character of three or four bytes (U+0800 and
// above) counts as wide: right for the kana, kanji and full-width forms of the catalogues, which
// is all the left column of the help holds besides ASCII.
std::size_t display_width(std::string_view text) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const std::size_t length = byte < 0x80 ? 1 : byte < 0xe0 ? 2 : byte < 0xf0 ? 3 : 4;
    width += length >= 3 ? 2 : 1;
    i += length;
  }
  return width;
}

// CLI11's formatter with its type names ("TEXT:FILE", "INT in [1 - 3000]") in the language.
// CLI11 2.1 looks the whole type name up as one label, so the parts are translated here.
class Formatter final : public CLI::Formatter {
 public:
  explicit Formatter(Language language) : language_(language) {}

  // As CLI11's format_help, but the left column is padded by the width on a terminal: CLI11
  // pads by bytes, and a Japanese type name takes 3 bytes and 2 columns per character.
  std::string make_option(const CLI::Option* opt, bool is_positional) const override {
    const std::string name = "  " + make_option_name(opt, is_positional) + make_option_opts(opt);
    const std::string description = make_option_desc(opt);
    const std::size_t width = display_width(name);
    std::string out = name;
    if (!description.empty()) {
      out += width >= column_width_ ? "\n" + std::string(column_width_, ' ')
                                    : std::string(column_width_ - width, ' ');
      for (char c : description) {
        out += c;
        if (c == '\n') out += std::string(column_width_, ' ');
      }
    }
    return out + "\n";
  }

  std::string make_option_opts(const CLI::Option* opt) const override {
    std::string text = CLI::Formatter::make_option_opts(opt);
    const std::string type = opt->get_type_name();
    if (opt->get_option_text().empty() && opt->get_type_size() != 0 && !type.empty()) {
      if (auto at = text.find(" " + type); at != std::string::npos) {
        text.replace(at + 1, type.size(), type_name(type));
      }
    }
    return text;
  }

 private:
  std::string type_name(const std::string& type) const {
    struct Word {
      std::string_view english;
      MessageKey key;
    };
    static constexpr Word kWords[] = {
        {"TEXT", MessageKey::cli_help_label_text},
        {"UINT", MessageKey::cli_help_label_uint},
        {"INT", MessageKey::cli_help_label_int},
        {"FLOAT", MessageKey::cli_help_label_float},
        {"FILE", MessageKey::cli_help_label_file},
        {"POSITIVE", MessageKey::cli_help_label_positive},
        {"in", MessageKey::cli_help_label_in},
    };
    // Word by word; separators (':', ' ') and values ("[1 - 3000]", "{en,ja}") stay.
    std::string out;
    std::string word;
    auto flush = [&] {
      std::string translated = word;
      for (const auto& w : kWords) {
        if (word == w.english) translated = message(language_, w.key);
      }
      out += translated;
      word.clear();
    };
    for (char c : type) {
      if (c == ':' || c == ' ') {
        flush();
        out += c;
      } else {
        word += c;
      }
    }
    flush();
    return out;
  }

  Language language_;
};

void localize_tree(CLI::App& app, const std::shared_ptr<CLI::Formatter>& formatter,
                   Language language) {
  app.formatter(formatter);
  const std::string options = message(language, MessageKey::cli_help_group_options);
  for (CLI::Option* option : app.get_options([](CLI::Option*) { return true; })) {
    if (option->get_group() == "Options") option->group(options);
  }
  if (CLI::Option* help = app.get_help_ptr()) {
    help->description(message(language, MessageKey::cli_help_help_flag));
  }
  const std::string subcommands = message(language, MessageKey::cli_help_group_subcommands);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_group() == "Subcommands") sub->group(subcommands);
    localize_tree(*sub, formatter, language);
  }
}

}  // namespace

Language choose_language(const std::vector<std::string>& args,
                         const std::optional<std::string>& locale) {
  std::optional<std::string> flag;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--") break;
    if (args[i] == "--lang" && i + 1 < args.size()) {
      flag = args[i + 1];
    } else if (args[i].starts_with("--lang=")) {
      flag = args[i].substr(7);
    }
  }
  if (flag) {
    if (auto language = parse_language(*flag)) return *language;
  }
  if (locale) return parse_language(*locale).value_or(Language::en);
  return Language::en;
}

std::optional<std::string> locale_from_environment() {
  for (const char* name : {"LC_ALL", "LC_MESSAGES", "LANG"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') return std::string(value);
  }
  return std::nullopt;
}

void localize(CLI::App& app, Language language) {
  if (language == Language::en) return;
  auto formatter = std::make_shared<Formatter>(language);
  const struct {
    const char* label;
    MessageKey key;
  } labels[] = {
      {"Usage", MessageKey::cli_help_label_usage},
      {"OPTIONS", MessageKey::cli_help_label_options},
      {"SUBCOMMAND", MessageKey::cli_help_label_subcommand},
      {"SUBCOMMANDS", MessageKey::cli_help_label_subcommands},
      {"Positionals", MessageKey::cli_help_label_positionals},
      {"REQUIRED", MessageKey::cli_help_label_required},
      {"Env", MessageKey::cli_help_label_env},
      {"Needs", MessageKey::cli_help_label_needs},
      {"Excludes", MessageKey::cli_help_label_excludes},
  };
  for (const auto& l : labels) formatter->label(l.label, message(language, l.key));
  localize_tree(app, formatter, language);
}

std::string usage_error_text(std::string_view program, Language language,
                             const std::string& detail) {
  return std::string(program) + ": " +
         message(language, MessageKey::cli_usage_refused, {{"error", detail}}) + "\n" +
         message(language, MessageKey::cli_usage_more) + "\n";
}

int report_parse_error(const CLI::App& app, const CLI::ParseError& error, Language language,
                       std::string_view program, std::ostream& out, std::ostream& err) {
  std::ostringstream cli_out;
  std::ostringstream cli_err;
  const int code = app.exit(error, cli_out, cli_err);
  out << cli_out.str();
  if (code == 0) return 0;
  if (language == Language::en) {
    err << cli_err.str();
  } else {
    const std::string text = cli_err.str();
    err << usage_error_text(program, language, text.substr(0, text.find('\n')));
  }
  return to_int(ExitCode::usage);
}

}  // namespace atdesk::cli
