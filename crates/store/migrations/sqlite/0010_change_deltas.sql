-- Each change row carries the engine changes it made, so that another
-- process following the change table can apply them without recompiling.
ALTER TABLE changes ADD COLUMN delta TEXT;
