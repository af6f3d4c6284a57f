-- Groups (issue 10): chat info, per-chat permissions, moderation, invites and
-- join requests.
-- permissions: a JSON object of the permissions plain members have that differ
-- from the defaults (services.permissions); NULL means all defaults.
-- mute_all: only owners and admins post. join_approval: joining by invite
-- makes a request that an owner or admin approves.
ALTER TABLE chats ADD COLUMN about TEXT NOT NULL DEFAULT '';
ALTER TABLE chats ADD COLUMN avatar_file_id BIGINT;
ALTER TABLE chats ADD COLUMN announcement TEXT NOT NULL DEFAULT '';
ALTER TABLE chats ADD COLUMN join_approval INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chats ADD COLUMN mute_all INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chats ADD COLUMN permissions TEXT;
-- A member muted by a moderator may not send until this Unix time (0: not
-- muted). members.muted_until is the member's own notification setting.
ALTER TABLE members ADD COLUMN send_muted_until BIGINT NOT NULL DEFAULT 0;
-- The first pts a member may see, decided when they join from the chat's
-- history_visibility and view_history permission then in force: 1 (the whole
-- history) or joined_pts. A later change applies to later joins only.
ALTER TABLE members ADD COLUMN history_from BIGINT NOT NULL DEFAULT 0;
UPDATE members SET history_from = CASE WHEN (SELECT c.history_visibility FROM chats c
    WHERE c.chat_id = members.chat_id) = 'full' THEN 1 ELSE joined_pts END;

-- Users banned from a chat: they cannot be added again nor join by invite.
CREATE TABLE chat_bans (
    chat_id BIGINT NOT NULL REFERENCES chats (chat_id),
    user_id BIGINT NOT NULL REFERENCES users (user_id),
    banned_by BIGINT NOT NULL,
    banned_at BIGINT NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);

-- Every announcement a chat had, keyed by the pts of its chat.updated entry.
CREATE TABLE chat_announcements (
    chat_id BIGINT NOT NULL REFERENCES chats (chat_id),
    pts BIGINT NOT NULL,
    text TEXT NOT NULL,
    by_user BIGINT NOT NULL,
    date BIGINT NOT NULL,
    PRIMARY KEY (chat_id, pts)
);

-- Invite links: token is the unguessable string a link or QR code carries.
CREATE TABLE chat_invites (
    token TEXT PRIMARY KEY,
    chat_id BIGINT NOT NULL REFERENCES chats (chat_id),
    creator_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    max_uses INTEGER,
    uses INTEGER NOT NULL DEFAULT 0,
    revoked_at BIGINT
);
CREATE INDEX chat_invites_by_chat ON chat_invites (chat_id);

-- Pending requests to join a chat that has join_approval on.
CREATE TABLE join_requests (
    chat_id BIGINT NOT NULL REFERENCES chats (chat_id),
    user_id BIGINT NOT NULL REFERENCES users (user_id),
    date BIGINT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (chat_id, user_id)
);
