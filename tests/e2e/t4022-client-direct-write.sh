#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The kernel's big write-backs reach the cache file with O_DIRECT, so the
# bytes are not cached twice: after a streamed write and fsync, the
# cache file holds next to nothing in the page cache (fincore), while
# with -o no_direct_write it holds the whole file; so it does when the
# write-backs are spliced from the device (-o splice_read, with a max_read
# that fits the kernel's pipe). Every way the file reads back byte for
# byte: through the mount, after a remount (from the
# cache file itself), after small unaligned edits over the direct-written
# ranges, and on a fresh device once uploaded.
. "$(dirname "$0")/client-lib.sh"

MIB=8
SIZE=$((MIB * 1024 * 1024 + 1000)) # a partial last page: a buffered write

# resident CACHE_DIR: bytes of the one cache file of SIZE in the page cache
resident() {
	local f
	f=$(find "$1" -type f -size "${SIZE}c")
	[ "$(printf '%s\n' "$f" | grep -c .)" -eq 1 ] ||
		fail "want one cache file of $SIZE bytes in $1, found: $f"
	fincore --bytes --noheadings --output RES "$f"
}

server_init
head -c "$SIZE" /dev/urandom >"$T/orig"

# a device each; uploads wait (debounce), so nothing reads the cache
# files meanwhile
for mode in direct_write no_direct_write spliced; do
	opts=$mode
	[ "$mode" = spliced ] && opts=splice_read,max_read=262144
	login "$T/s-$mode" >/dev/null || fail "login ($mode)"
	mount_fs "$T/m" "$T/s-$mode" "$T/c-$mode" -o "debounce=600000,$opts"
	dd if="$T/orig" of="$T/m/$mode" bs=1M conv=fsync 2>/dev/null ||
		fail "write ($mode)"
	res=$(resident "$T/c-$mode")
	note "$mode: $res of $SIZE bytes of the cache file in the page cache"
	if [ "$mode" = direct_write ]; then
		[ "$res" -le $((256 * 1024)) ] ||
			fail "direct writes left $res bytes cached"
	else
		[ "$res" -ge $((MIB * 1024 * 1024)) ] ||
			fail "buffered writes left only $res bytes cached"
	fi
	cmp "$T/orig" "$T/m/$mode" || fail "read back ($mode)"
	umount_fs "$T/m"
done
for mode in no_direct_write spliced; do
	mount_fs "$T/m" "$T/s-$mode" "$T/c-$mode"
	sync_fs "$T/m"
	umount_fs "$T/m"
done

# from the cache file alone, then edited in place, small and unaligned
mount_fs "$T/m" "$T/s-direct_write" "$T/c-direct_write"
cmp "$T/orig" "$T/m/direct_write" || fail "after remount"
cp "$T/orig" "$T/edited"
for off in 4095 1048577 $((5 * 1048576 - 3)); do
	head -c 5000 /dev/urandom >"$T/piece"
	dd if="$T/piece" of="$T/edited" bs=5000 seek="$off" \
		oflag=seek_bytes conv=notrunc 2>/dev/null
	dd if="$T/piece" of="$T/m/direct_write" bs=5000 seek="$off" \
		oflag=seek_bytes conv=notrunc,fsync 2>/dev/null ||
		fail "edit at $off"
done
cmp "$T/edited" "$T/m/direct_write" || fail "after the edits"
umount_fs "$T/m"
mount_fs "$T/m" "$T/s-direct_write" "$T/c-direct_write"
cmp "$T/edited" "$T/m/direct_write" || fail "edits after remount"
sync_fs "$T/m"

login "$T/s2" >/dev/null || fail "login 2"
mount_fs "$T/m2" "$T/s2" "$T/c2"
cmp "$T/edited" "$T/m2/direct_write" || fail "on a fresh device"
cmp "$T/orig" "$T/m2/no_direct_write" ||
	fail "buffered file on a fresh device"
cmp "$T/orig" "$T/m2/spliced" || fail "spliced file on a fresh device"
echo "ok"
