#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A write that fsync() acknowledged survives kill -9 of the client: the
# client is killed right after the fsync (before its upload debounce ran
# out), the mount is cleaned up, and a new client on the same state and
# cache still has the data, and uploads it.
. "$(dirname "$0")/client-lib.sh"

server_init
login "$T/s1" >/dev/null || fail "login"
M=$T/m1
# a long debounce: nothing is uploaded before the kill
mount_fs "$M" "$T/s1" "$T/c1" -o debounce=600000
b0=$(block_count)

head -c $((5 * 1024 * 1024)) /dev/urandom >"$T/data1"
mkdir "$M/dir"
dd if="$T/data1" of="$M/dir/file" bs=1M conv=fsync 2>/dev/null ||
	fail "write + fsync"
kill -9 "$MOUNT_PID"
wait "$MOUNT_PID" 2>/dev/null || true
fusermount3 -u -z "$M" 2>/dev/null || true
[ "$(block_count)" -eq "$b0" ] || note "some blocks went up before the kill"

mount_fs "$M" "$T/s1" "$T/c1"
cmp "$T/data1" "$M/dir/file" || fail "data lost after kill -9"
sync_fs "$M"
[ "$(block_count)" -gt "$b0" ] || fail "nothing reached the server"

login "$T/s2" >/dev/null || fail "login 2"
mount_fs "$T/m2" "$T/s2" "$T/c2"
cmp "$T/data1" "$T/m2/dir/file" || fail "the server does not have the data"
echo "ok"
