#!/usr/bin/env bash
# Builds every libFuzzer target (*_fuzz) of a configured fuzz build directory and runs each
# for FUZZ_SECONDS. Seeds: tests/fuzz/corpus/<name> (name with or without the _fuzz suffix,
# or its first word: corpus/http for http_codec_fuzz).
# New inputs found go to <build dir>/corpus/<name>; crashes to <build dir>/crashes/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
FUZZ_DIR=${FUZZ_DIR:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
JOBS=${JOBS:-2}

[[ -f $FUZZ_DIR/build.ninja ]] || { echo "fuzz: $FUZZ_DIR is not configured (run make fuzz)" >&2; exit 1; }

mapfile -t targets < <(ninja -C "$FUZZ_DIR" -t targets all 2>/dev/null \
  | sed -n 's/^\([A-Za-z0-9_]*_fuzz\): phony$/\1/p' | grep -v '^cmake_' | sort -u)
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "==> fuzz: no *_fuzz targets defined (tests/fuzz/ has none yet); nothing to run"
  exit 0
fi

echo "==> fuzz: building ${targets[*]}"
cmake --build "$FUZZ_DIR" -j "$JOBS" --target "${targets[@]}"

failed=()
mkdir -p "$FUZZ_DIR/crashes"
for t in "${targets[@]}"; do
  name=${t%_fuzz}
  bin=$FUZZ_DIR/bin/$t
  [[ -x $bin ]] || { echo "fuzz: $bin missing after build" >&2; failed+=("$t"); continue; }
  corpus=$FUZZ_DIR/corpus/$name
  mkdir -p "$corpus"
  seeds=()
  for d in "tests/fuzz/corpus/$name" "tests/fuzz/corpus/$t" "tests/fuzz/corpus/${name%%_*}"; do
    [[ -d $d ]] && [[ ! " ${seeds[*]} " == *" $d "* ]] && seeds+=("$d")
  done
  dict=()
  for f in "tests/fuzz/$name.dict" "tests/fuzz/$t.dict"; do
    [[ -f $f ]] && dict=("-dict=$f")
  done
  echo "==> fuzz: $t for ${FUZZ_SECONDS}s (seeds: ${seeds[*]:-none})"
  if ! "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$FUZZ_DIR/crashes/$t-" "${dict[@]}" "$corpus" "${seeds[@]}" \
      >"$FUZZ_DIR/$t.log" 2>&1; then
    echo "fuzz: $t FAILED; last lines of $FUZZ_DIR/$t.log:" >&2
    tail -n 60 "$FUZZ_DIR/$t.log" >&2
    failed+=("$t")
  else
    grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$FUZZ_DIR/$t.log" | sed 's/^/    /' || true
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "==> fuzz: FAILED: ${failed[*]} (reproducers in $FUZZ_DIR/crashes/)" >&2
  exit 1
fi
echo "==> fuzz: all ${#targets[@]} target(s) ran ${FUZZ_SECONDS}s without a finding"
