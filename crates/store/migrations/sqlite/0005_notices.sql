-- Notices to tenants, and the outbox that delivers them to a webhook.
CREATE TABLE notices (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    body        TEXT NOT NULL,
    issued_at   INTEGER NOT NULL
);
CREATE INDEX notices_by_tenant ON notices(tenant, issued_at);
CREATE INDEX notices_by_order ON notices(order_id);

-- One row per delivery to make; written in the same transaction as the
-- notice, so a notice is never issued without its delivery queued.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    notice_id     TEXT NOT NULL REFERENCES notices(id),
    body          TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at_ms    INTEGER NOT NULL,
    delivered_at  INTEGER,
    last_error    TEXT
);
CREATE INDEX outbox_due ON outbox(delivered_at, next_at_ms);
