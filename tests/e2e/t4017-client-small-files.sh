#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Small files cost few requests: a file under 1 MiB is not marked pending
# first, a batch under 64 KiB goes up without "which are missing?", small
# files due together share one commit request, and the device's own burst
# of commits (each one a "changed" message) does not make it pull the
# feed once per file. Counted from /metrics. The
# content still arrives whole, identical small files are stored once,
# and a fresh device reads the same tree.
. "$(dirname "$0")/client-lib.sh"

FILES=300

server_init
login "$T/s1" >/dev/null || fail "login"
M=$T/m1
mount_fs "$M" "$T/s1" "$T/c1"
sync_fs "$M"
pull0=$(requests changes)

note "$FILES small files and one of 2 MiB"
mkdir "$M/src"
for i in $(seq $FILES); do
	head -c $((1000 + i * 20)) /dev/urandom >"$M/src/f$i"
done
head -c $((2 * 1024 * 1024)) /dev/urandom >"$M/big"
sync_fs "$M"
pend=$(requests pending)
ask=$(requests blocks_missing)
put=$(requests blocks_put)
pulls=$(($(requests changes) - pull0))
commits=$(requests commit)
groups=$(requests commit_batch)
note "pending marks $pend, missing checks $ask, PUTs $put, pulls $pulls, commits $commits + $groups batches"
[ "$pend" -eq 1 ] || fail "$pend pending marks: only the 2 MiB file needs one"
# the 2 MiB file's batch asks, and so may a group's batch over 64 KiB
[ "$ask" -ge 1 ] && [ "$ask" -le $((1 + groups)) ] ||
	fail "$ask missing checks for 1 large file and $groups groups"
[ $((commits + groups)) -lt $((FILES + 1)) ] ||
	fail "$commits commits + $groups batches for $((FILES + 1)) files"
[ "$put" -ge $((FILES + 2)) ] || fail "only $put PUTs for $FILES files and 2 MiB"
# the old client pulled after almost every commit of its own
[ "$pulls" -lt $((FILES / 3)) ] || fail "$pulls pulls for $FILES commits"

note "identical small files: sent without asking, stored once"
b0=$(block_count)
cp "$M/src/f1" "$M/same1"
cp "$M/src/f2" "$M/same2"
sync_fs "$M"
b1=$(block_count)
[ "$b1" -eq "$b0" ] || fail "identical content stored again ($b0 -> $b1 blocks)"
[ "$(requests blocks_put)" -ge $((put + 2)) ] || fail "the copies were not sent"

note "$FILES small files made offline: a few commit requests"
mkdir "$T/tree"
for i in $(seq $FILES); do
	head -c $((500 + i)) /dev/urandom >"$T/tree/g$i"
done
# tar sets each file's mode and times after writing it
chmod 0600 "$T/tree/g7"
touch -d '2001-02-03 04:05:06' "$T/tree/g7"
tar -C "$T" -cf "$T/tree.tar" tree
server_stop
tar -C "$M" -xf "$T/tree.tar"
server_start
sync_fs "$M" 120
# the counters started again with the server
commits=$(requests commit)
groups=$(requests commit_batch)
patches=$(requests node_patch)
note "commits $commits + $groups batches, $patches setattrs"
# all due at once: up to 64 files per request
[ $((commits + groups)) -le $((FILES / 16)) ] ||
	fail "$commits commits + $groups batches for $FILES files"
# each file's mode and times ride in its create
[ "$patches" -le $((FILES / 16)) ] || fail "$patches setattrs for $FILES files"

note "the server killed while $FILES small files go up, then back"
mkdir "$M/crash"
(cd "$T/tree" && cp -a . "$M/crash/")
sleep 0.5
kill -9 "$SRV_PID"
wait "$SRV_PID" 2>/dev/null || true
server_start
sync_fs "$M" 120
[ "$(tree_sum "$M/crash")" = "$(tree_sum "$T/tree")" ] || fail "the copy differs"

note "a fresh device reads the same tree"
login "$T/s2" >/dev/null || fail "login 2"
mount_fs "$T/m2" "$T/s2" "$T/c2"
tree_sum "$M" >"$T/sum1"
tree_sum "$T/m2" >"$T/sum2"
diff "$T/sum1" "$T/sum2" || fail "the trees differ"
[ "$(stat -c '%a %Y' "$T/m2/tree/g7")" = "$(stat -c '%a %Y' "$T/tree/g7")" ] ||
	fail "g7 is $(stat -c '%a %Y' "$T/m2/tree/g7") on the fresh device"
"$CLOUDFSD" fsck --data "$DATA" >/dev/null || fail "fsck"
echo "ok"
