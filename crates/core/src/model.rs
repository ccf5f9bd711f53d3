//! The domain: what berth keeps and decides, in the terms every dialect shares.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub use placement::{FailureDomain, GroupId, GroupKind, HostId, HostState, InstanceId, Policy, Resources};

/// An account: the owner of every resource a customer creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub i64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FirewallId(pub i64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MigrationId(pub i64);

/// A moment, in milliseconds since the UNIX epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

/// A region id, such as `us-mia`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionId(pub(crate) String);

impl RegionId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RegionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A resource's human name: 1–255 characters with no control characters. Dialects enforce
/// their own, stricter rules before they build one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(pub(crate) String);

impl Label {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who is calling: an authenticated user of an account, with what its credential allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub account: AccountId,
    pub user: UserId,
    pub username: String,
    pub email: String,
    /// A restricted user may do only what its grants allow; an unrestricted one, anything in
    /// its account.
    pub restricted: bool,
    /// The grants of a restricted user; empty for an unrestricted one.
    pub grants: Grants,
    /// What the credential may reach, whoever holds it.
    pub scopes: Scopes,
    /// Which credential authenticated the call (`token:12`, `api-key:…`), for rate limits.
    pub credential: String,
}

/// The kinds of resource a grant can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    Instance,
    Group,
    Firewall,
}

impl EntityKind {
    pub const ALL: [EntityKind; 3] = [EntityKind::Instance, EntityKind::Group, EntityKind::Firewall];

    pub fn as_str(&self) -> &'static str {
        match self {
            EntityKind::Instance => "instance",
            EntityKind::Group => "group",
            EntityKind::Firewall => "firewall",
        }
    }

    pub fn parse(value: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|kind| kind.as_str() == value)
    }
}

/// What a grant allows on one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    ReadOnly,
    ReadWrite,
}

impl Permission {
    pub fn as_str(&self) -> &'static str {
        match self {
            Permission::ReadOnly => "read_only",
            Permission::ReadWrite => "read_write",
        }
    }

    pub fn parse(value: &str) -> Option<Permission> {
        match value {
            "read_only" => Some(Permission::ReadOnly),
            "read_write" => Some(Permission::ReadWrite),
            _ => None,
        }
    }
}

/// A right over a whole account that berth enforces for a restricted user (an unrestricted
/// one holds every right).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Right {
    /// Create instances and groups, and put instances into groups or take them out.
    CreateInstances,
    CreateFirewalls,
}

impl Right {
    pub const ALL: [Right; 2] = [Right::CreateInstances, Right::CreateFirewalls];

    pub fn as_str(&self) -> &'static str {
        match self {
            Right::CreateInstances => "create_instances",
            Right::CreateFirewalls => "create_firewalls",
        }
    }

    pub fn parse(value: &str) -> Option<Right> {
        Right::ALL.into_iter().find(|right| right.as_str() == value)
    }
}

/// A restricted user's grants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// The rights held over the whole account.
    pub rights: BTreeSet<Right>,
    /// Account-wide grants that a dialect keeps for its users but berth does not enforce, by
    /// the dialect's own names: berth stores and shows them, nothing more.
    pub kept: BTreeSet<String>,
    pub entities: BTreeMap<(EntityKind, i64), Permission>,
}

/// What a credential may reach, whoever holds it: everything (`*`), or named areas, each
/// read-only or read-write. The dialect that issues credentials names the areas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scopes {
    pub(crate) all: bool,
    pub(crate) areas: BTreeMap<String, Permission>,
}

impl Scopes {
    /// Every scope: `*`.
    pub fn all() -> Scopes {
        Scopes { all: true, areas: BTreeMap::new() }
    }

    /// Whether these scopes reach `area` at `level`; `read_write` implies `read_only`.
    pub fn allows(&self, area: &str, level: Permission) -> bool {
        self.all || self.areas.get(area).is_some_and(|granted| *granted >= level)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.all {
            return f.write_str("*");
        }
        let list: Vec<String> = self.areas.iter().map(|(area, level)| format!("{area}:{}", level.as_str())).collect();
        f.write_str(&list.join(" "))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub id: RegionId,
    pub label: String,
    pub country: String,
    pub site_type: String,
    pub status: String,
    /// At most this many members in a regional group.
    pub max_members_per_group: u32,
    /// At most this many groups per account in this region; `None` means no limit.
    pub max_groups_per_account: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub id: HostId,
    pub uuid: String,
    pub name: String,
    pub region: RegionId,
    pub rack: String,
    pub state: HostState,
    pub capacity: Resources,
    pub used: Resources,
    /// Failure-domain and other labels beyond the rack.
    pub labels: BTreeMap<String, String>,
}

impl Host {
    pub fn free(&self) -> Resources {
        self.capacity.saturating_sub(&self.used)
    }
}

/// Where a group applies: one region, or every region (a global group is evaluated among its
/// members in each region).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Region(RegionId),
    Global,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub uuid: String,
    pub account: AccountId,
    pub label: Label,
    pub description: String,
    pub scope: Scope,
    pub kind: GroupKind,
    pub policy: Policy,
    pub domain: FailureDomain,
    pub max_per_domain: u32,
    /// At most this many members; `None` means the region's limit.
    pub max_members: Option<u32>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A group with its members and their compliance, derived from where they stand now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupView {
    pub group: Group,
    pub is_compliant: bool,
    /// In join order.
    pub members: Vec<Member>,
    /// Instances moving into the group.
    pub inbound: Vec<InstanceId>,
    /// Instances moving out of the group.
    pub outbound: Vec<InstanceId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub instance: InstanceId,
    pub uuid: String,
    pub is_compliant: bool,
    /// Why the member is not compliant.
    pub reason: Option<String>,
}

/// What a new group is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupCreate {
    pub label: Label,
    pub description: String,
    pub scope: Scope,
    pub kind: GroupKind,
    pub policy: Policy,
    pub domain: FailureDomain,
    pub max_per_domain: u32,
    pub max_members: Option<u32>,
}

/// An instance's lifecycle as its owner set it; whether it is migrating is derived from its
/// placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceState {
    Running,
    Stopped,
}

impl InstanceState {
    pub fn as_str(&self) -> &'static str {
        match self {
            InstanceState::Running => "running",
            InstanceState::Stopped => "stopped",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub id: InstanceId,
    pub uuid: String,
    pub account: AccountId,
    pub label: Label,
    pub region: RegionId,
    pub type_id: String,
    pub size: Resources,
    pub host: Option<HostId>,
    pub target_host: Option<HostId>,
    pub state: InstanceState,
    pub image: Option<String>,
    pub tags: Vec<String>,
    pub firewall: Option<FirewallId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Key-value labels, distinct from tags (plain strings).
    pub labels: BTreeMap<String, String>,
    /// Why the instance is offline: its host failed and no other could take it.
    pub offline_reason: Option<String>,
}

impl Instance {
    /// Whether the instance has no host: it waits for one.
    pub fn is_offline(&self) -> bool {
        self.host.is_none()
    }
}

/// An instance with what the dialects show beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceView {
    pub instance: Instance,
    /// The uuid of the host it runs on.
    pub host_uuid: Option<String>,
    /// Its groups, in the order it joined them.
    pub groups: Vec<Group>,
    pub migration: Option<Migration>,
}

impl InstanceView {
    pub fn is_migrating(&self) -> bool {
        self.migration.is_some()
    }
}

/// A group an instance should join at creation, and whether the join must keep the group
/// compliant even when its policy is flexible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupChoice {
    pub group: GroupKey,
    pub compliant_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceCreate {
    pub label: Label,
    /// Whether the label must be unique among the account's instances (a dialect's rule).
    pub unique_label: bool,
    pub region: RegionId,
    /// The instance type, as the dialect names it; berth keeps it to show it back.
    pub type_id: String,
    /// What the instance needs of its host: the type's size, with the disk chosen.
    pub size: Resources,
    /// What it boots, as the dialect names it (the dialect checks that it exists).
    pub image: Option<String>,
    pub tags: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub firewall: Option<FirewallId>,
    pub groups: Vec<GroupChoice>,
    pub state: InstanceState,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceUpdate {
    pub label: Option<Label>,
    /// Whether the label must be unique among the account's instances (a dialect's rule).
    pub unique_label: bool,
    pub tags: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// A user's request to move an instance: to another region, into another group, or just to
/// another host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceMigrate {
    pub region: Option<RegionId>,
    pub group: Option<GroupChoice>,
}

/// Why a migration moves an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationReason {
    /// Its owner asked.
    UserRequest,
    /// The reconciler repairs a non-compliant group.
    Repair,
    /// Its host is draining.
    Drain,
    /// Its host failed; the instance was started elsewhere.
    Failure,
}

impl MigrationReason {
    pub const ALL: [MigrationReason; 4] =
        [MigrationReason::UserRequest, MigrationReason::Repair, MigrationReason::Drain, MigrationReason::Failure];

    pub fn as_str(&self) -> &'static str {
        match self {
            MigrationReason::UserRequest => "user_request",
            MigrationReason::Repair => "repair",
            MigrationReason::Drain => "drain",
            MigrationReason::Failure => "failure",
        }
    }

    pub fn parse(value: &str) -> Option<MigrationReason> {
        MigrationReason::ALL.into_iter().find(|r| r.as_str() == value)
    }
}

/// A migration's lifecycle: queued (planned, nothing held), running (the target's capacity is
/// held), then succeeded, failed (rolled back) or cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl MigrationState {
    pub const ALL: [MigrationState; 5] = [
        MigrationState::Queued,
        MigrationState::Running,
        MigrationState::Succeeded,
        MigrationState::Failed,
        MigrationState::Cancelled,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            MigrationState::Queued => "queued",
            MigrationState::Running => "running",
            MigrationState::Succeeded => "succeeded",
            MigrationState::Failed => "failed",
            MigrationState::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Option<MigrationState> {
        MigrationState::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    pub id: MigrationId,
    pub account: AccountId,
    pub instance: InstanceId,
    pub source_host: HostId,
    pub target_host: HostId,
    pub source_region: RegionId,
    pub target_region: RegionId,
    pub source_group: Option<GroupId>,
    pub target_group: Option<GroupId>,
    pub reason: MigrationReason,
    pub state: MigrationState,
    pub created_at: Timestamp,
    pub due_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// The repair or drain plan it belongs to.
    pub plan: Option<i64>,
    pub started_at: Option<Timestamp>,
    /// The external agent running it, and until when its lease holds.
    pub claimed_by: Option<String>,
    pub lease_expires_at: Option<Timestamp>,
    /// Why it failed.
    pub failure: Option<String>,
}

/// A firewall's rules are kept as the document the dialect gave, untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Firewall {
    pub id: FirewallId,
    pub account: AccountId,
    pub label: Label,
    pub status: String,
    pub rules: String,
    pub tags: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirewallCreate {
    pub label: Label,
    pub status: String,
    pub rules: String,
    pub tags: Vec<String>,
}

/// The state of an asynchronous operation (a dialect's handle on a change, for clients to poll).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperationState {
    Pending,
    Success,
    Failure,
    Timeout,
}

impl OperationState {
    pub fn as_str(&self) -> &'static str {
        match self {
            OperationState::Pending => "pending",
            OperationState::Success => "success",
            OperationState::Failure => "failure",
            OperationState::Timeout => "timeout",
        }
    }
}

/// How a dialect names a group: a regional group by its integer id, a global one by its UUID. A key of one kind never finds a group of the other, so
/// each dialect reaches only the groups it can show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupKey {
    Regional(GroupId),
    Global(String),
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupKey::Regional(id) => write!(f, "{id}"),
            GroupKey::Global(uuid) => f.write_str(uuid),
        }
    }
}

/// What an operation changed: the resource's id, where to read it, and the command that does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationReference {
    pub id: String,
    pub link: String,
    pub command: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub id: String,
    pub account: AccountId,
    pub state: OperationState,
    /// Why it did not succeed; set whenever the state is `failure` or `timeout`.
    pub reason: Option<String>,
    pub message: String,
    pub reference: OperationReference,
    pub created_at: Timestamp,
}

/// What every instance of a list must be, as far as each is given: a dialect's filter asks it,
/// and the store narrows the list to it before the dialect's own filter runs on the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceSelection {
    pub id: Option<InstanceId>,
    pub label: Option<String>,
    pub region: Option<String>,
}

impl InstanceSelection {
    /// Whether it selects anything narrower than every instance.
    pub fn narrows(&self) -> bool {
        self.id.is_some() || self.label.is_some() || self.region.is_some()
    }
}

/// A stretch of a list: `limit` items after the first `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub offset: u64,
    pub limit: u64,
}

/// The items of a [`Window`], and how many the whole list holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: u64,
}

impl Window {
    /// The window of `items`, and their count, for a list read whole (a restricted caller's,
    /// whose grants say which rows it sees).
    pub(crate) fn of<T>(self, items: Vec<T>) -> Paged<T> {
        let total = items.len() as u64;
        let items = items
            .into_iter()
            .skip(usize::try_from(self.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(self.limit).unwrap_or(usize::MAX))
            .collect();
        Paged { items, total }
    }

    pub(crate) fn bounds(self) -> (i64, i64) {
        (i64::try_from(self.offset).unwrap_or(i64::MAX), i64::try_from(self.limit).unwrap_or(i64::MAX))
    }
}

/// An account and its users, for the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub account: AccountId,
    pub username: String,
    pub email: String,
    pub restricted: bool,
    pub created_at: Timestamp,
}

/// A personal access token, without its secret (which is shown once, at creation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub id: i64,
    pub user: UserId,
    pub label: String,
    pub scopes: Scopes,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// An API key (a key and a secret that signs requests), without its secret, which is shown
/// once, at creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    pub key: String,
    pub user: UserId,
    pub name: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A kind of thing a request can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Thing {
    Account,
    User,
    Token,
    ApiKey,
    Instance,
    /// A group of one region.
    Group,
    /// A group of every region.
    GlobalGroup,
    Region,
    Host,
    Migration,
    Operation,
    Firewall,
    Event,
}

impl Thing {
    pub fn name(&self) -> &'static str {
        match self {
            Thing::Account => "account",
            Thing::User => "user",
            Thing::Token => "token",
            Thing::ApiKey => "API key",
            Thing::Instance => "instance",
            Thing::Group => "group",
            Thing::GlobalGroup => "global group",
            Thing::Region => "region",
            Thing::Host => "host",
            Thing::Migration => "migration",
            Thing::Operation => "operation",
            Thing::Firewall => "firewall",
            Thing::Event => "event",
        }
    }
}

impl fmt::Display for Thing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A resource an event is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventEntity {
    /// An instance, a group, a global group or a firewall.
    pub kind: Thing,
    pub id: i64,
    pub uuid: String,
    pub label: String,
}

/// What an event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    InstanceCreate,
    InstanceUpdate,
    InstanceDelete,
    InstanceBoot,
    InstanceShutdown,
    /// Moved to another host in its region.
    InstanceMigrate,
    /// Moved to another region.
    InstanceMigrateRegion,
    GroupCreate,
    GroupUpdate,
    GroupDelete,
    /// An instance joined a group (the event's secondary entity).
    GroupAssign,
    /// An instance left a group.
    GroupUnassign,
    GroupBecameCompliant,
    GroupBecameNonCompliant,
    FirewallCreate,
    FirewallDelete,
}

impl Action {
    pub const ALL: [Action; 16] = [
        Action::InstanceCreate,
        Action::InstanceUpdate,
        Action::InstanceDelete,
        Action::InstanceBoot,
        Action::InstanceShutdown,
        Action::InstanceMigrate,
        Action::InstanceMigrateRegion,
        Action::GroupCreate,
        Action::GroupUpdate,
        Action::GroupDelete,
        Action::GroupAssign,
        Action::GroupUnassign,
        Action::GroupBecameCompliant,
        Action::GroupBecameNonCompliant,
        Action::FirewallCreate,
        Action::FirewallDelete,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Action::InstanceCreate => "instance_create",
            Action::InstanceUpdate => "instance_update",
            Action::InstanceDelete => "instance_delete",
            Action::InstanceBoot => "instance_boot",
            Action::InstanceShutdown => "instance_shutdown",
            Action::InstanceMigrate => "instance_migrate",
            Action::InstanceMigrateRegion => "instance_migrate_region",
            Action::GroupCreate => "group_create",
            Action::GroupUpdate => "group_update",
            Action::GroupDelete => "group_delete",
            Action::GroupAssign => "group_assign",
            Action::GroupUnassign => "group_unassign",
            Action::GroupBecameCompliant => "group_became_compliant",
            Action::GroupBecameNonCompliant => "group_became_non_compliant",
            Action::FirewallCreate => "firewall_create",
            Action::FirewallDelete => "firewall_delete",
        }
    }

    pub fn parse(value: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|action| action.as_str() == value)
    }
}

/// Where an event stands: a change `started` (and later `finished` or `failed`), one that
/// `finished` at once, or a `notification` of something berth observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventStatus {
    Started,
    Finished,
    Failed,
    Notification,
}

impl EventStatus {
    pub const ALL: [EventStatus; 4] =
        [EventStatus::Started, EventStatus::Finished, EventStatus::Failed, EventStatus::Notification];

    pub fn as_str(&self) -> &'static str {
        match self {
            EventStatus::Started => "started",
            EventStatus::Finished => "finished",
            EventStatus::Failed => "failed",
            EventStatus::Notification => "notification",
        }
    }

    pub fn parse(value: &str) -> Option<EventStatus> {
        EventStatus::ALL.into_iter().find(|status| status.as_str() == value)
    }
}

/// An audit record of a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: i64,
    pub action: Action,
    pub status: EventStatus,
    pub username: Option<String>,
    pub entity: EventEntity,
    pub secondary: Option<EventEntity>,
    pub message: String,
    pub created_at: Timestamp,
}
