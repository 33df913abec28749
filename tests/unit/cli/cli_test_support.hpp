// Helpers for the CLI tests: a scripted fake Transport, a one-call runner and temp files.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "atdesk/cli/http.hpp"
#include "atdesk/cli/invocation.hpp"
#include "atdesk/cli/run.hpp"

namespace atdesk::cli::testing {

// Records every request and answers from a script (200 "{}" once the script is used up).
class FakeTransport final : public Transport {
 public:
  Result<Response> send(const Request& request) override {
    requests.push_back(request);
    if (answers.empty()) return Response{200, "application/json", "{}"};
    Result<Response> next = answers.front();
    answers.pop_front();
    return next;
  }
  void answer(long status, std::string body, std::string type = "application/json") {
    answers.push_back(Response{status, std::move(type), std::move(body)});
  }
  void fail_with(Errc code, std::string message) {
    answers.push_back(std::unexpected(Error{code, std::move(message)}));
  }

  std::vector<Request> requests;
  std::deque<Result<Response>> answers;
};

struct Ran {
  int code = -1;
  std::string out;
  std::string err;
};

inline constexpr const char* kToken = "s3cret-token";

inline Environment token_env() {
  Environment env;
  env.token = kToken;
  return env;
}

// Parses `atdesk <words...>` and, when that gives an invocation, runs it against `transport`.
inline Ran run_words(const std::vector<std::string>& words, FakeTransport& transport,
                     const Environment& env = token_env()) {
  std::vector<std::string> args = {"atdesk"};
  args.insert(args.end(), words.begin(), words.end());
  ParseOutcome parsed = parse_command_line(args, env);
  if (!parsed.invocation) return Ran{parsed.exit_code, parsed.out, parsed.err};
  std::ostringstream out;
  std::ostringstream err;
  const int code = run(*parsed.invocation, transport, out, err);
  return Ran{code, out.str(), err.str()};
}

// A directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("atdesk-cli-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::filesystem::path write(const std::string& name, const std::string& content) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct Process {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs the atdesk executable (ATDESK_CLI_EXECUTABLE) with exactly `env` as its environment;
// stdout and stderr go to files in `dir`.
inline Process run_atdesk(const std::vector<std::string>& words,
                          const std::vector<std::string>& env, const TempDir& dir) {
  const auto out_file = dir.path() / "stdout";
  const auto err_file = dir.path() / "stderr";
  std::vector<std::string> args = {ATDESK_CLI_EXECUTABLE};
  args.insert(args.end(), words.begin(), words.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_copy = env;
  std::vector<char*> envp;
  for (auto& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  Process result;
  if (rc != 0) return result;
  int status = 0;
  if (::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) result.code = WEXITSTATUS(status);
  result.out = read_file(out_file);
  result.err = read_file(err_file);
  return result;
}

// A Job as docs/api.md describes it.
inline const char* kSampleJob = R"({
  "id": "01JDX4Q7R8S9T0V1W2X3Y4Z5A6", "short_id": "7", "state": "held", "source": "upload",
  "sender": {"display": "ACME Corp", "fax": "+81312345678", "tsi": "", "caller_id": "",
             "sip_uri": "", "email": "", "ip": "", "ipp_user": "", "called": "+81300000001"},
  "document_name": "order.pdf", "format": "pdf", "pages": 3, "incomplete": false,
  "size_bytes": 2048, "received_at": "2026-11-24T09:30:00.000Z",
  "updated_at": "2026-11-24T09:30:01.000Z", "recipients": ["user:local:alice", "user:local:bob"],
  "mode_table": "weekday", "printer": "office", "reason": "alice is busy", "print_attempts": 0
})";

}  // namespace atdesk::cli::testing
