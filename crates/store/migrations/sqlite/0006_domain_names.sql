-- Domain names for what the store keeps about grants and events: core names the rights it
-- enforces, the kinds of resource and the actions of events in its own terms, and each
-- dialect maps them to its own words when it shows them. Rows written before keep their
-- meaning under the new names.
UPDATE global_grants SET grant_name = 'create_instances' WHERE grant_name = 'add_linodes';
UPDATE global_grants SET grant_name = 'create_firewalls' WHERE grant_name = 'add_firewalls';

UPDATE entity_grants SET entity_type = 'instance' WHERE entity_type = 'linode';
UPDATE entity_grants SET entity_type = 'group' WHERE entity_type = 'placement_group';

UPDATE events SET entity_type = CASE entity_type
    WHEN 'linode' THEN 'instance'
    WHEN 'placement_group' THEN 'group'
    WHEN 'anti_affinity_group' THEN 'global_group'
    ELSE entity_type END;
UPDATE events SET secondary_type = CASE secondary_type
    WHEN 'linode' THEN 'instance'
    WHEN 'placement_group' THEN 'group'
    WHEN 'anti_affinity_group' THEN 'global_group'
    ELSE secondary_type END
WHERE secondary_type IS NOT NULL;
UPDATE events SET action = CASE action
    WHEN 'linode_create' THEN 'instance_create'
    WHEN 'linode_update' THEN 'instance_update'
    WHEN 'linode_delete' THEN 'instance_delete'
    WHEN 'linode_boot' THEN 'instance_boot'
    WHEN 'linode_shutdown' THEN 'instance_shutdown'
    WHEN 'linode_migrate' THEN 'instance_migrate'
    WHEN 'linode_migrate_datacenter' THEN 'instance_migrate_region'
    WHEN 'placement_group_create' THEN 'group_create'
    WHEN 'placement_group_update' THEN 'group_update'
    WHEN 'placement_group_delete' THEN 'group_delete'
    WHEN 'placement_group_assign' THEN 'group_assign'
    WHEN 'placement_group_unassign' THEN 'group_unassign'
    WHEN 'placement_group_became_compliant' THEN 'group_became_compliant'
    WHEN 'placement_group_became_non_compliant' THEN 'group_became_non_compliant'
    ELSE action END;
