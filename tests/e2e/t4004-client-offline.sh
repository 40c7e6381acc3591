#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The server stops while the mount is written to: everything keeps
# working locally, `cloudfs sync --timeout` fails (non-zero) while it is
# away, and once it is back `cloudfs sync` returns 0 and a second device
# sees every change.
. "$(dirname "$0")/client-lib.sh"

server_init
login "$T/s1" >/dev/null || fail "login"
M=$T/m1
mount_fs "$M" "$T/s1" "$T/c1"
echo before >"$M/before"
sync_fs "$M"
"$CLOUDFS" sync "$M" --timeout 5 || fail "sync with nothing to do"

server_stop
mkdir -p "$M/offline/sub"
for i in $(seq 20); do
	head -c $((i * 10000)) /dev/urandom >"$M/offline/sub/f$i"
done
head -c $((8 * 1024 * 1024)) /dev/urandom >"$M/offline/big"
mv "$M/before" "$M/offline/renamed"
ln -s sub/f1 "$M/offline/link"
chmod 0700 "$M/offline/sub"
sum1=$(tree_sum "$M")

if "$CLOUDFS" sync "$M" --timeout 3 >"$T/out" 2>&1; then
	fail "sync succeeded with the server down"
fi
cat "$T/out"
grep -q "timed out" "$T/out" || fail "sync timeout message"
"$CLOUDFS" status "$M" | tee "$T/status"
grep -q offline "$T/status" || fail "status does not say offline"

server_start
sync_fs "$M" 120
"$CLOUDFS" status "$M" | grep -q connected || fail "status after reconnect"

login "$T/s2" >/dev/null || fail "login 2"
mount_fs "$T/m2" "$T/s2" "$T/c2"
sum2=$(tree_sum "$T/m2")
if [ "$sum1" != "$sum2" ]; then
	diff <(echo "$sum1") <(echo "$sum2") || true
	fail "the second device misses changes made offline"
fi
echo "ok"
