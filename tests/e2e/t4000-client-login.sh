#!/bin/bash
# SPDX-License-Identifier: MIT
#
# cloudfs login against a real cloudfsd: a wrong password is one clear
# message and exit 1; a good one leaves account.json, token and volume.key
# (mode 0600) in the state directory; logging in again works; mount
# without a login says what to do.
. "$(dirname "$0")/client-lib.sh"

server_init

printf 'not the password\n' >"$T/bad"
if "$CLOUDFS" login --server "$URL" --user "$USER_NAME" \
	--password-file "$T/bad" --state-dir "$T/s1" >"$T/out" 2>&1; then
	fail "login with a wrong password succeeded"
fi
cat "$T/out"
grep -q "wrong user name or password" "$T/out" || fail "no clear message"
[ "$(wc -l <"$T/out")" -eq 1 ] || fail "more than one line of error"
[ ! -e "$T/s1/token" ] || fail "a token was stored after a failed login"

if "$CLOUDFS" login --server "$URL" --user nobody \
	--password-file "$PW" --state-dir "$T/s1" >"$T/out" 2>&1; then
	fail "login of an unknown user succeeded"
fi
grep -q "wrong user name or password" "$T/out" || fail "unknown user message"

login "$T/s1" || fail "login"
for f in account.json token volume.key; do
	[ -f "$T/s1/$f" ] || fail "missing $f"
	[ "$(stat -c %a "$T/s1/$f")" = 600 ] || fail "$f is not 0600"
done
[ "$(stat -c %a "$T/s1")" = 700 ] || fail "state dir is not 0700"
[ "$(stat -c %s "$T/s1/volume.key")" = 32 ] || fail "volume.key size"
grep -q "\"user\": \"$USER_NAME\"" "$T/s1/account.json" || fail "account.json"
key1=$(sha256sum <"$T/s1/volume.key")

# a second device gets the same volume key
login "$T/s2" || fail "second login"
[ "$(sha256sum <"$T/s2/volume.key")" = "$key1" ] || fail "volume key differs"
# logging in again on the same state directory is fine
login "$T/s1" || fail "login again"

# a server that does not answer is a clear error too
if "$CLOUDFS" login --server "http://127.0.0.1:1" --user "$USER_NAME" \
	--password-file "$PW" --state-dir "$T/s3" >"$T/out" 2>&1; then
	fail "login to a dead server succeeded"
fi
grep -q "cannot reach the server" "$T/out" || { cat "$T/out"; fail "dead server message"; }

mkdir -p "$T/mnt"
if "$CLOUDFS" mount "$T/mnt" --state-dir "$T/none" --cache-dir "$T/c" -f \
	>"$T/out" 2>&1; then
	fail "mount without login succeeded"
fi
grep -q "run cloudfs login" "$T/out" || { cat "$T/out"; fail "mount message"; }

# one mount per state directory: a second is refused and the first goes on
mount_fs "$T/mnt" "$T/s1" "$T/c1"
first=$MOUNT_PID
echo one >"$T/mnt/f" || fail "write through the first mount"
mkdir -p "$T/mnt2"
if timeout 20 "$CLOUDFS" mount "$T/mnt2" --state-dir "$T/s1" --cache-dir "$T/c2" \
	-f >"$T/out" 2>&1; then
	fail "a second mount of the same state directory started"
fi
cat "$T/out"
grep -q "in use by another cloudfs mount (pid $first)" "$T/out" ||
	fail "second mount message"
! mountpoint -q "$T/mnt2" || fail "the second mount is mounted"
[ "$(cat "$T/mnt/f")" = one ] || fail "the first mount stopped working"
umount_fs "$T/mnt"
mount_fs "$T/mnt" "$T/s1" "$T/c1"
[ "$(cat "$T/mnt/f")" = one ] || fail "remount after the lock was released"

# a revoked device: sync says so at once instead of waiting for a timeout
sync_fs "$T/mnt"
id=$("$CLOUDFSD" device list "$USER_NAME" --data "$DATA" |
	awk '$3 == "e2e-s1" { print $1 }' | tail -1) # s1's latest login
[ -n "$id" ] || fail "device id of e2e-s1"
"$CLOUDFSD" device revoke "$id" --data "$DATA" >/dev/null || fail "revoke"
start=$(date +%s)
if "$CLOUDFS" sync "$T/mnt" --timeout 60 >"$T/out" 2>&1; then
	fail "sync of a revoked device succeeded"
fi
cat "$T/out"
grep -q "cannot bring in the server's changes" "$T/out" || fail "revoked: unclear sync error"
[ $(($(date +%s) - start)) -lt 30 ] || fail "revoked: sync waited for its timeout"
"$CLOUDFS" status "$T/mnt" | grep -q "pull:    failing" || fail "status does not show the failing pull"
umount_fs "$T/mnt"
echo "ok"
