#!/bin/sh
# make-media.sh: the demo's call recordings, spoken by espeak-ng and
# encoded by lame, so the demo serves real, playable MP3 files without
# shipping any audio in the repository.
#
# usage: build-aux/make-media.sh CALL_ID OUTPUT.mp3
set -eu

id=$1
out=$2
mkdir -p "$(dirname "$out")"

# "1165" is read digit by digit, as an operator would say it.
words=$(echo "$id" | sed 's/0/ zero/g; s/1/ one/g; s/2/ two/g; s/3/ three/g;
    s/4/ four/g; s/5/ five/g; s/6/ six/g; s/7/ seven/g; s/8/ eight/g;
    s/9/ nine/g')

tmp=$out.tmp.wav
espeak-ng -s 160 -w "$tmp" "Recording of call$words."
secs=$(soxi -D "$tmp" | cut -c1-4)
lame --quiet -b 64 --tt "Call $id" --ta "mod_downloadtoken demo" \
    "$tmp" "$out.tmp"
rm -f "$tmp"

# lame writes an ID3 tag first; file(1) then reports what the tag holds.
if ! file -b "$out.tmp" | grep -q 'MPEG ADTS, layer III'; then
    echo "make-media: $out is not MPEG audio: $(file -b "$out.tmp")" >&2
    rm -f "$out.tmp"
    exit 1
fi
mv "$out.tmp" "$out"
echo "media: $out, $secs s of MPEG layer III audio"
