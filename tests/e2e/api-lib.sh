# SPDX-License-Identifier: MIT
#
# Shared by the tests/e2e/t2*-api-*.sh scripts (sourced, not run): a
# scratch directory, a real cloudfsd on a free loopback port, accounts made
# with `cloudfsd user add`, a client-side login (scrypt and HKDF with the
# openssl command, exactly as libblock derives them), curl + jq helpers and
# hand-made blocks and manifests. An EXIT trap kills only the PIDs started
# here.
#
# Binaries come from $CLOUDFS_BUILD (tests/e2e/run.sh exports it).

set -eu
: "${CLOUDFS_BUILD:?run through tests/e2e/run.sh or set CLOUDFS_BUILD}"
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUDFSD="$CLOUDFS_BUILD/cloudfsd"
[ -x "$CLOUDFSD" ] || { echo "FAIL: missing $CLOUDFSD"; exit 1; }
for tool in curl jq openssl sha256sum base64; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing"; exit 1; }
done

T=$(mktemp -d /tmp/cloudfs-api.XXXXXX)
DATA=$T/data
SRV_PID=""
PIDS=""
S=""
PORT=""
TOKEN=""
STATUS=""
BODY=$T/body
HEADERS=$T/headers
ROOT=00000000000000000000000000000000

cleanup() {
	# shellcheck disable=SC2086 # PIDS is a word list
	kill_pids $PIDS "$SRV_PID" "${CLOUDFSD_PID:-}"
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	[ -s "$BODY" ] && { echo "# last body:"; head -c 2000 "$BODY"; echo; }
	[ -s "$T/server.log" ] && { echo "# server log:"; grep -v '^DBG' "$T/server.log" | tail -20; }
	exit 1
}
note() { echo "# $*"; }

# start_server [cloudfsd options...]: serve DATA on a free port (lib.sh's
# start_cloudfsd, which retries a lost bind race) and set PORT, S and
# SRV_PID.
start_server() {
	start_cloudfsd "$T/server.log" "$DATA" "$@" ||
		fail "cloudfsd did not start"
	PORT=$CLOUDFSD_PORT
	S=http://127.0.0.1:$PORT
	SRV_PID=$CLOUDFSD_PID
	CLOUDFSD_PID="" # SRV_PID owns it now
}

stop_server() {
	kill -TERM "$SRV_PID"
	wait "$SRV_PID" || fail "cloudfsd exited non-zero after SIGTERM"
	SRV_PID=""
}

kill9_server() {
	kill -9 "$SRV_PID"
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=""
}

# admin ARGS...: run an admin command on DATA.
admin() {
	"$CLOUDFSD" --data "$DATA" "$@" 2>>"$T/admin.log"
}

# add_user NAME PASSWORD
add_user() {
	printf '%s\n' "$2" | admin user add "$1" --password-stdin >/dev/null ||
		fail "user add $1"
}

# api METHOD PATH [curl args...]: STATUS gets the HTTP status, $BODY the
# body, $HEADERS the headers. Uses $TOKEN when set.
api() {
	local method=$1 path=$2
	shift 2
	local auth=()
	[ -n "$TOKEN" ] && auth=(-H "Authorization: Bearer $TOKEN")
	STATUS=$(curl -s --max-time 30 -o "$BODY" -D "$HEADERS" \
		-w '%{http_code}' -X "$method" "${auth[@]}" "$@" "$S$path") ||
		STATUS=000
}

# api_json METHOD PATH JSON: the same with a JSON body.
api_json() {
	api "$1" "$2" -H 'Content-Type: application/json' --data-binary "$3"
}

# expect STATUS [ERROR_CODE]: the last answer had them, or fail.
expect() {
	[ "$STATUS" = "$1" ] || fail "expected $1, got $STATUS"
	if [ $# -ge 2 ]; then
		local code
		code=$(jq -r .error "$BODY")
		[ "$code" = "$2" ] || fail "expected error $2, got $code"
	fi
	if [ "$STATUS" -ge 400 ] && [ "$STATUS" != 000 ] &&
		[ "$(head -c 1 "$BODY")" = "{" ]; then
		jq -e '(.error|type=="string") and (.message|type=="string")' \
			"$BODY" >/dev/null || fail "error body without error/message"
	fi
}

# j FILTER: jq -r on the last body.
j() { jq -r "$1" "$BODY"; }

# auth_key NAME PASSWORD: what a client sends to login.
auth_key() {
	local salt n r p master
	TOKEN="" api_json POST /api/v1/prelogin "{\"user\":\"$1\"}"
	[ "$STATUS" = 200 ] || fail "prelogin $1: $STATUS"
	salt=$(j .salt); n=$(j .kdf.n); r=$(j .kdf.r); p=$(j .kdf.p)
	master=$(openssl kdf -keylen 32 -kdfopt "pass:$2" -kdfopt "hexsalt:$salt" \
		-kdfopt "n:$n" -kdfopt "r:$r" -kdfopt "p:$p" \
		-kdfopt maxmem_bytes:1073741824 SCRYPT | tr -d ':' | tr A-F a-f)
	openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt "hexkey:$master" \
		-kdfopt "info:cloudfs auth" HKDF | tr -d ':' | tr A-F a-f
}

# login NAME PASSWORD [DEVICE]: prints the token.
login() {
	local key
	key=$(auth_key "$1" "$2")
	TOKEN="" api_json POST /api/v1/login \
		"{\"user\":\"$1\",\"auth_key\":\"$key\",\"device\":\"${3:-e2e}\"}"
	[ "$STATUS" = 200 ] || fail "login $1: $STATUS"
	j .token
}

new_id() { openssl rand -hex 16; }

# Little-endian integers as raw bytes on stdout.
le32() {
	local v=$1
	printf "\\$(printf %03o $((v & 255)))\\$(printf %03o $(((v >> 8) & 255)))"
	printf "\\$(printf %03o $(((v >> 16) & 255)))\\$(printf %03o $(((v >> 24) & 255)))"
}
le64() { le32 $(($1 & 0xffffffff)); le32 $(($1 >> 32)); }
hex_bytes() { printf "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }

# make_block FILE SIZE: a raw-codec block of SIZE random payload bytes
# (the server checks the header and the hash; it cannot check the GCM tag).
# Prints its id.
make_block() {
	{
		printf 'CFB1\001\000\000\000'
		le32 "$2"
		head -c 12 /dev/urandom
		head -c "$2" /dev/urandom
		head -c 16 /dev/urandom
	} >"$1"
	sha256sum "$1" | cut -c1-64
}

# manifest SIZE1 ID1 [SIZE2 ID2 ...]: a base64 manifest of those blocks.
manifest() {
	local total=0 count=0 args=("$@") i
	for ((i = 0; i < ${#args[@]}; i += 2)); do
		total=$((total + args[i])); count=$((count + 1))
	done
	{
		printf 'CFM1\001\000\000\000'
		le64 "$total"
		le32 "$count"
		for ((i = 0; i < ${#args[@]}; i += 2)); do
			hex_bytes "${args[i + 1]}"
			le32 "${args[i]}"
		done
	} | base64 -w0
}

TAG=$(printf 'ab%.0s' $(seq 1 32))

# mknode KIND PARENT NAME [extra JSON members]: prints the new node id.
mknode() {
	local id
	id=$(new_id)
	api_json POST /api/v1/nodes "{\"id\":\"$id\",\"kind\":\"$1\",\"parent\":\"$2\",\"name\":\"$3\",\"mode\":420,\"uid\":1000,\"gid\":1000${4:+,$4}}"
	[ "$STATUS" = 201 ] || fail "create $1 $3: $STATUS"
	echo "$id"
}
