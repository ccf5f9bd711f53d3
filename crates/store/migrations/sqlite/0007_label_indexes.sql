-- Labels are unique per account: a create or a rename asks whether the account already has
-- the label. These indexes make that question one probe, however many instances, groups or
-- firewalls the account holds (before, it read every row of the account).
CREATE INDEX instances_account_label ON instances (account_id, label);
CREATE INDEX placement_groups_account_label ON placement_groups (account_id, label);
CREATE INDEX firewalls_account_label ON firewalls (account_id, label);
