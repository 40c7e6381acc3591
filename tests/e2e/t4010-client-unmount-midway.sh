#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Unmount in the middle of pushing and uploading thousands of small files,
# mount again, sync: every file arrives once, with its content, and
# nothing is mistaken for a conflict or a refusal. Transfers the unmount
# cut short (a create whose answer never came, a commit the server made
# but the client did not record) must be resumed, not turned into
# "refused by the server" or a conflicted copy of our own bytes.
. "$(dirname "$0")/client-lib.sh"

N=3000
server_init
login "$T/s1" >/dev/null || fail "login 1"
login "$T/s2" >/dev/null || fail "login 2"
A=$T/a
mount_fs "$A" "$T/s1" "$T/c1" -o debounce=0
mkdir "$A/many"
"$CLOUDFS_BUILD/tests/tools/fc-posix" mkfiles "$A/many" "$N" >/dev/null ||
	fail "create $N files"
# some creates and uploads are on the wire now: cut them short
umount_fs "$A"
grep -q "refused" "$T/client.log" && { grep refused "$T/client.log"; fail "an op was refused"; }

mount_fs "$A" "$T/s1" "$T/c1"
sync_fs "$A"
[ "$(ls "$A/many" | wc -l)" -eq "$N" ] || fail "$(ls "$A/many" | wc -l) files, want $N"
! ls "$A/many" | grep -q "conflicted copy" || fail "a conflicted copy of our own file"
grep -q "refused\|conflict:" "$T/client.log" && { grep "refused\|conflict:" "$T/client.log"; fail "refusal or conflict logged"; }
tree_sum "$A" >"$T/sum.a"

B=$T/b
mount_fs "$B" "$T/s2" "$T/c2"
sync_fs "$B"
tree_sum "$B" >"$T/sum.b"
diff "$T/sum.a" "$T/sum.b" >/dev/null || { diff "$T/sum.a" "$T/sum.b" | head; fail "the second device differs"; }
echo "ok"
