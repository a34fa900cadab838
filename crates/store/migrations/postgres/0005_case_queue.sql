-- The case queue is filtered by assignee and source and sorted by last
-- change in the store, not in memory: both become columns.
ALTER TABLE cases ADD COLUMN assignee TEXT;
ALTER TABLE cases ADD COLUMN source TEXT NOT NULL DEFAULT '';
UPDATE cases SET assignee = body::jsonb ->> 'assignee', source = body::jsonb ->> 'source_type';
CREATE INDEX cases_by_update ON cases(updated_at, id);
CREATE INDEX cases_by_status ON cases(status, updated_at);
