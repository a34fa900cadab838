-- A tenant's users read the private records of the entries that concern
-- their tenant, newest first.
CREATE INDEX log_entries_by_tenant ON log_entries(tenant, idx);
