#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Every operation through a real mount against a real cloudfsd, `cloudfs
# sync`, then a second device (a fresh state directory and an EMPTY cache)
# mounts the same account: names, types, modes, sizes, link counts,
# symlink targets and the sha256 of every file must match. Includes a
# 64 MiB random file, and the same check after remounting the first
# device with its cache wiped.
. "$(dirname "$0")/client-lib.sh"

server_init
login "$T/s1" >/dev/null || fail "login"
M=$T/m1
mount_fs "$M" "$T/s1" "$T/c1"

# files, directories, contents
mkdir -p "$M/docs/deep/er"
echo "hello world" >"$M/docs/hello.txt"
printf 'x%.0s' $(seq 1000) >"$M/docs/deep/x.txt"
: >"$M/empty"
head -c 3000000 /dev/urandom >"$M/docs/deep/er/rand.bin"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$M/big.bin"
seq 1 200000 >"$M/numbers.txt"
# append, truncate, overwrite in place, sparse
echo "more" >>"$M/docs/hello.txt"
head -c 500000 /dev/urandom >"$M/trunc.bin"
truncate -s 123457 "$M/trunc.bin"
truncate -s 2000000 "$M/sparse.bin"
printf 'middle' | dd of="$M/sparse.bin" bs=1 seek=1000000 conv=notrunc 2>/dev/null
# metadata: modes, times, owners
chmod 0600 "$M/docs/hello.txt"
chmod 0750 "$M/docs/deep"
chmod 1777 "$M/docs/deep/er"
touch -m -d "2001-02-03 04:05:06" "$M/numbers.txt"
chown 1234:5678 "$M/empty"
# links of every kind
ln -s ../numbers.txt "$M/docs/link"
ln -s "/absolute/target with spaces" "$M/dangling"
ln "$M/docs/deep/x.txt" "$M/hardlink"
mkfifo "$M/fifo"
mknod "$M/chr" c 1 7
# names
echo a >"$M/name with spaces"
echo b >"$M/$(printf 'caf\xc3\xa9')"
echo c >"$M/$(printf '%.0sa' $(seq 255))"
# renames and deletes
echo gone >"$M/gone.txt"
rm "$M/gone.txt"
mkdir "$M/olddir"
echo moved >"$M/olddir/inner"
mv "$M/olddir" "$M/newdir"
echo one >"$M/r1"
echo two >"$M/r2"
mv "$M/r2" "$M/r1"
mkdir "$M/rmme"
rmdir "$M/rmme"

sum1=$(tree_sum "$M")
sync_fs "$M" 180
"$CLOUDFS" status "$M"

# a second device with an empty cache sees the same tree
login "$T/s2" >/dev/null || fail "login 2"
M2=$T/m2
mount_fs "$M2" "$T/s2" "$T/c2"
P2=$MOUNT_PID
sum2=$(tree_sum "$M2")
if [ "$sum1" != "$sum2" ]; then
	diff <(echo "$sum1") <(echo "$sum2") || true
	fail "the second device sees a different tree"
fi
cmp "$M/big.bin" "$M2/big.bin" || fail "big.bin differs"
[ "$(stat -c %Y "$M2/numbers.txt")" = "$(stat -c %Y "$M/numbers.txt")" ] ||
	fail "mtime of numbers.txt differs"
[ "$(stat -c %u:%g "$M2/empty")" = 1234:5678 ] || fail "owner of empty"
[ "$(stat -c %t:%T "$M2/chr")" = 1:7 ] || fail "device numbers of chr"
MOUNT_PID=$P2
umount_fs "$M2"

# the first device, remounted with its cache wiped, too
M1PID=$(echo $PIDS | awk '{print $1}')
MOUNT_PID=$M1PID
umount_fs "$M"
rm -rf "$T/c1"
mount_fs "$M" "$T/s1" "$T/c1"
sum3=$(tree_sum "$M")
if [ "$sum1" != "$sum3" ]; then
	diff <(echo "$sum1") <(echo "$sum3") || true
	fail "the remount with an empty cache sees a different tree"
fi
umount_fs "$M"
note "blocks stored: $(block_count)"
echo "ok"
