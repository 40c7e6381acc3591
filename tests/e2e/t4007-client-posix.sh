#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The POSIX checks of t3000-mount-posix.sh through the real client and a
# real cloudfsd (every operation, errno cases, holes, mmap, 5,000 files,
# sticky directories, remount), with the driver in client-posix-driver.sh.
HERE=$(cd "$(dirname "$0")" && pwd)
T3000_DRIVER="$HERE/client-posix-driver.sh" exec bash "$HERE/t3000-mount-posix.sh"
