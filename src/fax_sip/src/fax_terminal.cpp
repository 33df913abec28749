#include "fax_terminal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <filesystem>

// SpanDSP's headers need <tiffio.h> and the C99 types first.
#include <tiffio.h>
#define SPANDSP_EXPOSE_INTERNAL_STRUCTURES 0
#include <spandsp.h>

namespace atdesk::fax_sip {
namespace {

struct FaxDeleter {
  void operator()(fax_state_t* s) const { fax_free(s); }
};
struct T38Deleter {
  void operator()(t38_terminal_state_t* s) const { t38_terminal_free(s); }
};

// Makes the page just written durable: the TIFF's data and directory, and (first page) the
// file's entry in its folder.
void fsync_file(const std::string& path, bool with_dir) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  if (with_dir) {
    const auto dir = std::filesystem::path(path).parent_path();
    const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
}

void log_spandsp(int level, const char* text) {
  if (level <= SPAN_LOG_WARNING) {
    spdlog::warn("fax modem: {}", text);
  } else {
    spdlog::debug("fax modem: {}", text);
  }
}

}  // namespace

struct FaxTerminal::State {
  T30Config config;
  PageHook on_page;
  IfpSink send_ifp;
  IdentHook on_ident;
  std::unique_ptr<fax_state_t, FaxDeleter> fax;
  std::unique_ptr<t38_terminal_state_t, T38Deleter> t38;
  t30_state_t* t30 = nullptr;
  T30Outcome outcome;
  bool terminated = false;
  bool stop = false;

  void configure(logging_state_t* logging, int max_bit_rate = 14400) {
    span_log_set_level(
        logging, static_cast<int>(SPAN_LOG_WARNING) | static_cast<int>(SPAN_LOG_SHOW_PROTOCOL));
    span_log_set_message_handler(logging, log_spandsp);
    t30_set_tx_ident(t30, config.ident.substr(0, 20).c_str());
    t30_set_ecm_capability(t30, config.ecm ? 1 : 0);
    // V.17 is 12000 and 14400 bit/s: left out when T.38 was negotiated at 9600 or less.
    t30_set_supported_modems(
        t30, T30_SUPPORT_V27TER | T30_SUPPORT_V29 | (max_bit_rate >= 12000 ? T30_SUPPORT_V17 : 0));
    t30_set_supported_compressions(t30, T30_SUPPORT_T4_1D_COMPRESSION |
                                            T30_SUPPORT_T4_2D_COMPRESSION |
                                            T30_SUPPORT_T6_COMPRESSION);
    t30_set_supported_resolutions(t30, T30_SUPPORT_STANDARD_RESOLUTION |
                                           T30_SUPPORT_FINE_RESOLUTION |
                                           T30_SUPPORT_SUPERFINE_RESOLUTION |
                                           T30_SUPPORT_R8_RESOLUTION | T30_SUPPORT_R16_RESOLUTION);
    t30_set_supported_image_sizes(
        t30, T30_SUPPORT_215MM_WIDTH | T30_SUPPORT_255MM_WIDTH | T30_SUPPORT_303MM_WIDTH |
                 T30_SUPPORT_UNLIMITED_LENGTH | T30_SUPPORT_A4_LENGTH | T30_SUPPORT_B4_LENGTH |
                 T30_SUPPORT_US_LETTER_LENGTH | T30_SUPPORT_US_LEGAL_LENGTH);
    if (config.transmit) {
      t30_set_tx_file(t30, config.file.c_str(), -1, -1);
    } else {
      t30_set_rx_file(t30, config.file.c_str(), -1);
    }
    t30_set_phase_b_handler(t30, &State::phase_b, this);
    t30_set_phase_d_handler(t30, &State::phase_d, this);
    t30_set_phase_e_handler(t30, &State::phase_e, this);
  }

  void capture_stats() {
    t30_stats_t stats{};
    t30_get_transfer_statistics(t30, &stats);
    outcome.ecm = stats.error_correcting_mode != 0;
    outcome.bit_rate = stats.bit_rate;
    if (const char* id = t30_get_rx_ident(t30)) outcome.remote_ident = id;
  }

  static int phase_b(t30_state_t*, void* user, int) {
    auto* self = static_cast<State*>(user);
    if (const char* id = t30_get_rx_ident(self->t30); id && self->outcome.remote_ident != id) {
      self->outcome.remote_ident = id;
      if (self->on_ident) self->on_ident(self->outcome.remote_ident);
    }
    return T30_ERR_OK;
  }

  // Called when a page's post-page message has been received (receiver: before MCF is sent) or
  // its response has arrived (sender). The receiver makes the page durable here, so that a page
  // the sender sees confirmed is on disk.
  static int phase_d(t30_state_t*, void* user, int) {
    auto* self = static_cast<State*>(user);
    t30_stats_t stats{};
    t30_get_transfer_statistics(self->t30, &stats);
    const int pages = self->config.transmit ? stats.pages_tx : stats.pages_rx;
    if (pages <= self->outcome.pages) return T30_ERR_OK;  // a repeated post-page exchange
    if (!self->config.transmit) fsync_file(self->config.file, self->outcome.pages == 0);
    self->outcome.pages = pages;
    self->outcome.bad_rows += stats.bad_rows;  // SpanDSP counts them per page
    self->capture_stats();
    if (self->on_page && !self->on_page(pages)) self->stop = true;
    return T30_ERR_OK;
  }

  static void phase_e(t30_state_t*, void* user, int completion) {
    auto* self = static_cast<State*>(user);
    self->capture_stats();
    t30_stats_t stats{};
    t30_get_transfer_statistics(self->t30, &stats);
    self->outcome.pages = self->config.transmit ? stats.pages_tx : stats.pages_rx;
    self->outcome.finished = true;
    self->outcome.completion = completion;
    self->outcome.reason = t30_completion_code_to_str(completion);
  }

  static int t38_out(t38_core_state_t*, void* user, const uint8_t* buf, int len, int count) {
    auto* self = static_cast<State*>(user);
    if (self->send_ifp && len > 0) self->send_ifp({buf, static_cast<std::size_t>(len)}, count);
    return 0;
  }
};

FaxTerminal::FaxTerminal(std::unique_ptr<State> state) : state_(std::move(state)) {}

FaxTerminal::~FaxTerminal() {
  terminate();
}

Result<std::unique_ptr<FaxTerminal>> FaxTerminal::audio(const T30Config& config, PageHook on_page) {
  auto st = std::make_unique<State>();
  st->config = config;
  st->on_page = std::move(on_page);
  st->fax.reset(fax_init(nullptr, config.calling ? 1 : 0));
  if (!st->fax) return fail(Errc::internal, "SpanDSP: fax_init failed");
  st->t30 = fax_get_t30_state(st->fax.get());
  fax_set_transmit_on_idle(st->fax.get(), 1);
  fax_set_tep_mode(st->fax.get(), 0);
  st->configure(fax_get_logging_state(st->fax.get()));
  return std::unique_ptr<FaxTerminal>(new FaxTerminal(std::move(st)));
}

Result<std::unique_ptr<FaxTerminal>> FaxTerminal::t38(const T30Config& config, PageHook on_page,
                                                      IfpSink send, const T38Config& t38) {
  auto st = std::make_unique<State>();
  st->config = config;
  st->on_page = std::move(on_page);
  st->send_ifp = std::move(send);
  st->t38.reset(t38_terminal_init(nullptr, config.calling ? 1 : 0, &State::t38_out, st.get()));
  if (!st->t38) return fail(Errc::internal, "SpanDSP: t38_terminal_init failed");
  st->t30 = t38_terminal_get_t30_state(st->t38.get());
  t38_core_state_t* core = t38_terminal_get_t38_core_state(st->t38.get());
  t38_set_t38_version(core, 0);
  t38_set_max_datagram_size(core, t38.max_datagram > 0 ? t38.max_datagram : 400);
  // 1: local TCF, 2: transferred TCF, as the SDP negotiated.
  t38_set_data_rate_management_method(core, t38.local_tcf ? 1 : 2);
  t38_set_fastest_image_data_rate(core, t38.max_bit_rate);
  t38_terminal_set_config(st->t38.get(), 0);
  t38_terminal_set_tep_mode(st->t38.get(), 0);
  st->configure(t38_terminal_get_logging_state(st->t38.get()), t38.max_bit_rate);
  return std::unique_ptr<FaxTerminal>(new FaxTerminal(std::move(st)));
}

void FaxTerminal::set_ident_hook(IdentHook hook) {
  state_->on_ident = std::move(hook);
}

bool FaxTerminal::is_t38() const {
  return state_->t38 != nullptr;
}

void FaxTerminal::receive_audio(std::span<const std::int16_t> in) {
  if (!state_->fax || state_->terminated) return;
  fax_rx(state_->fax.get(), const_cast<std::int16_t*>(in.data()), static_cast<int>(in.size()));
}

void FaxTerminal::receive_fillin(int samples) {
  if (!state_->fax || state_->terminated) return;
  fax_rx_fillin(state_->fax.get(), samples);
}

void FaxTerminal::transmit_audio(std::span<std::int16_t> out) {
  int n = 0;
  if (state_->fax && !state_->terminated) {
    n = fax_tx(state_->fax.get(), out.data(), static_cast<int>(out.size()));
  }
  std::fill(out.begin() + std::max(n, 0), out.end(), std::int16_t{0});
}

void FaxTerminal::receive_ifp(std::span<const std::uint8_t> ifp, std::uint16_t seq) {
  if (!state_->t38 || state_->terminated) return;
  t38_core_rx_ifp_packet(t38_terminal_get_t38_core_state(state_->t38.get()), ifp.data(),
                         static_cast<int>(ifp.size()), seq);
}

void FaxTerminal::advance(int samples) {
  if (!state_->t38 || state_->terminated) return;
  t38_terminal_send_timeout(state_->t38.get(), samples);
}

void FaxTerminal::terminate() {
  if (!state_ || state_->terminated) return;
  state_->terminated = true;
  if (!state_->outcome.finished) state_->capture_stats();
  // t30_terminate runs phase E (call dropped) when the call had not finished and closes the TIFF
  // being written; freeing the state releases the rest.
  t30_terminate(state_->t30);
  state_->t30 = nullptr;
  state_->fax.reset();
  state_->t38.reset();
}

const T30Outcome& FaxTerminal::outcome() {
  return state_->outcome;
}

bool FaxTerminal::stop_requested() const {
  return state_->stop;
}

}  // namespace atdesk::fax_sip
