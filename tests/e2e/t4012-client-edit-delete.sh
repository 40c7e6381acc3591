#!/bin/bash
# SPDX-License-Identifier: MIT
#
# One device removes a file while another has unsaved changes in it: the
# edit wins. The file stays (same name when free, a conflicted copy name
# when another file took it, the top directory when its directory went
# too), comes out of the server's trash and gets the local content; the
# other device sees it after a sync. Nothing written is lost.
#   1. removed while open for writing on B (B's upload cannot run first:
#      the removal always reaches B before the content leaves)
#   2. replaced by a rename on A while B writes it
#   3. removed with its directory while B writes it (back at the top, or
#      in its directory brought back)
#   4. removed while B's edit is closed but not uploaded yet (upload and
#      pull race; either order must keep the edit)
#   5. removed and purged from the server's trash (gc, retention 0) while
#      B, unmounted, holds an edit: B makes the file again, whole
# (A create into a directory another device removed, which brings it back,
# needs B not to have heard of the removal yet: with live updates that is a
# race, so test_fc_push covers it.)
. "$(dirname "$0")/client-lib.sh"

two_devices
mkdir "$A/dir"
echo "one" >"$A/one.txt"
echo "two" >"$A/two.txt"
echo "three" >"$A/dir/three.txt"
echo "four" >"$A/four.txt"
sync_fs "$A"
# B holds edits for a minute unless asked to sync
mount_fs "$B" "$T/s2" "$T/c2" -o debounce=60000

# pull_kept MOUNT NAME: make MOUNT pull (a sync cannot finish while a file
# is open for writing) until it says it kept NAME
pull_kept() {
	local i
	for i in $(seq 60); do
		grep -qF "conflict: \"$2\" was removed on another device" \
			"$T/client.log" && return 0
		"$CLOUDFS" sync "$1" --timeout 1 >/dev/null 2>&1 || true
	done
	tail -20 "$T/client.log"
	fail "$1 did not keep $2"
}
[ "$(cat "$B/one.txt")" = one ] || fail "B does not see one.txt"
[ "$(cat "$B/dir/three.txt")" = three ] || fail "B does not see dir/three.txt"

note "1. removed on A while open for writing on B"
exec 3>"$B/one.txt"
echo "B wrote this" >&3
rm "$A/one.txt"
sync_fs "$A"
pull_kept "$B" one.txt
[ -f "$B/one.txt" ] || { ls -la "$B"; fail "B lost one.txt"; }
echo "and more after the removal" >&3
exec 3>&-
sync_fs "$B"
sync_fs "$A"
want=$(printf 'B wrote this\nand more after the removal\n')
[ "$(cat "$A/one.txt" 2>/dev/null)" = "$want" ] ||
	{ ls -la "$A"; fail "A reads '$(cat "$A/one.txt" 2>&1)'"; }
[ "$(cat "$B/one.txt")" = "$want" ] || fail "B reads '$(cat "$B/one.txt")'"

note "2. replaced by a rename on A while B writes it"
exec 3>"$B/two.txt"
echo "B's two" >&3
echo "A's new two" >"$A/two.new"
mv "$A/two.new" "$A/two.txt"
sync_fs "$A"
pull_kept "$B" two.txt
exec 3>&-
sync_fs "$B"
sync_fs "$A"
copy=$(ls "$B" | grep -F 'two (conflicted copy e2e-s2 ' | grep '\.txt$' || true)
[ -n "$copy" ] || { ls -la "$B"; fail "no conflicted copy of two.txt on B"; }
[ "$(cat "$B/$copy")" = "B's two" ] || fail "B's copy holds '$(cat "$B/$copy")'"
[ "$(cat "$B/two.txt")" = "A's new two" ] || fail "B's two.txt is '$(cat "$B/two.txt")'"
[ "$(cat "$A/$copy" 2>/dev/null)" = "B's two" ] || { ls -la "$A"; fail "A does not have B's copy"; }
[ "$(cat "$A/two.txt")" = "A's new two" ] || fail "A's two.txt changed"

note "3. removed with its directory on A while B writes it"
exec 3>"$B/dir/three.txt"
echo "B's three" >&3
rm -r "$A/dir"
sync_fs "$A"
pull_kept "$B" three.txt
exec 3>&-
sync_fs "$B"
sync_fs "$A"
# B learns of the file's removal and of the directory's either in one
# pull (the file comes back at the top) or in two (the directory comes
# back with it): both keep the edit, and both devices agree
where=
for f in three.txt dir/three.txt; do
	[ "$(cat "$A/$f" 2>/dev/null)" = "B's three" ] && where=$f
done
[ -n "$where" ] || { ls -laR "$A"; fail "A does not have B's three.txt"; }
note "kept as $where"
# one entry names it on both devices, wherever it was kept
[ "$(stat -c %h "$B/$where")" = 1 ] || fail "B's $where has $(stat -c %h "$B/$where") links"
[ "$(stat -c %h "$A/$where")" = 1 ] || fail "A's $where has $(stat -c %h "$A/$where") links"
[ "$(cat "$B/$where" 2>/dev/null)" = "B's three" ] ||
	{ ls -laR "$B"; fail "B does not have $where"; }

note "4. removed on A while B's closed edit waits for upload"
echo "B's four" >"$B/four.txt"
rm "$A/four.txt"
sync_fs "$A"
sync_fs "$B"
sync_fs "$A"
[ "$(cat "$A/four.txt" 2>/dev/null)" = "B's four" ] ||
	{ ls -la "$A"; fail "A reads four.txt as '$(cat "$A/four.txt" 2>&1)'"; }
[ "$(cat "$B/four.txt")" = "B's four" ] || fail "B reads '$(cat "$B/four.txt")'"

note "5. purged from the server while B's edit waits, B unmounted"
echo "five" >"$A/five.txt"
sync_fs "$A"
sync_fs "$B"
[ "$(cat "$B/five.txt" 2>/dev/null)" = five ] || fail "B does not see five.txt"
echo "B's five" >"$B/five.txt"
umount_fs "$B" # the edit waits in B's queue
rm "$A/five.txt"
sync_fs "$A"
# five.txt, and case 3's directory when its file came back at the top
purge_trash
mount_fs "$B" "$T/s2" "$T/c2" -o debounce=60000
sync_fs "$B"
sync_fs "$A"
[ "$(cat "$A/five.txt" 2>/dev/null)" = "B's five" ] ||
	{ ls -la "$A"; "$CLOUDFS" status "$B"; fail "A reads five.txt as '$(cat "$A/five.txt" 2>&1)'"; }
[ "$(cat "$B/five.txt")" = "B's five" ] || fail "B reads '$(cat "$B/five.txt")'"
grep -qF '"five.txt" was purged on the server' "$T/client.log" ||
	{ tail -20 "$T/client.log"; fail "B did not say it made five.txt again"; }
"$CLOUDFSD" fsck --data "$DATA" >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out"; fail "fsck"; }

note "B's state agrees with the server's after a fresh mount"
sync_fs "$B"
umount_fs "$B"
rm -rf "$T/s3" "$T/c3"
login "$T/s3" >/dev/null || fail "login 3"
mount_fs "$T/fresh" "$T/s3" "$T/c3"
[ "$(tree_sum "$T/fresh")" = "$(tree_sum "$A")" ] ||
	{ diff <(tree_sum "$T/fresh") <(tree_sum "$A"); fail "a fresh device sees another tree"; }
echo "ok"
