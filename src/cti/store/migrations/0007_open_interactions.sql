-- Calls in progress, as far as they are known: written when a call begins and again
-- when it enters a line, is offered and is answered; removed when its interaction is
-- written. After a restart the CTI turns those Asterisk no longer has (the call ended
-- while no CTI was running) into interactions with end_reason 'ended_while_disconnected'.
CREATE TABLE open_interactions (
    id             text PRIMARY KEY,
    direction      text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    caller_number  text NOT NULL DEFAULT '',
    called_number  text NOT NULL DEFAULT '',
    queue          text,
    topic          text,
    agent          text,
    arrived_at     timestamptz NOT NULL,
    queued_at      timestamptz,
    offered_at     timestamptz,
    answered_at    timestamptz,
    written_at     timestamptz NOT NULL DEFAULT now()
);
