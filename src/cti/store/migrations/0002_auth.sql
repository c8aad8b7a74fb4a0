-- People and integrators who use the API, their tokens (only hashes are stored), and
-- the audit log of sensitive reads (recordings, caller lookups) and changes.

CREATE TABLE users (
    username       text PRIMARY KEY CHECK (username ~ '^[a-z0-9_.-]{1,64}$'),
    role           text NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin', 'integrator')),
    agent_id       text,
    password_hash  text,
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'agent' OR agent_id IS NOT NULL)
);

CREATE TABLE api_tokens (
    token_hash  text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    username    text NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('session', 'api_key')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (username);

CREATE TABLE audit_log (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,
    target  text NOT NULL,
    detail  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
