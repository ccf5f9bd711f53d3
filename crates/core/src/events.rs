//! The audit trail: every change records an event, in the transaction that makes it.

use std::collections::HashMap;

use store::{Db, EventRow, NewEvent};

use crate::error::Result;
use crate::fleets::groups_fleet;
use crate::model::*;
use crate::{Berth, now};

/// The subject of an event.
pub(crate) fn group_entity(group: &Group) -> EventEntity {
    EventEntity {
        kind: match group.scope {
            Scope::Region(_) => "placement_group".to_string(),
            Scope::Global => "anti_affinity_group".to_string(),
        },
        id: group.id.0,
        uuid: group.uuid.clone(),
        label: group.label.to_string(),
    }
}

pub(crate) fn instance_entity(instance: &Instance) -> EventEntity {
    EventEntity {
        kind: "linode".to_string(),
        id: instance.id.0,
        uuid: instance.uuid.clone(),
        label: instance.label.to_string(),
    }
}

pub(crate) fn firewall_entity(firewall: &Firewall) -> EventEntity {
    EventEntity {
        kind: "firewall".to_string(),
        id: firewall.id.0,
        uuid: String::new(),
        label: firewall.label.to_string(),
    }
}

/// Records an event of `account`, done by `by` (or by berth itself when `None`).
pub(crate) async fn record(
    db: &mut Db<'_>,
    account: AccountId,
    by: Option<&Principal>,
    action: &str,
    status: &str,
    entity: &EventEntity,
    secondary: Option<&EventEntity>,
) -> Result<()> {
    let event = NewEvent {
        account_id: account.0,
        username: by.map(|p| p.username.clone()),
        action: action.to_string(),
        status: status.to_string(),
        entity_type: entity.kind.clone(),
        entity_id: entity.id,
        entity_uuid: entity.uuid.clone(),
        entity_label: entity.label.clone(),
        secondary_type: secondary.map(|s| s.kind.clone()),
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
    let mut compliant = HashMap::new();
    for group in groups {
        let verdict = fleet.group_compliance(group.id).map_err(crate::fleets::engine)?;
        compliant.insert(group.id, verdict.is_compliant());
    }
    Ok(compliant)
}

/// Records `placement_group_became_compliant` or `_non_compliant` for every group whose
/// compliance differs from `before`; `cause` is the instance whose change made the difference.
pub(crate) async fn compliance_changes(
    db: &mut Db<'_>,
    by: Option<&Principal>,
    groups: &[Group],
    before: &HashMap<GroupId, bool>,
    cause: Option<&EventEntity>,
) -> Result<()> {
    let after = compliance(db, groups).await?;
    for group in groups {
        let (Some(was), Some(is)) = (before.get(&group.id), after.get(&group.id)) else { continue };
        if was != is {
            let action = if *is { "placement_group_became_compliant" } else { "placement_group_became_non_compliant" };
            record(db, group.account, by, action, "notification", &group_entity(group), cause).await?;
        }
    }
    Ok(())
}

fn event(row: EventRow) -> Event {
    Event {
        id: row.id,
        action: row.action,
        status: row.status,
        username: row.username,
        entity: EventEntity {
            kind: row.entity_type,
            id: row.entity_id,
            uuid: row.entity_uuid,
            label: row.entity_label,
        },
        secondary: match (row.secondary_type, row.secondary_id) {
            (Some(kind), Some(id)) => {
                Some(EventEntity { kind, id, uuid: String::new(), label: row.secondary_label.unwrap_or_default() })
            }
            _ => None,
        },
        message: row.message,
        created_at: Timestamp(row.created_at),
    }
}

impl Berth {
    /// The caller's account's events, newest first; a restricted user sees those about
    /// resources it may see.
    pub async fn events(&self, principal: &Principal) -> Result<Vec<Event>> {
        let rows = self.store.read().await?.db().tenant(principal.account.0).events_of_account().await?;
        Ok(rows
            .into_iter()
            .map(event)
            .filter(|event| {
                let kind = match event.entity.kind.as_str() {
                    "linode" => EntityKind::Linode,
                    "placement_group" | "anti_affinity_group" => EntityKind::PlacementGroup,
                    "firewall" => EntityKind::Firewall,
                    _ => return !principal.restricted,
                };
                principal.can_see(kind, event.entity.id)
            })
            .collect())
    }
}
