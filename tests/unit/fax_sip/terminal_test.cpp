// Two SpanDSP T.30 terminals back to back, driven sample by sample (no network, no clock): G.711
// audio with and without ECM, and T.38 over UDPTL with lost and reordered datagrams. The received
// TIFF has the pages and the rows that were sent, and each page was on disk when it was counted.
#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>

#include "atdesk/testing/sample_fax.hpp"
#include "fax_terminal.hpp"
#include "media_session.hpp"
#include "tiff_pages.hpp"
#include "udptl.hpp"

namespace atdesk::fax_sip {
namespace {

namespace fs = std::filesystem;

class Terminals : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("atdesk-fax-sip-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write_sample(int pages) {
    const auto path = (dir_ / "sent.tif").string();
    const auto data = testing::sample_fax(pages);
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
    return path;
  }

  T30Config sender(const std::string& file, bool ecm) {
    return T30Config{true, true, file, "+49 30 1234567", ecm};
  }
  T30Config receiver(bool ecm) {
    return T30Config{false, false, (dir_ / "received.tif").string(), "atdesk test", ecm};
  }

  fs::path dir_;
};

// Runs both until both reached phase E, at most `seconds` of simulated time.
template <class Step>
int run_until_done(FaxTerminal& a, FaxTerminal& b, int seconds, Step step) {
  int frames = 0;
  for (; frames < seconds * 50; ++frames) {
    step();
    if (a.outcome().finished && b.outcome().finished) break;
  }
  return frames;
}

void audio_back_to_back(FaxTerminal& tx, FaxTerminal& rx) {
  std::int16_t a[160];
  std::int16_t b[160];
  run_until_done(tx, rx, 300, [&] {
    tx.transmit_audio(a);
    rx.transmit_audio(b);
    rx.receive_audio(a);
    tx.receive_audio(b);
  });
}

TEST_F(Terminals, AudioWithEcmDeliversEveryRowAndFsyncsEachPage) {
  const auto sent = write_sample(2);
  std::vector<std::uintmax_t> size_at_page;
  const auto rx_file = receiver(true).file;
  auto tx = FaxTerminal::audio(sender(sent, true), nullptr);
  // A copy of the file as it is when each page is confirmed: what a crash right then leaves.
  auto rx = FaxTerminal::audio(receiver(true), [&](int pages) {
    size_at_page.push_back(fs::file_size(rx_file));
    fs::copy_file(rx_file, dir_ / ("at-page-" + std::to_string(pages) + ".tif"),
                  fs::copy_options::overwrite_existing);
    return true;
  });
  ASSERT_TRUE(tx && rx);
  audio_back_to_back(**tx, **rx);
  (*rx)->terminate();
  const auto& in = (*rx)->outcome();
  EXPECT_TRUE(in.finished);
  EXPECT_EQ(in.completion, 0) << in.reason;
  EXPECT_EQ(in.pages, 2);
  EXPECT_TRUE(in.ecm);
  EXPECT_EQ(in.remote_ident, "+49 30 1234567");
  EXPECT_EQ((*tx)->outcome().pages, 2);
  EXPECT_EQ((*tx)->outcome().remote_ident, "atdesk test");
  ASSERT_EQ(size_at_page.size(), 2u);
  EXPECT_GT(size_at_page[0], 0u);  // the first page was written when it was confirmed
  const auto want = testing::tiff_pages(sent);
  const auto got = testing::tiff_pages(rx_file);
  ASSERT_EQ(got.size(), 2u);
  for (std::size_t p = 0; p < got.size(); ++p) {
    EXPECT_EQ(got[p].width, want[p].width);
    EXPECT_EQ(got[p].rows, want[p].rows) << "page " << p + 1;
  }
  const auto at_first = testing::tiff_pages((dir_ / "at-page-1.tif").string());
  ASSERT_GE(at_first.size(), 1u) << "page 1 was not readable in the file when it was confirmed";
  EXPECT_EQ(at_first[0].rows, want[0].rows);
}

TEST_F(Terminals, AudioWithoutEcm) {
  const auto sent = write_sample(1);
  auto tx = FaxTerminal::audio(sender(sent, false), nullptr);
  auto rx = FaxTerminal::audio(receiver(false), nullptr);
  ASSERT_TRUE(tx && rx);
  audio_back_to_back(**tx, **rx);
  (*rx)->terminate();
  EXPECT_EQ((*rx)->outcome().completion, 0) << (*rx)->outcome().reason;
  EXPECT_EQ((*rx)->outcome().pages, 1);
  EXPECT_FALSE((*rx)->outcome().ecm);
  // A clean line: even without ECM the rows arrive as sent.
  EXPECT_EQ(testing::tiff_pages(receiver(false).file)[0].rows, testing::tiff_pages(sent)[0].rows);
}

TEST_F(Terminals, HangUpAfterTheFirstPageKeepsIt) {
  const auto sent = write_sample(3);
  auto tx = FaxTerminal::audio(sender(sent, true), [](int pages) { return pages < 1; });
  auto rx = FaxTerminal::audio(receiver(true), nullptr);
  ASSERT_TRUE(tx && rx);
  std::int16_t a[160];
  std::int16_t b[160];
  for (int i = 0; i < 300 * 50 && !(*tx)->stop_requested(); ++i) {
    (*tx)->transmit_audio(a);
    (*rx)->transmit_audio(b);
    (*rx)->receive_audio(a);
    (*tx)->receive_audio(b);
  }
  ASSERT_TRUE((*tx)->stop_requested());
  (*tx)->terminate();  // the line drops
  (*rx)->terminate();
  const auto& in = (*rx)->outcome();
  EXPECT_EQ(in.pages, 1);
  EXPECT_NE(in.completion, 0);
  const auto got = testing::tiff_pages(receiver(true).file);
  ASSERT_GE(got.size(), 1u);
  EXPECT_EQ(got[0].rows, testing::tiff_pages(sent)[0].rows);
}

// The line drops at many points after the first page (during page 2's training, image data or
// post-page exchange): the received file always holds exactly the confirmed pages, readable.
TEST_F(Terminals, DropAnywhereInPageTwoKeepsExactlyPageOne) {
  const auto sent = write_sample(3);
  const auto want = testing::tiff_pages(sent);
  for (int cut = 10; cut <= 400; cut += 30) {
    const auto rx_file = receiver(true).file;
    fs::remove(rx_file);
    auto tx = FaxTerminal::audio(sender(sent, true), nullptr);
    auto rx = FaxTerminal::audio(receiver(true), nullptr);
    ASSERT_TRUE(tx && rx);
    std::int16_t a[160];
    std::int16_t b[160];
    int after = -1;
    for (int i = 0; i < 300 * 50 && after < cut; ++i) {
      (*tx)->transmit_audio(a);
      (*rx)->transmit_audio(b);
      (*rx)->receive_audio(a);
      (*tx)->receive_audio(b);
      if (after >= 0 || (*rx)->outcome().pages == 1) ++after;
    }
    (*tx)->terminate();
    (*rx)->terminate();
    const int pages = (*rx)->outcome().pages;
    ASSERT_GE(pages, 1) << "cut " << cut;
    const auto got = testing::tiff_pages(rx_file);
    ASSERT_EQ(static_cast<int>(got.size()), pages) << "cut " << cut << " frames after page 1";
    for (int p = 0; p < pages; ++p) {
      EXPECT_EQ(got[static_cast<std::size_t>(p)].rows, want[static_cast<std::size_t>(p)].rows)
          << "cut " << cut << ", page " << p + 1;
    }
  }
}

// A network between two T.38 terminals that drops every `drop`-th datagram and swaps every
// `swap`-th with the one after it.
class LossyUdptl {
 public:
  LossyUdptl(int drop, int swap) : drop_(drop), swap_(swap), sender_(3) {}
  void send(std::span<const std::uint8_t> ifp) {
    auto datagram = sender_.frame(ifp);
    ++count_;
    if (drop_ && count_ % drop_ == 0) {
      ++dropped_;
      return;
    }
    if (swap_ && count_ % swap_ == 0) {
      held_ = std::move(datagram);
      return;
    }
    queue_.push_back(std::move(datagram));
    if (held_) {
      queue_.push_back(std::move(*held_));
      held_.reset();
    }
  }
  void deliver(FaxTerminal& to) {
    while (!queue_.empty()) {
      auto packet = parse_udptl(queue_.front());
      queue_.pop_front();
      ASSERT_TRUE(packet);
      for (const auto& ifp : receiver_.receive(*packet)) to.receive_ifp(ifp.data, ifp.seq);
    }
  }
  int dropped() const { return dropped_; }
  std::uint64_t recovered() const { return receiver_.recovered(); }

 private:
  int drop_;
  int swap_;
  int count_ = 0;
  int dropped_ = 0;
  UdptlSender sender_;
  UdptlReceiver receiver_;
  std::deque<std::vector<std::uint8_t>> queue_;
  std::optional<std::vector<std::uint8_t>> held_;
};

// G.711 through the calls' playout buffer (40 ms, 60 at most) in both directions, with every
// 40th frame lost from frame 440 to 680 (the page) and every 50th swapped with the next. Frame
// `lose_only` >= 0: only that one is lost instead. Returns the receiver's outcome.
T30Outcome through_playout_buffers(FaxTerminal& tx, FaxTerminal& rx, int lose_only = -1) {
  struct Path {
    PlayoutBuffer buffer{2, 3, 3};
    std::uint16_t seq = 0;
    std::vector<std::int16_t> held;
    std::uint16_t held_seq = 0;
    void carry(const std::int16_t* pcm, FaxTerminal& to, int lose_only) {
      const std::uint16_t s = seq++;
      const bool lost = lose_only >= 0 ? s == lose_only : s > 440 && s <= 680 && s % 40 == 0;
      std::vector<std::int16_t> frame(pcm, pcm + 160);
      if (!held.empty()) {
        if (!lost) (void)buffer.push(s, std::move(frame));
        (void)buffer.push(held_seq, std::move(held));  // after the later one
        held.clear();
      } else if (lose_only < 0 && s % 50 == 0) {
        held = std::move(frame);
        held_seq = s;
      } else if (!lost) {
        (void)buffer.push(s, std::move(frame));
      }
      for (const auto& f : buffer.pop()) {
        if (f.empty()) {
          to.receive_fillin(160);
        } else {
          to.receive_audio(f);
        }
      }
    }
  };
  Path forward;
  Path back;
  std::int16_t a[160];
  std::int16_t b[160];
  run_until_done(tx, rx, 300, [&] {
    tx.transmit_audio(a);
    rx.transmit_audio(b);
    forward.carry(a, rx, lose_only);
    back.carry(b, tx, lose_only);
  });
  rx.terminate();
  return rx.outcome();
}

TEST_F(Terminals, AudioThroughPlayoutBuffersWithLossAndReorderingDeliversEveryRow) {
  const auto sent = write_sample(1);
  for (const bool ecm : {true, false}) {
    SCOPED_TRACE(ecm ? "ECM" : "no ECM");
    fs::remove(receiver(ecm).file);
    auto tx = FaxTerminal::audio(sender(sent, ecm), nullptr);
    auto rx = FaxTerminal::audio(receiver(ecm), nullptr);
    ASSERT_TRUE(tx && rx);
    const auto out = through_playout_buffers(**tx, **rx);
    EXPECT_EQ(out.completion, 0) << out.reason;
    ASSERT_EQ(out.pages, 1);
    if (ecm) {
      EXPECT_EQ(testing::tiff_pages(receiver(ecm).file)[0].rows, testing::tiff_pages(sent)[0].rows);
    }
  }
}

// SpanDSP 0.0.6's limit that a playout buffer cannot help with: one frame lost in the training
// check (TCF, 1.5 s from about 7.2 s in this exchange) and the receiver's training fails; it sends
// no FTT, the sender repeats DCS after T4, and the receiver takes that as "Unexpected DCS frame"
// and ends the call. The same loss a second later, on the page, is repaired. If a SpanDSP update
// fixes this, this test says so (and docs/sip.md must be changed).
TEST_F(Terminals, OneFrameLostInTheTrainingCheckEndsSpanDsp006sReception) {
  const auto sent = write_sample(1);
  {
    auto tx = FaxTerminal::audio(sender(sent, true), nullptr);
    auto rx = FaxTerminal::audio(receiver(true), nullptr);
    ASSERT_TRUE(tx && rx);
    const auto out = through_playout_buffers(**tx, **rx, 390);
    EXPECT_EQ(out.pages, 0);
    EXPECT_EQ(out.reason, "Unexpected message received");
  }
  fs::remove(receiver(true).file);
  auto tx = FaxTerminal::audio(sender(sent, true), nullptr);
  auto rx = FaxTerminal::audio(receiver(true), nullptr);
  ASSERT_TRUE(tx && rx);
  const auto out = through_playout_buffers(**tx, **rx, 450);
  EXPECT_EQ(out.completion, 0) << out.reason;
  EXPECT_EQ(out.pages, 1);
}

TEST_F(Terminals, T38WithLostAndReorderedDatagramsRecoversEveryRow) {
  const auto sent = write_sample(2);
  LossyUdptl forward(9, 7);
  LossyUdptl back(11, 0);
  auto tx = FaxTerminal::t38(sender(sent, true), nullptr,
                             [&](std::span<const std::uint8_t> ifp, int) { forward.send(ifp); });
  auto rx = FaxTerminal::t38(receiver(true), nullptr,
                             [&](std::span<const std::uint8_t> ifp, int) { back.send(ifp); });
  ASSERT_TRUE(tx && rx);
  run_until_done(**tx, **rx, 300, [&] {
    (*tx)->advance(160);
    (*rx)->advance(160);
    forward.deliver(**rx);
    back.deliver(**tx);
  });
  (*rx)->terminate();
  const auto& in = (*rx)->outcome();
  EXPECT_EQ(in.completion, 0) << in.reason;
  EXPECT_EQ(in.pages, 2);
  EXPECT_GT(forward.dropped(), 0);
  EXPECT_GT(forward.recovered(), 0u);
  const auto want = testing::tiff_pages(sent);
  const auto got = testing::tiff_pages(receiver(true).file);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].rows, want[0].rows);
  EXPECT_EQ(got[1].rows, want[1].rows);
}

}  // namespace
}  // namespace atdesk::fax_sip
