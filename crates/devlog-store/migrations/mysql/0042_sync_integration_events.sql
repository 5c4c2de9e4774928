-- Sync state: integration events (a webhook delivery's pull request merged, issue
-- transitioned, deployment completed; a conflict recorded; a job dead-lettered), appended by
-- the sync engine and followed by the workflow engine with a cursor on `id`.
CREATE TABLE sync_integration_events (
    id          BIGINT       NOT NULL AUTO_INCREMENT,
    integration VARCHAR(64)  NOT NULL,
    kind        VARCHAR(64)  NOT NULL,
    event_key   VARCHAR(255) NOT NULL,
    entry_id    VARCHAR(36)  NULL,
    data        LONGTEXT     NOT NULL,
    created_at  BIGINT       NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY sync_integration_events_key (integration, event_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
