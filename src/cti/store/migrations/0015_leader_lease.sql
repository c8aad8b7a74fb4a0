-- Who leads (issue 19): one row per cluster name. A CTI leads while it holds the row's
-- current epoch and token and `expires_at` (the database's clock) is ahead; it renews
-- every second. A standby takes the row only once it has expired, raising the epoch,
-- so every epoch has exactly one holder (and `token`, random per process, tells two
-- processes of one node name apart).
--
-- Fencing: every outbox transaction locks the row FOR KEY SHARE with its epoch. A
-- renewal changes only `expires_at` (a FOR NO KEY UPDATE lock: no conflict, so slow
-- writes never hold up the leader's own renewals); a takeover changes `epoch`, which
-- the unique constraint below makes a key column, so its UPDATE takes the FOR UPDATE
-- lock and waits for the writes in flight: no write of an old epoch lands after it.
CREATE TABLE cti_leader (
    cluster text PRIMARY KEY CHECK (length(cluster) BETWEEN 1 AND 64),
    epoch bigint NOT NULL CHECK (epoch > 0),
    token text NOT NULL CHECK (length(token) <= 64),
    holder text NOT NULL CHECK (length(holder) <= 200),
    url text NOT NULL DEFAULT '' CHECK (length(url) <= 500),
    acquired_at timestamptz NOT NULL DEFAULT now(),
    renewed_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    UNIQUE (cluster, epoch)
);
