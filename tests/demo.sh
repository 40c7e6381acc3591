#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The cloudfs demo (`make demo`, build dir as $1). Today it shows the block
# layer: a sample file is cut into content-defined chunks, each encrypted
# into a block with its own id; after an edit in the middle of a copy, only
# the chunks around the edit get new ids, so only those would be uploaded.
#
# Layout for later steps (start the server, mount the drive, ...): each
# step is a function called from main; every resource a step makes goes
# into $work or is registered with cleanup_add, and the EXIT trap undoes
# them in reverse order.
set -euo pipefail

BUILD=$(cd "${1:-build}" && pwd)
TOOL=$BUILD/cloudfs-blocktool
work=
cleanups=()

cleanup_add() {
	cleanups+=("$1")
}

cleanup() {
	local i
	for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do
		eval "${cleanups[i]}" || true
	done
}
trap cleanup EXIT

say() {
	printf '\n== %s\n' "$*"
}

step_setup() {
	[ -x "$TOOL" ] || { echo "demo: $TOOL missing: run make first" >&2; exit 1; }
	work=$(mktemp -d "${TMPDIR:-/tmp}/cloudfs-demo.XXXXXX")
	cleanup_add "rm -rf '$work'"
}

# A few MiB of report-like text: numbered paragraphs with varying figures.
step_sample_file() {
	say "a sample file"
	awk 'BEGIN {
		srand(42)
		for (i = 1; i <= 40000; i++)
			printf "%06d  quarterly report, region %d: revenue %.2f, units %d, notes: %s\n",
				i, i % 17, rand() * 100000, int(rand() * 5000),
				(i % 3 ? "on track" : "needs review")
	}' >"$work/report.txt"
	echo "$work/report.txt: $(stat -c %s "$work/report.txt") bytes"
}

step_chunks() {
	say "its chunks (FastCDC, 64 KiB / 256 KiB / 1 MiB) and block ids"
	"$TOOL" chunks --test-key "$work/report.txt" >"$work/report.chunks" \
		2>/dev/null
	echo "offset length block-id (sha-256 of the encrypted block)"
	head -n 5 "$work/report.chunks"
	echo "... $(wc -l <"$work/report.chunks") chunks in all"
}

step_edit() {
	say "edit a copy: one line inserted in the middle"
	local lines half
	lines=$(wc -l <"$work/report.txt")
	half=$((lines / 2))
	{
		head -n "$half" "$work/report.txt"
		echo "EDIT  a paragraph added by the demo"
		tail -n +"$((half + 1))" "$work/report.txt"
	} >"$work/report-edited.txt"
	"$TOOL" chunks --test-key "$work/report.txt" "$work/report-edited.txt" \
		2>/dev/null | tail -n 1 | sed "s|$work/||"
	echo "only the chunks that are not shared would travel to the server"
}

main() {
	step_setup
	step_sample_file
	step_chunks
	step_edit
	echo
}

main "$@"
