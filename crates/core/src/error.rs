//! The one error type of `core`: what was refused and why, as typed facts in domain terms.
//!
//! Core never words an error for a client. Each variant names the thing, the field, the
//! constraint or the limit at fault; each dialect's single error mapping turns those facts
//! into the status, wording and field names its own clients expect. The `Display` of every
//! fact is a plain sentence in the domain's own terms (instances, groups, hosts), for logs and
//! for the native `/v1` API, whose words are the domain's.

use std::fmt;

use placement::NoHost;
use store::{Failure, StoreError};

use crate::model::{
    EntityKind, Group, GroupId, HostState, InstanceId, MigrationId, RegionId, Resources, Right, Scope, Thing,
};

/// What went wrong. Every variant but [`Error::Unavailable`], [`Error::Contended`],
/// [`Error::Store`] and [`Error::Internal`] is the caller's to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value the caller gave cannot be used.
    #[error("{field}: {problem}")]
    Invalid { field: Field, problem: Problem },
    /// The resource a request addresses does not exist, or is not the caller's: both look
    /// the same.
    #[error("{0} not found")]
    NotFound(Thing),
    /// The resource is in a state that forbids the change (a group with members, a busy
    /// instance). `field` is the input that names it, when the request named it in its body.
    #[error("{conflict}")]
    Conflict { field: Option<Field>, conflict: Conflict },
    /// A limit would be exceeded: members in a group, groups in a region.
    #[error("{limit}")]
    Limit { field: Option<Field>, limit: Limit },
    /// Placement refuses the change: no host can take the instance, or a strict group would be
    /// broken. Nothing changed.
    #[error("{refusal}")]
    Refused { field: Option<Field>, refusal: Refusal },
    /// The caller may see the resource but not do this to it.
    #[error("{0}")]
    Forbidden(Denial),
    /// No credential, or one that is unknown or expired.
    #[error("invalid credentials")]
    Unauthenticated,
    /// The database cannot be reached: nothing changed, and the same request may succeed once
    /// it is back.
    #[error("the database is unavailable")]
    Unavailable,
    /// The change collided with a concurrent one and was rolled back whole, more times than
    /// berth retries it: nothing changed, and the same request may be sent again.
    #[error("the change collided with concurrent changes")]
    Contended,
    #[error("store failure")]
    Store(StoreError),
    /// An invariant of berth itself broke; the detail is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: Field, problem: Problem) -> Error {
        Error::Invalid { field, problem }
    }

    pub fn conflict(conflict: Conflict) -> Error {
        Error::Conflict { field: None, conflict }
    }

    pub fn not_found(thing: Thing) -> Error {
        Error::NotFound(thing)
    }

    /// The same error, about the input `field` of the request.
    pub fn about(self, field: Field) -> Error {
        match self {
            Error::Conflict { conflict, .. } => Error::Conflict { field: Some(field), conflict },
            Error::Limit { limit, .. } => Error::Limit { field: Some(field), limit },
            Error::Refused { refusal, .. } => Error::Refused { field: Some(field), refusal },
            other => other,
        }
    }

    /// The input at fault, when the error names one.
    pub fn field(&self) -> Option<Field> {
        match self {
            Error::Invalid { field, .. } => Some(*field),
            Error::Conflict { field, .. } | Error::Limit { field, .. } | Error::Refused { field, .. } => *field,
            _ => None,
        }
    }
}

/// An input of a request, in domain terms. A dialect names it as its own wire does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    Region,
    Label,
    /// The group an instance is to join.
    Group,
    /// The groups a request lists (a placement question).
    Groups,
    Firewall,
    /// The instances a request lists (to join or leave a group).
    Instances,
    MaxPerDomain,
    /// The areas a token reaches.
    Scopes,
    Email,
    Expiry,
    Name,
    Username,
    /// The rights a user holds over its whole account.
    Rights,
    /// The user a change of rights is for.
    User,
    /// Resources of one kind that a user's grants name.
    Grants(EntityKind),
    /// A host's labels (key-value pairs).
    HostLabels,
    Rack,
    Capacity,
    Country,
    MaxMembersPerGroup,
    /// Why an agent failed a migration.
    Reason,
    /// The agent that runs migrations.
    Agent,
    Id,
    State,
}

impl Field {
    /// The field's domain name, which `/v1` uses on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Field::Region => "region",
            Field::Label => "label",
            Field::Group => "group",
            Field::Groups => "groups",
            Field::Firewall => "firewall",
            Field::Instances => "instances",
            Field::MaxPerDomain => "max_per_domain",
            Field::Scopes => "scopes",
            Field::Email => "email",
            Field::Expiry => "expiry",
            Field::Name => "name",
            Field::Username => "username",
            Field::Rights => "global",
            Field::User => "user",
            Field::Grants(kind) => kind.as_str(),
            Field::HostLabels => "labels",
            Field::Rack => "rack",
            Field::Capacity => "capacity",
            Field::Country => "country",
            Field::MaxMembersPerGroup => "max_members_per_group",
            Field::Reason => "reason",
            Field::Agent => "agent",
            Field::Id => "id",
            Field::State => "state",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rule a value must follow, named so that each dialect can state it its own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// 1–64 letters, digits, `-`, `_` or `.`.
    PlainName,
    /// Lower-case letters, digits and dashes (a region id).
    RegionId,
    /// An address like `name@example.com`.
    Email,
    /// A two-letter country code.
    CountryCode,
    /// `*` or a list of `area:read_only` / `area:read_write`.
    Scopes,
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Form::PlainName => "1-64 letters, digits, '-', '_' or '.'",
            Form::RegionId => "a region id (lower-case letters, digits and dashes)",
            Form::Email => "an address like name@example.com",
            Form::CountryCode => "a two-letter country code",
            Form::Scopes => "* or a list of area:read_only or area:read_write",
        })
    }
}

/// What is wrong with a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// It names nothing the caller may use (the value as given).
    Unknown(String),
    /// Its length, in characters, is outside `min..=max`.
    Length { min: usize, max: usize },
    /// It holds control characters.
    ControlCharacters,
    /// It does not follow `form`; `value` is the part at fault when there is one.
    Malformed { form: Form, value: Option<String> },
    /// Another resource of the account already uses it (labels are unique per account).
    Taken(Thing),
    /// A list holds the same item twice.
    Repeated(String),
    /// A list is empty where at least one item is needed.
    Empty,
    /// It is below `min`.
    TooSmall { min: u64 },
    /// It is beyond what berth can store.
    TooLarge,
    /// A time that must be in the future is not.
    Past,
    /// An instance in `region` cannot join `group`, which is in `group_region`.
    GroupElsewhere { group: GroupRef, group_region: RegionId, region: RegionId },
    /// `instance`, in `region`, cannot join `group`, which is in `group_region`.
    InstanceElsewhere { instance: InstanceId, region: RegionId, group: GroupId, group_region: RegionId },
    /// An instance can be in at most one regional group.
    OneRegionalGroup,
    /// `instance` is in `group` already.
    AlreadyMember { instance: InstanceId, group: GroupId },
    /// `instance` is not in `group`.
    NotMember { instance: InstanceId, group: GroupId },
    /// Grants apply only to restricted users.
    NotRestricted,
    /// The instance and the group belong to different accounts.
    OtherAccount,
    /// A global group's room is measured in one region, which the request must name.
    RegionNeeded,
    /// A host needs vCPUs, memory and disk.
    NoCapacity,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unknown(value) => write!(f, "{value} not found"),
            Problem::Length { min, max } => write!(f, "must be {min}-{max} characters"),
            Problem::ControlCharacters => f.write_str("must not contain control characters"),
            Problem::Malformed { form, value: Some(value) } => write!(f, "{value} is not {form}"),
            Problem::Malformed { form, value: None } => write!(f, "must be {form}"),
            Problem::Taken(thing) => write!(f, "must be unique among your {}s", thing.name()),
            Problem::Repeated(item) => write!(f, "{item} is listed more than once"),
            Problem::Empty => f.write_str("at least one item must be given"),
            Problem::TooSmall { min } => write!(f, "must be at least {min}"),
            Problem::TooLarge => f.write_str("is too large"),
            Problem::Past => f.write_str("must be in the future"),
            Problem::GroupElsewhere { group, group_region, .. } => {
                write!(f, "{group} is in region {group_region}; the instance must be in the same region")
            }
            Problem::InstanceElsewhere { instance, region, group, group_region } => {
                write!(f, "instance {instance} is in region {region}, but group {group} is in region {group_region}")
            }
            Problem::OneRegionalGroup => f.write_str("an instance can be in at most one regional group"),
            Problem::AlreadyMember { instance, group } => write!(f, "instance {instance} is already in group {group}"),
            Problem::NotMember { instance, group } => write!(f, "instance {instance} is not in group {group}"),
            Problem::NotRestricted => f.write_str("grants apply only to restricted users"),
            Problem::OtherAccount => f.write_str("the instance and the group belong to different accounts"),
            Problem::RegionNeeded => f.write_str("a global group's headroom is measured in one region: name it"),
            Problem::NoCapacity => f.write_str("a host needs vCPUs, memory and disk"),
        }
    }
}

/// A group as an error names it: by the id each dialect knows (the integer of a regional
/// group, the UUID of a global one) and its label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRef {
    pub id: GroupId,
    pub uuid: String,
    pub label: String,
    pub global: bool,
}

impl GroupRef {
    pub(crate) fn of(group: &Group) -> GroupRef {
        GroupRef {
            id: group.id,
            uuid: group.uuid.clone(),
            label: group.label.to_string(),
            global: group.scope == Scope::Global,
        }
    }
}

impl fmt::Display for GroupRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.global {
            write!(f, "group {} ({})", self.uuid, self.label)
        } else {
            write!(f, "group {} ({})", self.id, self.label)
        }
    }
}

/// A state that forbids a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// The instance is migrating.
    Busy(InstanceId),
    /// The instance has no host, so it cannot be migrated.
    Offline(InstanceId),
    /// The group still has members.
    GroupNotEmpty { group: GroupRef, members: usize },
    /// The group is not compliant.
    GroupNotCompliant(GroupRef),
    /// A `thing` of that name exists already.
    Exists { thing: Thing, name: String },
    /// A change made at the same time created the same thing first.
    CreatedConcurrently,
    /// The instance is a member of the group already.
    AlreadyMember { instance: InstanceId, group: GroupId },
    /// The host uses more than the capacity asked for.
    CapacityBelowUse { host: String, used: Resources },
    /// The draining host still holds instances.
    NotDrained { host: String, instances: usize },
    /// The host is in `state`, from which it cannot become `to`; it can from `from`.
    HostState { host: String, state: HostState, to: HostState, from: Vec<HostState> },
    /// berth runs its migrations itself: no agent may claim them.
    BuiltInExecutor,
    /// The migration has finished (it is in `state`).
    MigrationNotRunning { migration: MigrationId, state: String },
    /// The agent does not hold the migration.
    MigrationNotHeld { migration: MigrationId, agent: String },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::Busy(instance) => write!(f, "instance {instance} is busy migrating"),
            Conflict::Offline(instance) => write!(f, "instance {instance} is offline and cannot be migrated"),
            Conflict::GroupNotEmpty { group, members } => {
                write!(f, "{group} still has {members} member(s); unassign them before deleting it")
            }
            Conflict::GroupNotCompliant(group) => write!(f, "{group} is not compliant and cannot be deleted"),
            Conflict::Exists { thing, name } => write!(f, "a {thing} named {name} exists already"),
            Conflict::CreatedConcurrently => f.write_str("a change made at the same time created the same thing first"),
            Conflict::AlreadyMember { instance, group } => {
                write!(f, "instance {instance} is already a member of group {group}")
            }
            Conflict::CapacityBelowUse { host, used } => {
                write!(f, "host {host} uses {used:?}; its capacity cannot go below that")
            }
            Conflict::NotDrained { host, instances } => {
                write!(f, "host {host} still holds {instances} instance(s); it enters maintenance once drained")
            }
            Conflict::HostState { host, state, to, from } => {
                let from: Vec<&str> = from.iter().map(HostState::as_str).collect();
                write!(
                    f,
                    "host {host} is {}; it can become {} only from {}",
                    state.as_str(),
                    to.as_str(),
                    from.join(" or ")
                )
            }
            Conflict::BuiltInExecutor => {
                f.write_str("migrations are run by berth itself; start it with the external executor")
            }
            Conflict::MigrationNotRunning { migration, state } => {
                write!(f, "migration {} is {state}, not running", migration.0)
            }
            Conflict::MigrationNotHeld { migration, agent } => {
                write!(f, "agent {agent} does not hold migration {}; claim it first", migration.0)
            }
        }
    }
}

/// A limit a change would exceed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Limit {
    /// An account may have at most `limit` groups in `region`.
    GroupsPerRegion { region: RegionId, limit: u32 },
    /// `group` may hold at most `limit` members; it has `members`.
    MembersPerGroup { group: GroupRef, limit: u32, members: usize },
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::GroupsPerRegion { region, limit } => {
                write!(f, "an account may have at most {limit} groups in {region}")
            }
            Limit::MembersPerGroup { group, limit, members } => {
                write!(f, "{group} can hold at most {limit} members; it has {members}")
            }
        }
    }
}

/// Why placement refuses a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No host in `region` can take the instance: the hosts excluded, counted by reason.
    /// `groups` names the groups the reasons may cite.
    NoHost { region: RegionId, no_host: NoHost, groups: Vec<GroupRef> },
    /// `instance` cannot join `group` without breaking it, because it `breach`es.
    BreaksGroup { instance: InstanceId, group: GroupId, strict: bool, breach: String },
}

impl Refusal {
    /// Why no host can take the instance, naming each group cited as `name` does.
    pub fn hosts_excluded(no_host: &NoHost, groups: &[GroupRef], name: &dyn Fn(&GroupRef) -> String) -> String {
        no_host.render(&|id: GroupId| match groups.iter().find(|g| g.id == id) {
            Some(group) => name(group),
            None => format!("group {id}"),
        })
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoHost { region, no_host, groups } => {
                let why = Refusal::hosts_excluded(no_host, groups, &|group| group.to_string());
                write!(f, "no host in {region} can take this instance: {why}")
            }
            Refusal::BreaksGroup { instance, group, strict, breach } => {
                let strict = if *strict { "strict " } else { "" };
                write!(f, "instance {instance} cannot join {strict}group {group} without breaking it: it {breach}")
            }
        }
    }
}

/// What a caller was refused, with the thing it may only read or the right it lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The caller may read this `thing` but not change it.
    ReadOnly(Thing),
    /// Doing `act` needs `right`, which the caller does not hold.
    Lacks { right: Right, act: Act },
}

/// An act that needs a right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    CreateInstance,
    CreateGroup,
    AssignInstances,
    UnassignInstances,
    CreateFirewall,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::ReadOnly(thing) => write!(f, "you may not change this {thing}"),
            Denial::Lacks { right, act } => {
                let act = match act {
                    Act::CreateInstance => "create instances",
                    Act::CreateGroup => "create groups",
                    Act::AssignInstances => "assign instances to groups",
                    Act::UnassignInstances => "unassign instances from groups",
                    Act::CreateFirewall => "create firewalls",
                };
                write!(f, "you may not {act}: the {} right is needed", right.as_str())
            }
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Error {
        match error.failure() {
            Failure::Unavailable => {
                tracing::warn!(error = ?error, "database unavailable");
                Error::Unavailable
            }
            Failure::Contention => {
                tracing::debug!(error = ?error, "change collided with a concurrent one");
                Error::Contended
            }
            // Every change checks for a duplicate before it inserts; one that slips past that
            // check was created by a concurrent change.
            Failure::Duplicate => {
                tracing::debug!(error = ?error, "a concurrent change created the same thing first");
                Error::conflict(Conflict::CreatedConcurrently)
            }
            Failure::Other => Error::Store(error),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
