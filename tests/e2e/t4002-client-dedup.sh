#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Only changed blocks travel: after a 64 MiB random file is stored, a
# 1-byte edit in its middle stores at most 2 new blocks, 100 bytes
# inserted at its start at most 3, and a second file with the same
# content none. Counted in the server's block directory.
. "$(dirname "$0")/client-lib.sh"

server_init
login "$T/s1" >/dev/null || fail "login"
M=$T/m1
mount_fs "$M" "$T/s1" "$T/c1"

head -c $((64 * 1024 * 1024)) /dev/urandom >"$T/orig"
cp "$T/orig" "$M/big"
sync_fs "$M"
b0=$(block_count)
note "64 MiB file: $b0 blocks"
[ "$b0" -gt 100 ] || fail "too few blocks for 64 MiB: $b0"

# one byte in the middle, in place
printf '\x5a' | dd of="$M/big" bs=1 seek=$((32 * 1024 * 1024 + 777)) \
	conv=notrunc 2>/dev/null
sync_fs "$M"
b1=$(block_count)
note "1-byte edit: $((b1 - b0)) new blocks"
[ $((b1 - b0)) -le 2 ] || fail "1-byte edit stored $((b1 - b0)) blocks"
[ $((b1 - b0)) -ge 1 ] || fail "1-byte edit stored nothing"

# 100 bytes at the start: the file is rewritten in place
{ head -c 100 /dev/urandom; cat "$T/orig"; } >"$T/shifted"
cat "$T/shifted" >"$M/big"
sync_fs "$M"
b2=$(block_count)
note "100 bytes inserted at the start: $((b2 - b1)) new blocks"
[ $((b2 - b1)) -le 3 ] || fail "insert stored $((b2 - b1)) blocks"
cmp "$T/shifted" "$M/big" || fail "content after the insert"

# the same content under another name: stored once
cp "$T/shifted" "$M/copy"
sync_fs "$M"
b3=$(block_count)
note "identical second file: $((b3 - b2)) new blocks"
[ "$b3" -eq "$b2" ] || fail "identical content stored again"

# and it all reads back on a fresh device
login "$T/s2" >/dev/null || fail "login 2"
mount_fs "$T/m2" "$T/s2" "$T/c2"
cmp "$T/shifted" "$T/m2/big" || fail "big on the second device"
cmp "$T/shifted" "$T/m2/copy" || fail "copy on the second device"
echo "ok"
