// Prometheus text exposition (format 0.0.4) of the engine's counters, the chat services' states
// and the printers' states, for GET /metrics.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "atdesk/chat/chat_service.hpp"
#include "atdesk/engine/engine.hpp"
#include "atdesk/print/printer.hpp"

namespace atdesk::api {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Every metric has HELP and TYPE lines; every job state appears in atdesk_jobs (0 when absent):
//   atdesk_jobs{state}                 gauge
//   atdesk_decisions_total{action}     counter (print, hold)
//   atdesk_presence_lookups_total{result}  counter (ok, failed)
//   atdesk_prints_total{result}        counter (submitted, completed, failed)
//   atdesk_print_retries_total         counter
//   atdesk_notices_total{result}       counter (sent, failed, dropped)
//   atdesk_notices_waiting             gauge
//   atdesk_print_latency_seconds       histogram
//   atdesk_printer_up{printer}         gauge: 1 reachable and accepting jobs (idle, processing)
//   atdesk_chat_service_up{service}    gauge: 1 connected
std::string render_metrics(const engine::MetricsSnapshot& snapshot,
                           const std::map<std::string, chat::ServiceState>& chat_services,
                           const std::vector<print::PrinterStatus>& printers);

}  // namespace atdesk::api
