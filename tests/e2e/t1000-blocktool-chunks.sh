#!/bin/bash
# SPDX-License-Identifier: MIT
#
# t1000: cloudfs-blocktool chunks. On a pseudo-random file and a copy with
# 100 bytes inserted at the start: every line is "offset length id", the
# offsets are contiguous and sum to the file size, stdin gives the same
# listing, almost every block id survives the insert (content-defined
# chunking), the two-file summary agrees, and a missing file is a clear
# error with a non-zero exit. Run by tests/e2e/run.sh (CLOUDFS_BUILD set).
set -euo pipefail

: "${CLOUDFS_BUILD:?run me through tests/e2e/run.sh}"
TOOL=$CLOUDFS_BUILD/cloudfs-blocktool
SIZE=$((8 * 1024 * 1024))

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Deterministic pseudo-random bytes: AES-256-CTR of zeros under a fixed key.
head -c "$SIZE" /dev/zero |
	openssl enc -aes-256-ctr -K "$(printf '%064d' 1000)" \
		-iv "$(printf '%032d' 0)" >"$tmp/a"
{ head -c 100 /dev/zero | tr '\0' 'x'; cat "$tmp/a"; } >"$tmp/b"
[ "$(stat -c %s "$tmp/a")" -eq "$SIZE" ] || fail "could not make the test file"

# check_listing LISTING FILE: format, contiguity, total = size of FILE.
check_listing() {
	local listing=$1 file=$2 size
	size=$(stat -c %s "$file")
	[ -s "$listing" ] || fail "$listing is empty"
	if grep -nvE '^[0-9]+ [0-9]+ [0-9a-f]{64}$' "$listing" >&2; then
		fail "$listing: lines above are not 'offset length id'"
	fi
	awk -v size="$size" -v name="$listing" '
		$1 != next_off {
			printf "%s:%d: offset %s, expected %s\n", name, NR, $1, next_off
			bad = 1; exit
		}
		$2 <= 0 || $2 > 1048576 {
			printf "%s:%d: chunk length %s out of range\n", name, NR, $2
			bad = 1; exit
		}
		{ next_off = $1 + $2 }
		END {
			if (bad) exit 1
			if (next_off != size) {
				printf "%s: chunks cover %d bytes, file has %d\n", name, next_off, size
				exit 1
			}
		}' next_off=0 "$listing" || fail "bad listing $listing"
}

"$TOOL" chunks --test-key "$tmp/a" >"$tmp/a.out" 2>"$tmp/a.err" ||
	fail "chunks a: exit $? ($(cat "$tmp/a.err"))"
"$TOOL" chunks --test-key "$tmp/b" >"$tmp/b.out" 2>"$tmp/b.err" ||
	fail "chunks b: exit $? ($(cat "$tmp/b.err"))"
check_listing "$tmp/a.out" "$tmp/a"
check_listing "$tmp/b.out" "$tmp/b"
grep -q 'test volume key' "$tmp/a.err" || fail "--test-key is not announced on stderr"

# Same listing from stdin.
"$TOOL" chunks --test-key - <"$tmp/a" >"$tmp/stdin.out" 2>/dev/null
cmp -s "$tmp/a.out" "$tmp/stdin.out" || fail "stdin listing differs from the file's"

# Most block ids survive the insert.
total=$(wc -l <"$tmp/b.out")
shared=$(comm -12 <(cut -d' ' -f3 "$tmp/a.out" | sort -u) \
	<(cut -d' ' -f3 "$tmp/b.out" | sort) | wc -l)
echo "chunks: a $(wc -l <"$tmp/a.out"), b $total, shared $shared"
[ "$total" -ge 10 ] || fail "only $total chunks for $SIZE bytes"
[ $((shared * 100)) -ge $((total * 80)) ] || fail "only $shared of $total ids shared"
[ "$shared" -ge $((total - 2)) ] || fail "an insert at the start changed more than 2 chunks"

# Two files: the listings, then the summary, which agrees with the above.
"$TOOL" chunks --test-key "$tmp/a" "$tmp/b" >"$tmp/ab.out" 2>/dev/null
want="$tmp/b: $shared of $total chunks shared"
grep -qF "$want" "$tmp/ab.out" || fail "summary missing: '$want' in $(tail -2 "$tmp/ab.out")"
grep -qE "^$tmp/b: [0-9]+ of $total chunks shared, [0-9]+ of $((SIZE + 100)) bytes$" \
	"$tmp/ab.out" || fail "summary line format: $(tail -1 "$tmp/ab.out")"

# A missing file: non-zero exit and a message naming it.
rc=0
"$TOOL" chunks --test-key "$tmp/missing" >"$tmp/m.out" 2>"$tmp/m.err" || rc=$?
[ "$rc" -ne 0 ] || fail "a missing file exits 0"
grep -q "$tmp/missing: No such file or directory" "$tmp/m.err" ||
	fail "unclear error for a missing file: $(cat "$tmp/m.err")"

# No key: a usage error.
rc=0
"$TOOL" chunks "$tmp/a" >/dev/null 2>"$tmp/k.err" || rc=$?
[ "$rc" -eq 2 ] || fail "no key: exit $rc, expected 2"
grep -q -- '--test-key' "$tmp/k.err" || fail "no key: unclear error"

# A key file of 64 hex digits (either case, trailing newline) round trips
# a block; a file with one bad digit is refused with a clear message.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F >"$tmp/key.hex"
echo >>"$tmp/key.hex"
printf 'hex key\n' >"$tmp/plain"
"$TOOL" encode --key-file "$tmp/key.hex" "$tmp/plain" >"$tmp/blob" 2>"$tmp/id" ||
	fail "encode with a hex key file"
[ "$("$TOOL" decode --key-file "$tmp/key.hex" --id "$(cat "$tmp/id")" "$tmp/blob")" = "hex key" ] ||
	fail "decode with a hex key file"
sed 's/^./g/' "$tmp/key.hex" >"$tmp/bad.hex"
rc=0
"$TOOL" decode --key-file "$tmp/bad.hex" "$tmp/blob" >/dev/null 2>"$tmp/bad.err" || rc=$?
[ "$rc" -ne 0 ] || fail "a key file with a bad digit was taken"
grep -q "64 hex digits" "$tmp/bad.err" || fail "bad key file: $(cat "$tmp/bad.err")"
echo "ok"
