-- The operators' HTTP API (/admin/*): a disabled user cannot sign in (the
-- operator may enable them again); a banned user cannot sign in either, is
-- not found by name, QR token or search, and cannot be added to a chat or
-- messaged directly. A disbanded group keeps its history for operators; its
-- members were removed and nobody can join it again.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE users ADD COLUMN banned_at BIGINT;
ALTER TABLE chats ADD COLUMN disbanded_at BIGINT;
