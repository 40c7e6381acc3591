-- Entry tombstones get pruned. An entry's deleted column now holds the
-- unix second it became a tombstone (it held 1), so GC can drop those
-- older than the retention period (but never the one a trashed node's
-- trash_entry names: a restore revives it). users.feed_horizon is the
-- largest seq of a tombstone pruned from the account: a change feed asked
-- from a cursor below it may have lost a deletion and is answered 410
-- resync_required. Tombstones from before this version count from now.
UPDATE entries SET deleted = CAST(strftime('%s', 'now') AS INTEGER)
	WHERE deleted != 0;
ALTER TABLE users ADD COLUMN feed_horizon INTEGER NOT NULL DEFAULT 0;
CREATE INDEX entries_tombstones ON entries (deleted) WHERE deleted != 0;
CREATE INDEX nodes_trash_entry ON nodes (user_id, trash_entry)
	WHERE trash_entry IS NOT NULL AND trash_entry != 0;
