#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Run every tests/e2e/tNNNN-*.sh against the binaries in BUILD (first
# argument), each under a hard timeout, and print TAP. Exit non-zero when
# any test fails. E2E_FILTER=glob limits which tests run.
set -u
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
export CLOUDFS_BUILD="$BUILD"
TIMEOUT=${E2E_TIMEOUT:-600}
tests=$(ls "$HERE"/t[0-9][0-9][0-9][0-9]-*.sh 2>/dev/null | sort)
[ -n "${E2E_FILTER:-}" ] && tests=$(printf '%s\n' $tests | grep -- "$E2E_FILTER")
n=0; fail=0
echo "1..$(printf '%s\n' $tests | grep -c .)"
for t in $tests; do
	n=$((n + 1))
	name=$(basename "$t" .sh)
	log="$BUILD/e2e-$name.log"
	start=$(date +%s)
	if timeout -k 10 "$TIMEOUT" bash "$t" >"$log" 2>&1; then
		echo "ok $n - $name ($(( $(date +%s) - start ))s)"
	else
		rc=$?
		echo "not ok $n - $name (exit $rc, $(( $(date +%s) - start ))s, log $log)"
		tail -n 60 "$log" | sed 's/^/#   /'
		fail=1
	fi
done
exit $fail
