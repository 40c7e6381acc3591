#!/bin/bash
# SPDX-License-Identifier: MIT
#
# t2200: push notifications over real WebSockets (tests/tools/ws_client).
# Two devices of alice and one of bob listen. A mkdir, create, pending,
# commit, rename and delete by alice reach both of her devices and never
# bob, and bob's change never reaches alice. A consumer that stops reading
# and one that is frozen (SIGSTOP) block nobody: the others get every
# message while the stuck ones overflow and are dropped. Pings keep an idle
# connection alive; a peer that never answers them is hung up on.

. "$(dirname "$0")/api-lib.sh"
WS=$CLOUDFS_BUILD/tests/tools/ws_client
[ -x "$WS" ] || fail "missing $WS"

# wait_line FILE TEXT [SECONDS]: until FILE holds a line with TEXT.
wait_line() {
	local i
	for i in $(seq 1 $((${3:-20} * 10))); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "no '$2' in $1 (last: $(tail -2 "$1" 2>/dev/null))"
}

# listen NAME TOKEN [ws_client args]: a background client into $T/NAME.out.
listen() {
	local name=$1 token=$2
	shift 2
	"$WS" --port "$PORT" --token "$token" --timeout 300 "$@" \
		>"$T/$name.out" 2>"$T/$name.err" &
	eval "WS_$name=$!"
	PIDS="$PIDS $!"
	wait_line "$T/$name.out" '{"type":"ready"}'
}

# login_dev NAME PASSWORD DEVICE: sets TOK and DEVID.
login_dev() {
	local key
	key=$(auth_key "$1" "$2")
	TOKEN="" api_json POST /api/v1/login \
		"{\"user\":\"$1\",\"auth_key\":\"$key\",\"device\":\"$3\"}"
	expect 200
	TOK=$(j .token)
	DEVID=$(j .device_id)
}

lines() { wc -l <"$T/$1.out"; }
gauge() {
	curl -s "$S/metrics" | sed -n 's/^cloudfs_websocket_connections //p'
}

add_user alice pw-alice
add_user bob pw-bob
start_server --set ws_ping_seconds=1 --set ws_queue_max=64 \
	--set rate_per_second=1000000 --set rate_burst=1000000
login_dev alice pw-alice laptop
TA1=$TOK
DEV1=$DEVID
login_dev alice pw-alice desktop
TA2=$TOK
login_dev bob pw-bob phone
TB=$TOK
listen a1 "$TA1"
listen a2 "$TA2" --no-subprotocol
listen b "$TB"
[ "$(gauge)" = 3 ] || fail "3 websockets registered, gauge says $(gauge)"

# pushed C: both of alice's devices got {"type":"changed","cursor":C}.
pushed() {
	wait_line "$T/a1.out" "{\"type\":\"changed\",\"cursor\":$1}"
	wait_line "$T/a2.out" "{\"type\":\"changed\",\"cursor\":$1}"
}

note "alice's changes reach her devices"
TOKEN=$TA1
docs=$(mknode dir $ROOT docs)
pushed "$(j .cursor)"
f=$(mknode file "$docs" f.txt)
pushed "$(j .cursor)"
api_json POST "/api/v1/nodes/$f/pending" '{}'
expect 200
wait_line "$T/a2.out" "{\"type\":\"pending\",\"node\":\"$f\",\"device\":$DEV1}"
wait_line "$T/a1.out" "{\"type\":\"pending\",\"node\":\"$f\",\"device\":$DEV1}"
pushed "$(j .cursor)"
id=$(make_block "$T/blk" 1000)
api PUT "/api/v1/blocks/$id" --data-binary @"$T/blk"
expect 201
api_json POST "/api/v1/nodes/$f/commit" "{\"base_version\":0,\"size\":1000,\"mtime\":1700000000000000000,\"manifest\":\"$(manifest 1000 "$id")\",\"tag\":\"$TAG\"}"
expect 200
pushed "$(j .cursor)"
api_json POST /api/v1/rename "{\"src_parent\":\"$docs\",\"src_name\":\"f.txt\",\"dst_parent\":\"$ROOT\",\"dst_name\":\"g.txt\"}"
expect 200
pushed "$(j .cursor)"
api_json DELETE /api/v1/entries "{\"parent\":\"$ROOT\",\"name\":\"g.txt\"}"
expect 200
pushed "$(j .cursor)"

note "bob heard none of it, and alice none of bob"
sleep 0.5
[ "$(lines b)" = 1 ] || fail "bob got alice's pushes: $(cat "$T/b.out")"
n1=$(lines a1)
n2=$(lines a2)
TOKEN=$TB
mknode dir $ROOT bobs >/dev/null
wait_line "$T/b.out" "{\"type\":\"changed\",\"cursor\":$(j .cursor)}"
sleep 0.5
[ "$(lines a1)" = "$n1" ] && [ "$(lines a2)" = "$n2" ] ||
	fail "alice got bob's push"

note "idle for longer than the hang-up time: pings keep it alive"
sleep 10
TOKEN=$TA1
mknode dir $ROOT later >/dev/null
pushed "$(j .cursor)"
[ "$(gauge)" = 3 ] || fail "an idle websocket was dropped"

note "a peer that never answers pings is hung up on"
(
	exec 3<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'GET /api/v1/notify HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n' "$TA1" >&3
	start=$SECONDS
	timeout 40 cat <&3 >"$T/raw.out" || true
	echo $((SECONDS - start)) >"$T/raw.secs"
) &
RAW=$!
PIDS="$PIDS $RAW"
wait "$RAW"
grep -q '101 Switching Protocols' "$T/raw.out" || fail "raw upgrade failed"
secs=$(cat "$T/raw.secs")
[ "$secs" -ge 1 ] && [ "$secs" -le 20 ] ||
	fail "silent peer closed after ${secs}s, want a hang-up within 2 pings"

note "a stalled and a frozen consumer block nobody"
# Only the queue may drop them here: a server whose pings come rarely, or
# a slow machine would see them hung up for missed pongs first.
stop_server
for w in a1 a2 b; do wait "$(eval echo "\$WS_$w")" 2>/dev/null || true; done
start_server --set ws_ping_seconds=600 --set ws_queue_max=64 \
	--set rate_per_second=1000000 --set rate_burst=1000000
listen a1 "$TA1"
listen a2 "$TA2" --no-subprotocol
listen b "$TB"
note "a fan-out wider than one turn of the server's loop reaches everyone"
# The server writes to 512 connections per turn of its loop and wakes
# itself for the rest: 1,200 devices take three turns, more than the
# wake-ups a commit causes anyway. (Pings are rare here: no keepalive
# round delivers what a missing wake-up would hold back.)
"$WS" --port "$PORT" --token "$TA2" --conns 1200 --count 2 --timeout 120 \
	>"$T/wide.out" 2>"$T/wide.err" &
WIDE=$!
PIDS="$PIDS $WIDE"
greeted() { grep -cF '{"type":"ready"}' "$T/wide.out"; }
for i in $(seq 600); do
	[ "$(greeted)" = 1200 ] && break
	sleep 0.1
done
[ "$(greeted)" = 1200 ] ||
	fail "$(greeted) of 1200 greeted: $(tail -2 "$T/wide.err")"
TOKEN=$TA1
mknode dir $ROOT wide >/dev/null
cursor=$(j .cursor)
wait "$WIDE" || fail "the 1200 devices: $(tail -2 "$T/wide.err")"
got=$(grep -cxF "{\"type\":\"changed\",\"cursor\":$cursor}" "$T/wide.out")
[ "$got" = 1200 ] || fail "$got of 1200 devices got the change"
pushed "$cursor"
for i in $(seq 100); do # the 1200 hung up; the server sees it soon
	[ "$(gauge)" = 3 ] && break
	sleep 0.1
done

listen stall "$TA1" --stall
listen frozen "$TA2"
kill -STOP "$WS_frozen"
[ "$(gauge)" = 5 ] || fail "5 websockets expected, gauge says $(gauge)"
TOKEN=$TA1
hot=$(mknode file "$docs" hot)
urls=()
for i in $(seq 1 500); do
	urls+=("$S/api/v1/nodes/$hot/pending")
done
# rounds of 500 marks until both stuck consumers overflow: how many it
# takes depends on the kernel's socket buffers, not on time
start=$SECONDS
sent=0
for k in $(seq 1 20); do
	curl -s -X POST -H "Authorization: Bearer $TA1" \
		-H 'Content-Type: application/json' -d '{}' "${urls[@]}" \
		>/dev/null || fail "pending marks refused"
	sent=$((sent + 500))
	[ "$(gauge)" = 3 ] && break
done
wait_pushes() {
	local i
	for i in $(seq 1 600); do
		[ "$(grep -c '"type":"pending"' "$T/$1.out")" -ge "$sent" ] &&
			return 0
		sleep 0.1
	done
	fail "$1 got $(grep -c '"type":"pending"' "$T/$1.out") of $sent pending pushes"
}
wait_pushes a2
wait_pushes a1
note "$sent pending marks pushed to every live device in $((SECONDS - start))s"
[ "$(gauge)" = 3 ] || fail "stuck consumers not dropped (gauge $(gauge))"
[ "$(grep -c 'queue overflowed' "$T/server.log")" -ge 2 ] ||
	fail "no overflow logged"
kill -CONT "$WS_frozen"
set +e
timeout 30 tail --pid="$WS_frozen" -f /dev/null
wait "$WS_frozen"
rc=$?
set -e
[ "$rc" = 3 ] || fail "the dropped client exited $rc, want 3 (closed)"

note "the live ones still work"
TOKEN=$TA2
mknode dir $ROOT after >/dev/null
pushed "$(j .cursor)"
stop_server
note "ok"
