#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The server's disk fills up under a client's uploads: the server answers
# 503 no_space and stays up, the client keeps every byte, says why it
# cannot finish (`cloudfs sync` fails naming the full server disk), and
# once space is back everything arrives; a fresh device reads the same
# bytes and `cloudfsd fsck` finds the store consistent.
. "$(dirname "$0")/client-lib.sh"

# the server's data directory is a small tmpfs (mounted before the
# account is made in it); unmounted after the server is stopped
mkdir -p "$DATA"
mount -t tmpfs -o size=6m cloudfs-e2e-full "$DATA" || fail "mount tmpfs"
full_cleanup() {
	server_stop
	umount -l "$DATA" 2>/dev/null || true
	cleanup
}
trap full_cleanup EXIT

server_init
login "$T/s1" >/dev/null || fail "login 1"
A=$T/a
mount_fs "$A" "$T/s1" "$T/c1"
echo "small" >"$A/small.txt"
sync_fs "$A"

note "write 12 MiB into a 6 MiB server"
for i in 1 2 3; do
	head -c $((4 * 1024 * 1024)) /dev/urandom >"$T/big$i.bin"
	cp "$T/big$i.bin" "$A/big$i.bin"
done
if "$CLOUDFS" sync "$A" --timeout 20 >"$T/sync.out" 2>&1; then
	fail "sync finished although the server's disk is full"
fi
cat "$T/sync.out"
grep -qi 'space' "$T/sync.out" ||
	{ tail -n 5 "$T/server.log"; tail -n 5 "$T/client.log"; fail "sync does not say the server is out of space"; }
"$CLOUDFS" status "$A" | grep -qi 'space' ||
	{ "$CLOUDFS" status "$A"; fail "status does not say the server is out of space"; }
grep -q 'No space left on device' "$T/server.log" ||
	fail "the server does not log the full disk"
curl -fsS "$URL/metrics" >/dev/null || fail "the server stopped answering"
for i in 1 2 3; do
	cmp -s "$T/big$i.bin" "$A/big$i.bin" || fail "big$i.bin changed on A"
done

note "space comes back: everything arrives"
mount -o remount,size=64m "$DATA" || fail "grow tmpfs"
sync_fs "$A" 60
"$CLOUDFS" status "$A" | grep -qi 'out of disk space' &&
	fail "status still says the server is out of space"
login "$T/s2" >/dev/null || fail "login 2"
mount_fs "$T/b" "$T/s2" "$T/c2"
for i in 1 2 3; do
	cmp -s "$T/big$i.bin" "$T/b/big$i.bin" || fail "a fresh device reads another big$i.bin"
done
[ "$(cat "$T/b/small.txt")" = small ] || fail "small.txt"

server_stop
"$CLOUDFSD" fsck --data "$DATA" >"$T/fsck.out" 2>&1 ||
	{ cat "$T/fsck.out"; fail "fsck after the full disk"; }
echo "ok"
