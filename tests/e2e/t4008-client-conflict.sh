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

note "ten small files, both edit all: B's stale commits share requests"
mkdir "$A/many"
for i in $(seq 10); do echo "first $i" >"$A/many/f$i.txt"; done
sync_fs "$A"
sync_fs "$B"
[ "$(cat "$B/many/f10.txt")" = "first 10" ] || fail "B does not see the files"
for i in $(seq 10); do echo "B $i" >"$B/many/f$i.txt"; done
for i in $(seq 10); do echo "A $i" >"$A/many/f$i.txt"; done
sync_fs "$A"
batches0=$(requests commit_batch)
sync_fs "$B"
batches=$(requests commit_batch)
[ "$batches" -gt "$batches0" ] || fail "B's ten commits went one by one"
for i in $(seq 10); do
	copy=$(ls "$B/many" | grep -F "f$i (conflicted copy e2e-s2 " || true)
	[ -n "$copy" ] || { ls -la "$B/many"; fail "no conflicted copy of f$i"; }
	[ "$(cat "$B/many/$copy")" = "B $i" ] || fail "copy of f$i: $(cat "$B/many/$copy")"
	[ "$(cat "$B/many/f$i.txt")" = "A $i" ] || fail "B's f$i.txt: $(cat "$B/many/f$i.txt")"
done
sync_fs "$A"
[ "$(ls "$A/many" | wc -l)" -eq 20 ] || { ls -la "$A/many"; fail "A does not see 20 files"; }
echo "ok"
