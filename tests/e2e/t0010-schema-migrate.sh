#!/bin/bash
# SPDX-License-Identifier: MIT
#
# t0010: the server schema's forward migrations. Builds the SQLite metadata
# store twice, once embedding schema/server.sql alone (version 1) and once
# with an extra schema/server-0002-*.sql, then: a new database opens at
# version 1; the newer binary migrates it to 2 keeping its rows; the older
# binary refuses the migrated database (-EPROTO) and leaves it untouched.
# Also checks that schema/embed.awk rejects a gap in the numbering and a
# backslash. Run by tests/e2e/run.sh (CLOUDFS_BUILD set); needs cc, the
# sqlite3 shell and the -dev packages `make deps` installs.
set -euo pipefail

: "${CLOUDFS_BUILD:?run me through tests/e2e/run.sh}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

cd "$ROOT"

# A tool that opens the store at $1 and reports the result.
cat >"$tmp/open.c" <<'EOF'
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cf_log.h"
#include "srv_meta.h"

int main(int argc, char **argv)
{
	struct srv_meta *m = NULL;
	int rc;

	cf_log_setup("open", LOG_WARNING, NULL);
	if (argc != 2)
		return 2;
	rc = srv_meta_sqlite_open(argv[1], &m);
	if (rc < 0) {
		printf("%s\n", rc == -EPROTO ? "EPROTO" : strerror(-rc));
		return 1;
	}
	srv_meta_close(m);
	printf("ok\n");
	return 0;
}
EOF

mkdir -p "$tmp/v2"
cp schema/server.sql "$tmp/v2/"
cat >"$tmp/v2/server-0002-test.sql" <<'EOF'
-- A test migration: a new table and a column.
CREATE TABLE migration_probe (x INTEGER NOT NULL);
ALTER TABLE users ADD COLUMN probe INTEGER NOT NULL DEFAULT 7;
EOF

awk -f schema/embed.awk schema/server.sql >"$tmp/schema1.c" ||
	fail "embed.awk failed on schema/server.sql"
awk -f schema/embed.awk "$tmp/v2/server.sql" "$tmp/v2/server-0002-test.sql" \
	>"$tmp/schema2.c" || fail "embed.awk failed on two versions"
grep -q '{ 2, "server-0002-test.sql", schema_2 }' "$tmp/schema2.c" ||
	fail "version 2 missing from the generated table"

# Out-of-order numbering and backslashes break the build, not the database.
cp "$tmp/v2/server-0002-test.sql" "$tmp/v2/server-0003-gap.sql"
if awk -f schema/embed.awk "$tmp/v2/server.sql" "$tmp/v2/server-0003-gap.sql" \
	>/dev/null 2>"$tmp/gap.err"; then
	fail "embed.awk accepted a gap in the versions"
fi
grep -q "expected 2" "$tmp/gap.err" || fail "gap: unclear message: $(cat "$tmp/gap.err")"
printf 'SELECT 1; -- \\ \n' >"$tmp/v2/server-0002-bs.sql"
if awk -f schema/embed.awk "$tmp/v2/server.sql" "$tmp/v2/server-0002-bs.sql" \
	>/dev/null 2>"$tmp/bs.err"; then
	fail "embed.awk accepted a backslash"
fi
grep -q "backslash" "$tmp/bs.err" || fail "backslash: unclear message"

# Build the two tools from the store's sources.
flags="-std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -O1 -g -pthread
	-Icommon -Ilibblock/include -Iserver"
libs="-lsqlite3 -lcrypto -lpthread"
# common without its libwebsockets glue, which the store does not use
srcs="server/srv_meta_sqlite*.c $(ls common/*.c | grep -v '/cf_lws_log\.c$')"
for v in 1 2; do
	# shellcheck disable=SC2086
	cc $flags -o "$tmp/open$v" "$tmp/open.c" "$tmp/schema$v.c" $srcs $libs ||
		fail "cannot build the version $v tool"
done

db=$tmp/meta.db
uv() { sqlite3 "$db" 'PRAGMA user_version'; }

[ "$("$tmp/open1" "$db")" = ok ] || fail "version 1 cannot create a database"
[ "$(uv)" = 1 ] || fail "new database is at version $(uv), not 1"
sqlite3 "$db" "INSERT INTO settings (key, value) VALUES ('probe', x'01')"

[ "$("$tmp/open2" "$db")" = ok ] || fail "version 2 cannot migrate"
[ "$(uv)" = 2 ] || fail "migrated database is at version $(uv), not 2"
sqlite3 "$db" 'SELECT count(*) FROM migration_probe' >/dev/null ||
	fail "migration 2 did not create its table"
[ "$(sqlite3 "$db" "SELECT hex(value) FROM settings WHERE key = 'probe'")" = 01 ] ||
	fail "migration lost a row"
[ "$("$tmp/open2" "$db")" = ok ] || fail "version 2 cannot reopen its database"

out=$("$tmp/open1" "$db" || true)
[ "$out" = EPROTO ] || fail "version 1 opened a version 2 database: $out"
[ "$(uv)" = 2 ] || fail "refusing changed the version"
echo "ok: migrations 0 -> 1 -> 2, newer schema refused"
