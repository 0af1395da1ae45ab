#!/bin/bash
# fuzz.sh: run each libFuzzer binary for SECONDS on a scratch copy of its
# committed seeds, so the corpus under t/fuzz/corpus/ only grows when a
# person copies an input there on purpose.
#
# usage: build-aux/fuzz.sh SECONDS build/fuzz/fuzz_NAME...
#
# Seeds come from t/fuzz/corpus/NAME/ (NAME without the fuzz_ prefix), or
# t/fuzz/corpus/fuzz_NAME/; a dictionary t/fuzz/NAME.dict or
# t/fuzz/fuzz_NAME.dict is used when present.  Crash inputs land in
# build/fuzz/artifacts/NAME/, the fuzzer's output in build/fuzz/NAME.log.
set -euo pipefail

seconds=$1
shift
if [ $# -eq 0 ]; then
    echo "fuzz: no t/fuzz/fuzz_*.c yet, nothing to run"
    exit 0
fi

mkdir -p build/fuzz/artifacts
failed=
for bin in "$@"; do
    target=${bin##*/}
    name=${target#fuzz_}
    seeds=
    for d in "t/fuzz/corpus/$name" "t/fuzz/corpus/$target"; do
        if [ -d "$d" ]; then
            seeds=$d
            break
        fi
    done
    work=build/fuzz/corpus-$name
    rm -rf "$work"
    mkdir -p "$work"
    if [ -n "$seeds" ]; then
        cp -R "$seeds"/. "$work"/
    fi
    opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048
          -artifact_prefix="build/fuzz/artifacts/$name/" -print_final_stats=1)
    for dict in "t/fuzz/$name.dict" "t/fuzz/$target.dict"; do
        if [ -f "$dict" ]; then
            opts+=(-dict="$dict")
            break
        fi
    done
    mkdir -p "build/fuzz/artifacts/$name"
    log=build/fuzz/$name.log
    echo "fuzz: $target for ${seconds}s on ${seeds:-an empty corpus}"
    if "$bin" "${opts[@]}" "$work" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "fuzz: $target ok, ${runs:-?} runs, $(ls "$work" | wc -l) inputs"
    else
        echo "fuzz: $target FAILED; the end of $log:"
        tail -n 40 "$log"
        for a in "build/fuzz/artifacts/$name"/*; do
            [ -f "$a" ] && echo "fuzz: replay with: $bin $a"
        done
        failed="$failed $target"
    fi
done

if [ -n "$failed" ]; then
    echo "fuzz: FAILED:$failed (inputs in build/fuzz/artifacts/)"
    exit 1
fi
