#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Small files cost few requests: a file under 1 MiB is not marked pending
# first, a batch under 64 KiB goes up without "which are missing?", and
# the device's own burst of commits (each one a "changed" message) does
# not make it pull the feed once per file. Counted from /metrics. The
# content still arrives whole, identical small files are stored once,
# and a fresh device reads the same tree.
. "$(dirname "$0")/client-lib.sh"

FILES=300

# requests ROUTE: how many the server answered on that route (any status)
requests() {
	curl -s "$URL/metrics" |
		awk -v r="route=\"$1\"" 'index($0, "cloudfs_requests_total{") == 1 &&
			index($0, r) { n += $2 } END { print n + 0 }'
}

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
note "pending marks $pend, missing checks $ask, PUTs $put, pulls $pulls"
[ "$pend" -eq 1 ] || fail "$pend pending marks: only the 2 MiB file needs one"
[ "$ask" -eq 1 ] || fail "$ask missing checks: only the 2 MiB file's batch asks"
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

note "a fresh device reads the same tree"
login "$T/s2" >/dev/null || fail "login 2"
mount_fs "$T/m2" "$T/s2" "$T/c2"
tree_sum "$M" >"$T/sum1"
tree_sum "$T/m2" >"$T/sum2"
diff "$T/sum1" "$T/sum2" || fail "the trees differ"
"$CLOUDFSD" fsck --data "$DATA" >/dev/null || fail "fsck"
echo "ok"
