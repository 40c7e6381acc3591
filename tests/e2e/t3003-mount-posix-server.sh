#!/bin/bash
# SPDX-License-Identifier: MIT
#
# t3000's POSIX checks through the real client against a real cloudfsd on
# loopback. Each mount logs in afresh with an empty state and cache, and
# each unmount first waits for `cloudfs sync`: so t3000's remount check
# compares the tree (names, modes, owners, sizes, links, symlink targets,
# content) after a full trip through the server.
set -u
BUILD=${CLOUDFS_BUILD:?run through tests/e2e/run.sh or set CLOUDFS_BUILD}
[ -x "$BUILD/cloudfs" ] && [ -x "$BUILD/cloudfsd" ] ||
	{ echo "not ok - cloudfs or cloudfsd not built"; exit 1; }
DRIVER=$(mktemp /tmp/t3003-driver.XXXXXX)
trap 'rm -f "$DRIVER"' EXIT
cat >"$DRIVER" <<'DRIVER_EOF'
# Sourced by t3000 (which owns $T, $BUILD, PIDS and the EXIT trap).
printf 'correct horse battery\n' >"$T/pw"
printf 'correct horse battery\n' | "$BUILD/cloudfsd" user add ann \
	--password-stdin --data "$T/data" >"$T/useradd.log" 2>&1 ||
	{ cat "$T/useradd.log"; exit 1; }
# lib.sh (sourced by t3000): a free port, retried on a lost bind race.
if ! start_cloudfsd "$T/server.log" "$T/data"; then
	echo "cloudfsd does not listen:"
	tail -20 "$T/server.log"
	exit 1
fi
PIDS+=("$CLOUDFSD_PID")
S_PORT=$CLOUDFSD_PORT
S_URL=http://127.0.0.1:$S_PORT
S_N=0
S_MOUNT_PID=

posix_mount() {
	S_N=$((S_N + 1))
	"$BUILD/cloudfs" login --server "$S_URL" --user ann \
		--password-file "$T/pw" --state-dir "$T/state$S_N" \
		--device "posix$S_N" >>"$T/daemon.log" 2>&1 ||
		{
			echo "login failed:"
			tail -20 "$T/daemon.log" "$T/server.log"
			return 1
		}
	"$BUILD/cloudfs" mount "$1" --state-dir "$T/state$S_N" \
		--cache-dir "$T/cache$S_N" -f -o allow_other,debounce=100 \
		>>"$T/daemon.log" 2>&1 &
	S_MOUNT_PID=$!
	PIDS+=($S_MOUNT_PID)
	# up once the first pull of the change feed moved the cursor
	for _ in $(seq 300); do
		"$BUILD/tests/tools/fc-posix" getxattr "$1" \
			user.cloudfs.status 2>/dev/null |
			grep -q '"cursor":[1-9]' && return 0
		kill -0 "$S_MOUNT_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "mount failed:"; tail -30 "$T/daemon.log"
	return 1
}

posix_umount() {
	"$BUILD/cloudfs" sync "$1" --timeout 300 ||
		{
			echo "cloudfs sync failed"
			tail -30 "$T/daemon.log"
			return 1
		}
	fusermount3 -u "$1" || return 1
	wait_exited "$S_MOUNT_PID" client
}
DRIVER_EOF
T3000_DRIVER=$DRIVER bash "$(dirname "$0")/t3000-mount-posix.sh"
