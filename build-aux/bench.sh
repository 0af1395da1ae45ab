#!/bin/bash
# bench.sh: `make bench`, mod_downloadtoken side by side with Apache's own
# static serving, on this machine, in one run.
#
# Each figure is a ratio of two sides measured in the same run: the
# sides alternate (A B A B ...) for BENCH_ROUNDS rounds of BENCH_SECONDS
# each, and the table shows the median of the rounds' ratios, with the
# median absolute rates beside it (this machine's, not a promise).  wrk
# is the load generator: 2 threads, 32 keep-alive connections.  Only
# correct replies count (build-aux/bench/bench.lua checks every body);
# the rest are printed as failures.
#
#   1 issue    token issue (GET /callrec/downloadtoken?id_call[]=1165&
#              type=1, a session cookie) over a static file as long as
#              the token reply (76 bytes), same server
#   2 redeem   redeem a fresh token for a 1 MiB MP3 over a static GET of
#              the same file (a hard link), same server, EnableSendfile
#   3 flat     issue plus redeem (of a 1 KiB MP3) on a table of 1,000,000
#              token slots 90% full over the same on one 1% full: two
#              servers, alternated
#   then each again under prefork, worker and event; and
#   5 cpu      instructions per request under callgrind (apache2 -X):
#              token issue over tiny static, counted, not timed
#
# environment: BENCH_SECONDS (5), BENCH_ROUNDS (5), BENCH_MPMS
# ("prefork worker event"), BENCH_CG_REQUESTS (2000; 0 skips callgrind),
# BENCH_TESTS (a subset of "issue redeem flat cpu"; redeem needs issue),
# HTTPD, APXS, MODULES_DIR.  A quick look: BENCH_SECONDS=1 BENCH_ROUNDS=3.
# Everything goes under build/bench/; the table is also written to
# build/bench/table.txt and every round to build/bench/rounds.log.
set -euo pipefail

SECS=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-5}
MPMS=${BENCH_MPMS:-prefork worker event}
CG_N=${BENCH_CG_REQUESTS:-2000}
TESTS=${BENCH_TESTS:-issue redeem flat cpu}
HTTPD=${HTTPD:-/usr/sbin/apache2}
APXS=${APXS:-apxs}
MODULES_DIR=${MODULES_DIR:-/usr/lib/apache2/modules}
THREADS=2
CONNS=32
SESSIONS=16

# Capacities (see the report of each test for why these):
MAIN_CAPACITY=2000000    # tests 1 and 2: never fills during a run
FLAT_CAPACITY=1000000    # test 3
FLAT_LOW=10000           # 1% full
FLAT_HIGH=900000         # 90% full
MEDIA_LEN=1048576        # 1 MiB: call 1165
SMALL_LEN=1024           # 1 KiB: call 1167, for issue plus redeem

top=$(pwd -P)
bench=$top/build/bench
lua=$top/build-aux/bench/bench.lua
module=$bench/module/.libs/mod_downloadtoken.so
rounds_log=$bench/rounds.log
table=$bench/table.txt
issue_path="/callrec/downloadtoken?id_call[]=1165&type=1"
small_issue_path="/callrec/downloadtoken?id_call[]=1167&type=1"

die()
{
    echo "bench: $*" >&2
    exit 1
}

for n in "$SECS" "$ROUNDS" "$CG_N"; do
    case "$n" in
    ''|*[!0-9]*) die "BENCH_SECONDS, BENCH_ROUNDS and BENCH_CG_REQUESTS" \
                     "must be numbers" ;;
    esac
done
[ "$SECS" -ge 1 ] && [ "$ROUNDS" -ge 1 ] || die "at least 1 round of 1 s"
for m in $MPMS; do
    case "$m" in
    event|worker|prefork) ;;
    *) die "BENCH_MPMS: '$m' is not event, worker or prefork" ;;
    esac
done
for tool in wrk curl perl htpasswd sox lame cc "$APXS"; do
    command -v "$tool" >/dev/null || die "$tool is missing; run make deps"
done
if [ "$CG_N" -gt 0 ]; then
    command -v valgrind >/dev/null || die "valgrind is missing (or" \
                                          "BENCH_CG_REQUESTS=0)"
fi

# ---- the MPMs, tuned for 2 cores and 32 keep-alive connections -------
#
# prefork and worker hold a process or thread per keep-alive connection,
# so they get room for 32 plus spares, started in advance and bounded so
# that no child is started or stopped during a run.  event serves idle
# keep-alive connections from its listener and needs few threads, but it
# closes keep-alive connections of a process that holds more connections
# than its share of workers allows, and wrk's 32 need not split evenly
# between the 2 processes (one per core): 32 threads each, so either may
# hold all 32 connections.

mpm_tuning()
{
    case "$1" in
    prefork) cat <<'EOF'
StartServers 48
MinSpareServers 8
MaxSpareServers 64
ServerLimit 64
MaxRequestWorkers 64
MaxConnectionsPerChild 0
EOF
    ;;
    worker) cat <<'EOF'
StartServers 2
ServerLimit 2
ThreadsPerChild 32
MaxRequestWorkers 64
MinSpareThreads 16
MaxSpareThreads 64
MaxConnectionsPerChild 0
EOF
    ;;
    event) cat <<'EOF'
StartServers 2
ServerLimit 2
ThreadsPerChild 32
MaxRequestWorkers 64
MinSpareThreads 16
MaxSpareThreads 64
MaxConnectionsPerChild 0
EOF
    ;;
    esac
}

# ---- files shared by every server -------------------------------------

# As root, children run as an unprivileged user, who must reach the files.
user_group()
{
    local u
    [ "$(id -u)" -eq 0 ] || return 0
    for u in www-data daemon; do
        if id "$u" >/dev/null 2>&1; then
            runuser -u "$u" -- test -r "$bench/htpasswd" 2>/dev/null ||
                die "user $u cannot read $bench/htpasswd: every directory" \
                    "above it must be world-searchable (chmod o+x)"
            echo "User $u"
            echo "Group $(id -gn "$u")"
            return 0
        fi
    done
    die "no unprivileged user (www-data, daemon) to run the children"
}

# The reply to a token request, byte for byte as long: the static side
# of test 1 serves this many bytes of text/xml.
tiny_reply()
{
    printf '<?xml version="1.0" encoding="UTF-8"?>\r\n'
    printf '<reply>staticStaticStatic00</reply>\n'
}

# The module as `make` builds it (apxs: -O2 -g), from a copy of the
# sources in build/bench/module/: whatever .libs/ holds at the moment (a
# SANITIZE=1 build, say) is not what gets measured.
build_module()
{
    local src=$bench/module
    rm -rf "$src"
    mkdir -p "$src/src" "$src/include"
    cp mod_downloadtoken*.c "$src/"
    cp src/*.c "$src/src/"
    cp include/*.h "$src/include/"
    (cd "$src" && "$APXS" -c -Iinclude -Wc,-Wall -Wc,-Wextra -larchive \
        mod_downloadtoken*.c src/*.c) >"$bench/module-build.log" 2>&1 ||
        { cat "$bench/module-build.log" >&2; die "module build failed"; }
    [ -f "$module" ] || die "apxs made no $module"
}

make_files()
{
    local wav=$bench/tone.wav
    mkdir -p "$bench/htdocs/static" "$bench/media" "$bench/snap"
    tiny_reply >"$bench/htdocs/tiny.xml"
    [ "$(wc -c <"$bench/htdocs/tiny.xml")" -eq 76 ] ||
        die "tiny.xml is not 76 bytes"
    if [ ! -f "$bench/media/1165.mp3" ] ||
       [ "$(wc -c <"$bench/media/1165.mp3")" -ne "$MEDIA_LEN" ]; then
        # 140 s of a tone at 64 kbit/s is a little over 1 MiB; cut to
        # exactly 1 MiB (the last frame is cut short, players skip it).
        sox -q -n -r 22050 -c 1 "$wav" synth 140 sine 440 vol 0.3
        lame --quiet -b 64 "$wav" "$bench/media/full.mp3"
        head -c "$MEDIA_LEN" "$bench/media/full.mp3" \
            >"$bench/media/1165.mp3"
        head -c "$SMALL_LEN" "$bench/media/full.mp3" \
            >"$bench/media/1167.mp3"
        rm -f "$wav" "$bench/media/full.mp3"
    fi
    # The same file for the static side: a hard link, so the same inode
    # and the same page cache, outside the media directory's AuthType.
    ln -f "$bench/media/1165.mp3" "$bench/htdocs/static/1165.mp3"
    [ -f "$bench/htpasswd" ] || htpasswd -cbB "$bench/htpasswd" bench bench \
        2>/dev/null
    chmod -R o+rX "$bench/htdocs" "$bench/media" "$bench/htpasswd"

    # The filler of test 3 (see build-aux/bench/fill.c).
    # shellcheck disable=SC2046
    cc -O2 -Wall -Wextra -Iinclude $(apr-1-config --cflags --cppflags \
        --includes) $(apu-1-config --includes) -o "$bench/fill" \
        build-aux/bench/fill.c src/dt_store_shm.c \
        $(apr-1-config --link-ld --libs)
    "$bench/fill" "$bench/snap/low" 4 "$FLAT_LOW" 1167 >/dev/null
    "$bench/fill" "$bench/snap/high" 10 "$FLAT_HIGH" 1167 >/dev/null
}

free_port()
{
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen => 1,
             LocalAddr => "127.0.0.1:0", ReuseAddr => 1)->sockport'
}

# ---- servers ----------------------------------------------------------

declare -A PORT

# start_server NAME MPM CAPACITY [SNAPSHOT]
start_server()
{
    local name=$1 mpm=$2 capacity=$3 snap=${4:-} root=$bench/$1 i
    local port ug
    port=$(free_port)
    ug=$(user_group)
    mkdir -p "$root/run" "$root/logs"
    rm -f "$root/run/"*
    : >"$root/logs/error_log"
    if [ -n "$snap" ]; then
        # A link: the server deletes the name it read, not our file.
        ln -f "$snap" "$root/run/downloadtoken.snapshot"
    fi
    sed -e "s|@ROOT@|$root|g" -e "s|@BENCH@|$bench|g" \
        -e "s|@PORT@|$port|g" -e "s|@MPM@|$mpm|g" \
        -e "s|@MODULES_DIR@|$MODULES_DIR|g" -e "s|@MODULE_SO@|$module|g" \
        -e "s|@TOKEN_CAPACITY@|$capacity|g" \
        -e "s|@SNAPSHOT@|$root/run/downloadtoken.snapshot|g" \
        "$top/build-aux/bench/httpd.conf.in" |
        awk -v ug="$ug" -v tune="$(mpm_tuning "$mpm")" '
            $0 == "@USER_GROUP@" { print ug; next }
            $0 == "@MPM_TUNING@" { print tune; next }
            { print }' >"$root/httpd.conf"
    "$HTTPD" -d "$root" -f "$root/httpd.conf" -t >"$root/logs/configtest" \
        2>&1 || { cat "$root/logs/configtest" >&2; die "bad config"; }
    "$HTTPD" -d "$root" -f "$root/httpd.conf" -k start
    for i in $(seq 1 300); do
        if curl -s -o /dev/null --max-time 1 \
            "http://127.0.0.1:$port/tiny.xml"; then
            PORT[$name]=$port
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$root/logs/error_log" >&2
    die "server $name did not answer on port $port"
}

stop_server()
{
    local name=$1 root=$bench/$1 pid i
    pid=$(cat "$root/run/httpd.pid" 2>/dev/null) || return 0
    # The clean stop writes a snapshot; nobody reads it again.
    "$HTTPD" -d "$root" -f "$root/httpd.conf" -k stop 2>/dev/null || true
    for i in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    rm -f "$root/run/downloadtoken.snapshot"
    unset "PORT[$name]"
}

stop_all()
{
    local name
    for name in main low high; do
        [ -f "$bench/$name/run/httpd.pid" ] && stop_server "$name"
    done
    return 0
}
trap stop_all EXIT

# login NAME COUNT: COUNT sessions, their ids in $bench/NAME/sessions
login()
{
    local name=$1 count=$2 url i reply
    url="http://127.0.0.1:${PORT[$1]}/callrec/loginservlet"
    : >"$bench/$name/sessions"
    for i in $(seq 1 "$count"); do
        reply=$(curl -s -d loginname=bench -d password=bench "$url")
        echo "$reply" | sed -n 's/.*sessionid="\([0-9A-F]\{32\}\)".*/\1/p' \
            >>"$bench/$name/sessions"
    done
    [ "$(wc -l <"$bench/$name/sessions")" -eq "$count" ] ||
        die "login on $name failed: $reply"
}

status_value()
{
    curl -s "http://127.0.0.1:${PORT[$1]}/callrec/status" |
        sed -n "s/^$2: //p"
}

# ---- wrk --------------------------------------------------------------

# wrk_run NAME SECONDS MODE ARGS...: prints
# "RATE OK FAIL RANOUT SOCK FIRST"
wrk_run()
{
    local name=$1 secs=$2 out line ok fail ranout sock dur first
    shift 2
    out=$(wrk -t "$THREADS" -c "$CONNS" -d "${secs}s" --timeout 10s \
              -s "$lua" "http://127.0.0.1:${PORT[$name]}" -- "$@" 2>&1) ||
        die "wrk failed: $out"
    line=$(echo "$out" | grep '^BENCH ') || die "wrk printed no result: $out"
    ok=$(echo "$line" | sed 's/.* ok=\([0-9]*\).*/\1/')
    fail=$(echo "$line" | sed 's/.* fail=\([0-9]*\).*/\1/')
    ranout=$(echo "$line" | sed 's/.* ranout=\([0-9]*\).*/\1/')
    sock=$(echo "$line" | sed 's/.* sock=\([0-9]*\).*/\1/')
    dur=$(echo "$line" | sed 's/.* duration_us=\([0-9]*\).*/\1/')
    first=$(echo "$line" | sed 's/.* first_failure=//')
    awk -v ok="$ok" -v d="$dur" 'BEGIN { printf "%.1f", ok / (d / 1e6) }'
    echo " $ok $fail $ranout $sock $first"
}

median()
{
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) printf "%.3f", v[(NR + 1) / 2];
        else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Pre-issue COUNT tokens on server NAME (wrk, fill mode) into FILE.
pre_issue()
{
    local name=$1 count=$2 file=$3 rate=$4 per secs
    per=$(( (count + THREADS - 1) / THREADS ))
    # wrk runs for its whole -d even when every thread has stopped, so
    # the duration is sized from the issue rate measured just before.
    secs=$(awk -v n="$count" -v r="$rate" \
        'BEGIN { s = int(n / (r > 100 ? r : 100) * 1.4) + 1; print s }')
    wrk_run "$name" "$secs" fill "$issue_path" "$bench/$name/sessions" \
        "$per" "$file" >/dev/null
    [ "$(wc -l <"$file")" -ge "$count" ] ||
        die "pre-issue got $(wc -l <"$file") of $count tokens"
}

# Results of one test: "A B" per round in $bench/cur, totals of
# failures in FAILS, ran-out counts in RANOUT.
FAILS=0
RANOUT=0
SOCK=0
FIRSTFAIL=""
ISSUE_RATE=0

# measure SIDE NAME SECONDS MODE ARGS...: one wrk run; its rate of
# correct replies in LAST_RATE, its failures added to the test's counts.
LAST_RATE=0
measure()
{
    local side=$1 res rate ok fail ranout sock first
    shift
    res=$(wrk_run "$@")
    read -r rate ok fail ranout sock first <<<"$res"
    FAILS=$((FAILS + fail))
    RANOUT=$((RANOUT + ranout))
    SOCK=$((SOCK + sock))
    if [ "$fail" -gt 0 ] && [ -z "$FIRSTFAIL" ]; then
        FIRSTFAIL="$side: $first"
    fi
    LAST_RATE=$rate
}

# row MPM TEST A_LABEL B_LABEL TARGET: one line of the table from
# $bench/cur ("A B" per round)
row()
{
    local mpm=$1 test=$2 target=$3 a b ratio range verdict
    a=$(awk '{ print $1 }' "$bench/cur" | median)
    b=$(awk '{ print $2 }' "$bench/cur" | median)
    ratio=$(awk '{ print $2 / $1 }' "$bench/cur" | median)
    range=$(awk '{ r = $2 / $1; if (NR == 1 || r < lo) lo = r;
                   if (NR == 1 || r > hi) hi = r }
                 END { printf "%.2f-%.2f", lo, hi }' "$bench/cur")
    if awk -v r="$ratio" -v t="$target" 'BEGIN { exit !(r >= t) }' &&
       [ "$FAILS" -eq 0 ] && [ "$RANOUT" -eq 0 ]; then
        verdict=met
    else
        verdict=MISSED
    fi
    printf '%-8s %-27s %8.0f %8.0f %6.3f %-9s >=%.2f %-6s %5d %4d\n' \
        "$mpm" "$test" "$a" "$b" "$ratio" "$range" "$target" "$verdict" \
        "$FAILS" "$SOCK" | tee -a "$table"
    if [ -n "$FIRSTFAIL" ]; then
        echo "         first failure: $FIRSTFAIL" | tee -a "$table"
    fi
    if [ "$RANOUT" -gt 0 ]; then
        echo "         $RANOUT redeem requests found no pre-issued token" |
            tee -a "$table"
    fi
}

reset_counts()
{
    FAILS=0
    RANOUT=0
    SOCK=0
    FIRSTFAIL=""
    : >"$bench/cur"
}

# ---- tests 1 and 2 ----------------------------------------------------

test_issue()
{
    local mpm=$1 r a b
    reset_counts
    for r in $(seq 1 "$ROUNDS"); do
        measure static main "$SECS" static /tiny.xml 76 \
            "$bench/main/sessions"
        a=$LAST_RATE
        measure issue main "$SECS" issue "$issue_path" \
            "$bench/main/sessions"
        b=$LAST_RATE
        echo "$a $b" >>"$bench/cur"
        echo "$mpm issue round $r: static $a/s issue $b/s" >>"$rounds_log"
    done
    ISSUE_RATE=$(awk '{ print $2 }' "$bench/cur" | median)
    row "$mpm" "1 issue/static 76 B" 0.90
}

test_redeem()
{
    local mpm=$1 r a b need prev=0 tokens=$bench/main/tokens
    reset_counts
    for r in $(seq 1 "$ROUNDS"); do
        measure static main "$SECS" static /static/1165.mp3 "$MEDIA_LEN" \
            "$bench/main/sessions"
        a=$LAST_RATE
        # Enough fresh tokens for a redeem round twice as fast as this
        # static one or the last redeem round: each wrk thread has its
        # own half, and one may run faster than the other.
        need=$(awk -v a="$a" -v b="$prev" -v s="$SECS" \
            'BEGIN { m = a > b ? a : b; print int(m * s * 2) + 1000 }')
        pre_issue main "$need" "$tokens" "$ISSUE_RATE"
        measure redeem main "$SECS" redeem "$tokens" "$THREADS" \
            "$MEDIA_LEN"
        b=$LAST_RATE
        prev=$b
        echo "$a $b" >>"$bench/cur"
        echo "$mpm redeem round $r: static $a/s redeem $b/s" \
             "($need tokens)" >>"$rounds_log"
    done
    row "$mpm" "2 redeem/static 1 MiB" 0.90
}

# ---- test 3 -----------------------------------------------------------

test_flat()
{
    local mpm=$1 r a b live_low live_high flat_after
    reset_counts
    start_server low "$mpm" "$FLAT_CAPACITY" "$bench/snap/low"
    start_server high "$mpm" "$FLAT_CAPACITY" "$bench/snap/high"
    login low "$SESSIONS"
    login high "$SESSIONS"
    live_low=$(status_value low tokens-live)
    live_high=$(status_value high tokens-live)
    SLOT_BYTES=$(status_value high token-slot-bytes)
    SHM_BYTES=$(status_value high shm-bytes)
    echo "$mpm flat: tokens-live $live_low and $live_high of" \
         "$FLAT_CAPACITY" >>"$rounds_log"
    for r in $(seq 1 "$ROUNDS"); do
        measure "1% full" low "$SECS" mix "$small_issue_path" \
            "$bench/low/sessions" "$SMALL_LEN"
        a=$LAST_RATE
        measure "90% full" high "$SECS" mix "$small_issue_path" \
            "$bench/high/sessions" "$SMALL_LEN"
        b=$LAST_RATE
        echo "$a $b" >>"$bench/cur"
        echo "$mpm flat round $r: 1% $a/s 90% $b/s" >>"$rounds_log"
    done
    flat_after="$(status_value low tokens-live) and"
    flat_after="$flat_after $(status_value high tokens-live)"
    stop_server low
    stop_server high
    row "$mpm" "3 issue+redeem 90%/1%" 0.95
    printf '         table: %s and %s tokens live before, %s after\n' \
        "$live_low" "$live_high" "$flat_after" | tee -a "$table"
}

# ---- test 5: instructions under callgrind -----------------------------
#
# One process (apache2 -X, prefork), the same configuration.  Each run
# starts the server under callgrind, logs in, sends N (or 2N) requests of
# one kind over one keep-alive connection (curl), and stops it.  Two
# counts per kind: the cost inclusive of ap_process_request (what httpd
# does for a request once its headers are read: hooks, handler, output),
# and the whole process.  Each figure is (count at 2N - count at N) / N,
# so start-up, the login, the probe and the stop cancel out exactly.

CG_RESULTS=""

cg_run()
{
    local kind=$1 n=$2 out=$3 root=$bench/cg port i url cfg pid
    port=$(free_port)
    mkdir -p "$root/run" "$root/logs" "$root/out"
    chmod 1777 "$root/out"
    rm -f "$root/run/"*
    sed -e "s|@ROOT@|$root|g" -e "s|@BENCH@|$bench|g" \
        -e "s|@PORT@|$port|g" -e "s|@MPM@|prefork|g" \
        -e "s|@MODULES_DIR@|$MODULES_DIR|g" -e "s|@MODULE_SO@|$module|g" \
        -e "s|@TOKEN_CAPACITY@|50000|g" \
        -e "s|@SNAPSHOT@|none|g" \
        "$top/build-aux/bench/httpd.conf.in" |
        awk -v ug="$(user_group)" '
            $0 == "@USER_GROUP@" { print ug; next }
            $0 == "@MPM_TUNING@" { next }
            { print }' >"$root/httpd.conf"
    rm -f "$out"
    valgrind --tool=callgrind --vgdb=no --callgrind-out-file="$out" \
        "$HTTPD" -X -d "$root" -f "$root/httpd.conf" \
        >"$root/logs/valgrind.log" 2>&1 &
    pid=$!
    url=http://127.0.0.1:$port
    for i in $(seq 1 600); do
        curl -s -o /dev/null --max-time 2 "$url/tiny.xml" && break
        sleep 0.2
    done
    PORT[cg]=$port
    # callgrind made its file as root; the child writes it at the end as
    # the User it switched to.
    chmod 666 "$out"
    login cg 1
    if [ "$kind" = static ]; then
        url="$url/tiny.xml"
    else
        url="$url$issue_path"
    fi
    cfg=$root/curl.cfg
    : >"$cfg"
    for i in $(seq 1 "$n"); do
        printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$cfg"
    done
    curl -s -g -K "$cfg" -H "Cookie: JSESSIONID=$(cat "$root/sessions")" \
        -w '%{http_code} %{size_download}\n' >"$root/replies"
    if [ "$(grep -c '^200 76$' "$root/replies")" -ne "$n" ]; then
        die "callgrind: not every $kind reply was 200 with 76 bytes:" \
            "$(sort "$root/replies" | uniq -c | head -3)"
    fi
    kill -TERM "$pid"
    wait "$pid" || true
    unset "PORT[cg]"
}

# cg_counts FILE: "TOTAL INCLUSIVE" instructions
cg_counts()
{
    local total incl
    total=$(callgrind_annotate "$1" 2>/dev/null |
        sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
    incl=$(callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
        grep -m1 ':ap_process_request \[' | awk '{ print $1 }' | tr -d ,)
    echo "${total:-0} ${incl:-0}"
}

test_cpu()
{
    local n=$CG_N kind t1 i1 t2 i2 per_total per_incl
    local out=$bench/cg/out
    declare -A TOT INC
    for kind in static issue; do
        cg_run "$kind" "$n" "$out/$kind.1"
        cg_run "$kind" "$((2 * n))" "$out/$kind.2"
        read -r t1 i1 <<<"$(cg_counts "$out/$kind.1")"
        read -r t2 i2 <<<"$(cg_counts "$out/$kind.2")"
        TOT[$kind]=$(( (t2 - t1) / n ))
        INC[$kind]=$(( (i2 - i1) / n ))
        echo "callgrind $kind: $t1 $i1 at $n, $t2 $i2 at $((2 * n))" \
            >>"$rounds_log"
    done
    per_incl=$(awk -v a="${INC[static]}" -v b="${INC[issue]}" \
        'BEGIN { printf "%.3f", b / a }')
    per_total=$(awk -v a="${TOT[static]}" -v b="${TOT[issue]}" \
        'BEGIN { printf "%.3f", b / a }')
    {
        echo
        echo "5 CPU cost per request, counted by callgrind (apache2 -X," \
             "prefork; ($n x 2 - $n requests) / $n, one keep-alive" \
             "connection):"
        printf '  %-40s %12s %12s %7s\n' "instructions per request" \
            "76 B static" "token issue" "ratio"
        printf '  %-40s %12d %12d %7s  target <=1.30: %s\n' \
            "inside ap_process_request" "${INC[static]}" "${INC[issue]}" \
            "$per_incl" "$(awk -v r="$per_incl" \
                'BEGIN { print (r <= 1.3) ? "met" : "MISSED" }')"
        printf '  %-40s %12d %12d %7s\n' "whole process (read, write, poll)" \
            "${TOT[static]}" "${TOT[issue]}" "$per_total"
        echo
        echo "  where the difference goes (top functions, inclusive):"
        perl "$top/build-aux/bench/cgdiff.pl" "$n" "$out/static.1" \
            "$out/static.2" "$out/issue.1" "$out/issue.2" 30
        echo "  profiles: callgrind_annotate --inclusive=yes" \
             "build/bench/cg/out/issue.2"
    } | tee -a "$table"
}

# ---- the run ----------------------------------------------------------

mkdir -p "$bench"
stop_all
build_module
make_files
: >"$rounds_log"
: >"$table"
{
    echo "mod_downloadtoken bench: $ROUNDS rounds x $SECS s per side," \
         "sides alternated; wrk $THREADS threads, $CONNS keep-alive" \
         "connections; $(nproc) cores"
    echo "B/A: median of the rounds' ratios (range: lowest and highest" \
         "round); A and B req/s: medians of correct replies per second," \
         "this machine's, not a promise"
    echo "wrong: wrong replies (not counted as throughput); sock:" \
         "connections closed or timed out under wrk (no reply)"
    echo
    printf '%-8s %-27s %8s %8s %6s %-9s %-6s %-6s %5s %4s\n' MPM test \
        "A req/s" "B req/s" "B/A" "B/A range" target result wrong sock
} | tee -a "$table"

wants()
{
    case " $TESTS " in
    *" $1 "*) return 0 ;;
    esac
    return 1
}

for mpm in $MPMS; do
    if wants issue || wants redeem; then
        start_server main "$mpm" "$MAIN_CAPACITY"
        login main "$SESSIONS"
        test_issue "$mpm"
        if wants redeem; then
            test_redeem "$mpm"
        fi
        echo "$mpm main: tokens-live $(status_value main tokens-live)," \
             "full-refusals $(status_value main full-refusals)" \
             >>"$rounds_log"
        stop_server main
    fi
    if wants flat; then
        test_flat "$mpm"
    fi
done

{
    if wants flat; then
        echo
        echo "test 3 store: $FLAT_CAPACITY token slots of $SLOT_BYTES" \
             "bytes (DownloadTokenMaxCalls 4), $SHM_BYTES bytes of shared" \
             "memory in all ($(awk -v b="$SHM_BYTES" \
                 'BEGIN { printf "%.1f MiB", b / 1048576 }'))"
    fi
    echo
    echo "MPM tuning (2 cores):"
    for mpm in $MPMS; do
        echo "  $mpm: $(mpm_tuning "$mpm" | tr '\n' ';' | sed 's/;$//;
            s/;/; /g')"
    done
} | tee -a "$table"

if [ "$CG_N" -gt 0 ] && wants cpu; then
    test_cpu
fi
echo
echo "bench: table in build/bench/table.txt, rounds in" \
     "build/bench/rounds.log"
