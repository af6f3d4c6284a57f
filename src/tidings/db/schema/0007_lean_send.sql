-- The send path writes every index of messages once per message. A sender's
-- messages in a chat are found through messages_by_local_id, whose key starts
-- with (chat_id, sender_id) as messages_by_sender's did (on SQLite the entries
-- also carry msg_id, the primary key), so that index only cost sends.
DROP INDEX messages_by_sender;
