#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Blocks and versions over real HTTP: missing-check, PUT (verified,
# idempotent), GET, HEAD, bad blocks (400), oversized bodies (413 without
# reading them), pending, commit with missing blocks (409 + ids), stale
# base version (409 + current), size limits (413) and bad manifests (400),
# versions, restore, isolation of blocks between accounts, batch commits
# (POST /commits: item by item answers, a malformed item refuses all, another
# account's node is not_found), and the metrics.
. "$(dirname "$0")/api-lib.sh"

add_user ann 'ann pw'
add_user ben 'ben pw'
start_server --set max_file_size=1000000
TOKEN_B=$(login ben 'ben pw')
TOKEN=$(login ann 'ann pw')
TOKEN_A=$TOKEN

f=$(mknode file "$ROOT" doc)
b1=$(make_block "$T/b1" 3000)
b2=$(make_block "$T/b2" 5000)
b3=$(make_block "$T/b3" 7)

note "which blocks are missing"
api_json POST /api/v1/blocks/missing "{\"ids\":[\"$b1\",\"$b2\"]}"
expect 200
[ "$(j '.missing|length')" = 2 ] || fail "missing before upload"

note "pending, then a commit before its blocks"
api POST "/api/v1/nodes/$f/pending"
expect 200
api GET /api/v1/stat -G --data-urlencode path=/doc
[ "$(j .status)" = pending ] || fail "not pending"
mf=$(manifest 3000 "$b1" 5000 "$b2" 3000 "$b1")
api_json POST "/api/v1/nodes/$f/commit" "{\"base_version\":0,\"size\":11000,\"mtime\":1,\"manifest\":\"$mf\",\"tag\":\"$TAG\"}"
expect 409 missing_blocks
[ "$(j '.missing|sort|join(",")')" = "$(printf '%s\n' "$b1" "$b2" | sort | paste -sd,)" ] ||
	fail "missing list"

note "block PUT, GET, HEAD"
api PUT "/api/v1/blocks/$b1" -H 'Content-Type: application/octet-stream' --data-binary "@$T/b1"
expect 201
api PUT "/api/v1/blocks/$b1" -H 'Content-Type: application/octet-stream' --data-binary "@$T/b1"
expect 200
api PUT "/api/v1/blocks/$b2" -H 'Content-Type: application/octet-stream' --data-binary "@$T/b2"
expect 201
api GET "/api/v1/blocks/$b1"
expect 200
cmp -s "$BODY" "$T/b1" || fail "GET returned other bytes"
api HEAD "/api/v1/blocks/$b2" -I
expect 200
grep -qi "^content-length: $(stat -c %s "$T/b2")" "$HEADERS" || fail "HEAD length"
api_json POST /api/v1/blocks/missing "{\"ids\":[\"$b1\",\"$b2\",\"$b3\"]}"
[ "$(j '.missing|join(",")')" = "$b3" ] || fail "missing after upload"

note "bad blocks"
api PUT "/api/v1/blocks/$b3" --data-binary "@$T/b1"
expect 400 bad_block
printf 'XXXX' | dd of="$T/b3" bs=1 conv=notrunc status=none
bad=$(sha256sum "$T/b3" | cut -c1-64)
api PUT "/api/v1/blocks/$bad" --data-binary "@$T/b3"
expect 400 bad_block
api PUT /api/v1/blocks/xyz --data-binary "@$T/b1"
expect 400
head -c $((1048576 + 41)) /dev/zero >"$T/big"
api PUT "/api/v1/blocks/$b3" --data-binary "@$T/big"
expect 413 too_large
head -c $((9 * 1048576)) /dev/zero >"$T/huge"
api PUT "/api/v1/blocks/$b3" --data-binary "@$T/huge"
expect 413
head -c $((2 * 1048576)) /dev/zero | tr '\0' ' ' >"$T/bigjson"
api POST /api/v1/blocks/missing -H 'Content-Type: application/json' --data-binary "@$T/bigjson"
expect 413

note "commit, stale, limits"
api_json POST "/api/v1/nodes/$f/commit" "{\"base_version\":0,\"size\":11000,\"mtime\":1,\"manifest\":\"$mf\",\"tag\":\"$TAG\"}"
expect 200
[ "$(j .version)" = 1 ] || fail "version 1"
api_json POST "/api/v1/nodes/$f/commit" "{\"base_version\":0,\"size\":11000,\"mtime\":1,\"manifest\":\"$mf\",\"tag\":\"$TAG\"}"
expect 409 stale_version
[ "$(j .current_version)" = 1 ] || fail "current_version"
mf2=$(manifest 5000 "$b2")
api_json POST "/api/v1/nodes/$f/commit" "{\"base_version\":1,\"size\":5000,\"mtime\":2,\"manifest\":\"$mf2\",\"tag\":\"$TAG\"}"
expect 200
[ "$(j .version)" = 2 ] || fail "version 2"
api_json POST "/api/v1/nodes/$f/commit" "{\"base_version\":2,\"size\":5001,\"mtime\":2,\"manifest\":\"$mf2\",\"tag\":\"$TAG\"}"
expect 400 bad_manifest
api_json POST "/api/v1/nodes/$f/commit" "{\"base_version\":2,\"size\":1000001,\"mtime\":2,\"manifest\":\"$mf2\",\"tag\":\"$TAG\"}"
expect 413 too_large
api_json POST "/api/v1/nodes/$f/commit" "{\"base_version\":2,\"size\":5000,\"mtime\":2,\"manifest\":\"@@@@\",\"tag\":\"$TAG\"}"
expect 400
api_json POST "/api/v1/nodes/$f/commit" "{\"base_version\":2,\"size\":5000,\"mtime\":2,\"manifest\":\"$mf2\"}"
expect 400
j .message | grep -q "'tag'" || fail "message does not name 'tag'"
api GET /api/v1/stat -G --data-urlencode path=/doc
[ "$(j .size)" = 5000 ] && [ "$(j .version)" = 2 ] && [ "$(j .status)" = uploaded ] ||
	fail "node after commits"

note "versions and restore"
api GET "/api/v1/nodes/$f/versions"
expect 200
[ "$(j '.versions|map(.size)|join(",")')" = 11000,5000 ] || fail "versions list"
api GET "/api/v1/nodes/$f/versions/1"
expect 200
[ "$(j .manifest)" = "$mf" ] && [ "$(j .tag)" = "$TAG" ] || fail "version 1 manifest"
api GET "/api/v1/nodes/$f/versions/current"
[ "$(j .version)" = 2 ] || fail "current"
api GET "/api/v1/nodes/$f/versions/9"
expect 404
api_json POST "/api/v1/nodes/$f/restore" '{"version":1}'
expect 200
[ "$(j .version)" = 3 ] || fail "restore version"
api GET /api/v1/stat -G --data-urlencode path=/doc
[ "$(j .size)" = 11000 ] || fail "restored size"

note "blocks are per account"
TOKEN=$TOKEN_B
api GET "/api/v1/blocks/$b1"
expect 404 not_found
api HEAD "/api/v1/blocks/$b1" -I
expect 404
api_json POST /api/v1/blocks/missing "{\"ids\":[\"$b1\"]}"
[ "$(j '.missing|length')" = 1 ] || fail "ben sees ann's block"
api GET "/api/v1/nodes/$f/versions/1"
expect 404
api_json POST "/api/v1/nodes/$f/commit" "{\"base_version\":3,\"size\":5000,\"mtime\":2,\"manifest\":\"$mf2\",\"tag\":\"$TAG\"}"
expect 404
g=$(mknode file "$ROOT" bens)
api_json POST "/api/v1/nodes/$g/commit" "{\"base_version\":0,\"size\":5000,\"mtime\":2,\"manifest\":\"$mf2\",\"tag\":\"$TAG\"}"
expect 409 missing_blocks

note "commits in a batch"
TOKEN=$TOKEN_A
# citem NODE BASE SIZE MANIFEST: one item of POST /api/v1/commits
citem() { printf '{"node":"%s","base_version":%s,"size":%s,"mtime":1,"manifest":"%s","tag":"%s"}' "$1" "$2" "$3" "$4" "$TAG"; }
# version NODE: the node's current version, as its account sees it
version() {
	api GET "/api/v1/nodes/$1"
	expect 200
	j .version
}
c1=$(mknode file "$ROOT" c1)
c2=$(mknode file "$ROOT" c2)
c3=$(mknode file "$ROOT" c3)
cbatch="{\"commits\":[$(citem "$c1" 0 11000 "$mf"),$(citem "$c2" 0 5000 "$mf2"),$(citem "$c3" 0 5000 "$mf2")]}"
api_json POST /api/v1/commits "$cbatch"
expect 200
[ "$(j '.results|map(.version)|join(",")')" = 1,1,1 ] || fail "batch: not all at version 1"
[ "$(j '[.results[]|select(has("error"))]|length')" = 0 ] || fail "batch: an item failed"
ccur=$(j .cursor)
[ "$ccur" -gt 0 ] || fail "batch cursor"
api GET "/api/v1/nodes/$c3"
[ "$(j .version)" = 1 ] && [ "$(j .size)" = 5000 ] && [ "$(j .status)" = uploaded ] ||
	fail "c3 after the batch"
[ "$(j .seq)" -le "$ccur" ] || fail "batch cursor below c3's"
api GET "/api/v1/nodes/$c1/versions"
expect 200
[ "$(j '.versions|map(.size)|join(",")')" = 11000 ] || fail "c1 versions"
# the same batch again (its answer lost): every item is already there
api_json POST /api/v1/commits "$cbatch"
expect 200
[ "$(j '.results|map("\(.error):\(.current_version)")|join(",")')" = \
	stale_version:1,stale_version:1,stale_version:1 ] || fail "batch retry"
[ "$(j .cursor)" = 0 ] || fail "batch retry moved the cursor"

note "commits in a batch: each item on its own"
mf3=$(manifest 3000 "$b1" 7 "$b3") # b3 is not stored
api_json POST /api/v1/commits "{\"commits\":[$(citem "$c1" 1 5000 "$mf2"),$(citem "$c2" 0 5000 "$mf2"),$(citem "$c3" 1 3007 "$mf3")]}"
expect 200
[ "$(j '.results[0]|keys|join(",")')" = version ] && [ "$(j '.results[0].version')" = 2 ] ||
	fail "batch: the good item"
[ "$(j '.results[1].error')" = stale_version ] && [ "$(j '.results[1].current_version')" = 1 ] ||
	fail "batch: the stale item"
[ "$(j '.results[2].error')" = missing_blocks ] && [ "$(j '.results[2].missing|join(",")')" = "$b3" ] ||
	fail "batch: the item with a missing block"
ccur2=$(j .cursor)
[ "$ccur2" -gt "$ccur" ] || fail "batch cursor did not move"
[ "$(version "$c1")" = 2 ] && [ "$(version "$c2")" = 1 ] && [ "$(version "$c3")" = 1 ] ||
	fail "versions after the mixed batch"

note "commits in a batch: malformed requests commit nothing"
good=$(citem "$c1" 2 5000 "$mf2")
api_json POST /api/v1/commits '{"commits":[]}'
expect 400
api_json POST /api/v1/commits '{}'
expect 400
api_json POST /api/v1/commits "{\"commits\":$(citem "$c1" 2 5000 "$mf2")}"
expect 400
api_json POST /api/v1/commits "{\"commits\":[$(for _ in $(seq 65); do printf '%s,' "$good"; done | sed 's/,$//')]}"
expect 400
api_json POST /api/v1/commits "{\"commits\":[$good,7]}"
expect 400
j .message | grep -q 'item 1' || fail "message does not name item 1"
api_json POST /api/v1/commits "{\"commits\":[$good,$(citem "$c2" 1 5000 "@@@@")]}"
expect 400
api_json POST /api/v1/commits "{\"commits\":[$good,$(citem "$c2" 1 5001 "$mf2")]}"
expect 400 bad_manifest
api_json POST /api/v1/commits "{\"commits\":[$good,$(citem "$c2" 1 1000001 "$mf2")]}"
expect 413 too_large
api_json POST /api/v1/commits "{\"commits\":[$good,{\"node\":\"$c2\",\"base_version\":1,\"size\":5000,\"mtime\":1,\"manifest\":\"$mf2\"}]}"
expect 400
j .message | grep -q "'tag'" || fail "message does not name 'tag'"
j .message | grep -q '^item 1: ' || fail "message does not name item 1"
TOKEN="" api_json POST /api/v1/commits "{\"commits\":[$good]}"
expect 401
[ "$(version "$c1")" = 2 ] && [ "$(version "$c2")" = 1 ] || fail "a refused batch committed"
api GET "/api/v1/nodes/$c1/versions"
[ "$(j '.versions|length')" = 2 ] || fail "a refused batch added a version"

note "commits in a batch: another account's node"
api_json POST /api/v1/commits "{\"commits\":[$good,$(citem "$g" 0 5000 "$mf2")]}"
expect 200
[ "$(j '.results[0].version')" = 3 ] && [ "$(j '.results[1].error')" = not_found ] ||
	fail "batch with ben's node"
[ "$(j '.results[1]|keys|join(",")')" = error ] || fail "not_found says more: $(j '.results[1]')"
TOKEN=$TOKEN_B
api GET "/api/v1/nodes/$g"
expect 200
[ "$(j .version)" = 0 ] && [ "$(j .size)" = 0 ] || fail "ann's batch changed ben's node"
api GET "/api/v1/nodes/$g/versions"
[ "$(j '.versions|length')" = 0 ] || fail "ann's batch gave ben's node a version"
TOKEN=$TOKEN_A

note "metrics"
TOKEN="" api GET /metrics
expect 200
grep -q 'blocks_put' "$BODY" || fail "no per-route request counts"
grep -q 'commit_batch' "$BODY" || fail "no request count for the batch commit"
stop_server
admin fsck >/dev/null || fail "fsck after the test"
echo "ok"
