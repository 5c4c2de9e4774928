-- Sync state: workflow runs beside the sync jobs (issue 21), shared by every worker on the
-- store. A run's full record is `record` (JSON); the other columns are for queries. A run is
-- leased to the worker executing it (`lease_owner` = "<host>:<pid>:<random>"; `lease_until`
-- on the database clock, like a sync job's lease).
CREATE TABLE sync_workflow_runs (
    id          TEXT   PRIMARY KEY,
    workflow    TEXT   NOT NULL,
    state       TEXT   NOT NULL,
    entry_id    TEXT,
    wake_at     BIGINT,
    started_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    record      TEXT   NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT
);
CREATE INDEX sync_workflow_runs_started ON sync_workflow_runs (started_at, id);
CREATE INDEX sync_workflow_runs_state ON sync_workflow_runs (state, wake_at);
CREATE INDEX sync_workflow_runs_updated ON sync_workflow_runs (updated_at);
-- A workflow runs at most once per write, schedule slot or integration event: the first
-- claimer of (workflow, key) wins, on every machine.
CREATE TABLE sync_workflow_claims (
    workflow   TEXT   NOT NULL,
    claim_key  TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workflow, claim_key)
);
CREATE INDEX sync_workflow_claims_created ON sync_workflow_claims (created_at);
-- The workflow engine's cursors: the change-feed follower, the integration-event follower,
-- and each scheduled workflow's last slot (`schedule:<name>`).
CREATE TABLE sync_workflow_cursors (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
