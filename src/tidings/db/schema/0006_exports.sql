-- Exports (issue 7): message.export writes a chat's history, as its requester
-- sees it, to a file that the requester downloads over HTTP.

-- One row per export. The `export` background job does the work in steps of
-- one transaction each (services.exports): it first counts the messages to
-- write (`counted_upto`, `total`), then writes them in chunks, recording after
-- each chunk how far it scanned (`cursor`, a pts), how many messages it wrote
-- (`progress`) and how long the file is (`bytes`), so a step that is rolled
-- back or retried starts again exactly where the last committed one ended.
-- state: queued -> running -> done -> expired, or failed.
CREATE TABLE exports (
    job_id {{id_pk}},
    user_id BIGINT NOT NULL,
    chat_id BIGINT NOT NULL,
    format TEXT NOT NULL,
    since BIGINT,
    until BIGINT,
    -- The chat's pts when the export was requested: nothing after it is exported.
    upto_pts BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    counted_upto BIGINT NOT NULL DEFAULT 0,
    total BIGINT,
    cursor BIGINT NOT NULL DEFAULT 0,
    progress BIGINT NOT NULL DEFAULT 0,
    bytes BIGINT NOT NULL DEFAULT 0,
    -- The date of the last message written (the HTML page's day headings).
    last_date BIGINT,
    -- The file's name inside the export directory (settings: export_dir).
    path TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    expires_at BIGINT
);
-- A user's exports by state: the per-user limit counts the unfinished ones.
CREATE INDEX exports_by_user ON exports (user_id, state);
