-- Usage metadata in hour slices per subscription, service and meter: a
-- counter's hour is its sum, a gauge's its highest reading. The ids of
-- counted events, so a resent event counts once; both are purged after
-- the retention period.
CREATE TABLE usage_hours (
    tenant       TEXT NOT NULL,
    subscription TEXT NOT NULL,
    service      TEXT NOT NULL,
    meter        TEXT NOT NULL,
    hour         BIGINT NOT NULL,
    gauge        BOOLEAN NOT NULL,
    quantity     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (subscription, service, meter, hour)
);
CREATE INDEX usage_hours_by_tenant ON usage_hours(tenant, hour);
CREATE INDEX usage_hours_by_hour ON usage_hours(hour);
CREATE TABLE usage_ids (
    id   TEXT PRIMARY KEY,
    hour BIGINT NOT NULL
);
CREATE INDEX usage_ids_by_hour ON usage_ids(hour);
