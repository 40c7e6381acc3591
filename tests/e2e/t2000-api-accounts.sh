#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Accounts over real HTTP: prelogin (with a stable fake salt for unknown
# users), login, the account summary, the wrapped key (the one `user add`
# stored unwraps with the password-derived kek), logout, a password change
# that keeps the key, device revocation, 401s, and 429 with Retry-After.
. "$(dirname "$0")/api-lib.sh"

add_user alice 'alice pw'
add_user bob 'bob pw'
start_server

note "prelogin: real and made-up salts look alike"
api_json POST /api/v1/prelogin '{"user":"alice"}'
expect 200
[ "$(j '.salt|length')" = 32 ] || fail "salt length"
[ "$(j .kdf.version)" = 1 ] || fail "kdf version"
api_json POST /api/v1/prelogin '{"user":"nobody"}'
expect 200
fake=$(j .salt)
api_json POST /api/v1/prelogin '{"user":"nobody"}'
[ "$(j .salt)" = "$fake" ] || fail "fake salt not stable"
[ "$(j .kdf.n)" = 131072 ] || fail "fake kdf differs"
api_json POST /api/v1/prelogin '{"user":"a/b"}'
expect 400 bad_request
api_json POST /api/v1/prelogin '{"user":'
expect 400 bad_request
api_json POST /api/v1/prelogin '{}'
expect 400
j .message | grep -q "'user'" || fail "message does not name the field"

note "login"
TOKEN=$(login alice 'alice pw' laptop)
[ ${#TOKEN} = 64 ] || fail "token length"
[ "$(j .root)" = "$ROOT" ] || fail "root id"
[ "$(j .codec)" = zstd ] || fail "codec"
[ "$(j .chunk.max)" = 1048576 ] || fail "chunk max"
alice_dev=$(j .device_id)
TOKEN_A=$TOKEN

wrong=$(auth_key alice 'not it')
TOKEN="" api_json POST /api/v1/login "{\"user\":\"alice\",\"auth_key\":\"$wrong\",\"device\":\"x\"}"
expect 401 unauthorized
TOKEN="" api_json POST /api/v1/login "{\"user\":\"ghost\",\"auth_key\":\"$wrong\",\"device\":\"x\"}"
expect 401 unauthorized
TOKEN="" api_json POST /api/v1/login '{"user":"alice","auth_key":"00","device":"x"}'
expect 400
TOKEN="" api_json POST /api/v1/login "{\"user\":\"alice\",\"auth_key\":\"$wrong\",\"device\":\"a/b\"}"
expect 400 bad_name

note "account and wrapped key"
TOKEN=$TOKEN_A
api GET /api/v1/account
expect 200
[ "$(j .user)" = alice ] || fail "account user"
[ "$(j .max_file_size)" = 10737418240 ] || fail "max_file_size"
api GET /api/v1/key
expect 200
[ "$(j '.wrapped_key|length')" = 122 ] || fail "wrapped key size"
wrapped_before=$(j .wrapped_key)
api_json PUT /api/v1/key "{\"wrapped_key\":\"$wrapped_before\"}"
expect 409 exists
api_json PUT /api/v1/key "{\"wrapped_key\":\"$wrapped_before\",\"replace\":true}"
expect 204

note "no or bad token"
TOKEN="" api GET /api/v1/account
expect 401 unauthorized
TOKEN=0000 api GET /api/v1/account
expect 401
TOKEN=$(printf '0%.0s' $(seq 1 64)) api GET /api/v1/account
expect 401
TOKEN=$TOKEN_A api DELETE /api/v1/account
expect 405 method_not_allowed

note "a body behind a missing or malformed token is refused unread"
head -c $((4 * 1048576)) /dev/zero >"$T/four"
blk=$(printf '0%.0s' $(seq 1 64))
for tok in "" 0000; do
	auth=()
	[ -n "$tok" ] && auth=(-H "Authorization: Bearer $tok")
	# curl waits for 100 Continue (up to 15 s) before it sends the body
	up=$(curl -s --max-time 30 --expect100-timeout 15 -o "$BODY" \
		-w '%{http_code} %{size_upload}' -X PUT "${auth[@]}" \
		-H 'Expect: 100-continue' --data-binary "@$T/four" \
		"$S/api/v1/blocks/$blk") || up="000 0"
	STATUS=${up% *}
	expect 401 unauthorized
	[ "${up#* }" -lt 4194304 ] ||
		fail "token '$tok': the server took the whole body ($up)"
done
# headers only, the body never sent: the answer cannot wait for it
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'PUT /api/v1/blocks/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n' \
	"$blk" >&3
line=""
IFS= read -r -t 20 line <&3 || true
exec 3<&- 3>&-
case $line in
"HTTP/1.1 401"*) ;;
*) fail "no 401 before the body (got '${line%$'\r'}')" ;;
esac
TOKEN=$TOKEN_A api GET /api/v1/nowhere
expect 404 not_found

note "password change keeps the volume key"
printf 'alice pw\nalice new\n' | admin user passwd alice --password-stdin >/dev/null ||
	fail "user passwd"
TOKEN=$TOKEN_A api GET /api/v1/account
expect 200 # tokens survive a password change
TOKEN="" api_json POST /api/v1/login "{\"user\":\"alice\",\"auth_key\":\"$(auth_key alice 'alice pw')\",\"device\":\"x\"}"
expect 401
TOKEN=$(login alice 'alice new' phone)
api GET /api/v1/key
expect 200
[ "$(j .wrapped_key)" != "$wrapped_before" ] || fail "key was not rewrapped"
printf 'wrong\nx\n' | admin user passwd alice --password-stdin >/dev/null &&
	fail "passwd accepted a wrong old password"

note "devices: list and revoke"
admin device list alice >"$T/devices" || fail "device list"
grep -q laptop "$T/devices" || fail "laptop not listed"
admin device revoke "$alice_dev" >/dev/null || fail "device revoke"
TOKEN=$TOKEN_A api GET /api/v1/account
expect 401
admin device revoke 999999 >/dev/null && fail "revoked a missing device"

note "logout"
api POST /api/v1/logout
expect 204
api GET /api/v1/account
expect 401

note "rate limit: 429 with Retry-After"
stop_server
start_server --set rate_per_second=1 --set rate_burst=3
TOKEN=$(login bob 'bob pw')
limited=""
for i in 1 2 3 4 5 6; do
	api GET /api/v1/account
	if [ "$STATUS" = 429 ]; then limited=yes; break; fi
	expect 200
done
[ -n "$limited" ] || fail "never rate limited"
expect 429 rate_limited
[ "$(j .retry_after)" -ge 1 ] || fail "retry_after field"
grep -qi '^retry-after: [0-9]' "$HEADERS" || fail "no Retry-After header"
stop_server
echo "ok"
