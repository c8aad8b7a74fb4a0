-- `cti import` (issue 22): an old system's callers, cases (with their history) and past
-- calls brought in from its CSV exports. Every imported line is keyed by the old
-- system's id (`source` names the system, e.g. avaya): a second run finds the key and
-- imports nothing twice; `data` is the line as it was imported (normalised), so a line
-- that changed in the file since is reported, never written over what is stored.
-- `target` is our row's id (callers.id, cases.id, case_history.id, interactions.id).
CREATE TABLE import_keys (
    kind         text NOT NULL CHECK (kind IN ('caller', 'case', 'case_event', 'call')),
    source       text NOT NULL CHECK (source ~ '^[a-z0-9_.-]{1,32}$'),
    external_id  text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 200),
    target       text NOT NULL,
    data         jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    imported_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, source, external_id)
);

-- Where a row came from: NULL for the CTI's own, else the old system's name (the
-- `source` of its key), so reports and published figures can tell imported rows apart.
ALTER TABLE callers ADD COLUMN source text;
ALTER TABLE cases ADD COLUMN source text;
ALTER TABLE interactions ADD COLUMN source text;
