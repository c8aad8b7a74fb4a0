-- Telephone survey campaigns (issue 21, docs/outbound.md "Survey campaigns"): the IVR
-- calls a list of citizens and asks a questionnaire; no agent takes part.
CREATE TABLE campaigns (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    organisation  text REFERENCES organisations (code),
    -- The questionnaire and its prompts (cti.campaigns.models.Questionnaire as JSON).
    questionnaire jsonb NOT NULL,
    calendar      text CHECK (length(calendar) <= 64),  -- the IVR calendar of the calling hours
    max_attempts  integer NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 10),
    retry_after_s integer NOT NULL DEFAULT 3600 CHECK (retry_after_s BETWEEN 0 AND 604800),
    lines         integer NOT NULL DEFAULT 2 CHECK (lines BETWEEN 1 AND 1000),
    state         text NOT NULL DEFAULT 'draft'
                  CHECK (state IN ('draft', 'running', 'paused', 'done')),
    created_by    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per number to call; a number is in a campaign once (duplicates merged).
CREATE TABLE campaign_numbers (
    id            bigserial PRIMARY KEY,
    campaign_id   bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    phone         text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    -- Where the number came from (a case or a call), for results per topic/organisation.
    case_id       bigint REFERENCES cases (id) ON DELETE SET NULL,
    interaction_id text,
    topic         text,
    organisation  text,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'calling', 'surveying', 'completed', 'partial',
                                    'refused', 'opted_out', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    last_outcome  text CHECK (last_outcome IN ('completed', 'partial', 'no_answer', 'busy',
                                               'machine', 'refused', 'opted_out', 'failed')),
    next_at       timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, phone)
);
CREATE INDEX campaign_numbers_due ON campaign_numbers (campaign_id, next_at)
    WHERE status = 'pending';

-- Every attempt's outcome (the number's row keeps the last one).
CREATE TABLE campaign_attempts (
    id          bigserial PRIMARY KEY,
    number_id   bigint NOT NULL REFERENCES campaign_numbers (id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    outcome     text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

-- One answer per question of a number's questionnaire.
CREATE TABLE campaign_answers (
    number_id    bigint NOT NULL REFERENCES campaign_numbers (id) ON DELETE CASCADE,
    question     text NOT NULL CHECK (length(question) <= 64),
    value        text NOT NULL CHECK (length(value) <= 32),  -- the keys, or 'recorded'
    comment_file text CHECK (length(comment_file) <= 500),
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (number_id, question)
);

-- "Press 9 never to be called again": kept across campaigns, checked before every call.
CREATE TABLE survey_opt_outs (
    phone       text PRIMARY KEY CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    campaign_id bigint REFERENCES campaigns (id) ON DELETE SET NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
