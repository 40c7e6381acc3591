#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A server that rate-limits a device (429 with Retry-After) slows a cold
# read down but never fails it: parallel read-ahead asks for blocks faster
# than the limit, and each fetch waits out the back-pressure. Before the
# fix, a cold 1 GiB read hit the default limit and returned EIO.
. "$(dirname "$0")/client-lib.sh"

server_init
login "$T/s1" >/dev/null || fail "login"
mount_fs "$T/m1" "$T/s1" "$T/c1"
head -c $((16 * 1024 * 1024)) /dev/urandom >"$T/orig"
cp "$T/orig" "$T/m1/f"
sync_fs "$T/m1"
umount_fs "$T/m1"

# far fewer requests a second than read-ahead makes
server_stop
SERVER_OPTS="--set rate_per_second=20 --set rate_burst=20"
server_start

login "$T/s2" >/dev/null || fail "login of the second device"
mount_fs "$T/m2" "$T/s2" "$T/c2"
cmp "$T/orig" "$T/m2/f" || fail "cold read under rate limiting"
grep -q "failed: Resource temporarily unavailable" "$T/client.log" &&
	fail "a fetch gave up on back-pressure"
note "16 MiB read back intact at 20 requests/s"
umount_fs "$T/m2"
echo "ok"
