-- Why and how each interaction ended, as Asterisk said (issue 16): the end reason next to
-- the outcome, and the Asterisk hang-up cause of the side that hung up. `failed` now also
-- covers a call lost by the PBX (restart, crash) before an agent answered it.
ALTER TABLE interactions
    ADD COLUMN end_reason text CHECK (end_reason IN (
        'completed', 'abandoned', 'ivr_only', 'overflowed', 'callback', 'failed',
        'pbx_restart', 'pbx_lost', 'ended_while_disconnected')),
    ADD COLUMN hangup_cause integer;
CREATE INDEX interactions_end_reason ON interactions (end_reason, arrived_at);
