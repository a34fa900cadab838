-- Due process: clauses, cases with their timelines, and orders' approval
-- lifecycle (NULL lifecycle = an order loaded directly, approved as made).
CREATE TABLE clauses (
    id          TEXT NOT NULL,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (id, version)
);

CREATE TABLE cases (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants(id),
    status      TEXT NOT NULL,
    body        TEXT NOT NULL,
    opened_at   INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX cases_by_tenant ON cases(tenant, opened_at);

-- Everything that happens to a case, in order: evidence, comments,
-- assignments, status changes, orders proposed from it.
CREATE TABLE case_events (
    case_id     TEXT NOT NULL REFERENCES cases(id),
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);

ALTER TABLE orders ADD COLUMN lifecycle TEXT;
