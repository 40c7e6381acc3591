#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A file grown, closed and reopened, again and again: each reopen sees the
# size and the bytes the close before it left. The kernel sends the
# release of a handle without waiting for it, so the next open can run
# while the release still ends the write epoch; the open used to take the
# size it read before that and cut the cache file back to it. With and
# without the writeback cache (without it, each write, close and reopen
# reaches the client as the program makes it).
. "$(dirname "$0")/client-lib.sh"

POSIX=$CLOUDFS_BUILD/tests/tools/fc-posix
[ -x "$POSIX" ] || fail "missing $POSIX"

server_init
login "$T/s1" >/dev/null || fail "login"
for mode in writeback no_writeback; do
	mount_fs "$T/m" "$T/s1" "$T/c1" -o "$mode"
	out=$("$POSIX" reopen-grow "$T/m/grown-$mode" 3000)
	[ "$out" = ok ] || fail "$mode: $out"
	umount_fs "$T/m"
done

# and the server got the last of it
login "$T/s2" >/dev/null || fail "login 2"
mount_fs "$T/m" "$T/s1" "$T/c1"
sync_fs "$T/m"
mount_fs "$T/m2" "$T/s2" "$T/c2"
for mode in writeback no_writeback; do
	[ "$(stat -c %s "$T/m2/grown-$mode")" -eq $((3000 * 1000 + 1500 * 24)) ] ||
		fail "$mode: $(stat -c %s "$T/m2/grown-$mode") bytes on a fresh device"
	cmp "$T/m/grown-$mode" "$T/m2/grown-$mode" || fail "$mode: content"
done
echo "ok"
