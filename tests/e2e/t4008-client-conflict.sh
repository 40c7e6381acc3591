#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Two devices edit the same file: the second one's commit is stale, so
# its content becomes "NAME (conflicted copy DEVICE DATE).EXT" and NAME
# takes the server's version. Nothing is dropped; the first device sees
# the copy after a sync.
. "$(dirname "$0")/client-lib.sh"

two_devices
PA=$MOUNT_PID
echo "first" >"$A/doc.txt"
sync_fs "$A"
# B holds its edits a minute unless asked to sync
mount_fs "$B" "$T/s2" "$T/c2" -o debounce=60000
PB=$MOUNT_PID
[ "$(cat "$B/doc.txt")" = first ] || fail "B does not see the first version"

# both edit the first version: B's waits for upload while A's commits,
# and reaches B (live) while B's local edit is still unsaved
echo "from B" >"$B/doc.txt"
echo "from A" >"$A/doc.txt"
sync_fs "$A"
sync_fs "$B"
ls -la "$B"
copy=$(ls "$B" | grep -F 'doc (conflicted copy e2e-s2 ' | grep '\.txt$' || true)
[ -n "$copy" ] || fail "no conflicted copy on B"
[ "$(cat "$B/$copy")" = "from B" ] || fail "the copy holds '$(cat "$B/$copy")'"
[ "$(cat "$B/doc.txt")" = "from A" ] || fail "B's doc.txt is '$(cat "$B/doc.txt")'"

sync_fs "$A"
[ -f "$A/$copy" ] || { ls -la "$A"; fail "A does not see the conflicted copy"; }
[ "$(cat "$A/$copy")" = "from B" ] || fail "A reads '$(cat "$A/$copy")'"
[ "$(cat "$A/doc.txt")" = "from A" ] || fail "A's doc.txt changed"
echo "ok"
