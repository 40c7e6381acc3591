# SPDX-License-Identifier: MIT
#
# T3000_DRIVER for tests/e2e/t3000-mount-posix.sh: the POSIX checks
# through the real client (`cloudfs mount`) against a real cloudfsd on
# loopback, instead of the network-less fc-localmount. Sourced by t3000
# with $T, $BUILD and the PIDS array set; the server is started on the
# first mount and stays up across remounts.

drv_server_pid=""

drv_server() {
	local port i
	[ -n "$drv_server_pid" ] && return 0
	mkdir -p "$T/data"
	printf 'posix password\n' >"$T/pw"
	"$BUILD/cloudfsd" user add posix --password-stdin --data "$T/data" \
		<"$T/pw" >>"$T/daemon.log" 2>&1 || return 1
	# below the ephemeral port range; retried when the bind loses a race
	for _ in 1 2 3 4 5; do
		port=$((10000 + RANDOM % 22000))
		"$BUILD/cloudfsd" serve --data "$T/data" \
			--listen "127.0.0.1:$port" >>"$T/server.log" 2>&1 &
		drv_server_pid=$!
		for i in $(seq 100); do
			(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break 2
			kill -0 "$drv_server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$drv_server_pid" 2>/dev/null
		wait "$drv_server_pid" 2>/dev/null
	done
	PIDS+=("$drv_server_pid")
	"$BUILD/cloudfs" login --server "http://127.0.0.1:$port" --user posix \
		--password-file "$T/pw" --state-dir "$T/state" >>"$T/daemon.log" 2>&1
}

posix_mount() {
	drv_server || { echo "server failed:"; cat "$T/daemon.log"; return 1; }
	"$BUILD/cloudfs" mount "$1" --state-dir "$T/state" --cache-dir "$T/cache" \
		-f -o allow_other,debounce=100 >>"$T/daemon.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 200); do
		mountpoint -q "$1" && return 0
		sleep 0.05
	done
	echo "mount failed:"; cat "$T/daemon.log"
	return 1
}

posix_umount() {
	local pid=${PIDS[${#PIDS[@]}-1]}
	fusermount3 -u "$1" || return 1
	for _ in $(seq 400); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	echo "daemon did not exit"
	return 1
}
