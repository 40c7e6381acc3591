-- SPDX-License-Identifier: MIT
--
-- Client schema version 4: full resync of the change feed. A server
-- drops entry tombstones after its retention period; a device whose
-- cursor is older than that (410 resync_required) pages the feed again
-- from 0. Each entry the resync is sent is marked with the resync's
-- number in `seen`, and at its end every entry known from the server
-- but not sent is removed, as if its tombstone had come. The number of
-- a resync in progress is the meta key "resync" (0: none).
ALTER TABLE entries ADD COLUMN seen INTEGER NOT NULL DEFAULT 0;
CREATE INDEX entries_unseen ON entries(seen) WHERE remote IS NOT NULL;
