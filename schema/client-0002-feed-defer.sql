-- SPDX-License-Identifier: MIT
--
-- Client schema version 2: feed entries waiting for their node or parent.
-- The change feed pages by seq, so an entry can come a page before the
-- node or directory it names (whose row changed later). Such an entry
-- waits here, keyed by the server's entry id, and is applied as soon as
-- both ends are known.
CREATE TABLE feed_defer (
	id INTEGER PRIMARY KEY,           -- server entry id
	parent BLOB NOT NULL,
	node BLOB NOT NULL,
	name BLOB NOT NULL
);
