#!/bin/bash
# unit.sh: run each unit test program and add up their counts.
#
# usage: build-aux/unit.sh build/unit/test_NAME...
#
# Each program prints "N passed, N failed" last and exits non-zero when a
# case failed or none ran; a program that dies before that line counts as
# failed too.
set -uo pipefail

if [ $# -eq 0 ]; then
    echo "unit: no t/unit/test_*.c yet, nothing to run"
    exit 0
fi

passed=0
failed=0
bad=
for t in "$@"; do
    echo "== $t"
    out=$("$t" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' |
           tail -n 1)
    if [ -n "$line" ]; then
        p=${line%% passed*}
        f=${line#*, }
        f=${f%% failed*}
        passed=$((passed + p))
        failed=$((failed + f))
    fi
    if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
        bad="$bad ${t##*/}"
        [ -z "$line" ] && failed=$((failed + 1))
    fi
done

if [ -n "$bad" ]; then
    echo "unit: FAILED:$bad"
fi
echo "unit: $passed passed, $failed failed"
[ -z "$bad" ]
