-- SPDX-License-Identifier: MIT
--
-- Client schema version 3: indexes shaped like the upload queue's and the
-- outbox's questions. The uploader asks "the earliest due file that is
-- claimable" and "any due file still waiting for its create op" each time
-- it wakes; with only nodes_due, both walked every queued file, so a
-- burst of N small files cost O(N^2). The partial indexes below hold
-- exactly the rows each question is about.
CREATE INDEX nodes_claimable ON nodes(due)
	WHERE due IS NOT NULL AND claimed = 0 AND writing = 0 AND pushed = 1
	AND nlink > 0;
CREATE INDEX nodes_unpushed ON nodes(due)
	WHERE due IS NOT NULL AND pushed = 0 AND nlink > 0;
CREATE INDEX nodes_dirty ON nodes(size) WHERE dirty = 1 AND nlink > 0;
CREATE INDEX outbox_state ON outbox(state);
