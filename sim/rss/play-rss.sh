#!/bin/sh
# play-rss.sh: peak resident memory of `chorus play` for a short and a
# 20-minute track, each played from a local tracker+origin into /dev/null
# (at --speed 64, so the 20 minutes take about 19 s), measured with
# GNU time's "Maximum resident set size". Run from the repository root:
#
#	sh sim/rss/play-rss.sh [SHORT_SECONDS LONG_SECONDS]
#
# Needs /usr/bin/time (Debian package "time") and about 500 MB of disk in
# $TMPDIR.
set -eu
short=${1:-30}
long=${2:-1200}
work=$(mktemp -d)
trap 'kill $tracker_pid 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/chorus" ./cmd/chorus
go run ./sim/rss/mkwav "$short" "$work/Rss - Short.wav"
go run ./sim/rss/mkwav "$long" "$work/Rss - Long.wav"
export CHORUS_DATA="$work/data"
echo 'rss-passw0rd' | "$work/chorus" user add rss >/dev/null
"$work/chorus" ingest --quiet "$work/Rss - Short.wav" "$work/Rss - Long.wav" >"$work/ids"
short_id=$(grep 'Short' "$work/ids" | cut -f1)
long_id=$(grep 'Long' "$work/ids" | cut -f1)
"$work/chorus" tracker --listen 127.0.0.1:17070 --serve-origin 127.0.0.1:14433 --dev 2>"$work/tracker.log" &
tracker_pid=$!
i=0
until grep -q 'origin serving' "$work/tracker.log" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 300 ] || { cat "$work/tracker.log"; exit 1; }
	sleep 0.1
done
for which in short long; do
	eval id=\$${which}_id
	eval secs=\$$which
	echo 'rss-passw0rd' | /usr/bin/time -v "$work/chorus" play --tracker http://127.0.0.1:17070 --user rss \
		--data "$work/client-$which" --origin-ca "$work/data/tls/origin-ca.pem" --speed 64 --out /dev/null "$id" \
		>/dev/null 2>"$work/time-$which"
	size=$(wc -c <"$work/Rss - $(echo $which | sed 's/^s/S/; s/^l/L/').wav")
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time-$which")
	echo "$which: ${secs} s, $size bytes of audio: peak RSS ${rss} KiB"
done
