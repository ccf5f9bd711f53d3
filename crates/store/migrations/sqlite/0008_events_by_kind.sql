-- A list of events shows those about some kinds of subject (the Linode dialect leaves out
-- global groups): counting and paging them reads this index, not every event of the account.
CREATE INDEX events_account_kind ON events (account_id, entity_type, id);
