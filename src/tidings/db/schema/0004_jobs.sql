-- Background jobs (issue 7): the durable queue of tidings.jobs, and the index
-- the auto-delete / burn-after-read sweeper reads.

-- One row per pending job. A job runs in ONE transaction that also deletes its
-- row, so its effect happens at most once, even across a crash. `attempts`
-- counts claims (a crash mid-run counts too); `locked_until` is the claim's
-- lease, after which another node may take the job over. A job that used up
-- its attempts keeps its row with `failed_at` set, for operators.
CREATE TABLE background_jobs (
    job_id {{id_pk}},
    kind TEXT NOT NULL,
    -- Scheduling a job whose key is pending is a no-op; NULL never collides.
    dedupe_key TEXT UNIQUE,
    payload TEXT NOT NULL DEFAULT '{}',
    run_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    locked_until BIGINT NOT NULL DEFAULT 0,
    failed_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX background_jobs_due ON background_jobs (run_at);

-- Live messages with a deadline (chat message_ttl, or a started burn-after-read
-- countdown), by deadline: the sweeper reads only what is due.
CREATE INDEX messages_ttl_due ON messages (ttl_expires_at)
    WHERE ttl_expires_at IS NOT NULL AND deleted_at IS NULL;
