#!/bin/bash
# SPDX-License-Identifier: MIT
#
# t2100: cloudfsd as a process. It starts and answers /metrics; a second
# server on a taken port fails; plain HTTP on a non-loopback address is
# refused unless --insecure; TLS works with a self-signed certificate made
# here (HTTP and the notify WebSocket); a bad config file is a clear error
# and a non-zero exit; SIGTERM lets a request in flight finish, refuses new
# connections, closes WebSockets with 1001 and exits 0.

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
	fail "no '$2' in $1: $(tail -5 "$1" 2>/dev/null)"
}

# serve_bg LOG ARGS...: start another cloudfsd; OTHER gets its PID.
serve_bg() {
	local log=$1
	shift
	"$CLOUDFSD" serve "$@" >"$log" 2>&1 &
	OTHER=$!
	PIDS="$PIDS $OTHER"
}

# serve_limited SOFT:HARD LOG ARGS...: serve_bg with that open files
# limit; prlimit execs cloudfsd, so OTHER is the server's PID.
serve_limited() {
	local lim=$1 log=$2
	shift 2
	prlimit --nofile="$lim" "$CLOUDFSD" serve "$@" >"$log" 2>&1 &
	OTHER=$!
	PIDS="$PIDS $OTHER"
}

# wait_up URL [curl args]: until URL/metrics answers 200.
wait_up() {
	local url=$1 i
	shift
	for i in $(seq 1 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" \
			"$url/metrics")" = 200 ] && return 0
		kill -0 "$OTHER" 2>/dev/null || fail "cloudfsd exited at start"
		sleep 0.1
	done
	fail "no answer on $url"
}

stop_other() {
	kill -TERM "$OTHER"
	wait "$OTHER" || fail "cloudfsd exited non-zero after SIGTERM"
}

note "command line"
"$CLOUDFSD" --version | grep -q '^cloudfsd [0-9]' || fail "--version"
"$CLOUDFSD" help | grep -q '^usage: cloudfsd serve' || fail "help"
if "$CLOUDFSD" --data "$DATA" frobnicate 2>"$T/err"; then
	fail "an unknown command succeeded"
fi
if "$CLOUDFSD" serve --set nonsense 2>"$T/err"; then
	fail "--set without = succeeded"
fi
grep -q 'KEY=VALUE' "$T/err" || fail "unclear --set error: $(cat "$T/err")"

note "start, health through /metrics"
start_server
api GET /metrics
expect 200
grep -q '^content-type: text/plain' "$HEADERS" || fail "metrics type"
grep -q '^# TYPE cloudfs_requests_total counter' "$BODY" || fail "metrics"
grep -q '^cloudfs_websocket_connections 0' "$BODY" || fail "ws gauge"
scrapes() {
	sed -n 's/^cloudfs_requests_total{route="metrics",status="200"} //p' \
		"$BODY"
}
n=$(scrapes)
api GET /metrics
[ "$(scrapes)" = $((n + 1)) ] || fail "metrics does not count itself"

note "a taken port is an error"
if timeout 30 "$CLOUDFSD" serve --data "$T/data2" \
	--listen "127.0.0.1:$PORT" >"$T/err" 2>&1; then
	fail "a second server on port $PORT started"
fi
grep -q "cannot listen on 127.0.0.1:$PORT" "$T/err" ||
	fail "unclear bind error: $(cat "$T/err")"

note "SIGTERM: finish the request in flight, refuse new ones, close 1001"
add_user alice pw-alice
TOKEN=$(login alice pw-alice dev1)
"$WS" --port "$PORT" --token "$TOKEN" --timeout 60 >"$T/ws.out" \
	2>"$T/ws.err" &
WSPID=$!
PIDS="$PIDS $WSPID"
wait_line "$T/ws.out" '{"type":"ready"}'
api GET /metrics
grep -q '^cloudfs_websocket_connections 1$' "$BODY" || fail "ws gauge 1"
id=$(make_block "$T/blk" 300000)
# about 3 s of upload at 100 KB/s: SIGTERM lands in the middle of it
curl -s -o "$T/put.body" -w '%{http_code}' --limit-rate 100K \
	-H "Authorization: Bearer $TOKEN" -X PUT --data-binary @"$T/blk" \
	"$S/api/v1/blocks/$id" >"$T/put.status" &
PUTPID=$!
PIDS="$PIDS $PUTPID"
sleep 1
kill -TERM "$SRV_PID"
wait_line "$T/ws.out" '#close 1001' 10
set +e
wait "$WSPID"
rc=$?
set -e
[ "$rc" = 3 ] || fail "ws_client exit $rc, want 3 (closed by server)"
sleep 0.2
if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$S/metrics")" = 200 ]; then
	fail "a new connection was served while stopping"
fi
wait "$PUTPID" || fail "curl failed during the graceful stop"
[ "$(cat "$T/put.status")" = 201 ] ||
	fail "upload in flight got $(cat "$T/put.status"), want 201"
wait "$SRV_PID" || fail "cloudfsd exited non-zero after SIGTERM"
SRV_PID=""
grep -q 'SIGTERM: stopping' "$T/server.log" || fail "no stop log line"

note "the block uploaded during the stop is there after a restart"
start_server
api GET "/api/v1/blocks/$id"
expect 200
cmp -s "$BODY" "$T/blk" || fail "block differs after restart"
stop_server

note "plain HTTP on a non-loopback address"
P2=$(free_port)
if timeout 30 "$CLOUDFSD" serve --data "$T/data3" --listen "0.0.0.0:$P2" \
	>"$T/err" 2>&1; then
	fail "plain HTTP on 0.0.0.0 started"
fi
grep -q 'refusing to serve plain HTTP on 0.0.0.0' "$T/err" ||
	fail "unclear refusal: $(cat "$T/err")"
serve_bg "$T/insecure.log" --data "$T/data3" --listen "0.0.0.0:$P2" --insecure
wait_up "http://127.0.0.1:$P2"
stop_other

note "TLS with a self-signed certificate"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null ||
	fail "openssl req"
if timeout 30 "$CLOUDFSD" serve --data "$DATA" --listen "127.0.0.1:$P2" \
	--tls-cert "$T/cert.pem" >"$T/err" 2>&1; then
	fail "half a TLS pair started"
fi
grep -q 'needs both' "$T/err" || fail "unclear TLS error: $(cat "$T/err")"
P3=$(free_port)
# TLS may listen on any address without --insecure
serve_bg "$T/tls.log" --data "$DATA" --listen "0.0.0.0:$P3" \
	--tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
wait_up "https://127.0.0.1:$P3" -k
grep -q "listening on 0.0.0.0:$P3 (https)" "$T/tls.log" || fail "tls log"
[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/cert.pem" \
	--resolve "localhost:$P3:127.0.0.1" \
	"https://localhost:$P3/metrics")" = 200 ] || fail "https with the CA"
if curl -s -o /dev/null --max-time 3 "http://127.0.0.1:$P3/metrics"; then
	fail "plain HTTP answered on the TLS port"
fi
S=https://127.0.0.1:$P3
api GET /api/v1/account -k
expect 200
[ "$(j .user)" = alice ] || fail "account over TLS"
# a large body each way: TLS records the loop must drain, not only poll
big=$(make_block "$T/big" $((1024 * 1024)))
api PUT "/api/v1/blocks/$big" -k --data-binary "@$T/big"
expect 201
api GET "/api/v1/blocks/$big" -k
expect 200
cmp -s "$BODY" "$T/big" || fail "a 1 MiB block over TLS came back other"
# a pushed change is written outside lws' writeable callback: over TLS too
"$WS" --port "$P3" --tls --token "$TOKEN" --count 2 --timeout 20 \
	>"$T/wss.out" 2>"$T/wss.err" &
WSSPID=$!
PIDS="$PIDS $WSSPID"
wait_line "$T/wss.out" '{"type":"ready"}'
api POST /api/v1/nodes -k -H 'Content-Type: application/json' \
	--data-binary "{\"id\":\"$(new_id)\",\"kind\":\"dir\",\"parent\":\"$ROOT\",\"name\":\"tls\",\"mode\":493,\"uid\":0,\"gid\":0}"
expect 201
wait "$WSSPID" || fail "wss: $(cat "$T/wss.err")"
grep -qF "{\"type\":\"changed\",\"cursor\":$(j .cursor)}" "$T/wss.out" ||
	fail "no change pushed over wss: $(cat "$T/wss.out")"
stop_other

note "bad config files"
printf 'workers = 2\n# fine so far\nbogus_key = 1\n' >"$T/bad1.conf"
if "$CLOUDFSD" serve --config "$T/bad1.conf" --data "$T/data4" \
	>"$T/err" 2>&1; then
	fail "unknown key accepted"
fi
grep -q "bad1.conf:3: unknown key 'bogus_key'" "$T/err" ||
	fail "unclear error: $(cat "$T/err")"
printf 'workers = lots\n' >"$T/bad2.conf"
if "$CLOUDFSD" serve --config "$T/bad2.conf" --data "$T/data4" \
	>"$T/err" 2>&1; then
	fail "bad value accepted"
fi
grep -q "bad2.conf:1: bad value for 'workers'" "$T/err" ||
	fail "unclear error: $(cat "$T/err")"
if "$CLOUDFSD" serve --config "$T/missing.conf" --data "$T/data4" \
	>"$T/err" 2>&1; then
	fail "a missing --config file accepted"
fi
grep -q 'cannot read config file' "$T/err" ||
	fail "unclear error: $(cat "$T/err")"

note "a good config file is used"
P4=$(free_port)
printf '# test\nlisten = 127.0.0.1:%s\ndata_dir = %s\nworkers = 2\n' \
	"$P4" "$T/data5" >"$T/good.conf"
serve_bg "$T/good.log" --config "$T/good.conf"
wait_up "http://127.0.0.1:$P4"
grep -q 'with 2 workers' "$T/good.log" || fail "config not applied"
[ -f "$T/data5/meta.db" ] || fail "data_dir from the config not used"
stop_other

note "a low soft limit on open files is raised to the hard one"
P5=$(free_port)
serve_limited 256:4096 "$T/fd.log" --data "$T/data6" --listen "127.0.0.1:$P5"
wait_up "http://127.0.0.1:$P5"
grep -q 'open files limit raised to 4096' "$T/fd.log" ||
	fail "no raise logged: $(cat "$T/fd.log")"
soft=$(awk '/^Max open files/ { print $4 }' "/proc/$OTHER/limits")
[ "$soft" = 4096 ] || fail "soft limit $soft, want 4096"
stop_other

note "a body that dribbles in is cut off; one that stops is too"
P7=$(free_port)
serve_bg "$T/slow.log" --data "$DATA" --listen "127.0.0.1:$P7" \
	--set body_seconds=2
wait_up "http://127.0.0.1:$P7"
# slow_body NAME SECONDS_BETWEEN_BYTES: a PUT announcing 100000 bytes; the
# answer goes to $T/NAME.out, the seconds until the server hung up to
# $T/NAME.secs
slow_body() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$P7"
		printf 'PUT /api/v1/blocks/%064d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %064d\r\nContent-Length: 100000\r\n\r\n' 0 0 >&3
		if [ "$2" != 0 ]; then
			(for i in $(seq 1 60); do
				printf x >&3 2>/dev/null || break
				sleep "$2"
			done) &
		fi
		start=$SECONDS
		timeout 40 cat <&3 >"$T/$1.out" || true
		echo $((SECONDS - start)) >"$T/$1.secs"
		kill %1 2>/dev/null || true
	)
}
slow_body dribble 0.5 &
D1=$!
slow_body stalled 0 &
D2=$!
PIDS="$PIDS $D1 $D2"
wait "$D1" "$D2"
grep -q '408 Request Timeout' "$T/dribble.out" ||
	fail "dribbled body not answered 408: $(head -c 300 "$T/dribble.out")"
grep -q '"error":"timeout"' "$T/dribble.out" || fail "408 without its error"
[ "$(cat "$T/dribble.secs")" -le 10 ] ||
	fail "dribbled body held $(cat "$T/dribble.secs")s, want about 2"
[ "$(cat "$T/stalled.secs")" -le 10 ] ||
	fail "stopped body held $(cat "$T/stalled.secs")s, want about 2"
# a body on time is still taken (alice's token from the first server)
blk=$(make_block "$T/ontime" 200000)
S=http://127.0.0.1:$P7 api PUT "/api/v1/blocks/$blk" --data-binary "@$T/ontime"
expect 201
stop_other

note "more connections than open files: refused, no busy loop, served after"
P6=$(free_port)
serve_limited 64:64 "$T/emfile.log" --data "$T/data7" --listen "127.0.0.1:$P6"
wait_up "http://127.0.0.1:$P6"
cpu() { awk '{ print $14 + $15 }' "/proc/$OTHER/stat"; }
conns=()
for i in $(seq 1 100); do
	exec {c}<>"/dev/tcp/127.0.0.1/$P6" || fail "connect $i"
	conns+=("$c")
done
t0=$(cpu)
sleep 3
# the old server spun on accept() failing with EMFILE: 3 s of CPU in 3 s
# and millions of log lines; a few ticks here are its normal work
[ $(($(cpu) - t0)) -lt 100 ] || fail "busy at the descriptor limit"
grep -q 'refused [0-9]* connection(s): open files at' "$T/emfile.log" ||
	fail "no refusal logged: $(tail -3 "$T/emfile.log")"
[ "$(wc -l <"$T/emfile.log")" -lt 50 ] ||
	fail "log flooded: $(wc -l <"$T/emfile.log") lines"
for c in "${conns[@]}"; do exec {c}>&-; done
wait_up "http://127.0.0.1:$P6"
refused=$(curl -s "http://127.0.0.1:$P6/metrics" |
	awk '$1 == "cloudfs_connections_refused_total" { print $2 }')
[ "${refused:-0}" -ge 1 ] || fail "no refusal counted in /metrics"
stop_other
note "ok"
