#!/bin/bash
# SPDX-License-Identifier: MIT
#
# B renames and removes files while the server is away; A, first, moves
# those files elsewhere and puts new files under their old names. B's ops
# name the nodes they meant, so A's new files are neither moved nor
# removed: the server's tree stands and B follows it.
#   old.txt   B: renames it to new.txt; A: renames it to kept.txt, then
#             makes a new old.txt
#   gone.txt  B: removes it; A: renames it to gone-kept.txt, then makes a
#             new gone.txt
. "$(dirname "$0")/client-lib.sh"

two_devices
echo "the first old" >"$A/old.txt"
echo "the first gone" >"$A/gone.txt"
sync_fs "$A"
mount_fs "$B" "$T/s2" "$T/c2"
[ "$(cat "$B/old.txt")" = "the first old" ] || fail "B does not see old.txt"

note "B renames and removes while the server is away"
server_stop
mv "$B/old.txt" "$B/new.txt"
rm "$B/gone.txt"
umount_fs "$B"

note "A moves both away and reuses their names first"
server_start
mv "$A/old.txt" "$A/kept.txt"
echo "A's new old" >"$A/old.txt"
mv "$A/gone.txt" "$A/gone-kept.txt"
echo "A's new gone" >"$A/gone.txt"
sync_fs "$A"

note "B comes back"
mount_fs "$B" "$T/s2" "$T/c2"
sync_fs "$B"
grep "refused" "$T/client.log" && fail "an op was refused"

# check MOUNT: A's new files under the old names, the first ones where A
# put them
check_tree() {
	local m=$1
	[ "$(cat "$m/old.txt")" = "A's new old" ] || { ls -la "$m"; fail "$m/old.txt: '$(cat "$m/old.txt")'"; }
	[ "$(cat "$m/kept.txt")" = "the first old" ] || fail "$m/kept.txt"
	[ ! -e "$m/new.txt" ] || fail "$m/new.txt: B's rename moved a node"
	[ "$(cat "$m/gone.txt")" = "A's new gone" ] || { ls -la "$m"; fail "$m/gone.txt"; }
	[ "$(cat "$m/gone-kept.txt")" = "the first gone" ] || fail "$m/gone-kept.txt"
}
check_tree "$A"

note "a fresh device sees the same tree as B"
# B follows the server's tree (a resync after its rename met another node)
fresh_matches "$B"
check_tree "$B"
echo "ok"
