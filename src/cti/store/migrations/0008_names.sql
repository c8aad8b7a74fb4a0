-- Names per language of the classifier's topics and organisations ({"en": ..., "bg": ...}),
-- as the classifier file gives them; `name` stays the English name of record.
ALTER TABLE topics ADD COLUMN names jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(names) = 'object');
ALTER TABLE organisations ADD COLUMN names jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(names) = 'object');
