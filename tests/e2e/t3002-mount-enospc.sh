#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A full cache disk through a real mount: the cache directory is a 2 MiB
# tmpfs. Writing more than fits reports ENOSPC (at write or, with the
# writeback cache, at fsync), corrupts nothing else, and once space is
# freed writes work again, also after a remount.
set -u

BUILD=${CLOUDFS_BUILD:?run through tests/e2e/run.sh or set CLOUDFS_BUILD}
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh" # wait_mounted, wait_exited, check
T=$(mktemp -d /tmp/t3002.XXXXXX)
M="$T/mnt"
C="$T/cache"
mkdir -p "$M" "$C"
PID=
fail=0
n=0

cleanup() {
	cd /
	mountpoint -q "$M" && { fusermount3 -u "$M" 2>/dev/null || umount -l "$M"; }
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	sleep 0.2
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	mountpoint -q "$C" && umount -l "$C"
	rm -rf "$T"
}
trap cleanup EXIT
[ -c /dev/fuse ] || { echo "not ok - /dev/fuse is missing"; exit 1; }
mount -t tmpfs -o size=2m tmpfs "$C" || { echo "not ok - tmpfs mount (needs root)"; exit 1; }

mount_it() {
	"$BUILD/tests/tools/fc-localmount" -f "$T/state" "$C" "$M" \
		>>"$T/daemon.log" 2>&1 &
	PID=$!
	wait_mounted "$M" "$T/daemon.log" || exit 1
}
umount_it() {
	fusermount3 -u "$M"
	wait_exited "$PID" "not ok - daemon" || exit 1
	PID=
}

mount_it
cd "$M" || exit 1
head -c 100000 /dev/urandom >"$T/keep"
cp "$T/keep" keep
sync keep
out=$(dd if=/dev/urandom of=big bs=64K count=48 conv=fsync 2>&1)
case "$out" in *"No space left on device"*) r=ENOSPC ;; *) r="$out" ;; esac
check "writing past the cache disk reports ENOSPC" "ENOSPC" "$r"
check "other files are intact" "$(sha256sum <"$T/keep")" "$(sha256sum <keep)"
rm -f big
head -c 262144 /dev/urandom >"$T/after"
out=$(dd if="$T/after" of=after bs=64K conv=fsync status=none 2>&1 && echo ok)
check "space freed: writes work again" "ok" "$out"
check "and read back" "$(sha256sum <"$T/after")" "$(sha256sum <after)"
cd / || exit 1
umount_it
mount_it
cd "$M" || exit 1
check "after a remount: kept file" "$(sha256sum <"$T/keep")" "$(sha256sum <keep)"
check "after a remount: later file" "$(sha256sum <"$T/after")" "$(sha256sum <after)"
check "the failed file is gone" "no" "$([ -e big ] && echo yes || echo no)"
cd / || exit 1
umount_it
if sanitizer_report "$T/daemon.log"; then
	echo "not ok - sanitizer report in the daemon log"
	fail=1
fi
[ $fail -eq 0 ] && echo "# all $n checks passed"
exit $fail
