-- "Tell the citizen the result" (issue 21): a task made when a case reaches `resolved`,
-- worked by agents (an outbound call each attempt), with the outcome of every attempt
-- in the case's history. At most one open task per case.
CREATE TABLE notifications (
    id           bigserial PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    phone        text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    result       text NOT NULL DEFAULT '' CHECK (length(result) <= 10000),
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN
                 ('pending', 'calling', 'informed', 'refused', 'wrong_number', 'failed',
                  'cancelled')),
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_at      timestamptz NOT NULL DEFAULT now(),
    agent        text,
    call_id      text,
    last_outcome text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX notifications_open_case ON notifications (case_id)
    WHERE status IN ('pending', 'calling');
CREATE INDEX notifications_due ON notifications (next_at) WHERE status = 'pending';
-- A citizen who calls in while a result waits for them is told it in that call.
CREATE INDEX notifications_pending_phone ON notifications (phone) WHERE status = 'pending';
