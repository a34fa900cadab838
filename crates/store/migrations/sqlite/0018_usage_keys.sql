-- Usage under integer keys, so that counting an hour of a million series
-- is a million short appends: each series (subscription, service, meter)
-- gets a number once; slices are keyed by tenant, hour and that number
-- (a tenant's recent hours are one range; a new hour goes at the end of
-- its tenant's); a counted event's id is kept as a 64-bit digest under
-- its hour (a resend carries the same time; purging an hour is a range),
-- in sorted runs of 8-byte digests, a run per batch, merged when an hour
-- has many (a row per id in an index of random digests would rewrite
-- every page of the hour's ids at each commit).
-- Event ids counted before this migration are not carried over: they were
-- kept as text, and only their digests are comparable now.
CREATE TABLE usage_series (
    id           INTEGER PRIMARY KEY,
    tenant       TEXT NOT NULL,
    subscription TEXT NOT NULL,
    service      TEXT NOT NULL,
    meter        TEXT NOT NULL,
    gauge        BOOLEAN NOT NULL,
    UNIQUE (subscription, service, meter)
);
CREATE INDEX usage_series_by_tenant ON usage_series(tenant);
INSERT INTO usage_series (tenant, subscription, service, meter, gauge)
    SELECT MIN(tenant), subscription, service, meter, MAX(gauge) FROM usage_hours
    GROUP BY subscription, service, meter;
CREATE TABLE usage_slices (
    tenant   TEXT NOT NULL,
    hour     BIGINT NOT NULL,
    series   BIGINT NOT NULL,
    quantity DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant, hour, series)
) WITHOUT ROWID;
INSERT INTO usage_slices (tenant, hour, series, quantity)
    SELECT s.tenant, h.hour, s.id, h.quantity FROM usage_hours h
    JOIN usage_series s ON s.subscription = h.subscription AND s.service = h.service AND s.meter = h.meter;
DROP TABLE usage_hours;
DROP TABLE usage_ids;
CREATE TABLE usage_id_runs (
    hour BIGINT NOT NULL,
    run  BIGINT NOT NULL,
    ids  BLOB NOT NULL,
    PRIMARY KEY (hour, run)
) WITHOUT ROWID;
