-- What the seeds name on a case (issue 22): the address the request is about
-- (searchable), an emergency, whether a fee was paid, and the channel it came by.
ALTER TABLE cases ADD COLUMN address text NOT NULL DEFAULT '' CHECK (length(address) <= 500);
-- The address case-folded by the CTI (Python's casefold: Cyrillic and Hungarian too,
-- whatever the database's locale; a C-locale server lowers ASCII only): searched with LIKE.
ALTER TABLE cases ADD COLUMN address_key text NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN emergency boolean NOT NULL DEFAULT false;
ALTER TABLE cases ADD COLUMN paid boolean NOT NULL DEFAULT false;
ALTER TABLE cases ADD COLUMN channel text NOT NULL DEFAULT 'phone'
    CHECK (channel IN ('phone', 'email', 'web', 'letter', 'visit', 'other'));
CREATE INDEX cases_emergency_open ON cases (created_at) WHERE emergency AND status <> 'closed';
