#!/bin/sh
# deps.sh: install the Debian packages that building, testing and the demo
# need.  Asks dpkg first, so a second run is instant and works offline.
#
# usage: build-aux/deps.sh PACKAGE...
set -eu

missing=
for p in "$@"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in
    *" ok installed") ;;
    *) missing="$missing $p" ;;
    esac
done

if [ -z "$missing" ]; then
    exit 0
fi

line="DEBIAN_FRONTEND=noninteractive apt-get install -y$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages:$missing" >&2
    echo "deps: as root, run: apt-get update && $line" >&2
    exit 1
fi

# An update is only worth its time when apt does not know a package yet
# (a fresh image ships without lists) or its lists have gone stale, which
# shows as a failed download; try without one first.
need_update=no
for p in $missing; do
    cand=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
    if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
        need_update=yes
    fi
done

export DEBIAN_FRONTEND=noninteractive
if [ "$need_update" = yes ]; then
    echo "deps: apt-get update"
    apt-get update -q
fi
echo "deps: $line"
if ! apt-get install -y -q $missing </dev/null; then
    [ "$need_update" = yes ] && exit 1
    echo "deps: install failed; retrying after apt-get update" >&2
    apt-get update -q
    apt-get install -y -q $missing </dev/null
fi
