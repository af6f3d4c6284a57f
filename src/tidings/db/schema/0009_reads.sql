-- Read receipts: whether a user shares when they read (privacy.update). An
-- opted-out user is neither counted nor listed, and sees no receipts for their
-- own messages. members.read_at (set by read.mark) dates each cursor.
ALTER TABLE users ADD COLUMN read_receipts INTEGER NOT NULL DEFAULT 1;
