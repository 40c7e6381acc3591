/* SPDX-License-Identifier: MIT */
/*
 * Every SQL statement of the SQLite metadata store, in one table so the
 * queries can be read (and their indexes checked against
 * schema/server.sql) in one place. Each is prepared once per connection
 * and only ever bound, never built from data. Read-only data.
 */
#include "srv_meta_sqlite_int.h"

#define USER_COLS                                                    \
 "id, name, kdf_version, kdf_n, kdf_r, kdf_p, kdf_salt, auth_salt, " \
 "auth_hash, chunk_min, chunk_avg, chunk_max, codec, quota, seq, "   \
 "created"

/* Must match srv_sq_node_from_row (16 columns) and srv_sq_entry_from_row. */
#define NODE_COLS                                                        \
 "id, kind, mode, uid, gid, rdev, size, mtime, ctime, version, status, " \
 "pending_device, nlink, seq, deleted, target"
#define N_NODE_COLS                                                       \
 "n.id, n.kind, n.mode, n.uid, n.gid, n.rdev, n.size, n.mtime, n.ctime, " \
 "n.version, n.status, n.pending_device, n.nlink, n.seq, n.deleted, "     \
 "n.target"
#define ENTRY_COLS   "id, parent, node, name, seq, deleted"
#define E_ENTRY_COLS "e.id, e.parent, e.node, e.name, e.seq, e.deleted"

const char *const srv_sq_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN",
	[ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT op",
	[ST_RELEASE] = "RELEASE op",
	[ST_ROLLBACK_TO] = "ROLLBACK TO op",
	[ST_SEQ_NEXT] = "UPDATE users SET seq = seq + 1 WHERE id = ?1 "
			"RETURNING seq",
	[ST_SEQ_GET] = "SELECT seq FROM users WHERE id = ?1",
	[ST_SECRET_GET] = "SELECT value FROM settings "
			  "WHERE key = 'server_secret'",
	[ST_SECRET_PUT] = "INSERT INTO settings (key, value) "
			  "VALUES ('server_secret', ?1)",

	[ST_USER_INSERT] =
		"INSERT INTO users (name, kdf_version, kdf_n, kdf_r, kdf_p, "
		"kdf_salt, auth_salt, auth_hash, chunk_min, chunk_avg, "
		"chunk_max, codec, quota, created, seq) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
		"?13, ?14, 1)",
	[ST_USER_GET] = "SELECT " USER_COLS " FROM users WHERE id = ?1",
	[ST_USER_GET_NAME] = "SELECT " USER_COLS " FROM users WHERE name = ?1",
	[ST_USER_LIST] = "SELECT " USER_COLS " FROM users ORDER BY id",
	[ST_USER_SET_AUTH] =
		"UPDATE users SET kdf_version = ?2, kdf_n = ?3, kdf_r = ?4, "
		"kdf_p = ?5, kdf_salt = ?6, auth_salt = ?7, auth_hash = ?8, "
		"wrapped_key = coalesce(?9, wrapped_key) WHERE id = ?1",
	[ST_KEY_GET] = "SELECT wrapped_key FROM users WHERE id = ?1",
	[ST_KEY_PUT] = "UPDATE users SET wrapped_key = ?2 WHERE id = ?1",
	[ST_USAGE] = "SELECT quota, block_bytes, block_count, file_count "
		     "FROM users WHERE id = ?1",

	[ST_DEV_INSERT] = "INSERT INTO devices (user_id, name, created, "
			  "last_seen) VALUES (?1, ?2, ?3, ?3)",
	[ST_DEV_LIST] = "SELECT id, user_id, name, created, last_seen, "
			"revoked FROM devices WHERE user_id = ?1 ORDER BY id",
	[ST_DEV_GET] = "SELECT user_id, revoked FROM devices WHERE id = ?1",
	[ST_DEV_REVOKE] = "UPDATE devices SET revoked = 1 WHERE id = ?1",
	[ST_DEV_TOUCH] = "UPDATE devices SET last_seen = ?2 "
			 "WHERE id = ?1 AND last_seen < ?2",
	[ST_TOKEN_INSERT] = "INSERT INTO tokens (hash, user_id, device_id, "
			    "created) VALUES (?1, ?2, ?3, ?4)",
	[ST_TOKEN_LOOKUP] =
		"SELECT t.user_id, t.device_id, d.last_seen "
		"FROM tokens t JOIN devices d ON d.id = t.device_id "
		"WHERE t.hash = ?1 AND d.revoked = 0 AND d.user_id = t.user_id",
	[ST_TOKEN_DELETE] = "DELETE FROM tokens WHERE hash = ?1",
	[ST_TOKENS_OF_DEVICE_DELETE] =
		"DELETE FROM tokens WHERE device_id = ?1",

	[ST_NODE_GET] = "SELECT " NODE_COLS ", trash_entry FROM nodes "
			"WHERE user_id = ?1 AND id = ?2",
	[ST_NODE_EXISTS] = "SELECT 1 FROM nodes WHERE user_id = ?1 AND id = ?2",
	[ST_NODE_INSERT] =
		"INSERT INTO nodes (user_id, id, kind, mode, uid, gid, rdev, "
		"size, mtime, ctime, version, status, pending_device, nlink, "
		"seq, deleted, target) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
		"?9, ?10, 0, 0, 0, ?11, ?12, 0, ?13)",
	[ST_NODE_UPDATE] =
		"UPDATE nodes SET mode = ?3, uid = ?4, gid = ?5, rdev = ?6, "
		"size = ?7, mtime = ?8, ctime = ?9, version = ?10, "
		"status = ?11, pending_device = ?12, nlink = ?13, seq = ?14, "
		"deleted = ?15, trash_entry = ?16 "
		"WHERE user_id = ?1 AND id = ?2",
	[ST_NODE_DELETE] = "DELETE FROM nodes WHERE user_id = ?1 AND id = ?2",
	[ST_ENTRY_GET] = "SELECT " ENTRY_COLS " FROM entries "
			 "WHERE id = ?2 AND user_id = ?1",
	[ST_ENTRY_LOOKUP] = "SELECT " ENTRY_COLS " FROM entries "
			    "WHERE user_id = ?1 AND parent = ?2 AND name = ?3 "
			    "AND deleted = 0",
	[ST_ENTRY_INSERT] = "INSERT INTO entries (user_id, parent, name, node, "
			    "seq, deleted) VALUES (?1, ?2, ?3, ?4, ?5, 0)",
	[ST_ENTRY_UPDATE] = "UPDATE entries SET parent = ?3, name = ?4, "
			    "seq = ?5, deleted = ?6 "
			    "WHERE id = ?2 AND user_id = ?1",
	[ST_ENTRY_DELETE] =
		"DELETE FROM entries WHERE id = ?2 AND user_id = ?1",
	[ST_ENTRY_PARENT_OF] = "SELECT parent FROM entries WHERE user_id = ?1 "
			       "AND node = ?2 AND deleted = 0 LIMIT 1",
	[ST_DIR_HAS_CHILD] = "SELECT 1 FROM entries WHERE user_id = ?1 "
			     "AND parent = ?2 AND deleted = 0 LIMIT 1",
	[ST_DIR_CHILDREN] =
		"SELECT e.id, e.node, n.kind FROM entries e JOIN nodes n "
		"ON n.user_id = e.user_id AND n.id = e.node "
		"WHERE e.user_id = ?1 AND e.parent = ?2 AND e.deleted = 0",
	[ST_LIST_DIR] =
		"SELECT " E_ENTRY_COLS ", " N_NODE_COLS
		" FROM entries e JOIN nodes n "
		"ON n.user_id = e.user_id AND n.id = e.node "
		"WHERE e.user_id = ?1 AND e.parent = ?2 AND e.deleted = 0 "
		"AND e.name > ?3 ORDER BY e.name LIMIT ?4",
	[ST_CHANGES_NODES] = "SELECT " NODE_COLS " FROM nodes "
			     "WHERE user_id = ?1 AND seq > ?2 "
			     "ORDER BY seq LIMIT ?3",
	[ST_CHANGES_ENTRIES] = "SELECT " ENTRY_COLS " FROM entries "
			       "WHERE user_id = ?1 AND seq > ?2 "
			       "ORDER BY seq LIMIT ?3",

	[ST_TRASH_LIST] =
		"SELECT n.id, n.kind, n.size, n.deleted, e.parent, e.name "
		"FROM nodes n LEFT JOIN entries e ON e.id = n.trash_entry "
		"WHERE n.user_id = ?1 AND n.deleted != 0 "
		"ORDER BY n.deleted, n.id",
	[ST_TRASH_EXPIRED] = "SELECT user_id, id FROM nodes "
			     "WHERE deleted != 0 AND deleted < ?1 LIMIT ?2",
	/*
	 * Not the tombstone a trashed node's restore would revive. The
	 * subquery repeats nodes_trash_entry's WHERE so SQLite can use that
	 * partial index (else it scans the account's nodes per tombstone).
	 */
	[ST_TOMBSTONES_EXPIRED] =
		"SELECT e.user_id, e.id, e.seq FROM entries e "
		"WHERE e.deleted != 0 AND e.deleted < ?1 AND NOT EXISTS "
		"(SELECT 1 FROM nodes n WHERE n.user_id = e.user_id "
		"AND n.trash_entry = e.id AND n.trash_entry IS NOT NULL "
		"AND n.trash_entry != 0) LIMIT ?2",
	[ST_FEED_HORIZON_GET] = "SELECT feed_horizon FROM users WHERE id = ?1",
	[ST_FEED_HORIZON_RAISE] = "UPDATE users SET feed_horizon = ?2 "
				  "WHERE id = ?1 AND feed_horizon < ?2",

	[ST_VERSION_INSERT] =
		"INSERT INTO versions (user_id, node, version, device_id, "
		"size, mtime, created, manifest, tag) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[ST_VERSION_LIST] = "SELECT version, device_id, size, mtime, created "
			    "FROM versions WHERE user_id = ?1 AND node = ?2 "
			    "ORDER BY version",
	[ST_VERSION_GET] = "SELECT version, device_id, size, mtime, created, "
			   "manifest, tag FROM versions WHERE user_id = ?1 "
			   "AND node = ?2 AND version = ?3",
	[ST_VERSION_DELETE] = "DELETE FROM versions WHERE user_id = ?1 "
			      "AND node = ?2 AND version = ?3",
	[ST_VERSIONS_OF_NODE_DELETE] = "DELETE FROM versions "
				       "WHERE user_id = ?1 AND node = ?2",
	[ST_VERSIONS_FROM] = "SELECT user_id, node, version, created "
			     "FROM versions WHERE (user_id, node, version) "
			     ">= (?1, ?2, ?3) "
			     "ORDER BY user_id, node, version LIMIT ?4",
	[ST_VBLOCK_INSERT] = "INSERT OR IGNORE INTO version_blocks "
			     "(user_id, node, version, block) "
			     "VALUES (?1, ?2, ?3, ?4)",
	[ST_VBLOCK_COPY] = "INSERT INTO version_blocks "
			   "(user_id, node, version, block) "
			   "SELECT user_id, node, ?4, block "
			   "FROM version_blocks WHERE user_id = ?1 "
			   "AND node = ?2 AND version = ?3",
	[ST_VBLOCKS_OF_VERSION_DELETE] = "DELETE FROM version_blocks "
					 "WHERE user_id = ?1 AND node = ?2 "
					 "AND version = ?3",
	[ST_VBLOCKS_OF_NODE_DELETE] = "DELETE FROM version_blocks "
				      "WHERE user_id = ?1 AND node = ?2",

	[ST_BLOCK_GET] = "SELECT size, last_seen FROM blocks "
			 "WHERE user_id = ?1 AND id = ?2",
	[ST_BLOCK_INSERT] =
		"INSERT INTO blocks (user_id, id, size, "
		"first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?4)",
	[ST_BLOCK_TOUCH] = "UPDATE blocks SET last_seen = ?3 "
			   "WHERE user_id = ?1 AND id = ?2 AND last_seen < ?3",
	[ST_BLOCK_DELETE] = "DELETE FROM blocks WHERE user_id = ?1 AND id = ?2",
	[ST_BLOCK_REFERENCED] = "SELECT 1 FROM version_blocks "
				"WHERE user_id = ?1 AND block = ?2 LIMIT 1",
	[ST_BLOCKS_UNREFERENCED] =
		"SELECT b.user_id, b.id, b.size FROM blocks b "
		"WHERE b.last_seen < ?1 AND NOT EXISTS (SELECT 1 "
		"FROM version_blocks v WHERE v.user_id = b.user_id "
		"AND v.block = b.id)",
	[ST_BLOCKS_REFERENCED] =
		"SELECT v.user_id, v.block, coalesce(b.size, 0) "
		"FROM version_blocks v LEFT JOIN blocks b "
		"ON b.user_id = v.user_id AND b.id = v.block "
		"GROUP BY v.user_id, v.block",
	[ST_BLOCKS_ALL] = "SELECT user_id, id, size FROM blocks "
			  "ORDER BY user_id, id",
};
