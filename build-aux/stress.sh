#!/bin/bash
# stress.sh: `make stress`, the long run of t/race.t and t/restart_load.t.
#
# Both files scale their loops by DT_STRESS_SECONDS: t/race.t repeats its
# races (one token against eight clients, concurrent issue, logout against
# redemption, a full store) under prefork, worker and event for about that
# long in all; t/restart_load.t keeps its issue+redeem load up for about
# that long (half under event, half under prefork) with a graceful restart
# every 5 s.  Each prints what it counted; this script repeats those lines
# at the end.
#
# build-aux/apache-test.sh runs t/TEST with an empty environment, so the
# setting travels as `t/TEST -defines DT_STRESS_SECONDS=N`, which the test
# files read back from Apache::Test's configuration.
#
# environment: STRESS_SECONDS (default 120), plus whatever apache-test.sh
#   takes (MPM for Apache::Test's own server, HTTPD, APXS, TEST_ARGS).
set -euo pipefail

secs=${STRESS_SECONDS:-120}
case "$secs" in
''|*[!0-9]*) echo "stress: STRESS_SECONDS must be a number" >&2; exit 1 ;;
esac

top=$(pwd -P)
start=$(date +%s)
echo "stress: t/race.t and t/restart_load.t, about $secs s each"
set +e
TEST_FILES="t/race.t t/restart_load.t" \
    TEST_ARGS="-defines DT_STRESS_SECONDS=$secs ${TEST_ARGS:-}" \
    "$top/build-aux/apache-test.sh"
rc=$?
set -e

echo "stress: $(( $(date +%s) - start )) s; what the files counted:"
grep -E '^# (race|restart_load): ' "$top/build/test-logs/harness.log" |
    sed 's/^# /stress:   /' ||
    echo "stress:   (no counts: see build/test-logs/)"
if [ "$rc" -ne 0 ]; then
    echo "stress: FAILED; logs in build/test-logs/" >&2
    exit "$rc"
fi
echo "stress: passed"
