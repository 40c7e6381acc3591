# SPDX-License-Identifier: MIT
#
# Shared by the tests/e2e/t4*-client-*.sh scripts (sourced, not run): a
# scratch directory, a real cloudfsd on a free loopback port, an account,
# `cloudfs login` and foreground mounts, all torn down by an EXIT trap
# that unmounts and kills only the PIDs started here.
#
# Binaries come from $CLOUDFS_BUILD (tests/e2e/run.sh exports it).

set -eu
: "${CLOUDFS_BUILD:?run through tests/e2e/run.sh or set CLOUDFS_BUILD}"
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUDFS="$CLOUDFS_BUILD/cloudfs"
CLOUDFSD="$CLOUDFS_BUILD/cloudfsd"
[ -x "$CLOUDFS" ] || { echo "missing $CLOUDFS"; exit 1; }
[ -x "$CLOUDFSD" ] || { echo "missing $CLOUDFSD"; exit 1; }
[ -c /dev/fuse ] || { echo "FAIL: /dev/fuse is missing"; exit 1; }

T=$(mktemp -d /tmp/cloudfs-e2e.XXXXXX)
DATA=$T/data
PW=$T/password
USER_NAME=ann
SRV_PID=""
MOUNTS=""
PIDS=""

cleanup() {
	local m
	for m in $MOUNTS; do
		fusermount3 -u -z "$m" 2>/dev/null || true
	done
	# shellcheck disable=SC2086 # PIDS is a word list
	kill_pids $PIDS "$SRV_PID"
	# a sanitizer report from a client or the server fails the test
	if sanitizer_report "$T"/*.log; then
		rm -rf "$T"
		exit 1
	fi
	rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }
note() { echo "# $*"; }

# lib.sh's free_port: below the ephemeral range; server_start retries a
# lost bind race.
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
SERVER_STARTED=""

# Create the account (before the server runs) and start the server.
server_init() {
	mkdir -p "$DATA"
	printf 'correct horse battery\n' >"$PW"
	printf 'correct horse battery\n' |
		"$CLOUDFSD" user add "$USER_NAME" --password-stdin --data "$DATA" \
		>"$T/useradd.log" 2>&1 || { cat "$T/useradd.log"; fail "user add"; }
	server_start
}

# Start the server on $PORT (extra cloudfsd options in $SERVER_OPTS). The first start may move to another port
# when the bind loses a race; later starts (after server_stop) keep the
# port the clients know, retrying a little.
server_start() {
	local try i
	for try in 1 2 3 4 5; do
		# shellcheck disable=SC2086 # SERVER_OPTS is a word list
		"$CLOUDFSD" serve --data "$DATA" --listen "127.0.0.1:$PORT" \
			${SERVER_OPTS:-} >>"$T/server.log" 2>&1 &
		SRV_PID=$!
		for i in $(seq 100); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
				SERVER_STARTED=1
				return 0
			fi
			kill -0 "$SRV_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$SRV_PID" 2>/dev/null || true
		wait "$SRV_PID" 2>/dev/null || true
		SRV_PID=""
		# kept aside: a lost bind race is not a finding of this test
		mv "$T/server.log" "$T/server-start$try.txt"
		if [ -z "$SERVER_STARTED" ]; then
			PORT=$(free_port)
			URL=http://127.0.0.1:$PORT
		else
			sleep 1
		fi
	done
	cat "$T/server-start5.txt"
	fail "the server does not start"
}

server_stop() {
	kill -TERM "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=""
}

# Two devices of the account (state dirs s1, s2): the server started,
# both logged in, device A mounted on $A (MOUNT_PID), B's mountpoint $B.
two_devices() {
	server_init
	login "$T/s1" >/dev/null || fail "login 1"
	login "$T/s2" >/dev/null || fail "login 2"
	A=$T/a
	B=$T/b
	mount_fs "$A" "$T/s1" "$T/c1"
}

# login STATE_DIR [PASSWORD_FILE]
login() {
	"$CLOUDFS" login --server "$URL" --user "$USER_NAME" \
		--password-file "${2:-$PW}" --state-dir "$1" --device "e2e-$(basename "$1")"
}

# mount_fs MOUNTPOINT STATE_DIR CACHE_DIR [cloudfs mount options...]
# Runs the client in the foreground (in the background of this shell);
# MOUNT_PID names it.
mount_fs() {
	local mnt=$1 state=$2 cache=$3 i
	shift 3
	mkdir -p "$mnt"
	"$CLOUDFS" mount "$mnt" --state-dir "$state" --cache-dir "$cache" -f \
		-o debounce=200 "$@" >>"$T/client.log" 2>&1 &
	MOUNT_PID=$!
	PIDS="$PIDS $MOUNT_PID"
	MOUNTS="$MOUNTS $mnt"
	for i in $(seq 300); do
		"$CLOUDFS" status "$mnt" >/dev/null 2>&1 && return 0
		kill -0 "$MOUNT_PID" 2>/dev/null || { tail -20 "$T/client.log"; fail "client died"; }
		sleep 0.1
	done
	tail -20 "$T/client.log"
	fail "mount of $mnt did not come up"
}

# umount_fs MOUNTPOINT: clean unmount, waits for the client to exit.
umount_fs() {
	fusermount3 -u "$1" || fail "fusermount3 -u $1"
	wait "$MOUNT_PID" 2>/dev/null || true
}

sync_fs() {
	"$CLOUDFS" sync "$1" --timeout "${2:-120}" || fail "cloudfs sync $1"
}

# requests ROUTE: how many the server answered on that route (any status)
requests() {
	curl -s "$URL/metrics" |
		awk -v r="route=\"$1\"" 'index($0, "cloudfs_requests_total{") == 1 &&
			index($0, r) { n += $2 } END { print n + 0 }'
}

# Blocks the server stores for the account.
block_count() {
	find "$DATA/blocks" -type f 2>/dev/null | grep -cv '/\.tmp' || true
}

# A listing of everything under a directory: type, mode, size, links,
# symlink target or content hash, one line per path, sorted.
tree_sum() {
	(cd "$1" && find . -mindepth 1 -printf '%y %m %s %n %p\n' | sort |
		while read -r y m s n p; do
			case $y in
			f) h=$(sha256sum <"$p" | cut -c1-16) ;;
			l) h=$(readlink "$p") ;;
			*) h=- ;;
			esac
			[ "$y" = d ] && s=-
			echo "$y $m $s $n $p $h"
		done)
}

# fresh_matches MOUNT: a third device, logged in and mounted afresh at
# $T/fresh, passes the caller's check_tree and sees the tree MOUNT sees
# (MOUNT may be resyncing to the server's tree still: a few seconds).
fresh_matches() {
	local i
	login "$T/s3" >/dev/null || fail "login 3"
	mount_fs "$T/fresh" "$T/s3" "$T/c3"
	check_tree "$T/fresh"
	for i in $(seq 50); do
		[ "$(tree_sum "$T/fresh")" = "$(tree_sum "$1")" ] && return 0
		sleep 0.2
	done
	diff <(tree_sum "$T/fresh") <(tree_sum "$1") || true
	fail "$1 does not see the server's tree"
}

# purge_trash: the server's gc with no retention: whatever is in the
# trash now is purged (at least one item, or the test fails)
purge_trash() {
	local n
	sleep 1.1 # trash times are whole seconds: retention 0 purges the past ones
	"$CLOUDFSD" gc --data "$DATA" --retention 0 --grace 0 >"$T/gc.out" 2>&1 ||
		{ cat "$T/gc.out"; fail "gc"; }
	n=$(sed -n 's/.* and \([0-9]*\) trash items.*/\1/p' "$T/gc.out")
	[ "${n:-0}" -ge 1 ] || { cat "$T/gc.out"; fail "nothing was purged"; }
}
