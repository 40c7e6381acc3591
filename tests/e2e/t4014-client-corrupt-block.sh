#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A block rots on the server's disk: a device that must fetch it reads EIO
# (never wrong bytes) and logs which block failed, other files read fine,
# the device that wrote it still reads its cached copy, and `cloudfsd
# scrub` names the block and exits non-zero.
. "$(dirname "$0")/client-lib.sh"

two_devices
# random data: one block per chunk, several chunks
head -c $((8 * 1024 * 1024)) /dev/urandom >"$T/big.bin"
cp "$T/big.bin" "$A/big.bin"
echo "fine" >"$A/other.txt"
sync_fs "$A"

# flip one byte in the middle of the largest stored block
victim=$(find "$DATA/blocks" -type f ! -name '.*' -printf '%s %p\n' |
	sort -n | tail -n 1 | cut -d' ' -f2-)
[ -n "$victim" ] || fail "no stored block"
size=$(stat -c %s "$victim")
off=$((size / 2))
byte=$(dd if="$victim" bs=1 skip="$off" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
printf "$(printf '\\%03o' $(((byte + 1) % 256)))" |
	dd of="$victim" bs=1 seek="$off" conv=notrunc 2>/dev/null
note "corrupted $(basename "$victim") at byte $off of $size"

mount_fs "$B" "$T/s2" "$T/c2"
[ "$(cat "$B/other.txt")" = fine ] || fail "other.txt does not read on B"
if cat "$B/big.bin" >"$T/read.bin" 2>"$T/read.err"; then
	fail "B read big.bin whole from a corrupt block"
fi
grep -q 'Input/output error' "$T/read.err" || { cat "$T/read.err"; fail "the read did not fail with EIO"; }
# what B did return is a correct prefix: never wrong bytes
got=$(stat -c %s "$T/read.bin")
cmp -s -n "$got" "$T/read.bin" "$T/big.bin" || fail "B returned wrong bytes before the error"
grep -q "$(basename "$victim" | cut -c1-12)" "$T/client.log" ||
	{ tail -n 20 "$T/client.log"; fail "the client log does not name the bad block"; }
# the writer's cache is intact
cmp -s "$A/big.bin" "$T/big.bin" || fail "A's cached big.bin changed"

server_stop
if "$CLOUDFSD" scrub --data "$DATA" >"$T/scrub.out" 2>&1; then
	cat "$T/scrub.out"
	fail "scrub passed over a corrupt block"
fi
grep -q "$(basename "$victim" | cut -c1-12)" "$T/scrub.out" ||
	{ cat "$T/scrub.out"; fail "scrub does not name the bad block"; }
grep -q '1 corrupt' "$T/scrub.out" || { cat "$T/scrub.out"; fail "scrub count"; }
echo "ok"
