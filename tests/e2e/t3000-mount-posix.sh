#!/bin/bash
# SPDX-License-Identifier: MIT
#
# POSIX behaviour through a real FUSE mount of the client: every operation,
# the errno cases, link counts, ctime, holes, mmap, O_APPEND/O_TRUNC/O_EXCL,
# rename flags, unlink of an open file, 5,000 files in one directory,
# sticky directories as unprivileged users, the control xattrs, and a
# remount that keeps everything.
#
# How to mount is a driver: by default fc-localmount (the core without a
# network). T3000_DRIVER=FILE sources FILE instead, which must define
#   posix_mount MNT     mount at MNT (allow_other), return once mounted
#   posix_umount MNT    unmount, return once the daemon is gone
# and may use $T (this test's temp dir) for its own state.
set -u

BUILD=${CLOUDFS_BUILD:?run through tests/e2e/run.sh or set CLOUDFS_BUILD}
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh" # for drivers: free_port, start_cloudfsd
POSIX="$BUILD/tests/tools/fc-posix"
T=$(mktemp -d /tmp/t3000.XXXXXX)
M="$T/mnt"
mkdir -p "$M"
PIDS=()
fail=0
n=0

cleanup() {
	cd /
	mountpoint -q "$M" && { fusermount3 -u "$M" 2>/dev/null || umount -l "$M"; }
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

[ -c /dev/fuse ] || { echo "not ok - /dev/fuse is missing"; exit 1; }
[ -x "$POSIX" ] || { echo "not ok - $POSIX not built"; exit 1; }

# ----- the default driver: fc-localmount -----
posix_mount() {
	"$BUILD/tests/tools/fc-localmount" -f -o allow_other,debounce=100 \
		"$T/state" "$T/cache" "$1" >>"$T/daemon.log" 2>&1 &
	PIDS+=($!)
	wait_mounted "$1" "$T/daemon.log"
}
posix_umount() {
	fusermount3 -u "$1" || return 1
	wait_exited "${PIDS[${#PIDS[@]}-1]}"
}
if [ -n "${T3000_DRIVER:-}" ]; then
	# shellcheck source=/dev/null
	. "$T3000_DRIVER"
fi

errno_of() { "$POSIX" "$@" 2>&1 | head -1; }
sh_errno() { # run a command, print "ok" or the first error line's errno text
	local out
	if out=$("$@" 2>&1); then echo ok; else echo "$out" | head -1 | sed 's/.*: //'; fi
}

posix_mount "$M" || { echo "not ok - mount"; exit 1; }
cd "$M" || exit 1

# ----- files: create, write, read, O_TRUNC, O_APPEND, O_EXCL -----
echo hello >f
check "create and read back" "hello" "$(cat f)"
echo "much longer content" >f
echo x >f
check "O_TRUNC" "x" "$(cat f)"
"$POSIX" append f "a" >/dev/null
"$POSIX" append f "b" >/dev/null
check "O_APPEND" "$(printf 'x\nab')" "$(cat f)"
check "O_EXCL on an existing file" "EEXIST" "$(errno_of open-excl f)"
check "O_EXCL on a new file" "ok" "$(errno_of open-excl g)"
check "new file is empty" "0" "$(stat -c %s g)"
head -c 3000000 /dev/urandom >"$T/rand"
cp "$T/rand" big
check "3 MB copy matches" "$(sha256sum <"$T/rand")" "$(sha256sum <big)"
check "mmap read matches" "$(sha256sum <"$T/rand")" "$("$POSIX" mmap-read big | sha256sum)"
dd if="$T/rand" of=big bs=4096 count=10 seek=100 conv=notrunc,fsync status=none
check "overwrite in the middle keeps the size" "3000000" "$(stat -c %s big)"
check "fsync" "ok" "$(errno_of fsync big)"

# ----- holes -----
"$POSIX" write-at sparse 104857600 "end" >/dev/null
check "sparse size" "104857603" "$(stat -c %s sparse)"
blocks=$(stat -c %b sparse)
[ "$blocks" -lt 1000 ] && r=small || r="$blocks blocks"
check "sparse file has few blocks" "small" "$r"
check "a hole reads as zeros" "$(head -c 65536 /dev/zero | sha256sum)" \
	"$(dd if=sparse bs=65536 skip=100 count=1 status=none | sha256sum)"
check "the end reads back" "end" "$(tail -c 3 sparse)"
truncate -s 10 big
check "truncate shrinks" "10" "$(stat -c %s big)"
truncate -s 20 big
check "truncate grows with zeros" "$(head -c 10 "$T/rand" | od -An -tx1; head -c 10 /dev/zero | od -An -tx1)" \
	"$(head -c 10 big | od -An -tx1; tail -c 10 big | od -An -tx1)"
check "EFBIG past 10 GiB" "EFBIG" "$(errno_of truncate big 11811160064)"
check "10 GiB is allowed" "ok" "$(errno_of truncate big 10737418240)"
truncate -s 0 big

# ----- directories and errnos -----
mkdir d
check "mkdir EEXIST" "File exists" "$(sh_errno mkdir d)"
touch d/x
check "rmdir ENOTEMPTY" "Directory not empty" "$(sh_errno rmdir d)"
check "rmdir ENOTDIR" "Not a directory" "$(sh_errno rmdir f)"
check "unlink EISDIR" "Is a directory" "$(sh_errno unlink d)"
check "stat ENOENT" "No such file or directory" "$(sh_errno stat -c %s nope)"
check "lookup under a file ENOTDIR" "Not a directory" "$(sh_errno stat f/x)"
long=$(printf 'a%.0s' $(seq 256))
check "ENAMETOOLONG" "File name too long" "$(sh_errno touch "$long")"
check "255 bytes is fine" "ok" "$(sh_errno touch "${long:1}")"
rm "${long:1}"
rm d/x
check "rmdir" "ok" "$(sh_errno rmdir d)"

# ----- link counts -----
mkdir -p p/q p/r
check "dir nlink counts subdirs" "4" "$(stat -c %h p)"
echo data >p/q/file
ln p/q/file p/r/link
check "hard link nlink" "2" "$(stat -c %h p/q/file)"
check "same inode" "$(stat -c %i p/q/file)" "$(stat -c %i p/r/link)"
rm p/q/file
check "nlink after unlink" "1" "$(stat -c %h p/r/link)"
check "content through the other link" "data" "$(cat p/r/link)"
mv p/r p/q/
check "dir nlink after a dir move" "3" "$(stat -c %h p)"
check "dir nlink of the target" "3" "$(stat -c %h p/q)"

# ----- rename -----
echo one >r1
echo two >r2
mv r1 r2
check "rename over an existing file" "one" "$(cat r2)"
check "old name is gone" "No such file or directory" "$(sh_errno stat r1)"
echo three >r3
check "RENAME_NOREPLACE" "EEXIST" "$(errno_of rename r3 r2 noreplace)"
check "RENAME_EXCHANGE" "ok" "$(errno_of rename r3 r2 exchange)"
check "exchanged" "three one" "$(cat r2) $(cat r3)"
mkdir -p e1/sub
check "dir into itself EINVAL" "EINVAL" "$(errno_of rename e1 e1/sub/x)"
mkdir e2; touch e2/x
check "dir over non-empty dir" "ENOTEMPTY" "$(errno_of rename e1 e2)"
check "file over dir" "EISDIR" "$(errno_of rename r2 e1)"
check "dir over file" "ENOTDIR" "$(errno_of rename e1 r2)"
rm -rf e2
check "dir over empty dir" "ok" "$(errno_of rename e1 e3)"

# ----- unlink of an open file -----
printf 'still here' >u
check "unlinked open file stays readable" "still here" "$("$POSIX" unlink-read u)"
check "and is gone after" "No such file or directory" "$(sh_errno stat u)"

# ----- symlinks, fifos, devices -----
ln -s some/target s
check "readlink" "some/target" "$(readlink s)"
check "symlink size" "11" "$(stat -c %s s)"
mkfifo fifo
check "mkfifo" "fifo" "$(stat -c %F fifo)"
mknod cdev c 1 3
check "mknod char device" "character special file 1 3" \
	"$(stat -c '%F %t %T' cdev)"

# ----- attributes and ctime -----
echo attrs >a
c0=$(stat -c %Z.%z a)
sleep 1.1
chmod 640 a
check "chmod" "640" "$(stat -c %a a)"
[ "$(stat -c %Z.%z a)" != "$c0" ] && r=moved || r=same
check "chmod updates ctime" "moved" "$r"
chown 1234:5678 a
check "chown as root" "1234 5678" "$(stat -c '%u %g' a)"
touch -m -d '2001-02-03 04:05:06' a
check "utimens mtime" "2001-02-03 04:05:06" "$(stat -c %y a | cut -c1-19)"
touch -a -d '2002-02-03 04:05:06' a
check "UTIME_OMIT keeps mtime" "2001-02-03 04:05:06" "$(stat -c %y a | cut -c1-19)"
check "atime set" "2002-02-03 04:05:06" "$(stat -c %x a | cut -c1-19)"
c1=$(stat -c %z a)
sleep 1.1
mv a a2
[ "$(stat -c %z a2)" != "$c1" ] && r=moved || r=same
check "rename updates ctime" "moved" "$r"
mkdir sg
chgrp 4242 sg
chmod 2775 sg
touch sg/f
mkdir sg/d
check "setgid directory hands down its group" "4242 4242" \
	"$(stat -c %g sg/f) $(stat -c %g sg/d)"
check "and its setgid bit to subdirectories" "2755" "$(stat -c %a sg/d)"
exec 5>>sg/f
echo more >&5
touch -m -d '2003-04-05 06:07:08' sg/f
echo more >&5
exec 5>&-
touch -m -d '2004-04-05 06:07:08' sg/f
exec 5>>sg/f
echo more >&5
touch -m -d '2005-04-05 06:07:08' sg/f
exec 5>&-
check "a touch beats an open writer's mtime" "2005-04-05 06:07:08" \
	"$(stat -c %y sg/f | cut -c1-19)"
m0=$(stat -c %Y .)
sleep 1.1
touch newfile
[ "$(stat -c %Y .)" != "$m0" ] && r=moved || r=same
check "create updates the directory's mtime" "moved" "$r"

# ----- permissions as unprivileged users; sticky directories -----
mkdir tmp
chmod 1777 tmp
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups "$@"; }
check "nobody creates in a sticky dir" "ok" "$(sh_errno as 65534 touch tmp/nob)"
check "owner of the file is nobody" "65534" "$(stat -c %u tmp/nob)"
check "another user cannot delete it" "Operation not permitted" \
	"$(sh_errno as 12345 rm -f tmp/nob)"
check "another user cannot rename it" "Operation not permitted" \
	"$(sh_errno as 12345 mv tmp/nob tmp/other)"
check "the owner can" "ok" "$(sh_errno as 65534 rm -f tmp/nob)"
echo secret >tmp/private
chmod 600 tmp/private
check "mode bits are enforced" "Permission denied" \
	"$(sh_errno as 65534 cat tmp/private)"
check "chown by a non-owner fails" "Operation not permitted" \
	"$(sh_errno as 65534 chown 65534 tmp/private)"

# ----- many files in one directory -----
mkdir many
check "5000 files created" "ok" "$("$POSIX" mkfiles many 5000)"
check "5000 entries listed" "5000" "$(ls many | wc -l)"
check "ls -l of them" "5001" "$(ls -l many | wc -l)"
check "every size right" "5000" "$(stat -c %s many/* | grep -c '^100$')"

# ----- control xattrs, statfs -----
id=$("$POSIX" getxattr f user.cloudfs.id)
[[ "$id" =~ ^[0-9a-f]{32}$ ]] && r=hex || r="$id"
check "user.cloudfs.id" "hex" "$r"
st=$("$POSIX" getxattr . user.cloudfs.status)
case "$st" in *'"queue"'*'"files"'*) r=json ;; *) r="$st" ;; esac
check "user.cloudfs.status on the root" "json" "$r"
check "pin a file" "ok" "$(errno_of setxattr r2 user.cloudfs.pin 1)"
check "pinned" "1" "$("$POSIX" getxattr r2 user.cloudfs.pin)"
check "sync on the root" "ok" "$(errno_of setxattr . user.cloudfs.sync 1)"
check "other xattrs: ENOTSUP" "EOPNOTSUPP" "$(errno_of setxattr f user.other x)"
check "listxattr hides control names" "" "$("$POSIX" listxattr f)"
df -P . >/dev/null 2>&1 && r=ok || r=fail
check "statfs" "ok" "$r"
check "statfs name length" "255" "$(stat -f -c %l .)"

# ----- remount keeps everything -----
sleep 0.3
find . -path ./many -prune -o -printf '%p %y %m %u %g %s %n %l\n' | sort >"$T/before"
sha256sum big r2 r3 sparse p/q/r/link >"$T/sums"
cd / || exit 1
posix_umount "$M" || { echo "not ok - unmount"; exit 1; }
posix_mount "$M" || { echo "not ok - mount"; exit 1; }
cd "$M" || exit 1
find . -path ./many -prune -o -printf '%p %y %m %u %g %s %n %l\n' | sort >"$T/after"
check "tree, modes, owners, sizes, links, targets survive a remount" "" \
	"$(diff "$T/before" "$T/after")"
check "content survives a remount" "ok" "$(sha256sum -c --quiet "$T/sums" && echo ok)"
check "5000 files survive" "5000" "$(ls many | wc -l)"
rm -rf many
check "rm -rf of 5000 files" "0" "$(ls | grep -c '^many$')"

cd /
posix_umount "$M" || fail=1
if sanitizer_report "$T/daemon.log"; then
	echo "not ok - sanitizer report in the daemon log"
	fail=1
fi
[ $fail -eq 0 ] && echo "# all $n checks passed"
exit $fail
