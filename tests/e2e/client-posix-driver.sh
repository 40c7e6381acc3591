# SPDX-License-Identifier: MIT
#
# T3000_DRIVER for tests/e2e/t3000-mount-posix.sh: the POSIX checks
# through the real client (`cloudfs mount`) against a real cloudfsd on
# loopback, instead of the network-less fc-localmount. Sourced by t3000
# with $T, $BUILD and the PIDS array set; the server is started on the
# first mount and stays up across remounts.

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

drv_server_pid=""

drv_server() {
	[ -n "$drv_server_pid" ] && return 0
	mkdir -p "$T/data"
	printf 'posix password\n' >"$T/pw"
	"$BUILD/cloudfsd" user add posix --password-stdin --data "$T/data" \
		<"$T/pw" >>"$T/daemon.log" 2>&1 || return 1
	start_cloudfsd "$T/server.log" "$T/data" || return 1
	drv_server_pid=$CLOUDFSD_PID
	CLOUDFSD_PID=""
	PIDS+=("$drv_server_pid")
	"$BUILD/cloudfs" login --server "http://127.0.0.1:$CLOUDFSD_PORT" \
		--user posix \
		--password-file "$T/pw" --state-dir "$T/state" >>"$T/daemon.log" 2>&1
}

posix_mount() {
	drv_server || { echo "server failed:"; cat "$T/daemon.log"; return 1; }
	"$BUILD/cloudfs" mount "$1" --state-dir "$T/state" --cache-dir "$T/cache" \
		-f -o allow_other,debounce=100 >>"$T/daemon.log" 2>&1 &
	PIDS+=($!)
	wait_mounted "$1" "$T/daemon.log"
}

posix_umount() {
	fusermount3 -u "$1" || return 1
	wait_exited "${PIDS[${#PIDS[@]}-1]}"
}
