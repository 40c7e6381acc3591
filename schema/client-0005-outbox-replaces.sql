-- SPDX-License-Identifier: MIT
--
-- Client schema version 5: the node a rename replaced here (or swapped
-- with), so its replay asks the server to replace that node only. Another
-- device's node at the target name is then a conflict the client resolves
-- with a conflicted copy name, not a silent replacement. NULL: the target
-- name was free here.
ALTER TABLE outbox ADD COLUMN node2 BLOB;
