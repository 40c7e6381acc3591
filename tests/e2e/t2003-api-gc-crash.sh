#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Nothing acknowledged is lost: an uploader commits files while
# `cloudfsd gc --grace 0 --retention 0` runs again and again beside it (a
# commit that finds its blocks collected gets 409 missing_blocks, uploads
# them again and retries); then the server is killed with SIGKILL in the
# middle of block uploads and commits and restarted. Every block PUT that
# was answered 200/201 and every commit answered 200 must still be there,
# byte for byte, and fsck must be clean.
. "$(dirname "$0")/api-lib.sh"

add_user ann 'ann pw'
start_server
TOKEN=$(login ann 'ann pw')
ACKED=$T/acked    # "node version manifest" per acknowledged commit
BLOCKS=$T/blocks  # "id file" per acknowledged block PUT
: >"$ACKED"
: >"$BLOCKS"

# upload_one N: a file of two fresh blocks, committed; exit 1 when the
# server went away (that is the point of the crash phase).
upload_one() {
	local n=$1 id b1 b2 mf tries i
	id=$(mknode file "$ROOT" "f$n") || return 1
	api POST "/api/v1/nodes/$id/pending"
	[ "$STATUS" = 200 ] || return 1
	b1=$(make_block "$T/w/$n.1" $((1000 + RANDOM)))
	b2=$(make_block "$T/w/$n.2" $((1000 + RANDOM)))
	mf=$(manifest $(($(stat -c %s "$T/w/$n.1") - 40)) "$b1" \
		$(($(stat -c %s "$T/w/$n.2") - 40)) "$b2")
	for tries in 1 2 3 4 5 6 7 8; do
		for i in 1 2; do
			eval "b=\$b$i"
			api PUT "/api/v1/blocks/$b" --data-binary "@$T/w/$n.$i"
			case $STATUS in
			200 | 201) echo "$b $T/w/$n.$i" >>"$BLOCKS" ;;
			*) return 1 ;;
			esac
		done
		api_json POST "/api/v1/nodes/$id/commit" \
			"{\"base_version\":0,\"size\":$(($(stat -c %s "$T/w/$n.1") + $(stat -c %s "$T/w/$n.2") - 80)),\"mtime\":1,\"manifest\":\"$mf\",\"tag\":\"$TAG\"}"
		case $STATUS in
		200)
			echo "$id $(j .version) $mf" >>"$ACKED"
			return 0
			;;
		409) [ "$(j .error)" = missing_blocks ] || return 1 ;; # gc won: again
		*) return 1 ;;
		esac
	done
	echo "commit of f$n never got through"
	return 2
}

# uploader FIRST LAST: upload files FIRST..LAST; its own body file.
uploader() {
	local n
	BODY=$T/body.up
	HEADERS=$T/headers.up
	mkdir -p "$T/w"
	for n in $(seq "$1" "$2"); do
		upload_one "$n" || return $?
	done
}

# check_acked: every acknowledged commit and block is intact.
check_acked() {
	local id v mf b file
	while read -r id v mf; do
		api GET "/api/v1/nodes/$id/versions/$v"
		expect 200
		[ "$(j .manifest)" = "$mf" ] || fail "commit of $id lost or changed"
	done <"$ACKED"
	while read -r b file; do
		api GET "/api/v1/blocks/$b"
		[ "$STATUS" = 200 ] || fail "acknowledged block $b: $STATUS"
		cmp -s "$BODY" "$file" || fail "block $b changed"
	done < <(sort -u "$BLOCKS")
}

note "uploads racing gc --grace 0"
uploader 1 40 &
up=$!
PIDS="$up"
rounds=0
while kill -0 "$up" 2>/dev/null; do
	admin gc --grace 0 --retention 0 >>"$T/gc.log" || fail "gc failed"
	rounds=$((rounds + 1))
done
wait "$up" || fail "uploader failed while gc ran"
PIDS=""
note "$rounds gc rounds ($(grep -c 'removed [1-9]' "$T/gc.log" || true) removed blocks); $(wc -l <"$ACKED") commits"
[ "$(wc -l <"$ACKED")" = 40 ] || fail "not every commit got through"
# Blocks gc removed before their commit were uploaded again; what the
# commits reference must all be there.
: >"$BLOCKS.live"
while read -r id v mf; do
	printf '%s' "$mf" | base64 -d | tail -c +21 | od -An -v -tx1 | tr -d ' \n' |
		fold -w 72 | cut -c1-64 >>"$BLOCKS.live"
done <"$ACKED"
while read -r b; do
	api GET "/api/v1/blocks/$b"
	[ "$STATUS" = 200 ] || fail "committed block $b is gone"
done <"$BLOCKS.live"
admin fsck >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck after gc race"; }

note "SIGKILL during uploads and commits"
: >"$BLOCKS"
uploader 100 400 &
up=$!
PIDS="$up"
sleep 2
kill9_server
wait "$up" 2>/dev/null && fail "uploader finished before the kill"
PIDS=""
note "$(wc -l <"$ACKED") commits, $(sort -u "$BLOCKS" | wc -l) blocks acknowledged"
start_server
check_acked
stop_server
admin fsck >"$T/fsck.out" || { cat "$T/fsck.out"; fail "fsck after the crash"; }
admin scrub >/dev/null || fail "scrub after the crash"
echo "ok"
