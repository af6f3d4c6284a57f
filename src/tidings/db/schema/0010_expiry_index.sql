-- GET /admin/chats?expired=true: the expired chats are few among many, so the
-- listing finds them through the chats that have an expiry at all instead of
-- walking every chat in id order.
CREATE INDEX chats_by_expiry ON chats (expire_at) WHERE expire_at IS NOT NULL;
