-- SPDX-License-Identifier: MIT
--
-- cloudfsd metadata, schema version 1 (PRAGMA user_version = 1).
--
-- Applied by srv_meta_sqlite_open to a new database; later changes are
-- forward-only files schema/server-NNNN-what.sql (NNNN = the version they
-- produce), applied in order. Every row below an account carries user_id
-- and every query is scoped by it (invariant 7). Node ids are 16 bytes,
-- block ids 32 bytes, entry names opaque BLOBs (so ordering is by bytes).
-- Times: *_ns columns and mtime/ctime are nanoseconds since the epoch;
-- created, last_seen and deleted are unix seconds.
--
-- The embedding script refuses backslashes; keep this file plain SQL.

-- Server-wide settings: 'server_secret' (32 random bytes) keys the fake
-- prelogin salts of unknown users.
CREATE TABLE settings (
	key TEXT PRIMARY KEY NOT NULL,
	value BLOB NOT NULL
) WITHOUT ROWID;

-- Accounts. seq is the change cursor: every node or entry row a mutation
-- touches gets ++seq. block_count, block_bytes and file_count are kept by
-- the triggers below so usage is one row read.
CREATE TABLE users (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	kdf_version INTEGER NOT NULL,
	kdf_n INTEGER NOT NULL,
	kdf_r INTEGER NOT NULL,
	kdf_p INTEGER NOT NULL,
	kdf_salt BLOB NOT NULL,
	auth_salt BLOB NOT NULL,
	auth_hash BLOB NOT NULL,
	chunk_min INTEGER NOT NULL,
	chunk_avg INTEGER NOT NULL,
	chunk_max INTEGER NOT NULL,
	codec INTEGER NOT NULL,
	quota INTEGER NOT NULL DEFAULT 0,
	seq INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL,
	wrapped_key BLOB,
	block_count INTEGER NOT NULL DEFAULT 0,
	block_bytes INTEGER NOT NULL DEFAULT 0,
	file_count INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE devices (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	created INTEGER NOT NULL,
	last_seen INTEGER NOT NULL,
	revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX devices_user ON devices (user_id);

-- hash = SHA-256 of the bearer token; the token itself is never stored.
CREATE TABLE tokens (
	hash BLOB PRIMARY KEY NOT NULL,
	user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	device_id INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
	created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tokens_device ON tokens (device_id);

-- Inodes. kind: 1 file, 2 dir, 3 symlink, 4 fifo, 5 chr, 6 blk, 7 sock.
-- deleted != 0: in the trash since that time; trash_entry then names the
-- tombstoned entry that held it (where it was, and the row a restore
-- revives). Nodes below a trashed directory keep deleted = 0: only the top
-- of a deleted tree moves.
CREATE TABLE nodes (
	user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	id BLOB NOT NULL,
	kind INTEGER NOT NULL,
	mode INTEGER NOT NULL,
	uid INTEGER NOT NULL,
	gid INTEGER NOT NULL,
	rdev INTEGER NOT NULL DEFAULT 0,
	size INTEGER NOT NULL DEFAULT 0,
	mtime INTEGER NOT NULL,
	ctime INTEGER NOT NULL,
	version INTEGER NOT NULL DEFAULT 0,
	status INTEGER NOT NULL DEFAULT 0,
	pending_device INTEGER NOT NULL DEFAULT 0,
	nlink INTEGER NOT NULL,
	seq INTEGER NOT NULL,
	deleted INTEGER NOT NULL DEFAULT 0,
	trash_entry INTEGER,
	target BLOB,
	PRIMARY KEY (user_id, id)
) WITHOUT ROWID;
CREATE INDEX nodes_seq ON nodes (user_id, seq);
CREATE INDEX nodes_trash ON nodes (user_id, deleted) WHERE deleted != 0;

-- The tree: (parent, name) -> node. A rename updates one row in place (id
-- is stable); an unlink keeps the row as a tombstone (deleted = 1) with a
-- fresh seq so the change feed reports it. Names are unique among the live
-- entries of a directory.
CREATE TABLE entries (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL,
	parent BLOB NOT NULL,
	name BLOB NOT NULL,
	node BLOB NOT NULL,
	seq INTEGER NOT NULL,
	deleted INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX entries_live ON entries (user_id, parent, name)
	WHERE deleted = 0;
CREATE INDEX entries_seq ON entries (user_id, seq);
CREATE INDEX entries_node ON entries (user_id, node);

-- File versions, clustered by (user, node, version) so a commit writes
-- next to the node's other versions. A version is superseded when the next
-- one is created; retention counts from then (the successor's created), so
-- an overwrite keeps the old content restorable for the whole period and a
-- commit never rewrites an older row. manifest stays the last column: a
-- listing reads the columns before it without touching overflow pages.
CREATE TABLE versions (
	user_id INTEGER NOT NULL,
	node BLOB NOT NULL,
	version INTEGER NOT NULL,
	device_id INTEGER NOT NULL,
	size INTEGER NOT NULL,
	mtime INTEGER NOT NULL,
	created INTEGER NOT NULL,
	tag BLOB NOT NULL,
	manifest BLOB NOT NULL,
	PRIMARY KEY (user_id, node, version)
) WITHOUT ROWID;

-- The distinct block ids each version references: commit finds missing
-- ids and GC marks without parsing manifests.
CREATE TABLE version_blocks (
	user_id INTEGER NOT NULL,
	node BLOB NOT NULL,
	version INTEGER NOT NULL,
	block BLOB NOT NULL,
	PRIMARY KEY (user_id, node, version, block)
) WITHOUT ROWID;
CREATE INDEX version_blocks_block ON version_blocks (user_id, block);

-- The block index: a row exists only once the blob is durable in the
-- block store (invariant 1). last_seen moves on every upload and every
-- "not missing" answer, so GC's grace covers uploads in flight.
CREATE TABLE blocks (
	user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	id BLOB NOT NULL,
	size INTEGER NOT NULL,
	first_seen INTEGER NOT NULL,
	last_seen INTEGER NOT NULL,
	PRIMARY KEY (user_id, id)
) WITHOUT ROWID;
CREATE INDEX blocks_last_seen ON blocks (last_seen);

CREATE TRIGGER blocks_count_ins AFTER INSERT ON blocks
BEGIN
	UPDATE users SET block_count = block_count + 1,
		block_bytes = block_bytes + NEW.size
		WHERE id = NEW.user_id;
END;

CREATE TRIGGER blocks_count_del AFTER DELETE ON blocks
BEGIN
	UPDATE users SET block_count = block_count - 1,
		block_bytes = block_bytes - OLD.size
		WHERE id = OLD.user_id;
END;

CREATE TRIGGER nodes_files_ins AFTER INSERT ON nodes
WHEN NEW.kind = 1 AND NEW.deleted = 0
BEGIN
	UPDATE users SET file_count = file_count + 1 WHERE id = NEW.user_id;
END;

CREATE TRIGGER nodes_files_del AFTER DELETE ON nodes
WHEN OLD.kind = 1 AND OLD.deleted = 0
BEGIN
	UPDATE users SET file_count = file_count - 1 WHERE id = OLD.user_id;
END;

CREATE TRIGGER nodes_files_upd AFTER UPDATE OF deleted ON nodes
WHEN NEW.kind = 1 AND (OLD.deleted = 0) != (NEW.deleted = 0)
BEGIN
	UPDATE users SET file_count = file_count +
		(CASE WHEN NEW.deleted = 0 THEN 1 ELSE -1 END)
		WHERE id = NEW.user_id;
END;
