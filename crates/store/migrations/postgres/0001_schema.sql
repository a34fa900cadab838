-- verdict's schema on PostgreSQL: the SQLite schema as it stands after its
-- migrations, in PostgreSQL's types. Times are seconds since the epoch.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

CREATE TABLE units (
    tenant      TEXT NOT NULL REFERENCES tenants(id),
    path        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, path)
);

CREATE TABLE subscriptions (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    unit        TEXT NOT NULL,
    region      TEXT NOT NULL DEFAULT '',
    services    TEXT NOT NULL DEFAULT '[]',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    FOREIGN KEY (tenant, unit) REFERENCES units(tenant, path)
);
CREATE INDEX subscriptions_by_unit ON subscriptions(tenant, unit);
CREATE INDEX subscriptions_by_tenant_id ON subscriptions(tenant, id);

CREATE TABLE orders (
    id            TEXT PRIMARY KEY,
    seq           BIGINT NOT NULL UNIQUE,
    tenant        TEXT NOT NULL REFERENCES tenants(id),
    spec          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    lifted_at     BIGINT,
    lift_reason   TEXT,
    log_index     BIGINT,
    lifecycle     TEXT,
    superseded_by TEXT
);
CREATE INDEX orders_by_tenant ON orders(tenant, seq);

-- Subscriptions that left an order's scope while it bound them; they stay
-- covered (DESIGN §2).
CREATE TABLE order_retained (
    order_id     TEXT NOT NULL REFERENCES orders(id),
    subscription TEXT NOT NULL,
    since        BIGINT NOT NULL,
    PRIMARY KEY (order_id, subscription)
);

-- One row per committed governance change; its seq is the snapshot
-- version. Not a sequence: writers hold the log head's lock and take
-- max(seq) + 1, so versions have no gaps whichever server writes (a
-- sequence would leave one at every rollback).
CREATE TABLE changes (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    summary     TEXT NOT NULL,
    log_index   BIGINT UNIQUE,
    log_leaf    BYTEA,
    delta       TEXT
);

-- The transparency log, written in the transaction of the change it
-- records. The primary key on idx is the last defence against a fork: two
-- servers can never both store an entry at one index.
CREATE TABLE log_entries (
    idx         BIGINT PRIMARY KEY,
    kind        TEXT NOT NULL,
    subject     TEXT,
    tenant      TEXT,
    entry       BYTEA NOT NULL,
    leaf_hash   BYTEA NOT NULL,
    private     BYTEA NOT NULL,
    salt        BYTEA NOT NULL
);
CREATE INDEX log_entries_by_subject ON log_entries(subject, kind);

-- Every signed checkpoint.
CREATE TABLE log_checkpoints (
    size        BIGINT PRIMARY KEY,
    note        TEXT NOT NULL
);

CREATE TABLE users (
    name        TEXT PRIMARY KEY,
    role        TEXT NOT NULL,
    tenant      TEXT REFERENCES tenants(id),
    token_hash  BYTEA NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE clauses (
    id          TEXT NOT NULL,
    version     BIGINT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (id, version)
);

CREATE TABLE cases (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants(id),
    status      TEXT NOT NULL,
    body        TEXT NOT NULL,
    opened_at   BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX cases_by_tenant ON cases(tenant, opened_at);

CREATE TABLE case_events (
    case_id     TEXT NOT NULL REFERENCES cases(id),
    seq         BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);

CREATE TABLE notices (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    body        TEXT NOT NULL,
    issued_at   BIGINT NOT NULL
);
CREATE INDEX notices_by_tenant ON notices(tenant, issued_at);
CREATE INDEX notices_by_order ON notices(order_id);

CREATE TABLE outbox (
    id            BIGSERIAL PRIMARY KEY,
    notice_id     TEXT NOT NULL REFERENCES notices(id),
    body          TEXT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    next_at_ms    BIGINT NOT NULL,
    delivered_at  BIGINT,
    last_error    TEXT
);
CREATE INDEX outbox_due ON outbox(delivered_at, next_at_ms);

CREATE TABLE appeals (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES orders(id),
    tenant      TEXT NOT NULL,
    body        TEXT NOT NULL,
    decided     BOOLEAN NOT NULL DEFAULT FALSE,
    filed_at    BIGINT NOT NULL
);
CREATE INDEX appeals_by_order ON appeals(order_id);

CREATE TABLE guards (
    id          TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
