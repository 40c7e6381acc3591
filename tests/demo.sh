#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The cloudfs main job (`make demo`, build dir as $1): the embedded default
# server (cloudfsd on SQLite + a local block directory) on loopback, a demo
# account, and the drive mounted, left running for you to use. On the way it
# shows what the drive does: a file written through the mount is chunked,
# encrypted and uploaded; an edit in the middle of a copy uploads only the
# blocks around the edit; every version is kept.
#
# `make demo-stop` (this script with "stop") unmounts and stops the server.
# Everything lives under DEMO_DIR (default BUILD/demo); each run starts
# from an empty demo server.
set -euo pipefail

BUILD=$(cd "${1:-build}" && pwd)
ACTION=${2:-start}
DEMO_DIR=${DEMO_DIR:-$BUILD/demo}
CLOUDFSD=$BUILD/cloudfsd
CLOUDFS=$BUILD/cloudfs
MNT=$DEMO_DIR/mnt
PASSWORD=demo-password
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/e2e/lib.sh"

say() {
	printf '\n== %s\n' "$*"
}

blocks_stored() {
	find "$DEMO_DIR/data/blocks" -type f -not -name '.*' | wc -l
}

demo_stop() {
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" || fusermount3 -uz "$MNT"
		echo "unmounted $MNT"
	fi
	if [ -f "$DEMO_DIR/cloudfsd.pid" ]; then
		local pid
		pid=$(cat "$DEMO_DIR/cloudfsd.pid")
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid"
			while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
			echo "stopped cloudfsd (pid $pid)"
		fi
		rm -f "$DEMO_DIR/cloudfsd.pid"
	fi
}

step_server() {
	local port pid
	say "the server: cloudfsd on SQLite and a local block directory"
	for tool in "$CLOUDFSD" "$CLOUDFS"; do
		[ -x "$tool" ] || { echo "demo: $tool missing: run make" >&2; exit 1; }
	done
	[ -e /dev/fuse ] || { echo "demo: /dev/fuse is missing" >&2; exit 1; }
	rm -rf "$DEMO_DIR"
	mkdir -p "$DEMO_DIR" "$MNT"
	# lib.sh: a free port below the ephemeral range, retried on a lost
	# bind race; the server outlives this script (make demo-stop)
	start_cloudfsd "$DEMO_DIR/cloudfsd.log" "$DEMO_DIR/data" || {
		echo "demo: cloudfsd did not start, see $DEMO_DIR/cloudfsd.log" >&2
		exit 1
	}
	pid=$CLOUDFSD_PID
	port=$CLOUDFSD_PORT
	echo "$pid" >"$DEMO_DIR/cloudfsd.pid"
	echo "$port" >"$DEMO_DIR/port"
	echo "cloudfsd (pid $pid) serves $DEMO_DIR/data on http://127.0.0.1:$port"
}

step_account() {
	say "a demo account (user demo, password $PASSWORD)"
	printf '%s\n' "$PASSWORD" |
		"$CLOUDFSD" --data "$DEMO_DIR/data" user add demo --password-stdin
	printf '%s\n' "$PASSWORD" >"$DEMO_DIR/password"
	chmod 600 "$DEMO_DIR/password"
	"$CLOUDFS" login --server "http://127.0.0.1:$(cat "$DEMO_DIR/port")" \
		--user demo --password-file "$DEMO_DIR/password" \
		--state-dir "$DEMO_DIR/state" --device demo-laptop
}

step_mount() {
	say "the drive, mounted at $MNT"
	"$CLOUDFS" mount "$MNT" --state-dir "$DEMO_DIR/state" \
		--cache-dir "$DEMO_DIR/cache" 2>>"$DEMO_DIR/cloudfs.log"
	mount | grep -F " $MNT " || { echo "demo: mount failed" >&2; exit 1; }
}

step_files() {
	local before after lines half
	say "write a 5 MB report through the mount and wait for the upload"
	before=$(blocks_stored)
	awk 'BEGIN {
		srand(42)
		for (i = 1; i <= 60000; i++)
			printf "%06d  quarterly report, region %d: revenue %.2f, units %d, notes: %s\n",
				i, i % 17, rand() * 100000, int(rand() * 5000),
				(i % 3 ? "on track" : "needs review")
	}' >"$MNT/report.txt"
	"$CLOUDFS" sync "$MNT" --timeout 60
	after=$(blocks_stored)
	echo "report.txt: $(stat -c %s "$MNT/report.txt") bytes," \
		"$((after - before)) encrypted blocks stored on the server"

	say "an edited copy: one line inserted in the middle"
	lines=$(wc -l <"$MNT/report.txt")
	half=$((lines / 2))
	before=$after
	{
		head -n "$half" "$MNT/report.txt"
		echo "EDIT  a paragraph added by the demo"
		tail -n +"$((half + 1))" "$MNT/report.txt"
	} >"$MNT/report-edited.txt"
	"$CLOUDFS" sync "$MNT" --timeout 60
	after=$(blocks_stored)
	echo "report-edited.txt: only $((after - before)) new block(s) uploaded;" \
		"the rest is shared with report.txt"

	say "overwrite it: the old version stays restorable"
	echo "a short new text" >"$MNT/report-edited.txt"
	"$CLOUDFS" sync "$MNT" --timeout 60
	"$CLOUDFS" versions "$MNT/report-edited.txt" --state-dir "$DEMO_DIR/state"
}

step_status() {
	say "status"
	"$CLOUDFS" status "$MNT"
	cat <<EOF

The drive stays mounted at $MNT: use it from a shell or a file manager.
  cloudfs status $MNT           what is queued, what is uploading
  cloudfs versions FILE --state-dir $DEMO_DIR/state
  make demo-stop                unmount and stop the server
EOF
}

case "$ACTION" in
stop)
	demo_stop
	;;
start)
	demo_stop
	trap 'echo "demo: failed; stopping what it started" >&2; demo_stop' ERR
	step_server
	step_account
	step_mount
	step_files
	step_status
	;;
*)
	echo "usage: $0 BUILD [start|stop]" >&2
	exit 2
	;;
esac
