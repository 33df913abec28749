#!/usr/bin/env bash
# Side by side, in one run: TIFF fax -> printable PDF by atdesk (bench/tools/atdesk_normalize,
# the document part as a process), by libtiff's tiff2pdf and by cups-filters (cupsfilter to
# application/pdf), on the same multi-page G3 and G4 faxes. Whole-process wall time with
# hyperfine; every output is checked to have all pages. Prints a Markdown table.
#   bench/compare_normalize.sh [PAGES] [RUNS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pages=${1:-10}
runs=${2:-20}
"$root/scripts/install-deps" --bench >/dev/null
build="$root/build-bench"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DATDESK_BUILD_TESTS=OFF \
  -DATDESK_PARTS="core;document" >/dev/null
cmake --build "$build" --target atdesk-normalize >/dev/null
normalize="$build/bench/atdesk-normalize"
cupsfilter=$(command -v cupsfilter || echo /usr/sbin/cupsfilter)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$root/scripts/sample-fax" "$work/g4.tif" "$pages" >/dev/null
tiffcp -c g3:2d "$work/g4.tif" "$work/g3.tif"

echo "| fax | tool | mean ms | pages out | pages/s | time vs atdesk | output KiB |"
echo "|---|---|---|---|---|---|---|"
for fax in g3 g4; do
  in="$work/$fax.tif"
  declare -A cmd=(
    [atdesk]="$normalize $in $work/out-atdesk.pdf"
    [tiff2pdf]="tiff2pdf -o $work/out-tiff2pdf.pdf $in"
    [cupsfilter]="$cupsfilter -i image/tiff -m application/pdf $in > $work/out-cupsfilter.pdf 2>/dev/null"
  )
  hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/$fax.json" \
    -n atdesk "${cmd[atdesk]}" -n tiff2pdf "${cmd[tiff2pdf]}" >/dev/null 2>&1
  # cupsfilter writes to stdout: it needs a shell.
  hyperfine --warmup 2 --runs "$runs" --export-json "$work/$fax-cups.json" \
    -n cupsfilter "${cmd[cupsfilter]}" >/dev/null 2>&1
  base=$(jq '.results[] | select(.command=="atdesk") | .mean' "$work/$fax.json")
  for tool in atdesk tiff2pdf cupsfilter; do
    file="$work/$fax.json"
    [ "$tool" = cupsfilter ] && file="$work/$fax-cups.json"
    mean=$(jq ".results[] | select(.command==\"$tool\") | .mean" "$file")
    got=$(pdfinfo "$work/out-$tool.pdf" 2>/dev/null | awk '/^Pages:/ {print $2}')
    # A tool that drops pages is reported as it is (pages/s counts the pages it produced):
    # cups-filters' imagetopdf converts only the first page of a multi-page TIFF.
    got=${got:-0}
    if [ "$tool" = atdesk ] && [ "$got" != "$pages" ]; then
      echo "atdesk on $fax: output has $got pages, expected $pages" >&2
      exit 1
    fi
    size=$(( $(stat -c %s "$work/out-$tool.pdf") / 1024 ))
    awk -v f="$fax" -v t="$tool" -v m="$mean" -v b="$base" -v p="$pages" -v g="$got" -v s="$size" \
      'BEGIN { printf "| %s %d p | %s | %.1f | %d | %.0f | %.2fx | %d |\n", f, p, t, m*1000, g, g/m, m/b, s }'
  done
done
