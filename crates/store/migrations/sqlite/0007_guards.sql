-- Declared protections that orders must not break without an override.
CREATE TABLE guards (
    id          TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
