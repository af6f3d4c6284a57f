-- tidings schema, version 1: users and devices, chats and members, the message
-- table (which is also the log of message.new updates), and the two update logs.

CREATE TABLE users (
    user_id {{id_pk}},
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE devices (
    device_id {{id_pk}},
    user_id BIGINT NOT NULL REFERENCES users (user_id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX devices_by_user ON devices (user_id);

CREATE TABLE chats (
    chat_id {{id_pk}},
    kind TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    creator_id BIGINT,
    direct_key TEXT UNIQUE,
    pts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expire_at BIGINT,
    history_visibility TEXT NOT NULL DEFAULT 'joined',
    last_msg_id BIGINT NOT NULL DEFAULT 0,
    last_activity BIGINT NOT NULL,
    member_count INTEGER NOT NULL DEFAULT 0,
    settings TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE members (
    chat_id BIGINT NOT NULL REFERENCES chats (chat_id),
    user_id BIGINT NOT NULL REFERENCES users (user_id),
    role TEXT NOT NULL,
    joined_pts BIGINT NOT NULL,
    left_pts BIGINT,
    joined_at BIGINT NOT NULL,
    read_pts BIGINT NOT NULL DEFAULT 0,
    read_at BIGINT NOT NULL DEFAULT 0,
    cleared_pts BIGINT NOT NULL DEFAULT 0,
    muted_until BIGINT NOT NULL DEFAULT 0,
    pinned INTEGER NOT NULL DEFAULT 0,
    hidden INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX members_by_user ON members (user_id);

-- msg_id is the pts of the message's creation in its chat; this row is the
-- message.new entry of the chat's log (other kinds live in chat_updates).
CREATE TABLE messages (
    chat_id BIGINT NOT NULL,
    msg_id BIGINT NOT NULL,
    sender_id BIGINT NOT NULL,
    date BIGINT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT,
    entities TEXT,
    reply_to BIGINT,
    forward_from TEXT,
    file_id BIGINT,
    local_id TEXT,
    recalled_at BIGINT,
    recalled_by BIGINT,
    deleted_at BIGINT,
    ttl_expires_at BIGINT,
    burn_after_seconds INTEGER,
    attributes TEXT,
    tags TEXT,
    PRIMARY KEY (chat_id, msg_id)
) {{without_rowid}};
CREATE UNIQUE INDEX messages_by_local_id ON messages (chat_id, sender_id, local_id);

CREATE TABLE chat_updates (
    chat_id BIGINT NOT NULL,
    pts BIGINT NOT NULL,
    kind TEXT NOT NULL,
    date BIGINT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (chat_id, pts)
) {{without_rowid}};

CREATE TABLE user_updates (
    user_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    date BIGINT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (user_id, seq)
) {{without_rowid}};
