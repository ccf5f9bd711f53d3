//! Placement groups: create, read, relabel, delete, and the assignment of running instances.

use std::collections::HashMap;

use placement::JoinAssessment;
use store::{Db, GroupRow, NewGroup};

use crate::convert;
use crate::error::{Act, Conflict, Error, Field, GroupRef, Limit, Problem, Refusal, Result};
use crate::events;
use crate::fleets::{engine, group_spec, groups_fleet};
use crate::model::*;
use crate::operations::{OperationRequest, operation_of_change, requested};
use crate::{Berth, now};

impl Berth {
    pub async fn group_create(&self, principal: &Principal, create: GroupCreate) -> Result<GroupView> {
        Ok(self.group_create_recorded(principal, create, None).await?.0)
    }

    /// Creates a group and records `operation` about it in the same transaction.
    pub async fn group_create_with_operation(
        &self,
        principal: &Principal,
        create: GroupCreate,
        operation: OperationRequest,
    ) -> Result<(GroupView, Operation)> {
        let (view, operation) = self.group_create_recorded(principal, create, Some(operation)).await?;
        Ok((view, requested(operation)?))
    }

    async fn group_create_recorded(
        &self,
        principal: &Principal,
        create: GroupCreate,
        operation: Option<OperationRequest>,
    ) -> Result<(GroupView, Option<Operation>)> {
        if create.max_per_domain == 0 {
            return Err(Error::invalid(Field::MaxPerDomain, Problem::TooSmall { min: 1 }));
        }
        principal.require(Right::CreateInstances, Act::CreateGroup)?;
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        // Labels are unique, and groups counted, across the account.
        db.account_lock(principal.account.0).await?;
        let region_id = match &create.scope {
            Scope::Region(region) => {
                let region = region_get(&mut db, region).await?;
                if db.tenant(principal.account.0).group_label_taken(create.label.as_str(), None).await? {
                    return Err(Error::invalid(Field::Label, Problem::Taken(Thing::Group)));
                }
                if let Some(limit) = region.max_groups_per_account {
                    let count = db.tenant(principal.account.0).group_count(region.id.as_str()).await?;
                    if count >= i64::from(limit) {
                        return Err(Error::Limit {
                            field: Some(Field::Region),
                            limit: Limit::GroupsPerRegion { region: region.id.clone(), limit },
                        });
                    }
                }
                Some(region.id.as_str().to_string())
            }
            Scope::Global => None,
        };
        let row = db
            .group_insert(
                &NewGroup {
                    uuid: uuid::Uuid::new_v4().to_string(),
                    account_id: principal.account.0,
                    label: create.label.as_str().to_string(),
                    description: create.description,
                    region_id,
                    kind: convert::kind_str(create.kind).to_string(),
                    policy: convert::policy_str(create.policy).to_string(),
                    domain: create.domain.as_str().to_string(),
                    max_per_domain: i64::from(create.max_per_domain),
                    max_members: create.max_members.map(i64::from),
                },
                now().0,
            )
            .await?;
        let group = convert::group(row)?;
        grant_creator(&mut db, principal, EntityKind::Group, group.id.0).await?;
        events::record(
            &mut db,
            principal.account,
            Some(principal),
            Action::GroupCreate,
            EventStatus::Finished,
            &events::group_entity(&group),
            None,
        )
        .await?;
        let view = group_views(&mut db, vec![group]).await?.remove(0);
        let operation = operation_of_change(&mut db, principal.account, operation, &view.group.uuid).await?;
        tx.commit().await?;
        Ok((view, operation))
    }

    /// Every group of the caller's account that it may see, oldest first.
    /// One window of the caller's regional groups, by id, with how many it has: the views
    /// built are those of the window alone.
    pub async fn regional_group_page(&self, principal: &Principal, window: Window) -> Result<Paged<GroupView>> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let paged = if principal.restricted {
            // Read by id: bounded by the caller's grants, not by the account.
            let granted = principal.granted(EntityKind::Group);
            let visible: Vec<GroupRow> = db
                .system()
                .groups_by_id(&granted)
                .await?
                .into_iter()
                .filter(|row| row.account_id == principal.account.0 && row.region_id.is_some())
                .collect();
            window.of(visible)
        } else {
            let (offset, limit) = window.bounds();
            let total = db.tenant(principal.account.0).regional_group_count().await?;
            let items = db.tenant(principal.account.0).regional_groups_page(offset, limit).await?;
            Paged { items, total: u64::try_from(total).unwrap_or(0) }
        };
        let groups = paged.items.into_iter().map(convert::group).collect::<Result<Vec<_>>>()?;
        Ok(Paged { items: group_views(&mut db, groups).await?, total: paged.total })
    }

    pub async fn group_list(&self, principal: &Principal) -> Result<Vec<GroupView>> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let groups = db
            .tenant(principal.account.0)
            .groups_of_account()
            .await?
            .into_iter()
            .map(convert::group)
            .filter(|group| group.as_ref().map_or(true, |g| principal.can_see(EntityKind::Group, g.id.0)))
            .collect::<Result<Vec<_>>>()?;
        group_views(&mut db, groups).await
    }

    /// The group `key` names, with its members and compliance.
    pub async fn group_get(&self, principal: &Principal, key: &GroupKey) -> Result<GroupView> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let group = group_find(&mut db, principal, key).await?;
        Ok(group_views(&mut db, vec![group]).await?.remove(0))
    }

    pub async fn group_update_label(&self, principal: &Principal, key: &GroupKey, label: Label) -> Result<GroupView> {
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        db.account_lock(principal.account.0).await?;
        let group = group_find(&mut db, principal, key).await?;
        let id = group.id;
        principal.require_change(EntityKind::Group, id.0, key.thing())?;
        if matches!(group.scope, Scope::Region(_))
            && db.tenant(principal.account.0).group_label_taken(label.as_str(), Some(id.0)).await?
        {
            return Err(Error::invalid(Field::Label, Problem::Taken(Thing::Group)));
        }
        db.tenant(principal.account.0).group_update_label(id.0, label.as_str(), now().0).await?;
        let group = group_get(&mut db, principal, id).await?;
        events::record(
            &mut db,
            principal.account,
            Some(principal),
            Action::GroupUpdate,
            EventStatus::Finished,
            &events::group_entity(&group),
            None,
        )
        .await?;
        let view = group_views(&mut db, vec![group]).await?.remove(0);
        tx.commit().await?;
        Ok(view)
    }

    /// Deletes a group with no members. A group with members must be emptied first, and its
    /// migrations finished.
    pub async fn group_delete(&self, principal: &Principal, key: &GroupKey) -> Result<()> {
        self.group_delete_recorded(principal, key, None).await.map(drop)
    }

    /// Deletes a group and records `operation` about it in the same transaction.
    pub async fn group_delete_with_operation(
        &self,
        principal: &Principal,
        key: &GroupKey,
        operation: OperationRequest,
    ) -> Result<Operation> {
        requested(self.group_delete_recorded(principal, key, Some(operation)).await?)
    }

    async fn group_delete_recorded(
        &self,
        principal: &Principal,
        key: &GroupKey,
        operation: Option<OperationRequest>,
    ) -> Result<Option<Operation>> {
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        let id = key.id(&mut db, principal).await?;
        db.groups_lock(&[id.0]).await?;
        let group = group_named(&mut db, principal, key, id).await?;
        principal.require_change(EntityKind::Group, id.0, key.thing())?;
        let view = group_views(&mut db, vec![group]).await?.remove(0);
        if !view.members.is_empty() {
            let group = GroupRef::of(&view.group);
            return Err(Error::conflict(Conflict::GroupNotEmpty { group, members: view.members.len() }));
        }
        if !view.is_compliant {
            return Err(Error::conflict(Conflict::GroupNotCompliant(GroupRef::of(&view.group))));
        }
        db.tenant(principal.account.0).group_delete(id.0).await?;
        db.tenant(principal.account.0).entity_grants_delete(EntityKind::Group.as_str(), id.0).await?;
        events::record(
            &mut db,
            principal.account,
            Some(principal),
            Action::GroupDelete,
            EventStatus::Finished,
            &events::group_entity(&view.group),
            None,
        )
        .await?;
        let operation = operation_of_change(&mut db, principal.account, operation, &view.group.uuid).await?;
        match &view.group.scope {
            Scope::Region(region) => {
                self.fleets
                    .apply(region, |fleet| if fleet.group(id).is_some() { fleet.group_remove(id) } else { Ok(()) });
                self.commit(tx, &[region]).await?;
            }
            Scope::Global => tx.commit().await?,
        }
        Ok(operation)
    }

    /// Puts running instances into a group where they stand, all or none.
    ///
    /// A strict group (or any group when `compliant_only` is set) refuses an instance that would
    /// be non-compliant; a flexible one takes it and becomes non-compliant.
    pub async fn group_assign(
        &self,
        principal: &Principal,
        key: &GroupKey,
        instances: &[InstanceId],
        compliant_only: bool,
    ) -> Result<GroupView> {
        if instances.is_empty() {
            return Err(Error::invalid(Field::Instances, Problem::Empty));
        }
        if let Some(repeated) = instances.iter().enumerate().find(|(i, a)| instances[..*i].contains(a)) {
            return Err(Error::invalid(Field::Instances, Problem::Repeated(repeated.1.to_string())));
        }
        let ids: Vec<i64> = instances.iter().map(|i| i.0).collect();
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        let id = key.id(&mut db, principal).await?;
        lock_group_and_instances(&mut db, id, instances).await?;
        let group = group_named(&mut db, principal, key, id).await?;
        principal.require(Right::CreateInstances, Act::AssignInstances)?;
        let rows = instances_of(&mut db, principal, instances).await?;
        let before = events::compliance(&mut db, std::slice::from_ref(&group)).await?;
        let memberships = db.system().memberships_of_instances(&ids).await?;
        let migrating = db.system().migrations_running_for_instances(&ids).await?;
        let mut other_groups: HashMap<i64, Vec<i64>> = HashMap::new();
        for membership in &memberships {
            other_groups.entry(membership.instance_id).or_default().push(membership.group_id);
        }
        let regional_groups: Vec<i64> = {
            let ids: Vec<i64> = memberships.iter().map(|m| m.group_id).collect();
            db.system().groups_by_id(&ids).await?.into_iter().filter(|g| g.region_id.is_some()).map(|g| g.id).collect()
        };
        for instance in &rows {
            let iid = instance.id;
            if let Scope::Region(region) = &group.scope
                && &instance.region != region
            {
                return Err(Error::invalid(
                    Field::Instances,
                    Problem::InstanceElsewhere {
                        instance: iid,
                        region: instance.region.clone(),
                        group: id,
                        group_region: region.clone(),
                    },
                ));
            }
            let current = other_groups.get(&iid.0).map(Vec::as_slice).unwrap_or_default();
            if current.contains(&id.0) {
                return Err(Error::invalid(Field::Instances, Problem::AlreadyMember { instance: iid, group: id }));
            }
            if let Some(other) = current.iter().find(|g| regional_groups.contains(g))
                && matches!(group.scope, Scope::Region(_))
            {
                return Err(Error::invalid(
                    Field::Instances,
                    Problem::AlreadyMember { instance: iid, group: GroupId(*other) },
                ));
            }
            if migrating.iter().any(|m| m.instance_id == iid.0) {
                return Err(Error::conflict(Conflict::Busy(iid)).about(Field::Instances));
            }
        }
        let limit = member_limit(&mut db, &group).await?;
        let extra_hosts: Vec<HostId> = rows.iter().flat_map(|i| i.host.into_iter().chain(i.target_host)).collect();
        let (mut fleet, members) = groups_fleet(&mut db, std::slice::from_ref(&group), &extra_hosts).await?;
        if members.len() + instances.len() > limit as usize {
            return Err(Error::Limit {
                field: Some(Field::Instances),
                limit: Limit::MembersPerGroup { group: GroupRef::of(&group), limit, members: members.len() },
            });
        }
        for instance in &rows {
            fleet
                .instance_add(placement::InstanceSpec {
                    id: instance.id,
                    size: Resources::ZERO,
                    host: instance.host,
                    target: instance.target_host,
                })
                .map_err(engine)?;
            match fleet.assess_join(id, instance.id, compliant_only).map_err(engine)? {
                JoinAssessment::Refused(breach) => {
                    return Err(Error::Refused {
                        field: Some(Field::Instances),
                        refusal: Refusal::BreaksGroup {
                            instance: instance.id,
                            group: id,
                            strict: group.policy == Policy::Strict,
                            breach: breach.to_string(),
                        },
                    });
                }
                JoinAssessment::Compliant | JoinAssessment::NonCompliant(_) => {}
            }
            fleet.member_add(id, instance.id).map_err(engine)?;
            db.tenant(principal.account.0).member_insert(id.0, instance.id.0).await?;
            let subject = events::instance_entity(instance);
            events::record(
                &mut db,
                principal.account,
                Some(principal),
                Action::GroupAssign,
                EventStatus::Finished,
                &events::group_entity(&group),
                Some(&subject),
            )
            .await?;
        }
        let cause = (rows.len() == 1).then(|| events::instance_entity(&rows[0]));
        events::compliance_changes(&mut db, Some(principal), std::slice::from_ref(&group), &before, cause.as_ref())
            .await?;
        let view = group_views(&mut db, vec![group]).await?.remove(0);
        for instance in &rows {
            self.fleets.apply(&instance.region, |fleet| {
                if fleet.group(id).is_none() {
                    fleet.group_add(group_spec(&view.group))?;
                }
                fleet.member_add(id, instance.id)
            });
        }
        self.commit(tx, &rows.iter().map(|i| &i.region).collect::<Vec<_>>()).await?;
        Ok(view)
    }

    /// Takes instances out of a group; they stay where they run.
    pub async fn group_unassign(
        &self,
        principal: &Principal,
        key: &GroupKey,
        instances: &[InstanceId],
    ) -> Result<GroupView> {
        if instances.is_empty() {
            return Err(Error::invalid(Field::Instances, Problem::Empty));
        }
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        let id = key.id(&mut db, principal).await?;
        lock_group_and_instances(&mut db, id, instances).await?;
        let group = group_named(&mut db, principal, key, id).await?;
        principal.require(Right::CreateInstances, Act::UnassignInstances)?;
        let rows = instances_of(&mut db, principal, instances).await?;
        let before = events::compliance(&mut db, std::slice::from_ref(&group)).await?;
        let members = db.system().members_of_groups(&[id.0]).await?;
        let migrating =
            db.system().migrations_running_for_instances(&instances.iter().map(|i| i.0).collect::<Vec<_>>()).await?;
        for instance in &rows {
            if !members.iter().any(|m| m.instance_id == instance.id.0) {
                return Err(Error::invalid(Field::Instances, Problem::NotMember { instance: instance.id, group: id }));
            }
            if migrating.iter().any(|m| m.instance_id == instance.id.0) {
                return Err(Error::conflict(Conflict::Busy(instance.id)).about(Field::Instances));
            }
        }
        for instance in &rows {
            db.tenant(principal.account.0).member_delete(id.0, instance.id.0).await?;
            let subject = events::instance_entity(instance);
            events::record(
                &mut db,
                principal.account,
                Some(principal),
                Action::GroupUnassign,
                EventStatus::Finished,
                &events::group_entity(&group),
                Some(&subject),
            )
            .await?;
        }
        let cause = (rows.len() == 1).then(|| events::instance_entity(&rows[0]));
        events::compliance_changes(&mut db, Some(principal), std::slice::from_ref(&group), &before, cause.as_ref())
            .await?;
        let view = group_views(&mut db, vec![group]).await?.remove(0);
        for instance in &rows {
            self.fleets.apply(&instance.region, |fleet| fleet.member_remove(id, instance.id));
        }
        self.commit(tx, &rows.iter().map(|i| &i.region).collect::<Vec<_>>()).await?;
        Ok(view)
    }
}

pub(crate) async fn region_get(db: &mut Db<'_>, region: &RegionId) -> Result<Region> {
    match db.region_get(region.as_str()).await? {
        Some(row) => convert::region(row),
        None => Err(Error::invalid(Field::Region, Problem::Unknown(region.to_string()))),
    }
}

/// A group of the caller's account that it may see.
pub(crate) async fn group_get(db: &mut Db<'_>, principal: &Principal, id: GroupId) -> Result<Group> {
    principal.require_visible(EntityKind::Group, id.0, Thing::Group)?;
    match db.tenant(principal.account.0).group_get(id.0).await? {
        Some(row) => convert::group(row),
        None => Err(Error::not_found(Thing::Group)),
    }
}

impl GroupKey {
    /// The id of the group the key names: a UUID is looked up (a group's UUID never changes).
    pub(crate) async fn id(&self, db: &mut Db<'_>, principal: &Principal) -> Result<GroupId> {
        match self {
            GroupKey::Regional(id) => Ok(*id),
            GroupKey::Global(uuid) => match db.tenant(principal.account.0).group_get_by_uuid(uuid).await? {
                Some(row) => Ok(GroupId(row.id)),
                None => Err(self.not_found()),
            },
        }
    }

    fn names(&self, scope: &Scope) -> bool {
        matches!((self, scope), (GroupKey::Regional(_), Scope::Region(_)) | (GroupKey::Global(_), Scope::Global))
    }

    /// What the key names: a group of one region, or a global one.
    fn thing(&self) -> Thing {
        match self {
            GroupKey::Regional(_) => Thing::Group,
            GroupKey::Global(_) => Thing::GlobalGroup,
        }
    }

    fn not_found(&self) -> Error {
        Error::not_found(self.thing())
    }
}

/// The group `key` names, of the caller's account and visible to it; a group of the other
/// kind is not found.
pub(crate) async fn group_find(db: &mut Db<'_>, principal: &Principal, key: &GroupKey) -> Result<Group> {
    let id = key.id(db, principal).await?;
    group_named(db, principal, key, id).await
}

/// The group `key` names, once its id is known (a change resolves it before locking the row).
async fn group_named(db: &mut Db<'_>, principal: &Principal, key: &GroupKey, id: GroupId) -> Result<Group> {
    let group = group_get(db, principal, id).await.map_err(|error| match error {
        Error::NotFound(_) => key.not_found(),
        other => other,
    })?;
    if key.names(&group.scope) { Ok(group) } else { Err(key.not_found()) }
}

/// A restricted user that creates a resource may change it: it gets `read_write` on it.
pub(crate) async fn grant_creator(db: &mut Db<'_>, principal: &Principal, kind: EntityKind, id: i64) -> Result<()> {
    if principal.restricted {
        let grant = store::EntityGrantRow {
            entity_type: kind.as_str().to_string(),
            entity_id: id,
            permission: Permission::ReadWrite.as_str().to_string(),
        };
        db.tenant(principal.account.0).entity_grant_set(principal.user.0, &grant).await?;
    }
    Ok(())
}

/// The instances of the caller named in a request body, which it must be able to change: an
/// unknown one (or one it may not see) is a 400 naming it.
async fn instances_of(db: &mut Db<'_>, principal: &Principal, ids: &[InstanceId]) -> Result<Vec<Instance>> {
    let mut instances = Vec::with_capacity(ids.len());
    for id in ids {
        let row = match db.tenant(principal.account.0).instance_get(id.0).await? {
            Some(row) if principal.can_see(EntityKind::Instance, id.0) => row,
            _ => return Err(Error::invalid(Field::Instances, Problem::Unknown(id.to_string()))),
        };
        principal.require_change(EntityKind::Instance, id.0, Thing::Instance)?;
        instances.push(convert::instance(row)?);
    }
    Ok(instances)
}

/// The most members a group may hold: its own limit, or its region's.
pub(crate) async fn member_limit(db: &mut Db<'_>, group: &Group) -> Result<u32> {
    if let Some(limit) = group.max_members {
        return Ok(limit);
    }
    match &group.scope {
        Scope::Region(region) => Ok(region_get(db, region).await?.max_members_per_group),
        Scope::Global => Err(Error::Internal(format!("global group {} has no member limit", group.id))),
    }
}

/// Groups with their members' compliance and the migrations into and out of them.
pub(crate) async fn group_views(db: &mut Db<'_>, groups: Vec<Group>) -> Result<Vec<GroupView>> {
    let (fleet, rows) = groups_fleet(db, &groups, &[]).await?;
    let uuids: HashMap<i64, &str> = rows.iter().map(|m| (m.instance_id, m.instance_uuid.as_str())).collect();
    let ids: Vec<i64> = groups.iter().map(|g| g.id.0).collect();
    let migrations = db.system().migrations_running_for_groups(&ids).await?;
    let mut views = Vec::with_capacity(groups.len());
    for group in groups {
        let compliance = fleet.group_compliance(group.id).map_err(engine)?;
        let members = compliance
            .members
            .iter()
            .map(|m| Member {
                instance: m.instance,
                uuid: uuids.get(&m.instance.0).map(|u| u.to_string()).unwrap_or_default(),
                is_compliant: m.breach.is_none(),
                reason: m.breach.as_ref().map(|b| format!("member {} {b}", m.instance)),
            })
            .collect();
        let gid = group.id.0;
        // A move within the group (repair, drain) is both: the member leaves one host of the
        // group for another.
        let inbound =
            migrations.iter().filter(|m| m.target_group_id == Some(gid)).map(|m| InstanceId(m.instance_id)).collect();
        let outbound =
            migrations.iter().filter(|m| m.source_group_id == Some(gid)).map(|m| InstanceId(m.instance_id)).collect();
        views.push(GroupView { is_compliant: compliance.is_compliant(), group, members, inbound, outbound });
    }
    Ok(views)
}

/// Locks a group and then instances, in the order every change locks: what an assignment
/// checks (the group's members, the instances' other groups and migrations) stays as read
/// until it commits.
async fn lock_group_and_instances(db: &mut Db<'_>, group: GroupId, instances: &[InstanceId]) -> Result<()> {
    db.groups_lock(&[group.0]).await?;
    let mut ids: Vec<i64> = instances.iter().map(|i| i.0).collect();
    ids.sort_unstable();
    db.instances_lock(&ids).await?;
    Ok(())
}
