-- Webhook deliveries accepted (verified and stored) before they are applied, so a receiver can
-- acknowledge at once and a delivery interrupted by a crash is applied when the server starts
-- again. `payload` (the verified outcome as JSON) is cleared once the delivery is finished;
-- `result` then holds its counts, or `error` why it failed.
CREATE TABLE webhook_inbox (
    integration  TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',
    payload      TEXT NOT NULL,
    result       TEXT,
    error        TEXT,
    finished_at  INTEGER,
    PRIMARY KEY (integration, delivery_id)
);
CREATE INDEX webhook_inbox_state ON webhook_inbox(state, received_at);
