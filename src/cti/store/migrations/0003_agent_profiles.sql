-- Agents added, changed or removed over the REST API. The ACD file is the start; these
-- rows are applied over it when the CTI starts, so an administrator's change survives a
-- restart. `removed` keeps the row (and who removed the agent) instead of deleting it.

CREATE TABLE agent_profiles (
    id          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    endpoint    text NOT NULL,
    skills      jsonb NOT NULL,
    queues      text[] NOT NULL,
    removed     boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL
);
