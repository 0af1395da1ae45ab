#!/bin/bash
# apache-test.sh: run the Apache::Test suite (t/*.t) against the module in
# .libs/, for `make test`.
#
# Debian's Apache::Test refuses to run as root, and the children of the
# test server must be able to read everything under t/.  So the tree is
# copied to a fresh directory under /tmp; as root that copy belongs to an
# unprivileged user (TEST_USER, created when missing) who runs the suite
# there.  t/logs/ and the generated configuration come back to
# build/test-logs/ for reading after a failure.
#
# Apache::Test builds its httpd.conf from the LoadModule lines of the
# configuration it "inherits".  Debian's own apache2.conf cannot serve:
# it needs /etc/apache2/envvars, and its mods-enabled/ decides the MPM
# (and may carry anything the machine's admin enabled).  So this script
# writes a small configuration of its own, with mod_mpm_$MPM and the
# modules the suite uses, and passes it as -httpd_conf.
#
# environment: MPM (event|worker|prefork), TEST_FILES (t/x.t ...),
#   APXS, HTTPD, TEST_USER (default dttest), TEST_MODULES (more module
#   names, e.g. "headers rewrite"), TEST_ARGS (more t/TEST options),
#   TEST_PORT (the first of 20 ports; default: a random free range),
#   KEEP_TEST_DIR=1 (leave the copy in /tmp), SANITIZE=1 (the module was
#   built with ASan and UBSan: run httpd with their runtime preloaded and
#   fail on any report).
set -euo pipefail

MPM=${MPM:-event}
APXS=${APXS:-/usr/bin/apxs}
HTTPD=${HTTPD:-/usr/sbin/apache2}
TEST_USER=${TEST_USER:-dttest}
MODULES_DIR=${MODULES_DIR:-$("$APXS" -q LIBEXECDIR)}
TEST_FILES=${TEST_FILES:-}
TEST_ARGS=${TEST_ARGS:-}

# What the suite may use.  A name whose .so is missing is left out, and
# modules compiled into the server (log_config, version on Debian) are
# not loaded twice.
MODULES="authn_core authn_file authz_core authz_user authz_groupfile
    authz_host auth_basic alias dir mime env setenvif headers status
    slotmem_shm socache_shmcb log_config version ${TEST_MODULES:-}"

top=$(pwd -P)
logs=$top/build/test-logs

say() { echo "apache-test: $*"; }
die() { echo "apache-test: $*" >&2; exit 1; }

case "$MPM" in
event|worker|prefork) ;;
*) die "MPM must be event, worker or prefork, not '$MPM'" ;;
esac
[ -f "$top/.libs/mod_downloadtoken.so" ] ||
    die "no .libs/mod_downloadtoken.so; run make"
[ -f "$top/t/TEST.PL" ] || die "no t/TEST.PL"
compgen -G "$top/t/*.t" >/dev/null || die "no t/*.t: no test to run"
[ -f "$MODULES_DIR/mod_mpm_$MPM.so" ] || die "no $MODULES_DIR/mod_mpm_$MPM.so"

rm -rf "$logs"
mkdir -p "$logs"

work=$(mktemp -d /tmp/dt-test.XXXXXX)
cleanup()
{
    if [ "${KEEP_TEST_DIR:-}" = 1 ]; then
        say "the test tree stays in $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# The copy: what git tracks plus new files not ignored (a test being
# written is there, build products are not); without git, the tree less
# its build products.
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$top" ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            [ -f "$top/$f" ] && printf '%s\0' "$f"
        done |
        tar -C "$top" --null -T - -cf - | tar -C "$work" -xf -
else
    tar -C "$top" --exclude=./.git --exclude=./build --exclude=./.libs \
        --exclude=./t/logs --exclude=./t/TEST -cf - . | tar -C "$work" -xf -
fi
mkdir -p "$work/.libs" "$work/build"
cp "$top/.libs/mod_downloadtoken.so" "$work/.libs/"

# SANITIZE=1: httpd is not instrumented, and ASan must be the first
# library a process loads, so the suite runs httpd through a wrapper that
# preloads the runtime.  Reports go to files beside the error log.
if [ "${SANITIZE:-}" = 1 ]; then
    asan=$(gcc -print-file-name=libasan.so)
    [ -f "$asan" ] || die "SANITIZE=1 needs gcc's libasan.so"
    wrapper=$work/build/httpd-sanitized
    cat >"$wrapper" <<EOT
#!/bin/sh
export LD_PRELOAD=$asan
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$work/t/logs/asan
export UBSAN_OPTIONS=print_stacktrace=1:log_path=$work/t/logs/ubsan
exec $HTTPD "\$@"
EOT
    chmod 755 "$wrapper"
    HTTPD=$wrapper
    say "httpd runs with ASan and UBSan ($asan preloaded)"
fi

inherit=$work/build/inherit.conf
{
    echo "# written by build-aux/apache-test.sh: what t/TEST inherits"
    echo "LoadModule mpm_${MPM}_module $MODULES_DIR/mod_mpm_$MPM.so"
    for m in $MODULES; do
        if [ -f "$MODULES_DIR/mod_$m.so" ]; then
            echo "LoadModule ${m}_module $MODULES_DIR/mod_$m.so"
        fi
    done
    echo "TypesConfig /etc/mime.types"
} >"$inherit"
# Skip what the server has built in: LoadModule of those is an error.
builtin=$("$HTTPD" -l | sed -n 's/^ *mod_\(.*\)\.c$/\1/p')
for m in $builtin; do
    sed -i "/^LoadModule ${m}_module /d" "$inherit"
done

# Apache::Test's own "-port select" starts from 8529 every time, so two
# suites that start together (two checkouts, a developer and CI) pick the
# same port, and the loser talks to the winner's server.  Start from a
# random base instead, with its next 19 ports free for Apache::Test's
# extra virtual hosts.
ports_free()
{
    perl -MIO::Socket::INET -e '
        for my $p ($ARGV[0] .. $ARGV[0] + 19) {
            IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => $p,
                                  Listen => 1, ReuseAddr => 1) or exit 1;
        }
        exit 0' "$1"
}
port=${TEST_PORT:-}
if [ -z "$port" ]; then
    for _ in $(seq 1 50); do
        port=$((20000 + (RANDOM % 1500) * 20))
        ports_free "$port" && break
        port=
    done
    [ -n "$port" ] || die "found no 20 free ports in 20000-50000"
fi

# The generated t/TEST runs under `env -i`: no variable of the caller's
# (a sticky APACHE_TEST_* setting, a proxy) changes what it does.
path=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin
run_env=(env -i PATH="$path" HOME="$work" LANG=C.UTF-8
         APACHE_TEST_NO_STICKY_PREFERENCES=1 APACHE_TEST_COLOR=0)
if [ "$(id -u)" -eq 0 ]; then
    if ! id "$TEST_USER" >/dev/null 2>&1; then
        say "creating the system user $TEST_USER"
        useradd --system --user-group --no-create-home \
            --home-dir /nonexistent --shell /usr/sbin/nologin "$TEST_USER"
    fi
    chown -R "$TEST_USER:" "$work"
    as_user=(runuser -u "$TEST_USER" --)
    run_user=$TEST_USER
    say "running as $TEST_USER in $work ($MPM MPM)"
else
    as_user=()
    run_user=$(id -un)
    say "running as $(id -un) in $work ($MPM MPM)"
fi

# -verbose puts every result and diagnostic into harness.log; the screen
# shows all but the passing lines.
# shellcheck disable=SC2086 # TEST_ARGS and TEST_FILES are word lists
set +e
(
    cd "$work" &&
    "${as_user[@]}" "${run_env[@]}" perl t/TEST.PL &&
    "${as_user[@]}" "${run_env[@]}" t/TEST -apxs "$APXS" -httpd "$HTTPD" \
        -httpd_conf "$inherit" -port "$port" -verbose $TEST_ARGS $TEST_FILES
) </dev/null 2>&1 | tee "$logs/harness.log" | grep --line-buffered -v '^ok '
rc=${PIPESTATUS[0]}
set -e

# t/TEST stops its server, unless it died first (or a test restarted the
# server and failed before starting it again): stop what is left of ours,
# found by the pid file or by this run's unique configuration path.
stray=$(cat "$work/t/logs/httpd.pid" 2>/dev/null || true)
stray="$stray $(pgrep -u "$run_user" -f -- "-f $work/t/conf/httpd.conf" \
                2>/dev/null || true)"
stray=$(printf '%s\n' $stray | sort -un)
for pid in $stray; do
    if kill -0 "$pid" 2>/dev/null; then
        say "stopping a test server process left running (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
    fi
done
for _ in $(seq 1 50); do
    alive=
    for pid in $stray; do
        kill -0 "$pid" 2>/dev/null && alive=yes
    done
    [ -z "$alive" ] && break
    sleep 0.1
done

# Whatever happened, keep what the server said.
if [ -d "$work/t/logs" ]; then
    find "$work/t/logs" -maxdepth 1 -type f \
        ! -name '*.pid' ! -name '*.lock' -exec cp {} "$logs/" \;
fi
# A crashed child leaves t/core (ulimit -c is raised by t/TEST).
for f in "$work"/t/core*; do
    [ -f "$f" ] && cp "$f" "$logs/" && say "core dump kept; read it" \
        "with: gdb -ex 'set solib-search-path .libs' -ex bt $HTTPD" \
        "build/test-logs/${f##*/}"
done
mkdir -p "$logs/conf"
for f in httpd.conf extra.conf; do
    [ -f "$work/t/conf/$f" ] && cp "$work/t/conf/$f" "$logs/conf/"
done
cp "$inherit" "$logs/conf/"

# A sanitizer's report fails the run, even if every test passed.
if [ "${SANITIZE:-}" = 1 ]; then
    reports=$(find "$logs" -maxdepth 1 -name 'asan.*' -o -maxdepth 1 \
              -name 'ubsan.*' | sort)
    if [ -n "$reports" ]; then
        say "FAILED: sanitizer reports in build/test-logs/:" $reports
        head -n 40 $reports
        exit 1
    fi
    say "no sanitizer report"
fi

# Zero tests is a failure: a suite that skipped everything, or never
# started, must not pass.
tests=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' \
        "$logs/harness.log" |
        tail -n 1)
if grep -q '^Result: NOTESTS' "$logs/harness.log"; then
    say "FAILED: every test file skipped, no test ran;" \
        "logs in build/test-logs/"
    exit 1
fi
if [ "$rc" -ne 0 ] || ! grep -q '^Result: PASS' "$logs/harness.log"; then
    say "FAILED (exit $rc); logs in build/test-logs/" \
        "(error_log, harness.log, conf/)"
    exit 1
fi
if [ -z "$tests" ] || [ "$tests" -eq 0 ]; then
    say "FAILED: no test ran; logs in build/test-logs/"
    exit 1
fi
say "every test passed with the $MPM MPM"
say "$tests passed, 0 failed"
