-- The member's DM about a booking's outcome, written in the transaction that settles the row
-- and sent by the gym desk (which clears it in the transaction that queues the DM): a run that
-- fails after settling a member's booking can no longer lose the message that says so.
ALTER TABLE gym_bookings ADD COLUMN to_tell TEXT;
ALTER TABLE gym_bookings ADD COLUMN to_tell_buttons TEXT;
