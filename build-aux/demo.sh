#!/bin/bash
# demo.sh: the demo server under build/demo/, for `make run|start|stop|
# reload`.  The Makefile builds the module, the media and the htpasswd
# first; this script writes the configuration and drives apache2.
#
# usage: build-aux/demo.sh run|start|stop|reload|config
# environment: MPM (event|worker|prefork), PORT, HTTPD
set -euo pipefail

MPM=${MPM:-event}
PORT=${PORT:-8080}
HTTPD=${HTTPD:-/usr/sbin/apache2}
MODULES_DIR=${MODULES_DIR:-/usr/lib/apache2/modules}

top=$(pwd -P)
root=$top/build/demo
conf=$root/httpd.conf
pidfile=$root/run/httpd.pid
url=http://127.0.0.1:$PORT

case "$MPM" in
event|worker|prefork) ;;
*) echo "demo: MPM must be event, worker or prefork, not '$MPM'" >&2; exit 2 ;;
esac
case "$PORT" in
''|*[!0-9]*) echo "demo: PORT must be a number, not '$PORT'" >&2; exit 2 ;;
esac

running_pid()
{
    local pid
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

# As root, the children must not be root: pick a system user and make
# sure it can read what they serve.  Not root: children run as us.
user_group()
{
    local u
    if [ "$(id -u)" -ne 0 ]; then
        echo "# Not started as root: the children run as $(id -un)."
        return
    fi
    for u in www-data daemon; do
        if id "$u" >/dev/null 2>&1; then
            if ! runuser -u "$u" -- test -r "$root/htpasswd" 2>/dev/null
            then
                echo "demo: user $u cannot read $root/htpasswd; every" \
                     "directory above $root must be world-searchable" \
                     "(chmod o+x) for the demo to run as root" >&2
                exit 1
            fi
            echo "User $u"
            echo "Group $(id -gn "$u")"
            return
        fi
    done
    echo "demo: no unprivileged user (www-data, daemon) to run children" >&2
    exit 1
}

write_config()
{
    local ug
    mkdir -p "$root/run" "$root/logs" "$root/htdocs"
    [ -f "$top/.libs/mod_downloadtoken.so" ] || {
        echo "demo: .libs/mod_downloadtoken.so is missing; run make" >&2
        exit 1
    }
    # Group file for `Require group`: demo is an operator, guest is not.
    echo "operators: demo" >"$root/groups"
    sed -e "s|@PORT@|$PORT|g" "$top/demo/index.html" >"$root/htdocs/index.html"
    mkdir -p "$root/htdocs/callrec/operators"
    cp "$top/demo/operators.html" "$root/htdocs/callrec/operators/index.html"
    ug=$(user_group) || exit 1
    # The USER_GROUP placeholder spans lines, so it goes in through awk.
    sed -e "s|@DEMO_ROOT@|$root|g" \
        -e "s|@PORT@|$PORT|g" \
        -e "s|@MPM@|$MPM|g" \
        -e "s|@MODULES_DIR@|$MODULES_DIR|g" \
        -e "s|@MODULE_SO@|$top/.libs/mod_downloadtoken.so|g" \
        "$top/conf/demo-httpd.conf.in" |
        awk -v ug="$ug" '$0 == "@USER_GROUP@" { print ug; next } { print }' \
        >"$conf.tmp"
    if ! "$HTTPD" -d "$root" -f "$conf.tmp" -t >"$root/logs/configtest" 2>&1
    then
        cat "$root/logs/configtest" >&2
        echo "demo: $conf.tmp does not pass apache2 -t" >&2
        exit 1
    fi
    mv "$conf.tmp" "$conf"
}

banner()
{
    cat <<EOF

  mod_downloadtoken demo ($MPM MPM): $url/
  users: demo/demo (group operators) and guest/guest

  log in (the cookie jar keeps JSESSIONID):
    curl -c cookies.txt -d loginname=demo -d password=demo $url/callrec/loginservlet
  get a download token for calls 1165 and 1166:
    curl -b cookies.txt -c cookies.txt -X POST -d "id_call[]=1165,1166" -d "type=1" -d "action=download" -H "Content-Type: application/x-www-form-urlencoded" -H "Accept: text/xml" $url/callrec/downloadtoken
  fetch the recordings with the token (once; replace TOKEN with the reply's):
    curl -o calls.zip "$url/callrec/sendcallfile.mp3?token=TOKEN"
  log out (ends the session and its tokens):
    curl -b cookies.txt $url/callrec/logoutservlet
  a page for the group operators (demo is one, guest is not):
    curl -b cookies.txt $url/callrec/operators/
  store report:
    curl $url/callrec/status

  logs: build/demo/logs/error_log, build/demo/logs/access_log
EOF
}

# Wait until the server answers HTTP (any status), at most 15 seconds.
wait_http()
{
    local i
    for i in $(seq 1 150); do
        if curl -s -o /dev/null --max-time 1 "$url/"; then
            return 0
        fi
        sleep 0.1
    done
    echo "demo: no answer on $url after 15 s; the end of the error log:" >&2
    tail -n 20 "$root/logs/error_log" >&2 || true
    return 1
}

wait_gone()
{
    local pid=$1 i
    for i in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "demo: pid $pid still running after 15 s" >&2
    return 1
}

do_start()
{
    if pid=$(running_pid); then
        echo "demo: already running (pid $pid, $(cat "$root/run/mpm")" \
             "MPM); make stop first, or make reload"
        return 0
    fi
    write_config
    "$HTTPD" -d "$root" -f "$conf" -k start
    echo "$MPM" >"$root/run/mpm"
    wait_http
    echo "demo: started, pid $(cat "$pidfile")"
    banner
}

do_stop()
{
    local pid
    if ! pid=$(running_pid); then
        echo "demo: not running"
        return 0
    fi
    "$HTTPD" -d "$root" -f "$conf" -k stop
    wait_gone "$pid"
    echo "demo: stopped"
}

do_reload()
{
    local pid old
    if ! pid=$(running_pid); then
        echo "demo: not running; starting it"
        do_start
        return
    fi
    old=$(cat "$root/run/mpm" 2>/dev/null || echo "$MPM")
    # httpd keeps its MPM across a graceful restart; a new one needs a
    # fresh start.
    if [ "$old" != "$MPM" ]; then
        echo "demo: switching from the $old MPM to $MPM: stop and start"
        do_stop
        do_start
        return
    fi
    write_config
    "$HTTPD" -d "$root" -f "$conf" -k graceful
    sleep 0.5
    wait_http
    echo "demo: reloaded gracefully (pid $pid)"
}

do_run()
{
    if pid=$(running_pid); then
        echo "demo: already running in the background (pid $pid);" \
             "make stop first" >&2
        exit 1
    fi
    write_config
    echo "$MPM" >"$root/run/mpm"
    banner
    echo "  Ctrl-C stops it."
    echo
    exec "$HTTPD" -d "$root" -f "$conf" -DFOREGROUND
}

case "${1:-}" in
run) do_run ;;
start) do_start ;;
stop) do_stop ;;
reload) do_reload ;;
config) write_config; echo "demo: wrote $conf" ;;
*) echo "usage: $0 run|start|stop|reload|config" >&2; exit 2 ;;
esac
