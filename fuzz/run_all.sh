#!/usr/bin/env bash
# Runs the three atheris targets one after another, SECONDS_EACH seconds each (default 220),
# with a memory cap and a per-input timeout. Crashes land in fuzz/artifacts/.
#   fuzz/run_all.sh [SECONDS_EACH]
set -uo pipefail
status=0
here="$(cd "$(dirname "$0")" && pwd)"
each="${1:-220}"
cd "$here"
python3 make_seeds.py
mkdir -p artifacts
for target in member channel_data frames; do
  mkdir -p "corpus/$target"
  echo "=== fuzz_$target: ${each}s ==="
  python3 "fuzz_$target.py" "corpus/$target" -max_total_time="$each" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="artifacts/$target-" -print_final_stats=1 > "artifacts/$target.log" 2>&1
  rc=$?
  grep -v '^#[0-9]*\s*\(NEW\|REDUCE\|pulse\)' "artifacts/$target.log" | tail -12
  echo "=== fuzz_$target exit status $rc ==="
  [ "$rc" -eq 0 ] || status=1
done
exit $status
