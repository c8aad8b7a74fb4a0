-- Deadline warnings (issue 22): a case still being worked whose deadline is near (due
-- soon) or past (overdue) raises one alert per case and kind, ever: the checker inserts
-- ON CONFLICT DO NOTHING on (case_id, kind), so a restart or a second CTI checking at
-- the same moment never raises (and sends) it again.
CREATE TABLE deadline_alerts (
    id          bigserial PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('due_soon', 'overdue')),
    deadline    date NOT NULL,
    raised_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, kind)
);

-- Each user's in-app inbox: the alerts of their organisations' cases (organisation
-- users) and the overdue ones (supervisors: the escalation). An e-mail to the user is
-- pending, sent or failed on the same row: a failed e-mail never loses the entry.
CREATE TABLE alert_inbox (
    id              bigserial PRIMARY KEY,
    alert_id        bigint NOT NULL REFERENCES deadline_alerts (id) ON DELETE CASCADE,
    username        text NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    read_at         timestamptz,
    email_status    text NOT NULL DEFAULT 'none'
                    CHECK (email_status IN ('none', 'pending', 'sent', 'failed')),
    email_attempts  integer NOT NULL DEFAULT 0,
    email_next_at   timestamptz NOT NULL DEFAULT now(),
    email_error     text NOT NULL DEFAULT '' CHECK (length(email_error) <= 500),
    UNIQUE (alert_id, username)
);
CREATE INDEX alert_inbox_user ON alert_inbox (username, id);
CREATE INDEX alert_inbox_mail ON alert_inbox (email_next_at) WHERE email_status = 'pending';

-- Where a user's e-mail goes (deadline alerts); none: the inbox only.
ALTER TABLE users ADD COLUMN email text
    CHECK (email IS NULL OR email ~ '^[^@\s]{1,64}@[^@\s]{1,253}$');
