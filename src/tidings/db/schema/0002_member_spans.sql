-- Earlier membership spans of a member who left and was added again, as a JSON
-- list of [joined_pts, left_pts] pairs, oldest first (NULL: none). The current
-- span stays in joined_pts/left_pts; together they are everything the member
-- may see, so a device offline across a leave and a re-join still catches up
-- on the rest of the earlier span.
ALTER TABLE members ADD COLUMN past_spans TEXT;
