-- A tenant's subscriptions in id order (paging, previews, coverage) without
-- scanning everyone's.
CREATE INDEX subscriptions_by_tenant_id ON subscriptions(tenant, id);
