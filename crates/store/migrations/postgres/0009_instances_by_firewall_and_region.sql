-- A firewall shows the instances it protects, and an Exoscale zone lists the account's
-- instances in it: these indexes find them without reading every instance of the account.
CREATE INDEX instances_firewall ON instances (firewall_id);
CREATE INDEX instances_account_region ON instances (account_id, region_id);
