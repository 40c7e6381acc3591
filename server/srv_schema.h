/* SPDX-License-Identifier: MIT */
/*
 * The server schema embedded in the binary. The Makefile generates the
 * definitions ($(BUILD)/gen/srv_schema.c) from schema/server.sql (version
 * 1) and schema/server-NNNN-*.sql (version NNNN) with schema/embed.awk.
 * Invariant: srv_schema_files[i].version == i + 1, so the last entry is the
 * newest version this binary knows. Read-only data, thread-safe.
 */
#ifndef CLOUDFS_SRV_SCHEMA_H
#define CLOUDFS_SRV_SCHEMA_H

#include <stddef.h>

struct srv_schema_file {
	int version; /* PRAGMA user_version after applying sql */
	const char *name; /* static: the file name, for logs */
	const char *sql; /* static: the whole file */
};

extern const struct srv_schema_file srv_schema_files[];
extern const size_t srv_schema_file_count;

#endif /* CLOUDFS_SRV_SCHEMA_H */
