-- Token holders. Only a SHA-256 of each token is kept; a revoked user's
-- row stays, so that what it did remains attributable.
CREATE TABLE users (
    name        TEXT PRIMARY KEY,
    role        TEXT NOT NULL,
    tenant      TEXT REFERENCES tenants(id),
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
