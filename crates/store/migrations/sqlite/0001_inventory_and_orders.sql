-- verdict's first schema: inventory, orders, retention and the change feed.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

CREATE TABLE units (
    tenant      TEXT NOT NULL REFERENCES tenants(id),
    path        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, path)
);

CREATE TABLE subscriptions (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    unit        TEXT NOT NULL,
    region      TEXT NOT NULL DEFAULT '',
    services    TEXT NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    FOREIGN KEY (tenant, unit) REFERENCES units(tenant, path)
);
CREATE INDEX subscriptions_by_unit ON subscriptions(tenant, unit);

CREATE TABLE orders (
    id          TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL UNIQUE,
    tenant      TEXT NOT NULL REFERENCES tenants(id),
    spec        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    lifted_at   INTEGER,
    lift_reason TEXT
);
CREATE INDEX orders_by_tenant ON orders(tenant, seq);

-- Subscriptions that left an order's scope while it bound them; they stay
-- covered (DESIGN §2). Keyed by id, so a deleted and recreated subscription
-- is still covered.
CREATE TABLE order_retained (
    order_id     TEXT NOT NULL REFERENCES orders(id),
    subscription TEXT NOT NULL,
    since        INTEGER NOT NULL,
    PRIMARY KEY (order_id, subscription)
);

-- One row per committed governance change; its seq is the snapshot version.
CREATE TABLE changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    summary     TEXT NOT NULL
);
