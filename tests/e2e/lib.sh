# shellcheck shell=bash
# SPDX-License-Identifier: MIT
#
# Helpers every e2e script shares (sourced, not run; bash): a free
# loopback port, starting cloudfsd on one with a retry when the bind loses
# a race, and PID-based teardown. No state of its own beyond the
# variables start_cloudfsd sets; works under `set -eu` and without it.

# free_port: print a loopback TCP port nobody listens on right now. The
# range 10000-32000 is below the kernel's ephemeral range (32768-60999),
# so no outgoing connection holds it; a bind can still lose a race, which
# start_cloudfsd retries.
free_port() {
	local p
	while :; do
		p=$((10000 + RANDOM % 22001))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || {
			echo "$p"
			return 0
		}
	done
}

# since_line LOG SEEN TEXT: true when TEXT is in LOG after line SEEN.
since_line() {
	# no grep -q: under pipefail, tail must not die of SIGPIPE
	tail -n +"$(($2 + 1))" "$1" 2>/dev/null | grep -F -- "$3" >/dev/null
}

# start_cloudfsd LOG DATA [serve options...]: run `cloudfsd serve` on DATA
# on a free loopback port, appending its output to LOG, in the
# background. On success sets CLOUDFSD_PORT and CLOUDFSD_PID (the
# caller kills it) and returns 0 once the port accepts connections. When
# the server exits with "cannot listen" in LOG since this attempt (another
# process took the port), it tries another port, up to 5 times. Any other
# exit, or no answer within 30 s, returns 1 with CLOUDFSD_PID empty (a
# server that still runs is killed). The binary is $CLOUDFSD, else
# $CLOUDFS_BUILD/cloudfsd.
start_cloudfsd() {
	local log=$1 data=$2 bin=${CLOUDFSD:-${CLOUDFS_BUILD:-}/cloudfsd}
	local try seen
	shift 2
	CLOUDFSD_PID=""
	for try in 1 2 3 4 5; do
		seen=0
		if [ -f "$log" ]; then
			seen=$(wc -l <"$log")
		fi
		CLOUDFSD_PORT=$(free_port)
		"$bin" serve --data "$data" --listen "127.0.0.1:$CLOUDFSD_PORT" \
			"$@" >>"$log" 2>&1 &
		CLOUDFSD_PID=$!
		for _ in $(seq 300); do
			kill -0 "$CLOUDFSD_PID" 2>/dev/null || break
			# Up when it says so, or (at a quieter log level) when
			# the port answers and the server outlives a lost bind.
			if since_line "$log" "$seen" "listening on"; then
				return 0
			fi
			if (exec 3<>"/dev/tcp/127.0.0.1/$CLOUDFSD_PORT") \
				2>/dev/null; then
				sleep 0.5
				if kill -0 "$CLOUDFSD_PID" 2>/dev/null &&
					! since_line "$log" "$seen" "cannot listen"; then
					return 0
				fi
			fi
			sleep 0.1
		done
		if kill -0 "$CLOUDFSD_PID" 2>/dev/null; then
			kill -9 "$CLOUDFSD_PID" 2>/dev/null || true
			wait "$CLOUDFSD_PID" 2>/dev/null || true
			CLOUDFSD_PID=""
			return 1
		fi
		wait "$CLOUDFSD_PID" 2>/dev/null || true
		CLOUDFSD_PID=""
		since_line "$log" "$seen" "cannot listen" || return 1
		echo "# port $CLOUDFSD_PORT was taken (try $try), trying another"
	done
	return 1
}

# kill_pids PID...: SIGKILL each PID (empty words are skipped), then reap
# them. Only ever the PIDs this script started; never fails.
kill_pids() {
	local p
	for p in "$@"; do
		if [ -n "$p" ]; then
			kill -9 "$p" 2>/dev/null || true
		fi
	done
	for p in "$@"; do
		if [ -n "$p" ]; then
			wait "$p" 2>/dev/null || true
		fi
	done
}

# wait_mounted MOUNTPOINT LOG: wait (up to 10 s) until MOUNTPOINT is a
# mount; otherwise print "mount failed:" and LOG, and return 1.
wait_mounted() {
	local i
	for i in $(seq 200); do
		mountpoint -q "$1" && return 0
		sleep 0.05
	done
	echo "mount failed:"
	cat "$2"
	return 1
}

# wait_exited PID [WHAT]: wait (up to 20 s) until PID, a daemon that was
# just unmounted, has exited; otherwise say "WHAT did not exit", return 1.
wait_exited() {
	local i
	for i in $(seq 400); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	echo "${2:-daemon} did not exit"
	return 1
}

# check NAME EXPECTED ACTUAL: one TAP line; counts in $n, a failure sets
# fail=1 (the caller starts both at 0).
check() {
	n=$((n + 1))
	if [ "$2" == "$3" ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1: expected '$2', got '$3'"
		fail=1
	fi
}

# sanitizer_report LOG...: a sanitizer report in the logs, printed with
# its stack (the scratch directory holding them is gone after the test);
# 1 when there is none.
sanitizer_report() {
	local re="(Address|Leak|UndefinedBehavior)Sanitizer|runtime error:"
	grep -l -E "$re" "$@" 2>/dev/null || return 1
	grep -h -A40 -E "$re" "$@" | head -120
}
