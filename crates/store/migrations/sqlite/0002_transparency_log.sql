-- The transparency log. Each entry is written in the same transaction as
-- the governance change it records, so the store and the log change together
-- or not at all.
CREATE TABLE log_entries (
    idx         INTEGER PRIMARY KEY,  -- 0-based index in the Merkle tree
    kind        TEXT NOT NULL,        -- entry type, e.g. order.created
    subject     TEXT,                 -- what the entry is about (an order id), for lookups
    tenant      TEXT,                 -- the tenant it concerns, for entitlement; never published
    entry       BLOB NOT NULL,        -- the public entry, byte for byte as hashed
    leaf_hash   BLOB NOT NULL,        -- RFC 6962 leaf hash of entry
    private     BLOB NOT NULL,        -- the private record, byte for byte as committed to
    salt        BLOB NOT NULL         -- the commitment's salt
);
CREATE INDEX log_entries_by_subject ON log_entries(subject, kind);

-- The latest signed checkpoint (one row). Checkpoints are re-derivable from
-- the entries and the key (Ed25519 signing is deterministic); the row lets
-- fsck check the entries against what was last published.
CREATE TABLE log_checkpoint (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    size        INTEGER NOT NULL,
    note        TEXT NOT NULL
);

-- Each change names its entry by index and by leaf hash, so a reordered or
-- swapped log is caught by comparing the two.
ALTER TABLE changes ADD COLUMN log_index INTEGER;
ALTER TABLE changes ADD COLUMN log_leaf BLOB;
ALTER TABLE orders ADD COLUMN log_index INTEGER;
