#!/bin/bash
# SPDX-License-Identifier: MIT
#
# B, with the server away, makes a file two directories down; A then
# removes the top directory and the server purges it from its trash. B's
# change wins, as an edit wins over a removal: B makes both directories
# again (same ids) with its file in them, and what else was in them,
# purged, goes from B too. Nothing is refused, and a fresh device sees
# the tree A and B see.
. "$(dirname "$0")/client-lib.sh"

two_devices
mkdir -p "$A/proj/sub"
echo "A old" >"$A/proj/old.txt"
echo "A deep" >"$A/proj/sub/deep.txt"
sync_fs "$A"
mount_fs "$B" "$T/s2" "$T/c2"
[ "$(cat "$B/proj/sub/deep.txt")" = "A deep" ] || fail "B does not see proj"

note "B writes into proj/sub while the server is away"
server_stop
echo "B new" >"$B/proj/sub/new.txt"
umount_fs "$B"

note "A removes proj; the server purges it"
server_start
rm -rf "$A/proj"
sync_fs "$A"
purge_trash

note "B comes back"
mount_fs "$B" "$T/s2" "$T/c2"
sync_fs "$B"
grep "refused" "$T/client.log" && fail "an op was refused"
grep -qF '"proj", a directory purged on the server' "$T/client.log" ||
	{ tail -20 "$T/client.log"; fail "B did not make proj again"; }
sync_fs "$A"

# check MOUNT: B's file in the directories made again, nothing else
check_tree() {
	local m=$1
	[ "$(cat "$m/proj/sub/new.txt" 2>/dev/null)" = "B new" ] ||
		{ ls -laR "$m"; fail "$m/proj/sub/new.txt"; }
	[ ! -e "$m/proj/old.txt" ] || fail "$m/proj/old.txt is back"
	[ ! -e "$m/proj/sub/deep.txt" ] || fail "$m/proj/sub/deep.txt is back"
}
check_tree "$A"
check_tree "$B"
"$CLOUDFSD" fsck --data "$DATA" >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out"; fail "fsck"; }

note "a fresh device sees the same tree"
fresh_matches "$B"
echo "ok"
