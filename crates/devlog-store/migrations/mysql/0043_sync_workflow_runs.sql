-- Sync state: workflow runs beside the sync jobs (issue 21), shared by every worker on the
-- store. A run's full record is `record` (JSON); the other columns are for queries. A run is
-- leased to the worker executing it (`lease_owner` = "<host>:<pid>:<random>"; `lease_until`
-- on the database clock, like a sync job's lease).
CREATE TABLE sync_workflow_runs (
    id          VARCHAR(32)  NOT NULL,
    workflow    VARCHAR(128) NOT NULL,
    state       VARCHAR(16)  NOT NULL,
    entry_id    VARCHAR(36)  NULL,
    wake_at     BIGINT       NULL,
    started_at  BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    record      LONGTEXT     NOT NULL,
    lease_owner VARCHAR(255) NULL,
    lease_until BIGINT       NULL,
    PRIMARY KEY (id),
    KEY sync_workflow_runs_started (started_at, id),
    KEY sync_workflow_runs_state (state, wake_at),
    KEY sync_workflow_runs_updated (updated_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
-- A workflow runs at most once per write, schedule slot or integration event: the first
-- claimer of (workflow, key) wins, on every machine.
CREATE TABLE sync_workflow_claims (
    workflow   VARCHAR(128) NOT NULL,
    claim_key  VARCHAR(255) NOT NULL,
    created_at BIGINT       NOT NULL,
    PRIMARY KEY (workflow, claim_key),
    KEY sync_workflow_claims_created (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
-- The workflow engine's cursors: the change-feed follower, the integration-event follower,
-- and each scheduled workflow's last slot (`schedule:<name>`).
CREATE TABLE sync_workflow_cursors (
    name  VARCHAR(255) NOT NULL,
    value TEXT         NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
