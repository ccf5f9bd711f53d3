//! The audit trail: every change records an event, in the transaction that makes it.

use std::collections::HashMap;

use placement::Fleet;
use store::{Db, EventRow, NewEvent};

use crate::error::{Error, Result};
use crate::fleets::groups_fleet;
use crate::model::*;
use crate::{Berth, now};

/// The subject of an event.
pub(crate) fn group_entity(group: &Group) -> EventEntity {
    EventEntity {
        kind: match group.scope {
            Scope::Region(_) => Thing::Group,
            Scope::Global => Thing::GlobalGroup,
        },
        id: group.id.0,
        uuid: group.uuid.clone(),
        label: group.label.to_string(),
    }
}

pub(crate) fn instance_entity(instance: &Instance) -> EventEntity {
    EventEntity {
        kind: Thing::Instance,
        id: instance.id.0,
        uuid: instance.uuid.clone(),
        label: instance.label.to_string(),
    }
}

pub(crate) fn firewall_entity(firewall: &Firewall) -> EventEntity {
    EventEntity { kind: Thing::Firewall, id: firewall.id.0, uuid: String::new(), label: firewall.label.to_string() }
}

/// Records an event of `account`, done by `by` (or by berth itself when `None`).
pub(crate) async fn record(
    db: &mut Db<'_>,
    account: AccountId,
    by: Option<&Principal>,
    action: Action,
    status: EventStatus,
    entity: &EventEntity,
    secondary: Option<&EventEntity>,
) -> Result<()> {
    let event = NewEvent {
        account_id: account.0,
        username: by.map(|p| p.username.clone()),
        action: action.as_str().to_string(),
        status: status.as_str().to_string(),
        entity_type: stored_kind(entity.kind).to_string(),
        entity_id: entity.id,
        entity_uuid: entity.uuid.clone(),
        entity_label: entity.label.clone(),
        secondary_type: secondary.map(|s| stored_kind(s.kind).to_string()),
        secondary_id: secondary.map(|s| s.id),
        secondary_label: secondary.map(|s| s.label.clone()),
        message: String::new(),
    };
    db.event_insert(&event, now().0).await?;
    Ok(())
}

/// Whether each group is compliant, as the rows stand in `db` (inside a transaction, with its
/// own changes).
pub(crate) async fn compliance(db: &mut Db<'_>, groups: &[Group]) -> Result<HashMap<GroupId, bool>> {
    let (fleet, _) = groups_fleet(db, groups, &[]).await?;
    fleet_compliance(&fleet, groups)
}

/// Whether each group is compliant in `fleet`, which holds the groups and their members.
pub(crate) fn fleet_compliance(fleet: &Fleet, groups: &[Group]) -> Result<HashMap<GroupId, bool>> {
    let mut compliant = HashMap::new();
    for group in groups {
        let verdict = fleet.group_compliance(group.id).map_err(crate::fleets::engine)?;
        compliant.insert(group.id, verdict.is_compliant());
    }
    Ok(compliant)
}

/// Records that a group became compliant or non-compliant, for every group whose
/// compliance differs from `before`; `cause` is the instance whose change made the difference.
pub(crate) async fn compliance_changes(
    db: &mut Db<'_>,
    by: Option<&Principal>,
    groups: &[Group],
    before: &HashMap<GroupId, bool>,
    cause: Option<&EventEntity>,
) -> Result<()> {
    let after = compliance(db, groups).await?;
    compliance_changes_known(db, by, groups, before, &after, cause).await
}

/// [`compliance_changes`], given the groups' compliance after the change.
pub(crate) async fn compliance_changes_known(
    db: &mut Db<'_>,
    by: Option<&Principal>,
    groups: &[Group],
    before: &HashMap<GroupId, bool>,
    after: &HashMap<GroupId, bool>,
    cause: Option<&EventEntity>,
) -> Result<()> {
    for group in groups {
        let (Some(was), Some(is)) = (before.get(&group.id), after.get(&group.id)) else { continue };
        if was != is {
            let action = if *is { Action::GroupBecameCompliant } else { Action::GroupBecameNonCompliant };
            record(db, group.account, by, action, EventStatus::Notification, &group_entity(group), cause).await?;
        }
    }
    Ok(())
}

/// How an event stores the kind of its subject.
fn stored_kind(kind: Thing) -> &'static str {
    match kind {
        Thing::Instance => "instance",
        Thing::Group => "group",
        Thing::GlobalGroup => "global_group",
        Thing::Firewall => "firewall",
        other => other.name(),
    }
}

fn kind_of_stored(value: &str) -> Result<Thing> {
    [Thing::Instance, Thing::Group, Thing::GlobalGroup, Thing::Firewall]
        .into_iter()
        .find(|kind| stored_kind(*kind) == value)
        .ok_or_else(|| corrupt("entity type", value))
}

fn corrupt(what: &str, value: &str) -> Error {
    Error::Internal(format!("an event has the unknown {what} {value:?}"))
}

fn event(row: EventRow) -> Result<Event> {
    let secondary = match (row.secondary_type, row.secondary_id) {
        (Some(kind), Some(id)) => Some(EventEntity {
            kind: kind_of_stored(&kind)?,
            id,
            uuid: String::new(),
            label: row.secondary_label.unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(Event {
        id: row.id,
        action: Action::parse(&row.action).ok_or_else(|| corrupt("action", &row.action))?,
        status: EventStatus::parse(&row.status).ok_or_else(|| corrupt("status", &row.status))?,
        username: row.username,
        entity: EventEntity {
            kind: kind_of_stored(&row.entity_type)?,
            id: row.entity_id,
            uuid: row.entity_uuid,
            label: row.entity_label,
        },
        secondary,
        message: row.message,
        created_at: Timestamp(row.created_at),
    })
}

/// Whether the caller may see an event: one about a resource it may see.
fn visible(principal: &Principal, event: &Event) -> bool {
    match event.entity.kind {
        Thing::Instance => principal.can_see(EntityKind::Instance, event.entity.id),
        Thing::Group | Thing::GlobalGroup => principal.can_see(EntityKind::Group, event.entity.id),
        Thing::Firewall => principal.can_see(EntityKind::Firewall, event.entity.id),
        _ => !principal.restricted,
    }
}

impl Berth {
    /// One window of the caller's account's events about subjects of these `kinds`, newest
    /// first, with how many there are: read in SQL for an unrestricted caller; a restricted
    /// one's are those about resources it may see, filtered first.
    pub async fn event_page(&self, principal: &Principal, kinds: &[Thing], window: Window) -> Result<Paged<Event>> {
        if principal.restricted {
            let events: Vec<Event> =
                self.events(principal).await?.into_iter().filter(|e| kinds.contains(&e.entity.kind)).collect();
            return Ok(window.of(events));
        }
        let stored: Vec<&str> = kinds.iter().map(|kind| stored_kind(*kind)).collect();
        let (offset, limit) = window.bounds();
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let total = db.tenant(principal.account.0).event_count(&stored).await?;
        let rows = db.tenant(principal.account.0).events_page(&stored, offset, limit).await?;
        let items = rows.into_iter().map(event).collect::<Result<Vec<_>>>()?;
        Ok(Paged { items, total: u64::try_from(total).unwrap_or(0) })
    }

    /// One event of the caller's account, if it may see it.
    pub async fn event_get(&self, principal: &Principal, id: i64) -> Result<Event> {
        let row = self.store.read().await?.db().tenant(principal.account.0).event_get(id).await?;
        match row.map(event).transpose()? {
            Some(event) if visible(principal, &event) => Ok(event),
            _ => Err(Error::not_found(Thing::Event)),
        }
    }

    /// The caller's account's events, newest first; a restricted user sees those about
    /// resources it may see.
    pub async fn events(&self, principal: &Principal) -> Result<Vec<Event>> {
        let rows = self.store.read().await?.db().tenant(principal.account.0).events_of_account().await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let event = event(row)?;
            if visible(principal, &event) {
                events.push(event);
            }
        }
        Ok(events)
    }
}
