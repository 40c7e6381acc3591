#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The mount against a local directory on the same disk, same run: a real
# cloudfsd on loopback, a real cloudfs mount, bench/fsbench for the I/O.
#   - sequential write and read of FSBENCH_MIB (default 1024) MiB, reads
#     warm (from the local cache) and cold (a fresh device, fetching from
#     the server); the same read through bench/fusefloor, a FUSE file
#     system that only answers (zeros, from memory), shows what FUSE
#     itself allows
#   - create + write 4 KiB + close of FSBENCH_FILES (10,000) files, the
#     time until all of them are committed on the server, and `ls -l` of
#     that directory; the same creates through bench/fusefloor
#   - time until `cloudfs sync` returns after writing the file, and the
#     bytes the server received vs the file size, random and text data
#   - client peak RSS while writing and uploading FSBENCH_BIG_MIB (4096)
#     MiB
# Page caches are dropped before each read (root only), so reads come
# from the disk or the network for both sides. FSBENCH_KEEP=1 keeps the
# run's directory (logs, data) under FSBENCH_DIR (default /var/tmp).
set -eu
BUILD=$(cd "${1:-build}" && pwd)
MIB=${FSBENCH_MIB:-1024}
FILES=${FSBENCH_FILES:-10000}
BIG=${FSBENCH_BIG_MIB:-4096}
ONLY=${FSBENCH_ONLY:-}
CLOUDFS=$BUILD/cloudfs
CLOUDFSD=$BUILD/cloudfsd
FSB=$BUILD/bench/fsbench
FLOOR=$BUILD/bench/fusefloor
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../tests/e2e/lib.sh
. "$HERE/tests/e2e/lib.sh"
make -s -C "$HERE" BUILD="$BUILD" "$FSB" "$FLOOR" >/dev/null
for b in "$CLOUDFS" "$CLOUDFSD" "$FSB" "$FLOOR"; do
	[ -x "$b" ] || { echo "fsbench: missing $b"; exit 1; }
done

T=$(mktemp -d "${FSBENCH_DIR:-/var/tmp}/cloudfs-bench.XXXXXX")
SRV=""
CLI=""
MNTS=""
cleanup() {
	for m in $MNTS; do fusermount3 -u -z "$m" 2>/dev/null || true; done
	for p in $CLI $SRV; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${FSBENCH_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

drop() {
	sync
	[ -w /proc/sys/vm/drop_caches ] && echo 3 >/proc/sys/vm/drop_caches || true
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b }'; }
metric() {
	curl -s "http://127.0.0.1:$PORT/metrics" |
		awk -v m="$1" '$1 == m { print $2 }'
}

mkdir -p "$T/data" "$T/local"
printf 'bench password\n' >"$T/pw"
"$CLOUDFSD" user add bench --password-stdin --data "$T/data" <"$T/pw" >/dev/null 2>&1
# lib.sh: a free port below the ephemeral range, retried on a lost bind race
start_cloudfsd "$T/server.log" "$T/data" ||
	{ echo "fsbench: cloudfsd did not start"; tail -5 "$T/server.log"; exit 1; }
SRV=$CLOUDFSD_PID
PORT=$CLOUDFSD_PORT
URL=http://127.0.0.1:$PORT

# mount NAME: a device with its own state and cache dirs under $T
mount_dev() {
	local n=$1 i
	[ -f "$T/s$n/account.json" ] ||
		"$CLOUDFS" login --server "$URL" --user bench --password-file "$T/pw" \
			--state-dir "$T/s$n" >/dev/null
	mkdir -p "$T/m$n"
	"$CLOUDFS" mount "$T/m$n" --state-dir "$T/s$n" --cache-dir "$T/c$n" -f \
		>>"$T/client$n.log" 2>&1 &
	CLI="$CLI $!"
	LAST=$!
	MNTS="$MNTS $T/m$n"
	for i in $(seq 300); do
		"$CLOUDFS" status "$T/m$n" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "fsbench: mount $n failed"; tail "$T/client$n.log"; exit 1
}
umount_dev() {
	fusermount3 -u "$T/m$1"
	wait "$2" 2>/dev/null || true
}

printf '%-44s %14s %14s %7s\n' "benchmark" "cloudfs" "local" "ratio"
row() { printf '%-44s %14s %14s %7s\n' "$1" "$2" "$3" \
	"$(awk -v a="${2%% *}" -v b="${3%% *}" \
		'BEGIN { if (b > 0) printf "%d%%", 100 * a / b }')"; }

mount_dev 1
P1=$LAST
M=$T/m1

# the FUSE floor: a file system that does nothing but answer
# (bench/fusefloor), what the kernel's round trips allow
mkdir "$T/floor"
"$FLOOR" "$T/floor" >"$T/floor.log" 2>&1 &
FLOOR_PID=$!
CLI="$CLI $FLOOR_PID"
MNTS="$MNTS $T/floor"
for i in $(seq 50); do mountpoint -q "$T/floor" && break; sleep 0.1; done

# sequential write, then the upload it causes
w_loc=$("$FSB" write "$T/local/seq.bin" "$MIB" random)
rx0=$(metric cloudfs_received_bytes_total)
t0=$(now)
w_cfs=$("$FSB" write "$M/seq.bin" "$MIB" random)
t1=$(now)
"$CLOUDFS" sync "$M" >/dev/null
t_sync=$(elapsed "$t0")
t_after=$(elapsed "$t1")
rx1=$(metric cloudfs_received_bytes_total)
row "write $MIB MiB (random, 1 MiB writes + fsync)" "$w_cfs" "$w_loc"
echo "sync after writing $MIB MiB random: returns ${t_after} s after the write (${t_sync} s from its start), wire $(( (rx1 - rx0) / 1048576 )) MiB for $MIB MiB ($(ratio $((rx1 - rx0)) $((MIB * 1048576))) x)"

# reads: warm = from the local cache, cold = a fresh device
umount_dev 1 "$P1"
mount_dev 1
P1=$LAST
drop
r_loc=$("$FSB" read "$T/local/seq.bin")
drop
r_cfs=$("$FSB" read "$M/seq.bin")
row "read $MIB MiB, warm (cache file)" "$r_cfs" "$r_loc"
mount_dev 2
P2=$LAST
drop
r_cold=$("$FSB" read "$T/m2/seq.bin")
row "read $MIB MiB, cold (fetched from the server)" "$r_cold" "$r_loc"
umount_dev 2 "$P2"
truncate -s "${MIB}M" "$T/floor/seq.bin"
drop
r_floor=$("$FSB" read "$T/floor/seq.bin")
row "  a read through a do-nothing FUSE fs" "$r_floor" "$r_loc"
echo "  warm read vs the do-nothing FUSE fs: $(ratio "${r_cfs%% *}" "${r_floor%% *}") x"
# FSBENCH_ONLY=seq: the sequential write and reads only
[ "$ONLY" = seq ] && exit 0

# text data: bytes on the wire after compression
"$FSB" write "$T/local/text.bin" "$MIB" text >/dev/null
rx0=$(metric cloudfs_received_bytes_total)
t0=$(now)
cp "$T/local/text.bin" "$M/text.bin"
"$CLOUDFS" sync "$M" >/dev/null
t_sync=$(elapsed "$t0")
rx1=$(metric cloudfs_received_bytes_total)
echo "sync after copying $MIB MiB text: $(printf '%.1f' "$t_sync") s, wire $(( (rx1 - rx0) / 1048576 )) MiB ($(ratio $((rx1 - rx0)) $((MIB * 1048576))) x; gzip -1: $(ratio "$(gzip -1 -c "$T/local/text.bin" | wc -c)" $((MIB * 1048576))) x)"
rm -f "$T/local/text.bin"

# many small files, and the same through the FUSE floor
mkdir "$T/local/many" "$M/many" "$T/floor/many"
# the floor before cloudfs: cloudfs's uploads of the files it just made
# would still be running while the floor is measured; and each run after
# a sync, so none pays for the write-back of the one before
sync
c_loc=$("$FSB" create "$T/local/many" "$FILES" 4096)
sync
c_floor=$("$FSB" create "$T/floor/many" "$FILES" 4096)
sync
t0=$(now)
c_cfs=$("$FSB" create "$M/many" "$FILES" 4096)
t1=$(now)
"$CLOUDFS" sync "$M" >/dev/null
t_small=$(elapsed "$t0")
t_after=$(elapsed "$t1")
fusermount3 -u "$T/floor"
wait "$FLOOR_PID" 2>/dev/null || true
row "create+write 4 KiB+close x $FILES" "$c_cfs" "$c_loc"
row "  the same through a do-nothing FUSE fs" "$c_floor" "$c_loc"
echo "  cloudfs vs the do-nothing FUSE fs: $(ratio "${c_cfs%% *}" "${c_floor%% *}") x"
echo "  on the server: sync returns ${t_after} s after the last close; $(awk -v n="$FILES" -v t="$t_small" 'BEGIN { printf "%.0f", n / t }') files/s from the first create to all committed"
umount_dev 1 "$P1"
mount_dev 1
P1=$LAST
drop
t0=$(now)
ls -l "$T/local/many" >/dev/null
l_loc=$(elapsed "$t0")
drop
t0=$(now)
ls -l "$M/many" >/dev/null
l_cfs=$(elapsed "$t0")
printf '%-44s %12.3f s %12.3f s\n' "ls -l of $FILES entries (cold)" "$l_cfs" "$l_loc"
rm -rf "$T/local/many" "$T/local/seq.bin"

# peak RSS of the client while a big file is written and uploaded
rss_max=0
sample() {
	while kill -0 "$P1" 2>/dev/null; do
		awk '/^VmRSS/ {print $2}' "/proc/$P1/status" 2>/dev/null
		sleep 0.5
	done
}
sample >"$T/rss" &
SAMPLER=$!
"$FSB" write "$M/big.bin" "$BIG" random >/dev/null
"$CLOUDFS" sync "$M" >/dev/null
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$P1/status")
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
rss_max=$(sort -n "$T/rss" | tail -1)
echo "client RSS writing + uploading $BIG MiB: peak $((hwm / 1024)) MiB (sampled max $((rss_max / 1024)) MiB)"
umount_dev 1 "$P1"
