-- devlog sync state: workflow runs beside the sync jobs (issue 21). A run's full record is
-- `record` (JSON); the other columns are for queries. A run is leased to the worker executing
-- it (`lease_owner` = "<host>:<pid>:<random>", `lease_until` in ms), like a sync job.
CREATE TABLE workflow_runs (
    id          TEXT    PRIMARY KEY,
    workflow    TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    entry_id    TEXT,
    wake_at     INTEGER,
    started_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    record      TEXT    NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER
);
CREATE INDEX workflow_runs_started ON workflow_runs(started_at, id);
CREATE INDEX workflow_runs_state ON workflow_runs(state, wake_at);
CREATE INDEX workflow_runs_updated ON workflow_runs(updated_at);
-- A workflow runs at most once per write, schedule slot or integration event: the first
-- claimer of (workflow, key) wins, on every machine sharing the state.
CREATE TABLE workflow_claims (
    workflow   TEXT    NOT NULL,
    claim_key  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (workflow, claim_key)
);
CREATE INDEX workflow_claims_created ON workflow_claims(created_at);
-- The workflow engine's cursors: the change-feed follower, the integration-event follower,
-- and each scheduled workflow's last slot (`schedule:<name>`).
CREATE TABLE workflow_cursors (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
