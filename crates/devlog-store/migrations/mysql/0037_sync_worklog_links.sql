-- Sync state: worklogs mirrored as remote worklogs (pushed from here or pulled from there).
CREATE TABLE sync_worklog_links (
    integration VARCHAR(64)  NOT NULL,
    entry_id    VARCHAR(36)  NOT NULL,
    worklog_id  VARCHAR(255) NOT NULL,
    remote_id   VARCHAR(255) NULL,
    state       VARCHAR(16)  NOT NULL,
    hash        VARCHAR(128) NULL,
    updated_at  BIGINT       NOT NULL,
    PRIMARY KEY (integration, entry_id, worklog_id),
    UNIQUE KEY sync_worklog_links_remote (integration, remote_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
