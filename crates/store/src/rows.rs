//! Rows: the store's own types, one per table (or join), converted to domain types by `core`.

use crate::sql::from_row;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRow {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub account_id: i64,
    pub username: String,
    pub email: String,
    pub restricted: i64,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    pub id: i64,
    pub account_id: i64,
    pub user_id: i64,
    pub label: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionRow {
    pub id: String,
    pub label: String,
    pub country: String,
    pub site_type: String,
    pub status: String,
    pub max_members_per_group: i64,
    pub max_groups_per_account: Option<i64>,
    pub created_at: i64,
}

/// A host with its capacity and the part of it in use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRow {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub region_id: String,
    pub rack: String,
    pub state: String,
    pub vcpus: i64,
    pub memory_mib: i64,
    pub disk_mib: i64,
    pub gpus: i64,
    pub used_vcpus: i64,
    pub used_memory_mib: i64,
    pub used_disk_mib: i64,
    pub used_gpus: i64,
    pub created_at: i64,
    /// A JSON object of failure-domain and other labels beyond the rack.
    pub labels: String,
    pub updated_at: i64,
}

/// A new host, before the store gives it an id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewHost {
    pub uuid: String,
    pub name: String,
    pub region_id: String,
    pub rack: String,
    pub state: String,
    pub size: Size,
    pub labels: String,
}

/// An amount of resources as the store keeps it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size {
    pub vcpus: i64,
    pub memory_mib: i64,
    pub disk_mib: i64,
    pub gpus: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRow {
    pub id: i64,
    pub uuid: String,
    pub account_id: i64,
    pub label: String,
    pub description: String,
    pub region_id: Option<String>,
    pub kind: String,
    pub policy: String,
    pub domain: String,
    pub max_per_domain: i64,
    pub max_members: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewGroup {
    pub uuid: String,
    pub account_id: i64,
    pub label: String,
    pub description: String,
    pub region_id: Option<String>,
    pub kind: String,
    pub policy: String,
    pub domain: String,
    pub max_per_domain: i64,
    pub max_members: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceRow {
    pub id: i64,
    pub uuid: String,
    pub account_id: i64,
    pub label: String,
    pub region_id: String,
    pub type_id: String,
    pub vcpus: i64,
    pub memory_mib: i64,
    pub disk_mib: i64,
    pub gpus: i64,
    pub host_id: Option<i64>,
    pub target_host_id: Option<i64>,
    pub state: String,
    pub image: Option<String>,
    pub tags: String,
    pub firewall_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// A JSON object of string keys and values.
    pub labels: String,
    pub offline_reason: Option<String>,
}

impl InstanceRow {
    pub fn size(&self) -> Size {
        Size { vcpus: self.vcpus, memory_mib: self.memory_mib, disk_mib: self.disk_mib, gpus: self.gpus }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInstance {
    pub uuid: String,
    pub account_id: i64,
    pub label: String,
    pub region_id: String,
    pub type_id: String,
    pub size: Size,
    pub host_id: i64,
    pub state: String,
    pub image: Option<String>,
    pub tags: String,
    pub firewall_id: Option<i64>,
    pub labels: String,
}

/// A membership, with where the member stands: enough to judge a group's compliance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    pub seq: i64,
    pub group_id: i64,
    pub instance_id: i64,
    pub instance_uuid: String,
    pub host_id: Option<i64>,
    pub target_host_id: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationRow {
    pub id: i64,
    pub account_id: i64,
    pub instance_id: i64,
    pub source_host_id: i64,
    pub target_host_id: i64,
    pub source_region_id: String,
    pub target_region_id: String,
    pub source_group_id: Option<i64>,
    pub target_group_id: Option<i64>,
    pub reason: String,
    pub state: String,
    pub created_at: i64,
    pub due_at: i64,
    pub finished_at: Option<i64>,
    pub plan_id: Option<i64>,
    pub started_at: Option<i64>,
    pub claimed_by: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub failure: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMigration {
    pub account_id: i64,
    pub instance_id: i64,
    pub source_host_id: i64,
    pub target_host_id: i64,
    pub source_region_id: String,
    pub target_region_id: String,
    pub source_group_id: Option<i64>,
    pub target_group_id: Option<i64>,
    pub reason: String,
    pub due_at: i64,
    /// `queued` (nothing held yet) or `running` (the target's capacity is held).
    pub state: String,
    pub plan_id: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirewallRow {
    pub id: i64,
    pub account_id: i64,
    pub label: String,
    pub status: String,
    pub rules: String,
    pub tags: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: i64,
    pub account_id: i64,
    pub user_id: i64,
    pub key: String,
    /// The secret, sealed by `core` before it is stored.
    pub secret: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationRow {
    pub id: String,
    pub account_id: i64,
    pub state: String,
    pub reason: Option<String>,
    pub message: String,
    pub reference_id: String,
    pub reference_link: String,
    pub reference_command: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityGrantRow {
    pub entity_type: String,
    pub entity_id: i64,
    pub permission: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    pub account_id: i64,
    pub username: Option<String>,
    pub action: String,
    pub status: String,
    pub entity_type: String,
    pub entity_id: i64,
    pub entity_uuid: String,
    pub entity_label: String,
    pub secondary_type: Option<String>,
    pub secondary_id: Option<i64>,
    pub secondary_label: Option<String>,
    pub message: String,
    pub created_at: i64,
}

/// A new event, before the store numbers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub account_id: i64,
    pub username: Option<String>,
    pub action: String,
    pub status: String,
    pub entity_type: String,
    pub entity_id: i64,
    pub entity_uuid: String,
    pub entity_label: String,
    pub secondary_type: Option<String>,
    pub secondary_id: Option<i64>,
    pub secondary_label: Option<String>,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairNoteRow {
    pub group_id: i64,
    pub account_id: i64,
    pub reason: String,
    pub updated_at: i64,
}

/// A lease on background work: who holds it, since when, and until when (by the database's
/// clock, in milliseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRow {
    pub name: String,
    pub holder: String,
    pub acquired_at: i64,
    pub expires_at: i64,
}

from_row! {
    AccountRow { id, name, created_at }
    UserRow { id, account_id, username, email, restricted, created_at }
    TokenRow { id, account_id, user_id, label, scopes, created_at, expires_at, revoked_at }
    RegionRow { id, label, country, site_type, status, max_members_per_group, max_groups_per_account, created_at }
    HostRow { id, uuid, name, region_id, rack, state, vcpus, memory_mib, disk_mib, gpus, used_vcpus, used_memory_mib, used_disk_mib, used_gpus, created_at, labels, updated_at }
    GroupRow { id, uuid, account_id, label, description, region_id, kind, policy, domain, max_per_domain, max_members, created_at, updated_at }
    InstanceRow { id, uuid, account_id, label, region_id, type_id, vcpus, memory_mib, disk_mib, gpus, host_id, target_host_id, state, image, tags, firewall_id, created_at, updated_at, labels, offline_reason }
    MemberRow { seq, group_id, instance_id, instance_uuid, host_id, target_host_id }
    MigrationRow { id, account_id, instance_id, source_host_id, target_host_id, source_region_id, target_region_id, source_group_id, target_group_id, reason, state, created_at, due_at, finished_at, plan_id, started_at, claimed_by, lease_expires_at, failure }
    FirewallRow { id, account_id, label, status, rules, tags, created_at, updated_at }
    ApiKeyRow { id, account_id, user_id, key, secret, name, created_at, revoked_at }
    OperationRow { id, account_id, state, reason, message, reference_id, reference_link, reference_command, created_at }
    EntityGrantRow { entity_type, entity_id, permission }
    EventRow { id, account_id, username, action, status, entity_type, entity_id, entity_uuid, entity_label, secondary_type, secondary_id, secondary_label, message, created_at }
    RepairNoteRow { group_id, account_id, reason, updated_at }
    LeaseRow { name, holder, acquired_at, expires_at }
}
