-- People: block list, privacy settings, contacts and contact requests,
-- contact cards shared in chats, profiles, user search terms and QR tokens.

-- user_id blocks blocked_id.
CREATE TABLE blocks (
    user_id BIGINT NOT NULL REFERENCES users (user_id),
    blocked_id BIGINT NOT NULL REFERENCES users (user_id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
);

-- Privacy (privacy.update): everyone | contacts | nobody.
ALTER TABLE users ADD COLUMN find_me TEXT NOT NULL DEFAULT 'everyone';
ALTER TABLE users ADD COLUMN message_me TEXT NOT NULL DEFAULT 'everyone';
ALTER TABLE users ADD COLUMN add_me TEXT NOT NULL DEFAULT 'everyone';
ALTER TABLE users ADD COLUMN last_seen TEXT NOT NULL DEFAULT 'everyone';

-- Profiles (user.update_profile) and the QR token (user.qr_token).
ALTER TABLE users ADD COLUMN bio TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN avatar_file_id BIGINT;
ALTER TABLE users ADD COLUMN qr_token TEXT;
CREATE UNIQUE INDEX users_by_qr_token ON users (qr_token);

-- A contact is two rows, one per side, written and removed together.
CREATE TABLE contacts (
    user_id BIGINT NOT NULL REFERENCES users (user_id),
    contact_id BIGINT NOT NULL REFERENCES users (user_id),
    source TEXT NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (user_id, contact_id)
);

-- A pending request from from_id to to_id; accepted or rejected, it is gone.
CREATE TABLE contact_requests (
    from_id BIGINT NOT NULL REFERENCES users (user_id),
    to_id BIGINT NOT NULL REFERENCES users (user_id),
    source TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (from_id, to_id)
);
CREATE INDEX contact_requests_to ON contact_requests (to_id);

-- Contact cards shared in chats (user.share_card): the proof a card request needs.
CREATE TABLE contact_cards (
    chat_id BIGINT NOT NULL,
    msg_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    shared_by BIGINT NOT NULL,
    PRIMARY KEY (chat_id, msg_id)
);
CREATE INDEX contact_cards_by_user ON contact_cards (user_id, chat_id);

-- User search: NFKC + casefold terms (the username, the display name, its
-- words, and each suffix of a CJK run), matched by prefix (a range of the
-- index: binary_text orders by code point on both engines).
CREATE TABLE user_search_terms (
    term {{binary_text}} NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (user_id),
    PRIMARY KEY (term, user_id)
);
CREATE INDEX user_search_terms_by_user ON user_search_terms (user_id);
-- Users registered before this migration are found by their username (already
-- lower case); display names were always empty.
INSERT INTO user_search_terms (term, user_id) SELECT username, user_id FROM users;
