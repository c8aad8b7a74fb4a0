-- Scheduled callbacks (issue 21): an agent promises to call a citizen back at a time.
-- They are tasks like the results to tell (`notifications`), of kind `callback`: no
-- case needed, the agent who promised gets it first until `prefer_until`, then anyone
-- of `queue`. One pending callback per number: a second request is merged into it (not
-- into one being called now: that call may end in an outcome the new promise outlives).
ALTER TABLE notifications ALTER COLUMN case_id DROP NOT NULL;
ALTER TABLE notifications ADD COLUMN kind text NOT NULL DEFAULT 'result'
    CHECK (kind IN ('result', 'callback'));
ALTER TABLE notifications ADD COLUMN prefer_agent text;
ALTER TABLE notifications ADD COLUMN prefer_until timestamptz;
ALTER TABLE notifications ADD COLUMN queue text;
ALTER TABLE notifications ADD COLUMN created_by text;
ALTER TABLE notifications ADD CONSTRAINT notifications_result_has_case
    CHECK (kind = 'callback' OR case_id IS NOT NULL);
CREATE UNIQUE INDEX notifications_pending_callback ON notifications (phone)
    WHERE kind = 'callback' AND status = 'pending';
