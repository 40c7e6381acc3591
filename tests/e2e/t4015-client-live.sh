#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Live updates: a change another device makes shows up here within a few
# seconds, without `cloudfs sync` here (the periodic pull alone would take
# up to 30 s): the server's WebSocket says "changed" and the client pulls.
# After the server restarts the client reconnects by itself; `cloudfs
# status` says whether updates are live.
. "$(dirname "$0")/client-lib.sh"

# wait_for FILE CONTENT SECONDS: until FILE holds CONTENT
wait_for() {
	local i
	for i in $(seq $(($3 * 10))); do
		[ "$(cat "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

wait_live() {
	local i
	for i in $(seq 100); do
		"$CLOUDFS" status "$1" | grep -q 'live updates' && return 0
		sleep 0.1
	done
	"$CLOUDFS" status "$1"
	fail "$1 does not say its updates are live"
}

two_devices
mount_fs "$B" "$T/s2" "$T/c2"
wait_live "$A"
wait_live "$B"

note "a file written on A appears on B"
echo "hello from A" >"$A/live.txt"
sync_fs "$A"
wait_for "$B/live.txt" "hello from A" 10 ||
	{ ls -la "$B"; fail "B did not see live.txt within 10 s"; }

note "an edit, a rename and a removal on B reach A"
echo "edited on B" >"$B/live.txt"
mkdir "$B/sub"
echo "moved" >"$B/sub/m.txt"
sync_fs "$B"
wait_for "$A/live.txt" "edited on B" 10 || fail "A did not see B's edit"
wait_for "$A/sub/m.txt" "moved" 10 || fail "A did not see sub/m.txt"
mv "$B/sub/m.txt" "$B/m2.txt"
rm "$B/live.txt"
sync_fs "$B"
wait_for "$A/m2.txt" "moved" 10 || fail "A did not see the rename"
for i in $(seq 100); do [ -e "$A/live.txt" ] || break; sleep 0.1; done
[ -e "$A/live.txt" ] && fail "A still has live.txt"

note "the server restarts: B reconnects and is live again"
server_stop
sleep 1
server_start
wait_live "$B"
echo "after the restart" >"$A/after.txt"
sync_fs "$A"
wait_for "$B/after.txt" "after the restart" 10 ||
	fail "B did not see after.txt after the server restarted"
grep -q 'live: the server' "$T/client.log" || fail "the log does not say updates are live"
echo "ok"
