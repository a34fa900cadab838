-- Every signed checkpoint, not only the latest: on start the entries must
-- reproduce each of them, so a history rewritten at rest (entries, leaf
-- hashes and change rows together) is refused, and the first checkpoint it
-- no longer reproduces locates the first entry that differs.
CREATE TABLE log_checkpoints (
    size        INTEGER PRIMARY KEY,
    note        TEXT NOT NULL
);
INSERT INTO log_checkpoints (size, note) SELECT size, note FROM log_checkpoint;
DROP TABLE log_checkpoint;

-- An order lifted because an approved amendment replaced it names the
-- amendment, so its status reads "superseded" rather than "lifted".
ALTER TABLE orders ADD COLUMN superseded_by TEXT;
