-- Webhooks (issue 11 item 3): the durable outbox of events for the business
-- backend at `webhook_url`. A row is written in the same transaction as the
-- fact it reports (a committed message, a last-seen time), so no event is lost
-- on a crash and none is sent for a rolled-back change. Each node's deliverer
-- (tidings.jobs.webhooks) claims rows, POSTs them as one signed JSON batch and
-- deletes them once the receiver answered 2xx.
--
-- `stream` orders delivery: the chat id for a chat's events, minus the user id
-- for a user's presence events. A row is only claimed together with, or after,
-- every earlier pending row of its stream, so each stream arrives in order.
-- `locked_until` is the lease of the node delivering the row; `attempts`
-- counts tries; a failed try sets `next_attempt_at` (exponential backoff) and
-- `last_error`; after `webhook_max_attempts` the row keeps `failed_at` for
-- operators until `webhook_failed_retention_seconds` have passed.
CREATE TABLE webhook_outbox (
    event_id {{id_pk}},
    stream BIGINT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    failed_at BIGINT
);
-- The claim walks pending rows in event order, past the given-up ones.
CREATE INDEX webhook_outbox_pending ON webhook_outbox (event_id) WHERE failed_at IS NULL;
-- A stream's earlier pending rows (the claim's ordering check).
CREATE INDEX webhook_outbox_stream ON webhook_outbox (stream, event_id) WHERE failed_at IS NULL;
-- The rows that may hold back their stream: tried before, or being sent. Few,
-- however long the queue: a claim looks here for each candidate.
CREATE INDEX webhook_outbox_held ON webhook_outbox (stream, event_id)
    WHERE failed_at IS NULL AND (next_attempt_at > 0 OR locked_until > 0);
-- Given-up rows, pruned after their retention.
CREATE INDEX webhook_outbox_failed ON webhook_outbox (failed_at) WHERE failed_at IS NOT NULL;
