#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A program may hold as many files open through the mount as on a local
# disk. The client, started with a soft limit of 256 open files, raises
# it to the hard limit (each file open through the mount holds a cache
# file open in the client); then 1,000 files are open at once, each
# reads back its own line, and they all reach the server.
. "$(dirname "$0")/client-lib.sh"

FILES=1000

server_init
login "$T/s1" >/dev/null || fail "login"
M=$T/m1
[ "$(ulimit -Hn)" -gt $((FILES + 200)) ] ||
	fail "this test needs a hard open files limit over $((FILES + 200))"
soft=$(ulimit -Sn)
ulimit -Sn 256
mount_fs "$M" "$T/s1" "$T/c1"
ulimit -Sn "$soft"
lim=$(awk '/^Max open files/ { print $4 }' "/proc/$MOUNT_PID/limits")
[ "$lim" -gt $((FILES + 100)) ] || fail "the client's soft limit is $lim"
grep -q 'open files limit raised to' "$T/client.log" ||
	fail "no raise logged: $(tail -3 "$T/client.log")"

mkdir "$M/many"
for i in $(seq $FILES); do
	printf 'file %d\n' "$i" >"$M/many/f$i"
done
note "$FILES files open at once"
fds=()
for i in $(seq $FILES); do
	exec {fd}<"$M/many/f$i" || fail "open $i of $FILES"
	fds+=("$fd")
done
i=0
for fd in "${fds[@]}"; do
	i=$((i + 1))
	read -r line <&"$fd" || fail "read f$i"
	[ "$line" = "file $i" ] || fail "f$i reads '$line'"
done
for fd in "${fds[@]}"; do
	exec {fd}<&-
done
sync_fs "$M"
# fresh_matches: a fresh device reads the same $FILES files
check_tree() {
	[ "$(cat "$1/many/f$FILES")" = "file $FILES" ] ||
		fail "f$FILES on a fresh device: $(cat "$1/many/f$FILES")"
}
fresh_matches "$M"
note "ok"
