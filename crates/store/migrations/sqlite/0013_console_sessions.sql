-- Console sessions: the SHA-256 of each session's secret (the cookie holds
-- the secret, the store never does) and of the token it was opened with.
CREATE TABLE console_sessions (
    id_hash     BLOB PRIMARY KEY,
    user_name   TEXT NOT NULL,
    token_hash  BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    ended_at    INTEGER
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
