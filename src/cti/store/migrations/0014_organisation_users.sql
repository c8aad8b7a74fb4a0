-- Organisation users (issue 22): the people of the responsible organisations work the
-- cases of their organisations in a journal. A user of role `organisation` sees the
-- organisations listed for them in `user_organisations` (the product has no units below
-- an organisation: a unit that works on its own is an organisation of the classifier).
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('agent', 'supervisor', 'admin', 'integrator', 'organisation'));

CREATE TABLE user_organisations (
    username      text NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    organisation  text NOT NULL REFERENCES organisations (code),
    PRIMARY KEY (username, organisation)
);

-- Who of the organisation works the case now (a user name; none until someone takes it)
-- and the result the hotline tells the citizen (set when the case is resolved, by an
-- organisation's journal or by the agent's note on the move; shown on the screen-pop).
ALTER TABLE cases ADD COLUMN assignee text;
ALTER TABLE cases ADD COLUMN result text NOT NULL DEFAULT '' CHECK (length(result) <= 10000);
-- The journal: an organisation's cases by status and deadline.
CREATE INDEX cases_organisation ON cases (organisation, status, deadline);
