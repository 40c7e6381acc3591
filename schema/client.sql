-- SPDX-License-Identifier: MIT
--
-- The client's state database (state.db), schema version 1. Embedded in the
-- binary (build/gen/fc_schema.c) and applied by fc_state_open to a new
-- database; later changes are forward-only migrations
-- schema/client-NNNN-what.sql, tracked in PRAGMA user_version.
-- Times are nanoseconds since the epoch; node ids are 16-byte blobs.

-- Small account-wide values: 'cursor', 'usage', 'quota'.
CREATE TABLE meta (
	key TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;

-- What an inode is. ino is the FUSE inode number (root = 1, id all zero),
-- stable across mounts.
CREATE TABLE nodes (
	ino INTEGER PRIMARY KEY,
	id BLOB NOT NULL UNIQUE,
	kind INTEGER NOT NULL,            -- enum fc_kind
	mode INTEGER NOT NULL,            -- permission bits, no type bits
	uid INTEGER NOT NULL,
	gid INTEGER NOT NULL,
	rdev INTEGER NOT NULL DEFAULT 0,
	size INTEGER NOT NULL DEFAULT 0,
	atime INTEGER NOT NULL,
	mtime INTEGER NOT NULL,
	ctime INTEGER NOT NULL,
	nlink INTEGER NOT NULL,
	target BLOB,                      -- symlink target
	version INTEGER NOT NULL DEFAULT 0,         -- base of local content
	remote_version INTEGER NOT NULL DEFAULT 0,  -- newest server version
	manifest_version INTEGER NOT NULL DEFAULT 0,-- what the chunk rows say
	pushed INTEGER NOT NULL DEFAULT 0,          -- create op done
	pinned INTEGER NOT NULL DEFAULT 0,
	used INTEGER NOT NULL DEFAULT 0,            -- last use, for LRU
	-- upload queue state of a file
	dirty INTEGER NOT NULL DEFAULT 0,
	gen INTEGER NOT NULL DEFAULT 0,   -- content generation
	dirty_lo INTEGER NOT NULL DEFAULT 0,        -- [lo, hi) since claim;
	dirty_hi INTEGER NOT NULL DEFAULT 0,        -- lo >= hi: empty
	writing INTEGER NOT NULL DEFAULT 0,         -- write epoch open
	due INTEGER,                      -- NULL: not queued
	claimed INTEGER NOT NULL DEFAULT 0,
	attempts INTEGER NOT NULL DEFAULT 0,
	last_error INTEGER NOT NULL DEFAULT 0,
	unlinked INTEGER NOT NULL DEFAULT 0         -- lost its last entry
);
CREATE INDEX nodes_due ON nodes(due) WHERE due IS NOT NULL;
CREATE INDEX nodes_orphan ON nodes(ino) WHERE unlinked = 1;
CREATE INDEX nodes_lru ON nodes(used) WHERE dirty = 0 AND pinned = 0;

-- The tree: (parent, name) -> node. Several entries may name one node (hard
-- links). eid orders readdir and is its cookie; remote is the server's
-- entry id once known.
CREATE TABLE entries (
	eid INTEGER PRIMARY KEY,
	parent INTEGER NOT NULL,
	name BLOB NOT NULL,
	ino INTEGER NOT NULL,
	remote INTEGER,
	UNIQUE (parent, name)
);
CREATE INDEX entries_dir ON entries(parent, eid);
CREATE INDEX entries_ino ON entries(ino);
CREATE UNIQUE INDEX entries_remote ON entries(remote) WHERE remote IS NOT NULL;

-- A file's server manifest, one row per chunk; present = the cache file
-- holds the chunk's bytes.
CREATE TABLE chunks (
	ino INTEGER NOT NULL,
	idx INTEGER NOT NULL,
	off INTEGER NOT NULL,
	size INTEGER NOT NULL,
	block BLOB NOT NULL,
	present INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (ino, idx)
) WITHOUT ROWID;
CREATE INDEX chunks_off ON chunks(ino, off);

-- Metadata ops waiting to be replayed on the server, in seq order.
-- state 0 = pending, 2 = failed (refused by the server, kept for the user).
CREATE TABLE outbox (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	kind INTEGER NOT NULL,            -- enum fc_op_kind
	node BLOB,
	parent BLOB,
	name BLOB,
	parent2 BLOB,
	name2 BLOB,
	flags INTEGER NOT NULL DEFAULT 0,
	node_kind INTEGER NOT NULL DEFAULT 0,
	mode INTEGER NOT NULL DEFAULT 0,
	uid INTEGER NOT NULL DEFAULT 0,
	gid INTEGER NOT NULL DEFAULT 0,
	rdev INTEGER NOT NULL DEFAULT 0,
	mtime INTEGER NOT NULL DEFAULT 0,
	target BLOB,
	state INTEGER NOT NULL DEFAULT 0,
	attempts INTEGER NOT NULL DEFAULT 0,
	retry_at INTEGER NOT NULL DEFAULT 0,
	error INTEGER NOT NULL DEFAULT 0,
	message TEXT
);
