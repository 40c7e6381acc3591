#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A device away longer than the server keeps tombstones: while B is
# unmounted, A deletes a file and a directory tree, renames one and adds
# another; the server's gc then drops every tombstone (retention 0), so
# B's cursor is behind the feed's horizon. B's next pull gets 410
# resync_required, pages the feed from 0 and removes what the server no
# longer has: B ends with exactly A's tree, and says so in its log.
. "$(dirname "$0")/client-lib.sh"

two_devices
echo keep >"$A/keep.txt"
echo gone >"$A/gone.txt"
mkdir -p "$A/dir/sub"
echo deep >"$A/dir/sub/deep.txt"
echo old >"$A/old-name.txt"
sync_fs "$A"
mount_fs "$B" "$T/s2" "$T/c2"
PB=$MOUNT_PID
sync_fs "$B"
[ "$(cat "$B/dir/sub/deep.txt")" = deep ] || fail "B does not see the tree"
fusermount3 -u "$B" || fail "unmount B"
wait "$PB" 2>/dev/null || true

rm "$A/gone.txt"
rm -r "$A/dir"
mv "$A/old-name.txt" "$A/new-name.txt"
echo new >"$A/added.txt"
sync_fs "$A"
# retention 0: a tombstone goes once it is older than now (whole seconds)
for i in $(seq 10); do
	"$CLOUDFSD" gc --data "$DATA" --set retention_days=0 >"$T/gc.log" 2>&1 ||
		{ cat "$T/gc.log"; fail "gc"; }
	grep -q "[1-9][0-9]* entry tombstones" "$T/gc.log" && break
	sleep 0.5
done
cat "$T/gc.log"
grep -q "[1-9][0-9]* entry tombstones" "$T/gc.log" || fail "gc pruned no tombstone"

mount_fs "$B" "$T/s2" "$T/c2"
sync_fs "$B"
grep -q "resyncing in full" "$T/client.log" || fail "B did not resync"
grep -q "full resync done: 4 entries" "$T/client.log" ||
	{ grep "resync" "$T/client.log"; fail "B removed a different number of entries"; }
tree_sum "$A" >"$T/sum.a"
tree_sum "$B" >"$T/sum.b"
diff "$T/sum.a" "$T/sum.b" || fail "B differs from A after the resync"
[ ! -e "$B/gone.txt" ] && [ ! -e "$B/dir" ] && [ ! -e "$B/old-name.txt" ] ||
	fail "B still shows what the server deleted"
[ "$(cat "$B/new-name.txt")" = old ] || fail "the renamed file on B"
echo "ok"
