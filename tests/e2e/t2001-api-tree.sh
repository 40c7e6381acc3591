#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The tree over real HTTP: nodes of every kind, stat and list by path and
# by id with paging, setattr, hard links, unlink to the trash and back,
# rename with noreplace, exchange, replaces and node, the change feed,
# the name and path rules, and two accounts that cannot see or touch each
# other's tree.
. "$(dirname "$0")/api-lib.sh"

add_user ann 'ann pw'
add_user ben 'ben pw'
start_server
TOKEN_B=$(login ben 'ben pw')
TOKEN=$(login ann 'ann pw')
TOKEN_A=$TOKEN
cursor0=$(j .cursor)

note "every kind of node"
docs=$(mknode dir "$ROOT" docs)
f1=$(mknode file "$docs" 'a b+c.txt')
mknode fifo "$docs" pipe >/dev/null
mknode sock "$docs" sock >/dev/null
mknode chr "$docs" tty '"rdev":1025' >/dev/null
[ "$(j .node.rdev)" = 1025 ] || fail "rdev"
mknode blk "$docs" sda '"rdev":2048' >/dev/null
ln=$(mknode symlink "$docs" link '"target":"../x y"')
[ "$(j .node.target)" = "../x y" ] || fail "symlink target"
[ "$(j .node.size)" = 6 ] || fail "symlink size"
[ "$(j .cursor)" -gt "$cursor0" ] || fail "cursor did not move"

note "stat and list"
api GET /api/v1/stat -G --data-urlencode 'path=/docs/a b+c.txt'
expect 200
[ "$(j .id)" = "$f1" ] || fail "stat by path"
[ "$(j .kind)" = file ] || fail "kind"
api GET "/api/v1/nodes/$ln"
expect 200
[ "$(j .kind)" = symlink ] || fail "node by id"
api GET /api/v1/list -G --data-urlencode 'path=/docs'
expect 200
[ "$(j '.entries|length')" = 6 ] || fail "list size"
[ "$(j .more)" = false ] || fail "more"
api GET "/api/v1/nodes/$docs/children?limit=3"
expect 200
[ "$(j '.entries|length')" = 3 ] && [ "$(j .more)" = true ] || fail "page 1"
after=$(j '.entries[-1].name')
api GET "/api/v1/nodes/$docs/children?limit=10" -G --data-urlencode "after=$after"
expect 200
[ "$(j '.entries|length')" = 3 ] && [ "$(j .more)" = false ] || fail "page 2"
api GET /api/v1/stat -G --data-urlencode 'path=/docs/nope'
expect 404 not_found
api GET /api/v1/stat -G --data-urlencode 'path=/docs/a b+c.txt/x'
expect 409 not_a_directory
api GET /api/v1/stat -G --data-urlencode 'path=docs'
expect 400

note "names and paths"
api_json POST /api/v1/nodes "{\"id\":\"$(new_id)\",\"kind\":\"file\",\"parent\":\"$ROOT\",\"name\":\"a/b\",\"mode\":420,\"uid\":0,\"gid\":0}"
expect 400 bad_name
api_json POST /api/v1/nodes "{\"id\":\"$(new_id)\",\"kind\":\"file\",\"parent\":\"$ROOT\",\"name\":\"..\",\"mode\":420,\"uid\":0,\"gid\":0}"
expect 400 bad_name
api_json POST /api/v1/nodes "{\"id\":\"$(new_id)\",\"kind\":\"file\",\"parent\":\"$ROOT\",\"name\":\"a\\u0000b\",\"mode\":420,\"uid\":0,\"gid\":0}"
expect 400 bad_name
long=$(printf 'x%.0s' $(seq 1 256))
api_json POST /api/v1/nodes "{\"id\":\"$(new_id)\",\"kind\":\"file\",\"parent\":\"$ROOT\",\"name\":\"$long\",\"mode\":420,\"uid\":0,\"gid\":0}"
expect 400 name_too_long
mknode file "$ROOT" "${long:1}" >/dev/null # 255 bytes is fine
deep=$(printf '/abcdefgh%.0s' $(seq 1 460))
api GET /api/v1/stat -G --data-urlencode "path=$deep"
expect 400 name_too_long
api_json POST /api/v1/nodes "{\"id\":\"$(new_id)\",\"kind\":\"file\",\"parent\":\"$ROOT\",\"name\":\"m\",\"mode\":\"644\",\"uid\":0,\"gid\":0}"
expect 400 bad_request
j .message | grep -q "'mode'" || fail "message does not name 'mode'"
api_json POST /api/v1/nodes '{"id":'
expect 400 bad_request
api_json POST /api/v1/nodes "{\"id\":\"$f1\",\"kind\":\"file\",\"parent\":\"$ROOT\",\"name\":\"dup\",\"mode\":420,\"uid\":0,\"gid\":0}"
expect 409 exists

note "setattr"
api_json PATCH "/api/v1/nodes/$f1" '{"mode":384,"uid":7,"mtime":1000}'
expect 200
[ "$(j .node.mode)" = 384 ] && [ "$(j .node.uid)" = 7 ] && [ "$(j .node.mtime)" = 1000 ] ||
	fail "patch"
api_json PATCH "/api/v1/nodes/$f1" '{"size":0}'
expect 400

note "hard links, unlink, trash"
api_json POST /api/v1/entries "{\"parent\":\"$ROOT\",\"name\":\"hard\",\"node\":\"$f1\"}"
expect 201
[ "$(j .node.nlink)" = 2 ] || fail "nlink"
# the same link again (a client's retry): done, nothing added
api_json POST /api/v1/entries "{\"parent\":\"$ROOT\",\"name\":\"hard\",\"node\":\"$f1\"}"
expect 201
[ "$(j .node.nlink)" = 2 ] || fail "nlink after the same link again"
api_json POST /api/v1/entries "{\"parent\":\"$ROOT\",\"name\":\"hard\",\"node\":\"$ln\"}"
expect 409 exists
api_json POST /api/v1/entries "{\"parent\":\"$ROOT\",\"name\":\"dirlink\",\"node\":\"$docs\"}"
expect 403 forbidden
api_json DELETE /api/v1/entries "{\"parent\":\"$ROOT\",\"name\":\"hard\"}"
expect 200
api_json DELETE /api/v1/entries "{\"parent\":\"$ROOT\",\"name\":\"docs\"}"
expect 409 is_a_directory
api_json DELETE /api/v1/entries "{\"parent\":\"$ROOT\",\"name\":\"docs\",\"dir\":true}"
expect 409 not_empty
api_json DELETE /api/v1/entries "{\"parent\":\"$ROOT\",\"name\":\"docs\",\"dir\":true,\"recursive\":true}"
expect 200
api GET /api/v1/trash
expect 200
[ "$(j '.items|length')" = 1 ] && [ "$(j '.items[0].node')" = "$docs" ] || fail "trash list"
api_json POST "/api/v1/trash/$docs/restore" '{}'
expect 200
api GET /api/v1/stat -G --data-urlencode 'path=/docs/pipe'
expect 200

note "rename"
d2=$(mknode dir "$ROOT" d2)
y=$(mknode file "$ROOT" y)
api_json POST /api/v1/rename "{\"src_parent\":\"$ROOT\",\"src_name\":\"docs\",\"dst_parent\":\"$d2\",\"dst_name\":\"moved\"}"
expect 200
api GET /api/v1/stat -G --data-urlencode 'path=/d2/moved/a b+c.txt'
expect 200
api_json POST /api/v1/rename "{\"src_parent\":\"$ROOT\",\"src_name\":\"y\",\"dst_parent\":\"$d2\",\"dst_name\":\"moved\",\"noreplace\":true}"
expect 409 exists
api_json POST /api/v1/rename "{\"src_parent\":\"$ROOT\",\"src_name\":\"y\",\"dst_parent\":\"$d2\",\"dst_name\":\"moved\",\"exchange\":true}"
expect 200
api GET /api/v1/stat -G --data-urlencode 'path=/y'
[ "$(j .id)" = "$docs" ] || fail "exchange"
api_json POST /api/v1/rename "{\"src_parent\":\"$ROOT\",\"src_name\":\"d2\",\"dst_parent\":\"$d2\",\"dst_name\":\"self\"}"
expect 400

note "rename with replaces: the node the client expects at the target"
r1=$(mknode file "$ROOT" r1)
r2=$(mknode file "$ROOT" r2)
other=$(new_id)
# mv r1 r2 REPLACES: ren r1 to r2, expecting node $3 there, plus JSON $4
mv_r() { api_json POST /api/v1/rename "{\"src_parent\":\"$ROOT\",\"src_name\":\"$1\",\"dst_parent\":\"$ROOT\",\"dst_name\":\"$2\",\"replaces\":$3${4:+,$4}}"; }
mv_r r1 r2 "\"$other\""
expect 409 exists
j .message | grep -q "another node" || fail "409 message: $(j .message)"
api GET /api/v1/stat -G --data-urlencode 'path=/r2'
[ "$(j .id)" = "$r2" ] || fail "replaces mismatch moved something"
api GET /api/v1/stat -G --data-urlencode 'path=/r1'
expect 200
mv_r r1 r2 '"12ab"'
expect 400 bad_request
mv_r r1 r2 42
expect 400 bad_request
mv_r r1 r2 "\"$r2\"" '"noreplace":true'
expect 400 bad_request
j .message | grep -q "noreplace and replaces" || fail "400 message: $(j .message)"
mv_r r1 r2 "\"$r2\""
expect 200
api GET /api/v1/stat -G --data-urlencode 'path=/r2'
[ "$(j .id)" = "$r1" ] || fail "replaces match did not replace"
api GET "/api/v1/nodes/$r2"
expect 200
[ "$(j .deleted)" != null ] || fail "the replaced node is not in the trash"
# the expected node is gone elsewhere: a plain move
mv_r r2 r3 "\"$r2\""
expect 200
api GET /api/v1/stat -G --data-urlencode 'path=/r3'
[ "$(j .id)" = "$r1" ] || fail "replaces on a free target"

note "rename and unlink with node: the node the client expects at the name"
# mv_n SRC DST NODE, rm_n NAME NODE: in the root, naming NODE (JSON)
mv_n() { api_json POST /api/v1/rename "{\"src_parent\":\"$ROOT\",\"src_name\":\"$1\",\"dst_parent\":\"$ROOT\",\"dst_name\":\"$2\",\"node\":$3}"; }
rm_n() { api_json DELETE /api/v1/entries "{\"parent\":\"$ROOT\",\"name\":\"$1\",\"node\":$2}"; }
# /r3 holds $r1: naming another node moves or removes nothing
mv_n r3 r4 "\"$other\""
expect 404 not_found
j .message | grep -q "holding 'node'" || fail "404 message: $(j .message)"
rm_n r3 "\"$other\""
expect 404 not_found
rm_n r3 7
expect 400 bad_request
api GET /api/v1/stat -G --data-urlencode 'path=/r3'
[ "$(j .id)" = "$r1" ] || fail "a mismatched node moved or removed r3"
mv_n r3 r4 "\"$r1\""
expect 200
rm_n r4 "\"$r1\""
expect 200
api GET "/api/v1/nodes/$r1"
[ "$(j .deleted)" != null ] || fail "unlink with its node did not trash it"

note "creates in a batch"
# one item: "id", "kind", "parent", "name", "mode", uid 0, gid 0
item() { printf '{"id":"%s","kind":"%s","parent":"%s","name":"%s","mode":420,"uid":0,"gid":0}' "$@"; }
bd=$(new_id)
b1=$(new_id)
b2=$(new_id)
batch="{\"nodes\":[$(item "$bd" dir "$ROOT" batch),$(item "$b1" file "$bd" one),$(item "$b2" file "$bd" two)]}"
api_json POST /api/v1/nodes/batch "$batch"
expect 200
[ "$(j .done)" = 3 ] || fail "batch: $(j .done) of 3 made"
[ "$(j .error)" = null ] || fail "batch error $(j .error)"
bcur=$(j .cursor)
[ "$bcur" -gt 0 ] || fail "batch cursor"
api GET /api/v1/stat -G --data-urlencode 'path=/batch/two'
expect 200
[ "$(j .id)" = "$b2" ] || fail "batch: /batch/two"
# the same batch again (its answer lost): all made, nothing new
api_json POST /api/v1/nodes/batch "$batch"
expect 200
[ "$(j .done)" = 3 ] && [ "$(j .cursor)" = "$bcur" ] || fail "batch retry"
# stops at a taken name: the item before it is made, the one after not
b3=$(new_id)
b4=$(new_id)
api_json POST /api/v1/nodes/batch "{\"nodes\":[$(item "$b3" file "$bd" three),$(item "$(new_id)" file "$bd" one),$(item "$b4" file "$bd" four)]}"
expect 200
[ "$(j .done)" = 1 ] && [ "$(j .error)" = exists ] || fail "batch stop: $(cat "$BODY")"
api GET /api/v1/stat -G --data-urlencode 'path=/batch/three'
expect 200
api GET /api/v1/stat -G --data-urlencode 'path=/batch/four'
expect 404
# malformed: nothing is made
api_json POST /api/v1/nodes/batch "{\"nodes\":[$(item "$b4" file "$bd" four),$(item "$(new_id)" file "$bd" 'a/b')]}"
expect 400 bad_name
j .message | grep -q '^item 1: ' || fail "message does not name item 1: $(cat "$BODY")"
api GET /api/v1/stat -G --data-urlencode 'path=/batch/four'
expect 404
api_json POST /api/v1/nodes/batch '{"nodes":[]}'
expect 400
api_json POST /api/v1/nodes/batch '{"nodes":[7]}'
expect 400
api_json POST /api/v1/nodes/batch "{\"nodes\":[$(for i in $(seq 257); do printf '%s,' "$(item "$(new_id)" file "$bd" "n$i")"; done | sed 's/,$//')]}"
expect 400

note "change feed"
api GET "/api/v1/changes?since=$cursor0&limit=5"
expect 200
[ "$(j .more)" = true ] || fail "feed paging"
next=$(j .next)
total=$(j '(.nodes|length) + (.entries|length)')
while [ "$(j .more)" = true ]; do
	api GET "/api/v1/changes?since=$(j .next)&limit=5"
	expect 200
	total=$((total + $(j '(.nodes|length) + (.entries|length)')))
done
[ "$total" -ge 10 ] || fail "feed too short: $total"
api GET "/api/v1/changes?since=$(j .next)"
[ "$(j '.entries|length')" = 0 ] || fail "feed after the end"

note "isolation, both ways"
TOKEN=$TOKEN_B
bdir=$(mknode dir "$ROOT" bens)
api GET "/api/v1/nodes/$docs"
expect 404 not_found
api GET "/api/v1/nodes/$docs/children"
expect 404
api GET /api/v1/stat -G --data-urlencode 'path=/y'
expect 404
api_json POST /api/v1/nodes "{\"id\":\"$(new_id)\",\"kind\":\"file\",\"parent\":\"$docs\",\"name\":\"in\",\"mode\":420,\"uid\":0,\"gid\":0}"
expect 404
api_json POST /api/v1/entries "{\"parent\":\"$ROOT\",\"name\":\"stolen\",\"node\":\"$f1\"}"
expect 404
api_json POST /api/v1/nodes/batch "{\"nodes\":[$(item "$(new_id)" file "$bd" in)]}"
expect 200
[ "$(j .done)" = 0 ] && [ "$(j .error)" = not_found ] || fail "ben made a node in ann's dir"
api_json POST /api/v1/rename "{\"src_parent\":\"$d2\",\"src_name\":\"moved\",\"dst_parent\":\"$ROOT\",\"dst_name\":\"mine\"}"
expect 404
api_json PATCH "/api/v1/nodes/$f1" '{"mode":0}'
expect 404
api_json POST "/api/v1/trash/$docs/restore" '{}'
expect 404
api GET /api/v1/changes?since=0
[ "$(j '.entries|length')" = 1 ] || fail "ben's feed holds more than his own"
TOKEN=$TOKEN_A
api GET "/api/v1/nodes/$bdir"
expect 404
api GET /api/v1/stat -G --data-urlencode 'path=/bens'
expect 404
api_json DELETE /api/v1/entries "{\"parent\":\"$bdir\",\"name\":\"x\"}"
expect 404
stop_server
echo "ok"
