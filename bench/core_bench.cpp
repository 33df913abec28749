// RecipientTable::match over 100,000 rules, and decide(). A lookup must not depend on the number
// of rules: compare the 1,000-rule and 100,000-rule runs of the same benchmark.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "atdesk/core/decide.hpp"
#include "atdesk/core/recipient_table.hpp"

namespace atdesk {
namespace {

const NumberPlan kPlan{"81", "0", "00"};

// `n` rules: 60% exact numbers, 20% prefixes, 10% IPv4 networks, 10% e-mail domains, plus an
// `others` and an `all` rule.
RecipientTable make_table(int n) {
  std::vector<RecipientRule> rules;
  rules.reserve(static_cast<std::size_t>(n) + 2);
  auto add = [&](SenderPattern pattern, int i) {
    RecipientRule r;
    r.pattern = std::move(pattern);
    r.recipient = {RecipientKind::user, "local", "user" + std::to_string(i)};
    rules.push_back(std::move(r));
  };
  for (int i = 0; i < n; ++i) {
    switch (i % 10) {
      case 0:
        add(*SenderPattern::parse(
                "10." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + ".0/24",
                kPlan),
            i);
        break;
      case 1:
        add(*SenderPattern::parse("@d" + std::to_string(i) + ".example.org", kPlan), i);
        break;
      case 2:
      case 3:
        add({PatternKind::prefix, "8145" + std::to_string(100'000 + i)}, i);
        break;
      default:
        add({PatternKind::number, "8131" + std::to_string(1'000'000 + i)}, i);
        break;
    }
  }
  add(*SenderPattern::parse("others", kPlan), n);
  add(*SenderPattern::parse("all", kPlan), n + 1);
  return RecipientTable(std::move(rules));
}

Sender fax(const std::string& digits) {
  Sender s;
  s.fax = FaxNumber::parse("+" + digits, kPlan).value();
  return s;
}

void run_match(benchmark::State& state, const Sender& sender) {
  const auto table = make_table(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto m = table.match(sender);
    benchmark::DoNotOptimize(m);
  }
}

void BM_MatchExactNumber(benchmark::State& state) {
  run_match(state, fax("81311000005"));
}
void BM_MatchPrefix(benchmark::State& state) {
  run_match(state, fax("814510000299"));
}
void BM_MatchOthers(benchmark::State& state) {
  run_match(state, fax("81699999999"));
}
void BM_MatchIp(benchmark::State& state) {
  Sender s;
  s.ip = "10.0.10.77";
  run_match(state, s);
}
void BM_MatchEmailDomain(benchmark::State& state) {
  Sender s;
  s.email = "bob@mail.d11.example.org";
  run_match(state, s);
}

void BM_BuildTable(benchmark::State& state) {
  for (auto _ : state) {
    auto table = make_table(static_cast<int>(state.range(0)));
    benchmark::DoNotOptimize(table);
  }
}

BENCHMARK(BM_MatchExactNumber)->Arg(1'000)->Arg(100'000);
BENCHMARK(BM_MatchPrefix)->Arg(1'000)->Arg(100'000);
BENCHMARK(BM_MatchOthers)->Arg(1'000)->Arg(100'000);
BENCHMARK(BM_MatchIp)->Arg(1'000)->Arg(100'000);
BENCHMARK(BM_MatchEmailDomain)->Arg(1'000)->Arg(100'000);
BENCHMARK(BM_BuildTable)->Arg(100'000)->Unit(benchmark::kMillisecond);

Presence presence(Availability a, WorkLocation w) {
  Presence p;
  p.availability = a;
  p.location = w;
  return p;
}

// decide() for one user, and for a channel of `range(0)` members of whom only the last prints
// (the worst case: every member is looked up).
void BM_DecideUser(benchmark::State& state) {
  Job job;
  job.sender = fax("81312345678");
  const std::vector<Recipient> recipients = {{RecipientKind::user, "local", "alice"}};
  PresenceMap presences{
      {recipients[0].key(),
       {true, "", {{"alice", presence(Availability::busy, WorkLocation::remote)}}}}};
  const auto table = ModeTable::seed_default();
  for (auto _ : state) {
    auto d = decide(job, recipients, presences, table, Policy{}, "lobby");
    benchmark::DoNotOptimize(d);
  }
}

void BM_DecideChannel(benchmark::State& state) {
  Job job;
  job.sender = fax("81312345678");
  const std::vector<Recipient> recipients = {{RecipientKind::channel, "local", "fax-room"}};
  RecipientPresence room{true, "", {}};
  for (int i = 0; i + 1 < state.range(0); ++i) {
    room.members.push_back(
        {"member" + std::to_string(i), presence(Availability::busy, WorkLocation::remote)});
  }
  room.members.push_back({"last", presence(Availability::available, WorkLocation::office)});
  PresenceMap presences{{recipients[0].key(), room}};
  const auto table = ModeTable::seed_default();
  for (auto _ : state) {
    auto d = decide(job, recipients, presences, table, Policy{});
    benchmark::DoNotOptimize(d);
  }
}

BENCHMARK(BM_DecideUser);
BENCHMARK(BM_DecideChannel)->Arg(10)->Arg(200);

}  // namespace
}  // namespace atdesk
