#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The read path through a real mount, with fc-localmount's seeded "remote"
# files (64 KiB chunks of byte (index % 251) + 1, served by a fake fetch
# that logs each fetch): on-demand fetch of only the chunks a read covers,
# EIO plus a log line for a block that fails verification, read-modify-
# write of a partly written chunk, truncation into an uncached chunk,
# pinning, and eviction under a small cache limit with refetch.
set -u

BUILD=${CLOUDFS_BUILD:?run through tests/e2e/run.sh or set CLOUDFS_BUILD}
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh" # wait_mounted, wait_exited, check
T=$(mktemp -d /tmp/t3001.XXXXXX)
M="$T/mnt"
mkdir -p "$M"
PID=
fail=0
n=0
CH=65536

cleanup() {
	cd /
	mountpoint -q "$M" && { fusermount3 -u "$M" 2>/dev/null || umount -l "$M"; }
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	sleep 0.2
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
[ -c /dev/fuse ] || { echo "not ok - /dev/fuse is missing"; exit 1; }

mount_it() {
	"$BUILD/tests/tools/fc-localmount" -f -o "$1" \
		-R clean:300000 -R bad:655360:5 -R edit:262144 -R trunc:262144 \
		-R pinme:196608 -R other:262144 \
		"$T/state" "$T/cache" "$M" >>"$T/daemon.log" 2>&1 &
	PID=$!
	wait_mounted "$M" "$T/daemon.log" || exit 1
}
umount_it() {
	fusermount3 -u "$M"
	wait_exited "$PID" "not ok - daemon" || exit 1
	PID=
}
# expected SIZE: the seeded content of a file of SIZE bytes
expected() {
	local size=$1 i=0 v len
	while [ $((i * CH)) -lt "$size" ]; do
		v=$((i % 251 + 1))
		len=$((size - i * CH))
		[ $len -gt $CH ] && len=$CH
		head -c "$len" /dev/zero | tr '\0' "\\$(printf %03o $v)"
		i=$((i + 1))
	done
}
fetches() { [ -f "$T/state/fetch.log" ] && wc -l <"$T/state/fetch.log" || echo 0; }
# read past the kernel's page cache, so the mount itself answers
direct() { dd if="$1" iflag=direct bs=$CH status=none; }
reset_fetches() { : >"$T/state/fetch.log"; }

mount_it "debounce=100"
cd "$M" || exit 1
reset_fetches

# a read fetches only what it covers (plus read-ahead, which starts only
# with a sequential second read)
check "size of an uncached file" "655360" "$(stat -c %s bad)"
check "one byte of chunk 2" "$(printf '\003' | od -An -tx1)" \
	"$(dd if=bad bs=1 skip=$((2 * CH + 7)) count=1 status=none | od -An -tx1)"
check "one fetch for it" "1" "$(fetches)"
check "whole file matches" "$(expected 300000 | sha256sum)" "$(sha256sum <clean)"
check "cached now: no more fetches on reread" "$(expected 300000 | sha256sum)" \
	"$(reset_fetches; direct clean | sha256sum)"
check "zero fetches on reread" "0" "$(fetches)"

# a block that fails verification: EIO and a log line, neighbours fine
out=$(dd if=bad of=/dev/null bs=$CH skip=5 count=1 2>&1)
case "$out" in *"Input/output error"*) r=EIO ;; *) r="$out" ;; esac
check "corrupt block reads as EIO" "EIO" "$r"
grep -q "failed verification" "$T/daemon.log" && r=logged || r=silent
check "and is logged" "logged" "$r"
check "the next chunk still reads" "$(printf '\007' | od -An -tx1)" \
	"$(dd if=bad bs=1 skip=$((6 * CH)) count=1 status=none | od -An -tx1)"

# writing part of an uncached chunk fetches the rest of it first
reset_fetches
printf 'XY' | dd of=edit bs=1 seek=$((CH + 10)) conv=notrunc status=none
sync edit
want=$( (expected 262144 | head -c $((CH + 10)); printf XY; \
	expected 262144 | tail -c +$((CH + 13))) | sha256sum)
check "read-modify-write keeps the rest of the chunk" "$want" "$(sha256sum <edit)"

# truncating into an uncached chunk keeps its head
truncate -s $((2 * CH + 100)) trunc
check "truncate into a chunk" "$(expected $((2 * CH + 100)) | sha256sum)" \
	"$(sha256sum <trunc)"

# pin downloads the whole file in the background
reset_fetches
"$BUILD/tests/tools/fc-posix" setxattr pinme user.cloudfs.pin 1 >/dev/null
for _ in $(seq 100); do [ "$(fetches)" -ge 3 ] && break; sleep 0.05; done
check "pin fetches every chunk" "3" "$(fetches)"
cd / || exit 1
umount_it

# eviction: a tiny cache keeps only what fits; data comes back on demand
mount_it "cache_size=64K"
cd "$M" || exit 1
sha256sum <other >/dev/null
sleep 3 # the cache thread ticks every 2 s
reset_fetches
check "after eviction the content is still right" \
	"$(expected 262144 | sha256sum)" "$(direct other | sha256sum)"
[ "$(fetches)" -gt 0 ] && r=refetched || r="no fetch"
check "evicted chunks are fetched again" "refetched" "$r"
check "pinned file is never evicted" "$(expected 196608 | sha256sum)" \
	"$(reset_fetches; direct pinme | sha256sum)"
check "no fetch for the pinned file" "0" "$(fetches)"
check "locally written data survives eviction" "$want" \
	"$(direct edit | sha256sum)"
cd / || exit 1
umount_it
if sanitizer_report "$T/daemon.log"; then
	echo "not ok - sanitizer report in the daemon log"
	fail=1
fi
[ $fail -eq 0 ] && echo "# all $n checks passed"
exit $fail
