-- Tenants' appeals against orders and their decisions.
CREATE TABLE appeals (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES orders(id),
    tenant      TEXT NOT NULL,
    body        TEXT NOT NULL,
    filed_at    INTEGER NOT NULL
);
CREATE INDEX appeals_by_order ON appeals(order_id);
