-- A pep user's replica scope (JSON: tenants and regions), NULL for every
-- tenant.
ALTER TABLE users ADD COLUMN scope TEXT;
