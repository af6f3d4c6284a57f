-- Message search (issue 7): message.search over text, and its filtered queries.

-- The text index: message_search (doc_id, chat_id, msg_id, terms), one row per
-- message with text, written in the transaction that writes the message
-- (tidings.store.search). SQLite: an FTS5 table and a rowid map under a view;
-- PostgreSQL: a table with a GIN index over a tsvector (tidings.db.engine).
-- Rows of messages deleted or recalled later stay: every search joins
-- messages and leaves those out.
{{search_index}}

-- Filtered queries without text, newest first: by time within a chat, and by
-- kind for the kinds other than text (the partial index costs a text message
-- nothing).
CREATE INDEX messages_by_date ON messages (chat_id, date, msg_id);
CREATE INDEX messages_by_kind ON messages (chat_id, kind, date, msg_id) WHERE kind <> 'text';
