// Prometheus text exposition format:
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
#include "atdesk/api/metrics.hpp"

#include <array>
#include <charconv>
#include <cmath>

namespace atdesk::api {
namespace {

constexpr std::array kJobStates = {JobState::received,  JobState::stored,   JobState::held,
                                   JobState::releasing, JobState::printing, JobState::printed,
                                   JobState::deleted,   JobState::expired,  JobState::failed};

// Label values escape backslash, double quote and line feed.
std::string label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(std::string_view name, std::string_view labels, const std::string& value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    sample(name, labels, std::to_string(value));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string one_label(std::string_view key, std::string_view value) {
  return std::string(key) + "=\"" + label(value) + "\"";
}

}  // namespace

std::string render_metrics(const engine::MetricsSnapshot& s,
                           const std::map<std::string, chat::ServiceState>& chat_services,
                           const std::vector<print::PrinterStatus>& printers) {
  Writer w;
  w.family("atdesk_jobs", "gauge", "Jobs in the store by state.");
  for (auto state : kJobStates) {
    std::int64_t count = 0;
    for (const auto& [st, n] : s.jobs_by_state) {
      if (st == state) count += n;
    }
    w.sample("atdesk_jobs", one_label("state", to_string(state)), std::to_string(count));
  }

  w.family("atdesk_decisions_total", "counter", "Print-or-hold decisions by action.");
  w.sample("atdesk_decisions_total", one_label("action", "print"), s.decisions_print);
  w.sample("atdesk_decisions_total", one_label("action", "hold"), s.decisions_hold);

  w.family("atdesk_presence_lookups_total", "counter", "Presence look-ups at chat services.");
  w.sample("atdesk_presence_lookups_total", one_label("result", "ok"), s.presence_lookups_ok);
  w.sample("atdesk_presence_lookups_total", one_label("result", "failed"),
           s.presence_lookups_failed);

  w.family("atdesk_prints_total", "counter", "Prints by result.");
  w.sample("atdesk_prints_total", one_label("result", "submitted"), s.prints_submitted);
  w.sample("atdesk_prints_total", one_label("result", "completed"), s.prints_completed);
  w.sample("atdesk_prints_total", one_label("result", "failed"), s.prints_failed);

  w.family("atdesk_print_retries_total", "counter", "Print submissions retried after a failure.");
  w.sample("atdesk_print_retries_total", "", s.print_retries);

  w.family("atdesk_notices_total", "counter",
           "Chat notices by result (failed attempts are sent again; dropped ones are not).");
  w.sample("atdesk_notices_total", one_label("result", "sent"), s.notices_sent);
  w.sample("atdesk_notices_total", one_label("result", "failed"), s.notices_failed);
  w.sample("atdesk_notices_total", one_label("result", "dropped"), s.notices_dropped);
  w.family("atdesk_notices_waiting", "gauge", "Chat notices waiting to be sent again.");
  w.sample("atdesk_notices_waiting", "", s.notices_waiting);

  w.family("atdesk_print_latency_seconds", "histogram",
           "Seconds from submission to the printer until it reported completion.");
  // print_latency_counts is cumulative per bucket and then +Inf; a short vector counts as 0.
  const auto count_at = [&](std::size_t i) -> std::uint64_t {
    return i < s.print_latency_counts.size() ? s.print_latency_counts[i] : 0;
  };
  for (std::size_t i = 0; i < s.print_latency_buckets.size(); ++i) {
    w.sample("atdesk_print_latency_seconds_bucket",
             one_label("le", number(s.print_latency_buckets[i])), count_at(i));
  }
  const auto inf = s.print_latency_counts.size() > s.print_latency_buckets.size()
                       ? count_at(s.print_latency_buckets.size())
                       : s.print_latency_count;
  w.sample("atdesk_print_latency_seconds_bucket", one_label("le", "+Inf"), inf);
  w.sample("atdesk_print_latency_seconds_sum", "", number(s.print_latency_sum));
  w.sample("atdesk_print_latency_seconds_count", "", s.print_latency_count);

  w.family("atdesk_printer_up", "gauge",
           "1 when the printer is reachable and accepting jobs (idle or processing).");
  for (const auto& p : printers) {
    const bool up =
        p.state == print::PrinterState::idle || p.state == print::PrinterState::processing;
    w.sample("atdesk_printer_up", one_label("printer", p.name), up ? 1u : 0u);
  }

  w.family("atdesk_chat_service_up", "gauge", "1 when the chat service is connected.");
  for (const auto& [name, state] : chat_services) {
    w.sample("atdesk_chat_service_up", one_label("service", name),
             state == chat::ServiceState::connected ? 1u : 0u);
  }
  return w.take();
}

}  // namespace atdesk::api
