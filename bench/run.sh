#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Run every benchmark against the binaries in the build dir given as $1
# (`make bench` passes $(BUILD)). A plain list: add a line per benchmark.
# Each prints its figures beside the baselines it is measured against.
set -eu
BUILD=${1:-build}

"$BUILD/bench/blockbench"
"$BUILD/bench/metabench"
"$(dirname "$0")/fsbench.sh" "$BUILD"
make --no-print-directory -s BUILD="$BUILD" "$BUILD/bench/srvbench" \
	"$BUILD/bench/wsfloor"
"$BUILD/bench/srvbench" --cloudfsd "$BUILD/cloudfsd" \
	--wsfloor "$BUILD/bench/wsfloor"
