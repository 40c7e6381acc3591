# SPDX-License-Identifier: MIT
#
# cloudfs build. A plain GNU Makefile: every directory's *.c is picked up by
# wildcard, so adding a module is adding a file. Outputs go under $(BUILD)
# only. `make test` is the one command CI and the README promise: it installs
# what is missing, builds with warnings, then builds and runs every test
# under ASan + UBSan.

BUILD ?= build
PREFIX ?= /usr/local
SBINDIR ?= /sbin
DESTDIR ?=
CC ?= cc
FUZZ_CC ?= clang
FUZZ_TIME ?= 120
FUZZ_SEED_TIME ?= 10
SANITIZE ?=
DEVELOPER ?=

# Debian 12 packages needed to build and test. `make deps` installs the
# missing ones; it is quiet when all are present.
DEB_PKGS = gcc make pkg-config libc6-dev libssl-dev libzstd-dev zlib1g-dev \
	libsqlite3-dev sqlite3 libjansson-dev libwebsockets-dev libev-dev \
	libwebsockets-evlib-ev libcurl4-openssl-dev \
	libfuse3-dev fuse3 libcmocka-dev clang libclang-rt-14-dev curl jq \
	openssl procps psmisc util-linux coreutils

WARN = -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wold-style-definition -Wpointer-arith \
	-Wwrite-strings -Wvla -Wundef -Wimplicit-fallthrough -Wcast-qual \
	-fno-common
BASE_CFLAGS = -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -O2 -g -pthread $(WARN)
ifeq ($(DEVELOPER),1)
BASE_CFLAGS += -Werror
endif
SAN_FLAGS =
ifneq ($(SANITIZE),)
SAN_FLAGS = -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
CFLAGS ?=
LDFLAGS ?=
ALL_CFLAGS = $(BASE_CFLAGS) $(SAN_FLAGS) $(CFLAGS)
ALL_LDFLAGS = -pthread $(SAN_FLAGS) $(LDFLAGS)

# Recursive (=) on purpose: pkg-config runs only when a rule needs it, after
# `deps` had its chance to install the packages.
PKG_BLK = openssl libzstd zlib
PKG_SRV = $(PKG_BLK) libwebsockets jansson sqlite3
PKG_CLI = $(PKG_BLK) fuse3 libcurl libwebsockets jansson sqlite3
PKG_ALL = $(PKG_BLK) libwebsockets jansson sqlite3 fuse3 libcurl
pkg_cflags = $(shell pkg-config --cflags $(1) 2>/dev/null)
pkg_libs = $(shell pkg-config --libs $(1) 2>/dev/null)
# libev has no pkg-config file; cloudfsd runs lws on its loop (srv_http.c)
LIBS_ALL = -Wl,--as-needed $(call pkg_libs,$(PKG_ALL)) -lev -lm

COMMON_SRC = $(wildcard common/*.c)
# what libblock's fuzz targets link: common without its libwebsockets
# and SQLite glue
COMMON_BLK_SRC = $(filter-out common/cf_lws_log.c common/cf_wal_gather.c,$(COMMON_SRC))
BLK_SRC = $(wildcard libblock/*.c)
SRV_SRC = $(filter-out server/main.c,$(wildcard server/*.c))
CLI_SRC = $(filter-out fuse-client/main.c,$(wildcard fuse-client/*.c))
UNIT_SRC = $(wildcard tests/unit/test_*.c)
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
UNIT_BIN = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
FUZZ_BIN = $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))

LIBCF = $(BUILD)/libcf.a
LIBBLK = $(BUILD)/libblk.a
LIBSRV = $(BUILD)/libsrv.a
LIBCLI = $(BUILD)/libcli.a

PROGRAMS = $(BUILD)/cloudfs-blocktool
ifneq ($(wildcard server/main.c),)
PROGRAMS += $(BUILD)/cloudfsd
endif
ifneq ($(wildcard fuse-client/main.c),)
PROGRAMS += $(BUILD)/cloudfs
endif

.PHONY: all deps test check unit e2e fuzz fuzz-seeds bench demo demo-stop clean \
	install hdrcheck lint format-check san-check
.DEFAULT_GOAL := all
.SECONDARY:

all: $(PROGRAMS) $(BUILD)/bench/blockbench $(BUILD)/bench/metabench

# Per-directory include paths: libblock sees only common/ and its own API,
# so a libfuse, lws, curl or sqlite include there fails to compile.
$(BUILD)/obj/common/%.o: DIR_CFLAGS = -Icommon
$(BUILD)/obj/libblock/%.o: DIR_CFLAGS = -Icommon -Ilibblock/include -Ilibblock $(call pkg_cflags,$(PKG_BLK))
$(BUILD)/obj/server/%.o: DIR_CFLAGS = -Icommon -Ilibblock/include -Iserver $(call pkg_cflags,$(PKG_SRV))
$(BUILD)/obj/fuse-client/%.o: DIR_CFLAGS = -Icommon -Ilibblock/include -Ifuse-client $(call pkg_cflags,$(PKG_CLI))
$(BUILD)/obj/bench/%.o: DIR_CFLAGS = -Icommon -Ilibblock/include -Ilibblock -Iserver $(call pkg_cflags,$(PKG_BLK))
$(BUILD)/obj/bench/fusefloor.o: DIR_CFLAGS = $(call pkg_cflags,$(PKG_CLI))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(DIR_CFLAGS) -MMD -MP -c -o $@ $<

# The server schema is embedded in the binary: schema/server.sql is version
# 1, then schema/server-NNNN-*.sql in order (schema/embed.awk checks it).
SCHEMA_SQL = schema/server.sql $(sort $(wildcard schema/server-[0-9]*.sql))
SCHEMA_GEN = $(BUILD)/gen/srv_schema.c
$(SCHEMA_GEN): schema/embed.awk $(SCHEMA_SQL)
	@mkdir -p $(@D)
	awk -f schema/embed.awk $(SCHEMA_SQL) > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/gen/srv_schema.o: $(SCHEMA_GEN)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Iserver -MMD -MP -c -o $@ $<

# The client schema, embedded the same way (schema/embed-client.awk):
# schema/client.sql is version 1, then schema/client-NNNN-*.sql.
FC_SCHEMA_SQL = schema/client.sql $(sort $(wildcard schema/client-[0-9]*.sql))
$(BUILD)/gen/fc_schema.c: schema/embed-client.awk $(FC_SCHEMA_SQL)
	@mkdir -p $(@D)
	awk -f schema/embed-client.awk $(FC_SCHEMA_SQL) > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/gen/fc_schema.o: $(BUILD)/gen/fc_schema.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<
$(LIBCLI): $(BUILD)/obj/gen/fc_schema.o

$(LIBCF): $(call obj,$(COMMON_SRC))
$(LIBBLK): $(call obj,$(BLK_SRC))
$(LIBSRV): $(call obj,$(SRV_SRC)) $(BUILD)/obj/gen/srv_schema.o
$(LIBCLI): $(call obj,$(CLI_SRC))
$(LIBCF) $(LIBBLK) $(LIBSRV) $(LIBCLI):
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^ $(if $^,,$(BUILD)/empty.o)

$(BUILD)/empty.o:
	@mkdir -p $(@D)
	echo 'int cf_empty_archive_member_;' | $(CC) -x c -c -o $@ -

$(LIBCF) $(LIBBLK) $(LIBSRV) $(LIBCLI): | $(BUILD)/empty.o

$(BUILD)/cloudfs-blocktool: $(call obj,libblock/tools/blocktool.c) $(LIBBLK) $(LIBCF)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_ALL)
$(BUILD)/obj/libblock/tools/%.o: DIR_CFLAGS = -Icommon -Ilibblock/include $(call pkg_cflags,$(PKG_BLK))

$(BUILD)/cloudfsd: $(call obj,server/main.c) $(LIBSRV) $(LIBBLK) $(LIBCF)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_ALL)

$(BUILD)/cloudfs: $(call obj,fuse-client/main.c) $(LIBCLI) $(LIBBLK) $(LIBCF)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_ALL)

$(BUILD)/bench/%: $(call obj,bench/%.c) $(LIBSRV) $(LIBCLI) $(LIBBLK) $(LIBCF)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_ALL)

# srvbench is main and the helpers its parts share (srvbench.c, .h) plus
# one srvbench_*.c a part, so it links them all; the rule above would
# link srvbench.o alone.
SRVBENCH_SRC = $(wildcard bench/srvbench*.c)
$(BUILD)/bench/srvbench: $(call obj,$(SRVBENCH_SRC)) $(LIBSRV) $(LIBCLI) $(LIBBLK) $(LIBCF)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_ALL)

# Test tools (tests/tools/*.c): small helpers the e2e tests run, e.g. a
# WebSocket client. Each links the static archives it needs.
TOOL_SRC = $(wildcard tests/tools/*.c)
TOOL_BIN = $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRC))
$(BUILD)/obj/tests/tools/%.o: DIR_CFLAGS = -Icommon -Ilibblock/include $(call pkg_cflags,$(PKG_ALL))
$(BUILD)/tests/tools/%: $(BUILD)/obj/tests/tools/%.o $(LIBBLK) $(LIBCF)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_ALL)

# fc-localmount mounts the client core without the network parts (t3000).
$(BUILD)/obj/tests/tools/fc-localmount.o: DIR_CFLAGS = -Icommon -Ilibblock/include -Ifuse-client $(call pkg_cflags,$(PKG_CLI))
$(BUILD)/tests/tools/fc-localmount: $(BUILD)/obj/tests/tools/fc-localmount.o $(LIBCLI) $(LIBBLK) $(LIBCF)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_ALL)
$(BUILD)/tests/tools/fc-posix $(BUILD)/tests/tools/fc-fsx: $(BUILD)/tests/tools/%: $(BUILD)/obj/tests/tools/%.o
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^
e2e: $(BUILD)/tests/tools/fc-localmount $(BUILD)/tests/tools/fc-posix \
	$(BUILD)/tests/tools/fc-fsx

# Unit tests: one cmocka binary per module. Each links the static archives,
# so only the objects it uses come in. Extra link flags for one test (say
# -Wl,--wrap=curl_easy_perform) go in tests/unit/<name>.ldflags.
$(BUILD)/obj/tests/unit/%.o: DIR_CFLAGS = -Icommon -Ilibblock/include -Ilibblock -Iserver -Ifuse-client $(call pkg_cflags,$(PKG_ALL) cmocka) -Wno-missing-prototypes
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBSRV) $(LIBCLI) $(LIBBLK) $(LIBCF)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(shell cat tests/unit/$*.ldflags 2>/dev/null) $(LIBS_ALL) $(call pkg_libs,cmocka)

# Fuzz targets: clang + libFuzzer, built from the sources directly so the
# whole library is instrumented. fuzz_blk_* link common + libblock,
# fuzz_srv_* also the server.
FUZZ_FLAGS = -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -O1 -g -pthread \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -Icommon -Ilibblock/include -Ilibblock -Iserver
$(BUILD)/fuzz/fuzz_blk_%: tests/fuzz/fuzz_blk_%.c $(COMMON_BLK_SRC) $(BLK_SRC)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(call pkg_cflags,$(PKG_BLK)) -o $@ $^ $(call pkg_libs,$(PKG_BLK))
$(BUILD)/fuzz/fuzz_srv_%: tests/fuzz/fuzz_srv_%.c $(COMMON_SRC) $(BLK_SRC) $(SRV_SRC) $(SCHEMA_GEN)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(call pkg_cflags,$(PKG_SRV)) -o $@ $^ $(call pkg_libs,$(PKG_SRV)) -lev

deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing"; \
		SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null || \
		{ $$SUDO apt-get update -q >/dev/null && \
		  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; } || \
		{ echo "deps: apt-get install failed for:$$missing" >&2; exit 1; }; \
	fi

# The README's test command. Sanitized objects live in their own tree so the
# plain build stays a release-like build.
test: deps
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory lint hdrcheck
	$(MAKE) --no-print-directory BUILD=$(BUILD)/san SANITIZE=address,undefined check

check: unit fuzz-seeds e2e

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do \
		echo "# $$t"; \
		CMOCKA_MESSAGE_OUTPUT=TAP ASAN_OPTIONS=detect_leaks=1 $$t || { echo "not ok - $$t failed"; fail=1; }; \
	done; exit $$fail

e2e: $(PROGRAMS) $(TOOL_BIN)
	@tests/e2e/run.sh $(BUILD)

fuzz-seeds: $(FUZZ_BIN)
	@fail=0; for f in $(FUZZ_BIN); do \
		n=$$(basename $$f); mkdir -p $(BUILD)/fuzz/corpus-$$n; \
		if $$f -max_total_time=$(FUZZ_SEED_TIME) -print_final_stats=0 $(BUILD)/fuzz/corpus-$$n tests/fuzz/seeds/$$n \
			>$(BUILD)/fuzz/$$n.log 2>&1; then echo "ok - fuzz $$n"; \
		else echo "not ok - fuzz $$n (see $(BUILD)/fuzz/$$n.log)"; tail -40 $(BUILD)/fuzz/$$n.log; fail=1; fi; \
	done; exit $$fail

fuzz: deps $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
		n=$$(basename $$f); mkdir -p $(BUILD)/fuzz/corpus-$$n; \
		echo "# fuzz $$n for $(FUZZ_TIME)s"; \
		$$f -max_total_time=$(FUZZ_TIME) $(BUILD)/fuzz/corpus-$$n tests/fuzz/seeds/$$n || exit 1; \
	done

bench: deps all
	@bench/run.sh $(BUILD)

demo: deps all
	@tests/demo.sh $(BUILD) start

demo-stop:
	@tests/demo.sh $(BUILD) stop

# Every public header compiles on its own.
HDRS = $(wildcard common/*.h libblock/include/blk/*.h server/*.h fuse-client/*.h)
hdrcheck:
	@for h in $(HDRS); do \
		printf '#include "%s"\n' $$h | $(CC) $(BASE_CFLAGS) -Icommon -Ilibblock/include -Ilibblock -Iserver -Ifuse-client \
			$(call pkg_cflags,$(PKG_ALL)) -x c -fsyntax-only - || { echo "hdrcheck: $$h is not self-contained"; exit 1; }; \
	done; echo "ok - hdrcheck ($(words $(HDRS)) headers)"

BANNED = strcpy|strcat|strncpy|strncat|sprintf|vsprintf|strtok|atoi|atol|gets|mktemp|tmpnam|gmtime|localtime|ctime|asctime|rand
lint:
	@if grep -nE '\<($(BANNED))[[:space:]]*\(' $$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build/*') ; then \
		echo "lint: banned function used (see STYLE.md)"; exit 1; fi; echo "ok - lint"

format-check:
	@git diff -U0 --no-color HEAD -- '*.c' '*.h' | clang-format-diff -p1 | (! grep .)

# mount(8) looks for helpers in /sbin only, hence SBINDIR outside PREFIX.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SBINDIR)
	install -m 0755 $(filter-out $(BUILD)/bench/%,$(PROGRAMS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 packaging/mount.cloudfs $(DESTDIR)$(SBINDIR)/mount.cloudfs

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
