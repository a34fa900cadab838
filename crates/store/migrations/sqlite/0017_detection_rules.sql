-- Detection rules, one row per published version, and what each version
-- fired on at each hour it was evaluated (shadow and active alike).
CREATE TABLE detection_rules (
    id       TEXT NOT NULL,
    version  BIGINT NOT NULL,
    state    TEXT NOT NULL,
    body     TEXT NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE TABLE rule_results (
    rule_id  TEXT NOT NULL,
    version  BIGINT NOT NULL,
    tenant   TEXT NOT NULL,
    target   TEXT NOT NULL,
    hour     BIGINT NOT NULL,
    figures  TEXT NOT NULL,
    case_id  TEXT,
    PRIMARY KEY (rule_id, version, tenant, target, hour)
);
CREATE INDEX rule_results_by_hour ON rule_results(hour);
-- The hours whose window-close evaluation is done.
CREATE TABLE rule_evaluations (
    hour     BIGINT PRIMARY KEY
);
