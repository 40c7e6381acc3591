#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Two devices create something new under the same name, each unseen by
# the other (B's ops wait while the server is away; A's get there first).
# Both survive: the name keeps A's, B's goes under a conflicted copy name,
# on B's mount as on the server, and B's outbox ends with nothing refused.
#   same.txt   B: create, several writes, close
#   early.txt  B: create, then rename to late.txt before the push
#   dir/       B: mkdir with a file in it; A: mkdir with another file
#   busy.txt   A took the first conflicted copy name too
#   link       B: symlink; A: a file
#   moved.txt  B: renames mv.txt (which both had) there; A: a file
#   hard       B: a hard link of seed; A: a file
. "$(dirname "$0")/client-lib.sh"

two_devices
echo seed >"$A/seed"
echo "B moves this" >"$A/mv.txt"
sync_fs "$A"
mount_fs "$B" "$T/s2" "$T/c2"
[ "$(cat "$B/seed")" = seed ] || fail "B does not see seed"

note "B makes its files while the server is away"
server_stop
echo "B one" >"$B/same.txt"
exec 3>>"$B/same.txt"
for i in 1 2 3; do
	echo "B more $i" >&3
done
exec 3>&-
echo "B early" >"$B/early.txt"
mv "$B/early.txt" "$B/late.txt"
mkdir "$B/dir"
echo "B in dir" >"$B/dir/b.txt"
echo "B busy" >"$B/busy.txt"
ln -s seed "$B/link"
mv "$B/mv.txt" "$B/moved.txt"
ln "$B/seed" "$B/hard"
# the ops stay in B's outbox across the unmount
umount_fs "$B"

note "A makes the same names first"
server_start
day=$(date +%F)
copy() { # copy NAME EXT [N]: the conflicted copy name B gives NAME.EXT
	echo "$1 (conflicted copy e2e-s2 $day${3:+ $3})$2"
}
echo "A same" >"$A/same.txt"
echo "A early" >"$A/early.txt"
mkdir "$A/dir"
echo "A in dir" >"$A/dir/a.txt"
echo "A busy" >"$A/busy.txt"
echo "A busy copy" >"$A/$(copy busy .txt)"
echo "A link" >"$A/link"
echo "A moved" >"$A/moved.txt"
echo "A hard" >"$A/hard"
sync_fs "$A"

note "B comes back"
mount_fs "$B" "$T/s2" "$T/c2"
sync_fs "$B"
"$CLOUDFS" status "$B" | tee "$T/status.b"
grep -q "refused" "$T/status.b" && fail "B's status has a refusal"
grep "refused" "$T/client.log" && fail "an op was refused"
for n in same.txt moved.txt hard; do
	grep -q "conflict: another device put something at \"$n\" first" \
		"$T/client.log" || fail "no conflict logged for $n"
done

# check MOUNT: both versions of each name, where they belong
check_tree() {
	local m=$1
	[ "$(cat "$m/same.txt")" = "A same" ] || fail "$m/same.txt: '$(cat "$m/same.txt")'"
	[ "$(cat "$m/$(copy same .txt)")" = "$(printf 'B one\nB more 1\nB more 2\nB more 3')" ] ||
		{ ls -la "$m"; fail "$m: B's same.txt is not in its copy"; }
	[ "$(cat "$m/early.txt")" = "A early" ] || fail "$m/early.txt: '$(cat "$m/early.txt")'"
	[ "$(cat "$m/late.txt")" = "B early" ] || fail "$m/late.txt: '$(cat "$m/late.txt")'"
	[ ! -e "$m/$(copy early .txt)" ] || fail "$m: a copy of early.txt was left"
	[ "$(cat "$m/dir/a.txt")" = "A in dir" ] || fail "$m/dir/a.txt"
	[ ! -e "$m/dir/b.txt" ] || fail "$m: the directories were merged"
	[ "$(cat "$m/$(copy dir "")/b.txt")" = "B in dir" ] ||
		{ ls -la "$m"; fail "$m: B's dir is not in its copy"; }
	[ "$(cat "$m/busy.txt")" = "A busy" ] || fail "$m/busy.txt"
	[ "$(cat "$m/$(copy busy .txt)")" = "A busy copy" ] || fail "$m: A's busy copy"
	[ "$(cat "$m/$(copy busy .txt 2)")" = "B busy" ] ||
		{ ls -la "$m"; fail "$m: B's busy.txt is not in the second copy"; }
	[ "$(cat "$m/link")" = "A link" ] || fail "$m/link"
	[ "$(readlink "$m/$(copy link "")")" = seed ] ||
		{ ls -la "$m"; fail "$m: B's symlink is not in its copy"; }
	[ "$(cat "$m/moved.txt")" = "A moved" ] || fail "$m/moved.txt: '$(cat "$m/moved.txt")'"
	[ "$(cat "$m/$(copy moved .txt)")" = "B moves this" ] ||
		{ ls -la "$m"; fail "$m: B's renamed file is not in its copy"; }
	[ ! -e "$m/mv.txt" ] || fail "$m: mv.txt is still there"
	[ "$(cat "$m/hard")" = "A hard" ] || fail "$m/hard: '$(cat "$m/hard")'"
	[ "$m/$(copy hard "")" -ef "$m/seed" ] ||
		{ ls -lai "$m"; fail "$m: B's hard link is not in its copy"; }
	[ "$(stat -c %h "$m/seed")" = 2 ] || fail "$m/seed: $(stat -c %h "$m/seed") links"
}
check_tree "$B"
sync_fs "$A"
check_tree "$A"

note "a fresh device sees the same tree"
fresh_matches "$B"
echo "ok"
