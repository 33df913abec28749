// Document pipeline micro-benchmarks: probe, TIFF -> printable PDF (CCITT passthrough) and page-1
// preview, on generated G3 and G4 faxes of 1 and 10 pages (the same generator as the tests).
#include <benchmark/benchmark.h>

#include "atdesk/document/document.hpp"
#include "atdesk/testing/sample_fax.hpp"

namespace {

void BM_Probe(benchmark::State& state) {
  const auto fax = atdesk::testing::sample_fax(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto info = atdesk::document::probe(fax, "fax.tif", {});
    benchmark::DoNotOptimize(info);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Probe)->Arg(1)->Arg(10);

void BM_ToPrintablePdf(benchmark::State& state) {
  const auto fax = atdesk::testing::sample_fax(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto pdf = atdesk::document::to_printable_pdf(fax, "fax.tif", {});
    benchmark::DoNotOptimize(pdf);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));  // pages per second
}
BENCHMARK(BM_ToPrintablePdf)->Arg(1)->Arg(10);

void BM_PreviewPng(benchmark::State& state) {
  const auto fax = atdesk::testing::sample_fax(1);
  for (auto _ : state) {
    auto png =
        atdesk::document::render_png(fax, "fax.tif", 0, static_cast<int>(state.range(0)), {});
    benchmark::DoNotOptimize(png);
  }
}
BENCHMARK(BM_PreviewPng)->Arg(480)->Arg(1200);

}  // namespace
