-- Console sessions: the SHA-256 of each session's secret (the cookie holds
-- the secret, the store never does) and of the token it was opened with.
CREATE TABLE console_sessions (
    id_hash     BYTEA PRIMARY KEY,
    user_name   TEXT NOT NULL,
    token_hash  BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    ended_at    BIGINT
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
