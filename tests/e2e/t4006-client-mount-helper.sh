#!/bin/bash
# SPDX-License-Identifier: MIT
#
# packaging/mount.cloudfs as mount(8) runs it (`mount -t cloudfs SERVER
# DIR -o ...` calls /sbin/mount.cloudfs SERVER DIR -o ...): it logs in
# from a credentials file, mounts in the background (the daemonized
# path), and the mount works and unmounts cleanly. Bad credentials fail
# with a message and leave nothing mounted.
. "$(dirname "$0")/client-lib.sh"
HELPER=$(cd "$(dirname "$0")/../.." && pwd)/packaging/mount.cloudfs

server_init
printf 'username=%s\npassword=%s\n' "$USER_NAME" "$(cat "$PW")" >"$T/cred"
chmod 600 "$T/cred"
M=$T/mnt
mkdir -p "$M"
MOUNTS="$M"

printf 'password=wrong\n' >"$T/badcred"
if CLOUDFS=$CLOUDFS "$HELPER" "$URL" "$M" \
	-o "user=$USER_NAME,credentials=$T/badcred,state=$T/sbad,cache=$T/cbad" \
	2>"$T/out"; then
	fail "mount with bad credentials succeeded"
fi
cat "$T/out"
grep -q "login to .* failed" "$T/out" || fail "bad credentials message"
mountpoint -q "$M" && fail "mounted anyway"

CLOUDFS=$CLOUDFS "$HELPER" "$URL" "$M" -o \
	"rw,_netdev,noauto,user=$USER_NAME,credentials=$T/cred,state=$T/s,cache=$T/c,debounce=100" ||
	fail "mount.cloudfs"
mountpoint -q "$M" || fail "not mounted"
[ -f "$T/s/account.json" ] || fail "no login"
echo "through the helper" >"$M/file"
"$CLOUDFS" sync "$M" --timeout 60 || fail "sync"
# a second run reuses the login (no credentials needed)
fusermount3 -u "$M" || fail "unmount"
for i in $(seq 50); do
	pgrep -f "cloudfs mount $M " >/dev/null || break
	sleep 0.1
done
pgrep -f "cloudfs mount $M " >/dev/null && fail "client still running after unmount"
CLOUDFS=$CLOUDFS "$HELPER" "$URL" "$M" -o "state=$T/s,cache=$T/c" ||
	fail "second mount"
[ "$(cat "$M/file")" = "through the helper" ] || fail "content after remount"
fusermount3 -u "$M" || fail "second unmount"
echo "ok"
