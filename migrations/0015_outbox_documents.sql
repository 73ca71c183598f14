-- Two kinds of outgoing call the outbox could not hold before.
--
-- A `send` row may carry a document (sendDocument, uploaded from these bytes): its file name
-- and content, with `text` as its caption. Written with the row, in the transaction that
-- caused it, like any other outgoing call; a document is small (a month's claims as CSV).
ALTER TABLE outbox ADD COLUMN document_name TEXT;
ALTER TABLE outbox ADD COLUMN document BLOB;

-- An `edit` row may name the message it edits by its outbox row instead of its Telegram id,
-- when that message is not sent yet: the sender reads the id when it sends the edit. Rows of
-- one chat and thread go out in order, one at a time per bot, so the edited message has left
-- (or failed) by then.
ALTER TABLE outbox ADD COLUMN target_outbox_id INTEGER;
