-- Whether an appeal is decided, as a column (as on PostgreSQL), so that the
-- one statement deciding it can refuse a second decision on both backends.
ALTER TABLE appeals ADD COLUMN decided BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE appeals SET decided = (json_extract(body, '$.decision') IS NOT NULL);
