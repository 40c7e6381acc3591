#!/bin/bash
# SPDX-License-Identifier: MIT
#
# cloudfs versions / restore, and pin / unpin: a pinned file stays
# readable with the server gone, a file never read does not.
. "$(dirname "$0")/client-lib.sh"

server_init
login "$T/s1" >/dev/null || fail "login"
M=$T/m1
# the default options: the kernel's writeback cache is on, so a restore
# must reach the kernel's inode (size and pages) through invalidation
mount_fs "$M" "$T/s1" "$T/c1"

echo "version one" >"$M/doc.txt"
sync_fs "$M"
echo "version two, longer" >"$M/doc.txt"
sync_fs "$M"
echo "version three" >"$M/doc.txt"
sync_fs "$M"
"$CLOUDFS" versions "$M/doc.txt" --state-dir "$T/s1" | tee "$T/versions"
[ "$(grep -c '^ *[0-9]' "$T/versions")" -ge 3 ] || fail "fewer than 3 versions"
grep -q current "$T/versions" || fail "no current marker"

# restore the previous version, then a given one
"$CLOUDFS" restore "$M/doc.txt" --state-dir "$T/s1" || fail "restore"
[ "$(cat "$M/doc.txt")" = "version two, longer" ] ||
	fail "restore gave '$(cat "$M/doc.txt")'"
first=$(awk '/^ *[0-9]/ {print $1; exit}' "$T/versions")
"$CLOUDFS" restore "$M/doc.txt" --version "$first" --state-dir "$T/s1" ||
	fail "restore --version"
[ "$(cat "$M/doc.txt")" = "version one" ] ||
	fail "restore --version gave '$(cat "$M/doc.txt")'"
if "$CLOUDFS" restore "$M/doc.txt" --version 999 --state-dir "$T/s1" \
	2>"$T/out"; then
	fail "restore of a missing version succeeded"
fi
cat "$T/out"

# a restore changing the size reads back whole through the same mount,
# also while a reader holds the file open across the restore
head -c 300000 /dev/urandom >"$T/big1"
head -c 100000 /dev/urandom >"$T/big2"
cp "$T/big1" "$M/big"
sync_fs "$M"
cp "$T/big2" "$M/big"
sync_fs "$M"
[ "$(stat -c %s "$M/big")" = 100000 ] || fail "size before restore"
"$CLOUDFS" restore "$M/big" --state-dir "$T/s1" || fail "restore big"
[ "$(stat -c %s "$M/big")" = 300000 ] ||
	fail "restored size $(stat -c %s "$M/big"), want 300000"
[ "$(sha256sum <"$M/big")" = "$(sha256sum <"$T/big1")" ] ||
	fail "restored content differs"
"$CLOUDFS" restore "$M/big" --state-dir "$T/s1" || fail "restore big back"
[ "$(stat -c %s "$M/big")" = 100000 ] ||
	fail "restored size $(stat -c %s "$M/big"), want 100000"
[ "$(sha256sum <"$M/big")" = "$(sha256sum <"$T/big2")" ] ||
	fail "content after the second restore differs"

# pin on a second device, then lose the server
head -c $((3 * 1024 * 1024)) /dev/urandom >"$M/pinned"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$M/unpinned"
sync_fs "$M"
login "$T/s2" >/dev/null || fail "login 2"
M2=$T/m2
mount_fs "$M2" "$T/s2" "$T/c2"
"$CLOUDFS" pin "$M2/pinned" || fail "pin"
"$CLOUDFS" pin "$M2/nonexistent" 2>/dev/null && fail "pin of a missing file"
# wait for the pin's background download: nothing else was read there
for i in $(seq 300); do
	used=$(du -s --block-size=1 "$T/c2" | cut -f1)
	[ "$used" -ge $((3 * 1024 * 1024)) ] && break
	sleep 0.1
done
[ "$used" -ge $((3 * 1024 * 1024)) ] || fail "the pinned file was not downloaded"
umount_fs "$M2"
server_stop
mount_fs "$M2" "$T/s2" "$T/c2"
cmp "$M/pinned" "$M2/pinned" || fail "pinned file not readable offline"
if cat "$M2/unpinned" >/dev/null 2>&1; then
	fail "a never-read file was readable offline"
fi
"$CLOUDFS" unpin "$M2/pinned" || fail "unpin"
echo "ok"
