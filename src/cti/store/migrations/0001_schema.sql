-- The CTI's schema: who called (callers), every contact and its legs (CDR), citizens'
-- requests (cases) with their history and links, recordings and who accessed them,
-- agent state log, announcements, surveys, scheduled callbacks, purge log.
-- Times are timestamptz; durations are seconds (real).

CREATE TABLE organisations (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z0-9_.-]{1,64}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 300)
);

-- Hierarchical classifier of topics (loaded from a file): code "social.benefits.child".
CREATE TABLE topics (
    code             text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]+(\.[a-z0-9_]+)*$'),
    parent           text REFERENCES topics (code),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
    regulation_days  integer CHECK (regulation_days BETWEEN 1 AND 365),
    organisation     text REFERENCES organisations (code),
    active           boolean NOT NULL DEFAULT true
);

CREATE TABLE callers (
    id                bigserial PRIMARY KEY,
    phone             text NOT NULL UNIQUE CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    name              text CHECK (length(name) <= 300),
    address           text CHECK (length(address) <= 500),
    notes             text CHECK (length(notes) <= 4000),
    consent_recording boolean NOT NULL DEFAULT false,
    consent_contact   boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- One row per interaction (Asterisk Linkedid, with the PBX boot time kept in the id).
CREATE TABLE interactions (
    id             text PRIMARY KEY,
    direction      text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    caller_number  text NOT NULL DEFAULT '',
    called_number  text NOT NULL DEFAULT '',
    ivr_path       jsonb NOT NULL DEFAULT '[]',
    queue          text,
    topic          text,
    agent          text,
    arrived_at     timestamptz NOT NULL,
    queued_at      timestamptz,
    offered_at     timestamptz,
    answered_at    timestamptz,
    ended_at       timestamptz,
    wait_s         real,
    ring_s         real,
    talk_s         real,
    hold_s         real,
    wrap_up_s      real,
    outcome        text CHECK (outcome IN ('answered', 'abandoned', 'overflowed', 'callback', 'failed', 'ivr_only')),
    hangup_side    text CHECK (hangup_side IN ('caller', 'agent', 'system')),
    disposition    text CHECK (length(disposition) <= 64),
    written_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX interactions_caller_number ON interactions (caller_number, arrived_at DESC);
CREATE INDEX interactions_arrived ON interactions (arrived_at);
CREATE INDEX interactions_agent ON interactions (agent, arrived_at) WHERE agent IS NOT NULL;

CREATE TABLE legs (
    id              text PRIMARY KEY,          -- Uniqueid (with boot time)
    interaction_id  text NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
    channel         text NOT NULL,
    role            text NOT NULL CHECK (role IN ('caller', 'agent', 'other')),
    agent           text,
    started_at      timestamptz NOT NULL,
    answered_at     timestamptz,
    ended_at        timestamptz,
    cause           integer
);
CREATE INDEX legs_interaction ON legs (interaction_id);

-- Case numbers: YYYY-000123, one counter per year.
CREATE TABLE case_counters (
    year  integer PRIMARY KEY,
    last  integer NOT NULL
);

CREATE TABLE cases (
    id            bigserial PRIMARY KEY,
    number        text NOT NULL UNIQUE,
    caller_id     bigint REFERENCES callers (id),
    phone         text CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    topic         text NOT NULL REFERENCES topics (code),
    organisation  text REFERENCES organisations (code),
    description   text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    status        text NOT NULL DEFAULT 'registered' CHECK (status IN
                  ('registered', 'forwarded', 'in_progress', 'resolved', 'citizen_informed', 'closed')),
    deadline      date,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_phone_open ON cases (phone) WHERE status <> 'closed';
CREATE INDEX cases_caller ON cases (caller_id);
CREATE INDEX cases_status_topic ON cases (status, topic, created_at);
CREATE INDEX cases_created ON cases (created_at);

CREATE TABLE case_history (
    id       bigserial PRIMARY KEY,
    case_id  bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text NOT NULL,
    action   text NOT NULL,
    changes  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX case_history_case ON case_history (case_id, id);

-- Links written from the call path may arrive before the interaction row (outbox
-- order is kept, but an interaction that ended during an AMI outage has no row):
-- no foreign key to interactions, so no link is ever refused.
CREATE TABLE case_interactions (
    case_id         bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    interaction_id  text NOT NULL,
    linked_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, interaction_id)
);
CREATE INDEX case_interactions_interaction ON case_interactions (interaction_id);

CREATE TABLE recordings (
    id              text PRIMARY KEY,           -- <interaction>-<leg>
    interaction_id  text NOT NULL,
    leg_id          text,
    path            text NOT NULL,
    size_bytes      bigint CHECK (size_bytes >= 0),
    duration_s      real CHECK (duration_s >= 0),
    sha256          text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    written_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recordings_interaction ON recordings (interaction_id);

CREATE TABLE case_recordings (
    case_id       bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    recording_id  text NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    PRIMARY KEY (case_id, recording_id)
);

CREATE TABLE recording_access (
    id            bigserial PRIMARY KEY,
    recording_id  text NOT NULL,
    actor         text NOT NULL,
    action        text NOT NULL CHECK (action IN ('listen', 'download')),
    at            timestamptz NOT NULL DEFAULT now()
);

-- Rows written through the outbox carry the key that makes a replay a no-op.
CREATE TABLE agent_state_log (
    key         text PRIMARY KEY,
    agent       text NOT NULL,
    state       text NOT NULL,
    reason      text,
    at          timestamptz NOT NULL,
    previous_s  real NOT NULL
);
CREATE INDEX agent_state_log_agent ON agent_state_log (agent, at);

CREATE TABLE announcements (
    id          bigserial PRIMARY KEY,
    topic       text REFERENCES topics (code),
    text        text NOT NULL CHECK (length(text) BETWEEN 1 AND 2000),
    prompt      text CHECK (length(prompt) <= 300),
    valid_from  timestamptz NOT NULL,
    valid_to    timestamptz NOT NULL,
    CHECK (valid_to > valid_from)
);

CREATE TABLE survey_answers (
    key             text PRIMARY KEY,
    interaction_id  text NOT NULL,
    question        text NOT NULL,
    score           integer NOT NULL CHECK (score BETWEEN 1 AND 5),
    at              timestamptz NOT NULL
);

CREATE TABLE callbacks (
    key             text PRIMARY KEY,
    interaction_id  text NOT NULL,
    number          text NOT NULL,
    queue           text,
    due_at          timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'placed', 'done', 'failed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE purge_log (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL,
    older_than   timestamptz NOT NULL,
    removed      bigint NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
