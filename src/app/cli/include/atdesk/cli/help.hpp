// The CLI's own words in the language of the output: which language a command line asks for,
// CLI11's help labels and headings from the message catalogues (data/messages/, keys
// cli_help_*), and CLI11's parse errors with a lead in that language.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "atdesk/core/language.hpp"

namespace CLI {
class App;
class ParseError;
}  // namespace CLI

namespace atdesk::cli {

// The language the help and the messages are written in, known before the CLI11 app is built:
// `--lang xx` or `--lang=xx` among the words (the last one), else `locale` (the value of LC_ALL,
// LC_MESSAGES or LANG: ja* is Japanese), else English. An unknown --lang value is left for CLI11
// to refuse, and the locale decides the language it is refused in.
Language choose_language(const std::vector<std::string>& args,
                         const std::optional<std::string>& locale);

// POSIX: LC_ALL overrides LC_MESSAGES, which overrides LANG; an empty one counts as unset.
std::optional<std::string> locale_from_environment();

// Gives `app` and all its subcommands CLI11 labels ("Usage", "OPTIONS", "REQUIRED", "TEXT", ...),
// group headings ("Options", "Subcommands") and the --help flag's text in `language`. Call it
// once every option and subcommand is added. English leaves CLI11's own words.
void localize(CLI::App& app, Language language);

// What `program` prints for a CLI11 parse error: the help (to `out`, returns 0) or the error (to
// `err`, returns the usage exit code). In Japanese the error is CLI11's first line after a
// Japanese lead, since CLI11's messages are not translated.
int report_parse_error(const CLI::App& app, const CLI::ParseError& error, Language language,
                       std::string_view program, std::ostream& out, std::ostream& err);

// "<program>: <lead><detail>\n<Run with --help ...>\n" in `language`.
std::string usage_error_text(std::string_view program, Language language,
                             const std::string& detail);

}  // namespace atdesk::cli
