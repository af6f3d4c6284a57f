-- Media and the three storage tiers (issue 8; seed 000, DESIGN §5).

-- One row per stored blob (content-addressed: identical uploads share it). Its
-- row is what an upload and the blob deleter both lock, so a blob is never
-- deleted while a new upload starts to use it.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    has_thumbnail INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- The one source of truth of a file's lifecycle: messages only reference
-- file_id and never copy its state (seed 000). Each upload is its own row.
-- `chat_id` is the file's home chat, the first it was sent into: its retention
-- setting applies (a forward into another chat shares the file and its fate).
-- `pool_chat_id` is the chat pool whose capacity the file takes (renewed or
-- preserved from it) while it holds bytes (status active or expired).
CREATE TABLE files (
    file_id {{id_pk}},
    uploader_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    mime TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    -- an image's thumbnail is stored as the blob <sha256>.thumb
    thumbnail INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    chat_id BIGINT,
    status TEXT NOT NULL DEFAULT 'active',
    expires_at BIGINT,
    expired_at BIGINT,
    preserved_by TEXT,
    preserved_at BIGINT,
    pool_chat_id BIGINT,
    deleted_at BIGINT
);
-- The expiry job reads only what is due, in deadline order.
CREATE INDEX files_due ON files (status, expires_at);
CREATE INDEX files_grace_due ON files (status, expired_at);
CREATE INDEX files_by_sha256 ON files (sha256);
CREATE INDEX files_by_uploader ON files (uploader_id, preserved_by);
CREATE INDEX files_by_chat ON files (chat_id);
CREATE INDEX files_by_pool ON files (pool_chat_id);
-- The chats whose messages show a file (a text message costs nothing here).
CREATE INDEX messages_by_file ON messages (file_id, chat_id, msg_id) WHERE file_id IS NOT NULL;

-- A chat's media settings and pool; no row = the defaults (media kept by the
-- kinds' lifetimes, cleanup on, no pool). `pool_used` and `pool_files` are
-- counters kept in the transactions that change files; they are recomputable
-- from `files` (`tidings admin recompute-usage`).
CREATE TABLE chat_media (
    chat_id BIGINT PRIMARY KEY,
    media_ttl BIGINT,
    cleanup INTEGER NOT NULL DEFAULT 1,
    whitelisted INTEGER NOT NULL DEFAULT 0,
    pool_enabled INTEGER NOT NULL DEFAULT 0,
    pool_capacity BIGINT NOT NULL DEFAULT 0,
    pool_used BIGINT NOT NULL DEFAULT 0,
    pool_files BIGINT NOT NULL DEFAULT 0
);

-- Capacity members add to a chat's pool (seed 000: members sponsor it; no
-- payment in this version, a parameter).
CREATE TABLE pool_sponsors (
    chat_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);

-- "Request renewal, handled by hand at first" (seed 000).
CREATE TABLE renewal_requests (
    request_id {{id_pk}},
    chat_id BIGINT NOT NULL,
    msg_id BIGINT NOT NULL,
    file_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    decided_by BIGINT,
    decided_at BIGINT
);
CREATE INDEX renewal_requests_by_chat ON renewal_requests (chat_id, state, request_id);
CREATE UNIQUE INDEX renewal_requests_pending ON renewal_requests (chat_id, msg_id, user_id)
    WHERE state = 'pending';

-- Entitlement (0 free, 1 plus, 2 pro: parameters from the settings), the
-- operator's whitelist flag, and the custody counters (recomputable).
ALTER TABLE users ADD COLUMN entitlement_level INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN media_whitelisted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN custody_used BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN custody_files BIGINT NOT NULL DEFAULT 0;
