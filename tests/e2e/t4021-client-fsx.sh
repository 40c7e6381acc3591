#!/bin/bash
# SPDX-License-Identifier: MIT
#
# fsx through the mount (tests/tools/fc-fsx): seeded random writes, reads,
# mapped reads and writes, truncates, fsyncs and reopens on two files at
# once, every read checked against what the file must hold. Then what
# reached the server must be exactly that: a fresh device reads both
# files back, and device A does again after a remount with its cache.
# Then a run on device B, and one on a third device mounted without the
# writeback cache, each seen by A through live sync.
. "$(dirname "$0")/client-lib.sh"

FSX=$CLOUDFS_BUILD/tests/tools/fc-fsx
[ -x "$FSX" ] || fail "missing $FSX"

two_devices
A_PID=$MOUNT_PID

# big: up to 8 MiB (some 32 chunks), edits up to 256 KiB; small: up to
# 1 MiB with edits up to 16 KiB, a few chunks rewritten many times
"$FSX" "$A/big" "$T/big.want" 5000 11 $((8 << 20)) $((256 << 10)) \
	>"$T/fsx-big.out" 2>&1 &
big=$!
PIDS="$PIDS $big"
"$FSX" "$A/small" "$T/small.want" 10000 12 $((1 << 20)) $((16 << 10)) \
	>"$T/fsx-small.out" 2>&1 &
small=$!
PIDS="$PIDS $small"
wait "$big" || { cat "$T/fsx-big.out"; fail "fsx on big"; }
wait "$small" || { cat "$T/fsx-small.out"; fail "fsx on small"; }
note "big: $(cat "$T/fsx-big.out")"
note "small: $(cat "$T/fsx-small.out")"

sync_fs "$A"
mount_fs "$B" "$T/s2" "$T/c2"
for f in big small; do
	cmp "$T/$f.want" "$B/$f" || fail "$f on a fresh device"
done

MOUNT_PID=$A_PID # umount_fs waits for this client to exit
umount_fs "$A"
mount_fs "$A" "$T/s1" "$T/c1"
for f in big small; do
	cmp "$T/$f.want" "$A/$f" || fail "$f on device A after a remount"
done

# fsx_seen_by_a MOUNT NAME SEED WHAT: a run on MOUNT/NAME, uploaded,
# then the same bytes on device A through live sync
fsx_seen_by_a() {
	local mnt=$1 name=$2 seed=$3 what=$4 i
	"$FSX" "$mnt/$name" "$T/$name.want" 4000 "$seed" $((4 << 20)) \
		$((128 << 10)) >"$T/fsx-$name.out" 2>&1 ||
		{ cat "$T/fsx-$name.out"; fail "fsx $what"; }
	sync_fs "$mnt"
	for i in $(seq 100); do
		cmp -s "$T/$name.want" "$A/$name" 2>/dev/null && break
		sleep 0.2
	done
	cmp "$T/$name.want" "$A/$name" || fail "$name ($what) on device A"
}

# and a second round on the files as they are, from device B
fsx_seen_by_a "$B" again 13 "on B"

# without the writeback cache every write, close and reopen reaches the
# client as the program makes it: a reopen racing the release of the
# handle before it once cut the file back to its size at an earlier close
login "$T/s3" >/dev/null || fail "login 3"
mount_fs "$T/c" "$T/s3" "$T/c3" -o no_writeback
fsx_seen_by_a "$T/c" plain 14 "without the writeback cache"
echo "ok"
