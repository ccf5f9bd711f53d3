//! Instances: placed by the engine at creation, moved by migrations, released at deletion.

use std::collections::HashMap;

use placement::{InstanceSpec, NoHost, Placement};
use store::{Db, InstanceRow, NewInstance, Tx};

use crate::convert;
use crate::error::{Act, Error, Field, GroupRef, Problem, Result};
use crate::events;
use crate::fleets::{GroupsSnapshot, engine};
use crate::groups::{grant_creator, group_find, region_get};
use crate::model::*;
use crate::operations::{OperationRequest, operation_of_change, requested};
use crate::placing::{Attempt, Locks, PlacementChange, Want, check_room_counted, refusal};
use crate::{Berth, now};

/// The labels that are unique among an account's instances (`Db::label_lock`).
const INSTANCE_LABELS: &str = "instance";

impl Berth {
    pub async fn instance_create(&self, principal: &Principal, create: InstanceCreate) -> Result<InstanceView> {
        Ok(self.instance_create_recorded(principal, create, None).await?.0)
    }

    /// Creates an instance and records `operation` about it in the same transaction.
    pub async fn instance_create_with_operation(
        &self,
        principal: &Principal,
        create: InstanceCreate,
        operation: OperationRequest,
    ) -> Result<(InstanceView, Operation)> {
        let (view, operation) = self.instance_create_recorded(principal, create, Some(operation)).await?;
        Ok((view, requested(operation)?))
    }

    async fn instance_create_recorded(
        &self,
        principal: &Principal,
        create: InstanceCreate,
        operation: Option<OperationRequest>,
    ) -> Result<(InstanceView, Option<Operation>)> {
        principal.require(Right::CreateInstances, Act::CreateInstance)?;
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let region = region_get(&mut db, &create.region).await?;
        let mut groups = Vec::with_capacity(create.groups.len());
        for choice in &create.groups {
            let group = chosen_group(&mut db, principal, choice).await?;
            if groups.iter().any(|g: &Group| g.id == group.id) {
                return Err(Error::invalid(Field::Group, Problem::Repeated(choice.group.to_string())));
            }
            if let Scope::Region(group_region) = &group.scope
                && group_region != &region.id
            {
                return Err(Error::invalid(
                    Field::Group,
                    Problem::GroupElsewhere {
                        group: GroupRef::of(&group),
                        group_region: group_region.clone(),
                        region: region.id.clone(),
                    },
                ));
            }
            groups.push(group);
        }
        if groups.iter().filter(|g| matches!(g.scope, Scope::Region(_))).count() > 1 {
            return Err(Error::invalid(Field::Group, Problem::OneRegionalGroup));
        }
        if let Some(firewall) = create.firewall
            && db.tenant(principal.account.0).firewall_get(firewall.0).await?.is_none()
        {
            return Err(Error::invalid(Field::Firewall, Problem::Unknown(firewall.0.to_string())));
        }
        drop(conn);
        let compliant_only = create.groups.iter().any(|c| c.compliant_only);
        let want =
            Want { region: &region.id, size: create.size, groups: &groups, moving: None, avoid: &[], compliant_only };
        let label_lock = create.unique_label.then_some((INSTANCE_LABELS, principal.account, create.label.as_str()));
        let locks = Locks { label: label_lock, ..Locks::default() };
        let change = Create { principal, want: &want, create: &create, operation };
        self.place(&want, locks, &[&region.id], change).await
    }

    /// Writes a new instance on the host chosen and reserved for it, in its groups, with its
    /// events, and returns its view. `checked` is the snapshot of the groups that re-validated
    /// the host (their members and hosts as locked, before this change): the member limits and
    /// the groups' compliance before and after are judged on it, not read again.
    async fn create_in(
        &self,
        tx: &mut Tx,
        principal: &Principal,
        want: &Want<'_>,
        new: &NewInstance,
        unique_label: bool,
        mut checked: GroupsSnapshot,
    ) -> Result<InstanceView> {
        let mut db = tx.db();
        if unique_label && db.tenant(principal.account.0).instance_label_taken(&new.label, None).await? {
            return Err(Error::invalid(Field::Label, Problem::Taken(Thing::Instance)));
        }
        let mut groups = Vec::with_capacity(want.groups.len());
        for group in want.groups {
            let Some(row) = db.tenant(principal.account.0).group_get(group.id.0).await? else {
                return Err(Error::invalid(Field::Group, Problem::Unknown(group.id.to_string())));
            };
            check_room_counted(&mut db, group, checked.member_count(group.id), 1).await?;
            groups.push(convert::group(row)?);
        }
        let before = events::fleet_compliance(&checked.fleet, want.groups)?;
        let row = db.instance_insert(new, now().0).await?;
        for group in want.groups {
            db.tenant(principal.account.0).member_insert(group.id.0, row.id).await?;
        }
        let instance = convert::instance(row)?;
        grant_creator(&mut db, principal, EntityKind::Instance, instance.id.0).await?;
        let subject = events::instance_entity(&instance);
        let (action, status) = (Action::InstanceCreate, EventStatus::Finished);
        events::record(&mut db, principal.account, Some(principal), action, status, &subject, None).await?;
        for group in want.groups {
            let entity = events::group_entity(group);
            events::record(
                &mut db,
                principal.account,
                Some(principal),
                Action::GroupAssign,
                EventStatus::Finished,
                &entity,
                Some(&subject),
            )
            .await?;
        }
        // The groups after the change: the snapshot with the new member joined last, as the
        // store now has it.
        checked
            .fleet
            .instance_add(InstanceSpec { id: instance.id, size: instance.size, host: instance.host, target: None })
            .map_err(engine)?;
        for group in want.groups {
            checked.fleet.member_add(group.id, instance.id).map_err(engine)?;
        }
        let after = events::fleet_compliance(&checked.fleet, want.groups)?;
        events::compliance_changes_known(&mut db, Some(principal), want.groups, &before, &after, Some(&subject))
            .await?;
        // The view, from what the change wrote: its groups in join order, no migration, the
        // host it was placed on.
        let host_uuid =
            instance.host.and_then(|host| checked.hosts.iter().find(|h| h.id == host.0)).map(|h| h.uuid.clone());
        Ok(InstanceView { instance, groups, migration: None, host_uuid })
    }

    pub async fn instance_get(&self, principal: &Principal, id: InstanceId) -> Result<InstanceView> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let instance = instance_get(&mut db, principal, id).await?;
        Ok(instance_views(&mut db, vec![instance]).await?.remove(0))
    }

    /// An instance by its UUID.
    pub async fn instance_get_by_uuid(&self, principal: &Principal, uuid: &str) -> Result<InstanceView> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let instance = match db.tenant(principal.account.0).instance_get_by_uuid(uuid).await? {
            Some(row) => convert::instance(row)?,
            None => return Err(Error::not_found(Thing::Instance)),
        };
        principal.require_visible(EntityKind::Instance, instance.id.0, Thing::Instance)?;
        Ok(instance_views(&mut db, vec![instance]).await?.remove(0))
    }

    /// Any account's instance, by integer id or UUID, with the hosts it stands on: for the
    /// operator.
    pub async fn operator_instance(&self, id: &str) -> Result<(InstanceView, Vec<Host>)> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let row = db
            .system()
            .instance_find(id.parse().ok(), Some(id))
            .await?
            .ok_or_else(|| Error::not_found(Thing::Instance))?;
        let instance = convert::instance(row)?;
        let host_ids: Vec<i64> = instance.host.into_iter().chain(instance.target_host).map(|h| h.0).collect();
        let hosts = db.hosts_by_id(&host_ids).await?.iter().map(convert::host).collect::<Result<Vec<_>>>()?;
        Ok((instance_views(&mut db, vec![instance]).await?.remove(0), hosts))
    }

    /// One window of the caller's instances, by id, with how many it has: the views built are
    /// those of the window alone. A restricted caller's instances are those its grants name,
    /// read by id: the work is bounded by its grants, not by the account.
    pub async fn instance_page(&self, principal: &Principal, window: Window) -> Result<Paged<InstanceView>> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let paged = if principal.restricted {
            let granted = principal.granted(EntityKind::Instance);
            let visible: Vec<InstanceRow> = db
                .system()
                .instances_by_id(&granted)
                .await?
                .into_iter()
                .filter(|row| row.account_id == principal.account.0)
                .collect();
            window.of(visible)
        } else {
            let (offset, limit) = window.bounds();
            let total = db.tenant(principal.account.0).instance_count().await?;
            let items = db.tenant(principal.account.0).instances_page(offset, limit).await?;
            Paged { items, total: u64::try_from(total).unwrap_or(0) }
        };
        let instances = paged.items.into_iter().map(convert::instance).collect::<Result<Vec<_>>>()?;
        Ok(Paged { items: instance_views(&mut db, instances).await?, total: paged.total })
    }

    /// The caller's instances that `selection` selects, by id, with their views: the views
    /// built are those of the instances selected.
    pub async fn instances_selected(
        &self,
        principal: &Principal,
        selection: &InstanceSelection,
    ) -> Result<Vec<InstanceView>> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let instances = db
            .tenant(principal.account.0)
            .instances_matching(selection.id.map(|i| i.0), selection.label.as_deref(), selection.region.as_deref())
            .await?
            .into_iter()
            .filter(|row| principal.can_see(EntityKind::Instance, row.id))
            .map(convert::instance)
            .collect::<Result<Vec<_>>>()?;
        instance_views(&mut db, instances).await
    }

    pub async fn instance_list(&self, principal: &Principal) -> Result<Vec<InstanceView>> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let instances = db
            .tenant(principal.account.0)
            .instances_of_account()
            .await?
            .into_iter()
            .filter(|row| principal.can_see(EntityKind::Instance, row.id))
            .map(convert::instance)
            .collect::<Result<Vec<_>>>()?;
        instance_views(&mut db, instances).await
    }

    pub async fn instance_update(
        &self,
        principal: &Principal,
        id: InstanceId,
        update: InstanceUpdate,
    ) -> Result<InstanceView> {
        Ok(self.instance_update_recorded(principal, id, update, None).await?.0)
    }

    /// Updates an instance and records `operation` about it in the same transaction.
    pub async fn instance_update_with_operation(
        &self,
        principal: &Principal,
        id: InstanceId,
        update: InstanceUpdate,
        operation: OperationRequest,
    ) -> Result<(InstanceView, Operation)> {
        let (view, operation) = self.instance_update_recorded(principal, id, update, Some(operation)).await?;
        Ok((view, requested(operation)?))
    }

    async fn instance_update_recorded(
        &self,
        principal: &Principal,
        id: InstanceId,
        update: InstanceUpdate,
        operation: Option<OperationRequest>,
    ) -> Result<(InstanceView, Option<Operation>)> {
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        if let Some(label) = &update.label
            && update.unique_label
        {
            db.label_lock(INSTANCE_LABELS, principal.account.0, label.as_str()).await?;
        }
        let instance = instance_get(&mut db, principal, id).await?;
        principal.require_change(EntityKind::Instance, id.0, Thing::Instance)?;
        if let Some(label) = &update.label
            && update.unique_label
            && db.tenant(principal.account.0).instance_label_taken(label.as_str(), Some(id.0)).await?
        {
            return Err(Error::invalid(Field::Label, Problem::Taken(Thing::Instance)));
        }
        let label = update.label.unwrap_or(instance.label);
        let tags = update.tags.unwrap_or(instance.tags);
        let labels = update.labels.unwrap_or(instance.labels);
        db.tenant(principal.account.0)
            .instance_update(
                id.0,
                label.as_str(),
                &convert::tags_to_store(&tags),
                &convert::labels_to_store(&labels),
                now().0,
            )
            .await?;
        let instance = instance_get(&mut db, principal, id).await?;
        events::record(
            &mut db,
            principal.account,
            Some(principal),
            Action::InstanceUpdate,
            EventStatus::Finished,
            &events::instance_entity(&instance),
            None,
        )
        .await?;
        let view = instance_views(&mut db, vec![instance]).await?.remove(0);
        let operation = operation_of_change(&mut db, principal.account, operation, &view.instance.uuid).await?;
        tx.commit().await?;
        Ok((view, operation))
    }

    /// Deletes an instance: its hosts' capacity is released, it leaves every group, and a
    /// migration in flight is cancelled.
    pub async fn instance_delete(&self, principal: &Principal, id: InstanceId) -> Result<()> {
        self.instance_delete_recorded(principal, id, None).await.map(drop)
    }

    /// Deletes an instance and records `operation` about it in the same transaction.
    pub async fn instance_delete_with_operation(
        &self,
        principal: &Principal,
        id: InstanceId,
        operation: OperationRequest,
    ) -> Result<Operation> {
        requested(self.instance_delete_recorded(principal, id, Some(operation)).await?)
    }

    async fn instance_delete_recorded(
        &self,
        principal: &Principal,
        id: InstanceId,
        operation: Option<OperationRequest>,
    ) -> Result<Option<Operation>> {
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        // A migration that completes or rolls back at the same time locks the instance too:
        // whichever comes second sees what the first did.
        db.instances_lock(&[id.0]).await?;
        let instance = instance_get(&mut db, principal, id).await?;
        principal.require_change(EntityKind::Instance, id.0, Thing::Instance)?;
        let groups = instance_views(&mut db, vec![instance.clone()]).await?.remove(0).groups;
        let before = events::compliance(&mut db, &groups).await?;
        let size = convert::size(instance.size);
        let mut regions = vec![instance.region.clone()];
        for migration in db.system().migrations_running_for_instances(&[id.0]).await? {
            db.system().migration_finish(migration.id, MigrationState::Cancelled.as_str(), now().0).await?;
            let migration = convert::migration(migration)?;
            regions.push(migration.target_region);
        }
        for host in instance.host.into_iter().chain(instance.target_host) {
            db.host_release(host.0, size).await?;
        }
        db.tenant(principal.account.0).instance_delete(id.0).await?;
        db.tenant(principal.account.0).entity_grants_delete(EntityKind::Instance.as_str(), id.0).await?;
        let subject = events::instance_entity(&instance);
        for group in &groups {
            let entity = events::group_entity(group);
            events::record(
                &mut db,
                principal.account,
                Some(principal),
                Action::GroupUnassign,
                EventStatus::Finished,
                &entity,
                Some(&subject),
            )
            .await?;
        }
        let (action, status) = (Action::InstanceDelete, EventStatus::Finished);
        events::record(&mut db, principal.account, Some(principal), action, status, &subject, None).await?;
        events::compliance_changes(&mut db, Some(principal), &groups, &before, Some(&subject)).await?;
        let operation = operation_of_change(&mut db, principal.account, operation, &instance.uuid).await?;
        regions.dedup();
        for region in &regions {
            self.fleets.apply(region, |fleet| fleet.instance_remove(id));
        }
        self.commit(tx, &regions.iter().collect::<Vec<_>>()).await?;
        Ok(operation)
    }
}

/// The group a request names in its body: an unknown one is an invalid value of the field.
pub(crate) async fn chosen_group(db: &mut Db<'_>, principal: &Principal, choice: &GroupChoice) -> Result<Group> {
    group_find(db, principal, &choice.group).await.map_err(|error| match error {
        Error::NotFound(_) => Error::invalid(Field::Group, Problem::Unknown(choice.group.to_string())),
        other => other,
    })
}

/// An instance of the caller's account that it may see.
pub(crate) async fn instance_get(db: &mut Db<'_>, principal: &Principal, id: InstanceId) -> Result<Instance> {
    principal.require_visible(EntityKind::Instance, id.0, Thing::Instance)?;
    match db.tenant(principal.account.0).instance_get(id.0).await? {
        Some(row) => convert::instance(row),
        None => Err(Error::not_found(Thing::Instance)),
    }
}

/// Instances with their groups, host and migration in flight.
pub(crate) async fn instance_views(db: &mut Db<'_>, instances: Vec<Instance>) -> Result<Vec<InstanceView>> {
    let ids: Vec<i64> = instances.iter().map(|i| i.id.0).collect();
    let memberships = db.system().memberships_of_instances(&ids).await?;
    let mut group_ids: Vec<i64> = memberships.iter().map(|m| m.group_id).collect();
    group_ids.sort_unstable();
    group_ids.dedup();
    let groups: HashMap<i64, Group> = db
        .system()
        .groups_by_id(&group_ids)
        .await?
        .into_iter()
        .map(|row| Ok((row.id, convert::group(row)?)))
        .collect::<Result<_>>()?;
    let mut migrations: HashMap<i64, Migration> = HashMap::new();
    for row in db.system().migrations_running_for_instances(&ids).await? {
        migrations.insert(row.instance_id, convert::migration(row)?);
    }
    let host_ids: Vec<i64> = instances.iter().filter_map(|i| i.host.map(|h| h.0)).collect();
    let hosts: HashMap<i64, String> = db.hosts_by_id(&host_ids).await?.into_iter().map(|h| (h.id, h.uuid)).collect();
    // Each instance's groups in join order (the memberships come in join order).
    let mut joined: HashMap<i64, Vec<i64>> = HashMap::new();
    for membership in &memberships {
        joined.entry(membership.instance_id).or_default().push(membership.group_id);
    }
    Ok(instances
        .into_iter()
        .map(|instance| {
            let groups = joined
                .get(&instance.id.0)
                .into_iter()
                .flatten()
                .filter_map(|group| groups.get(group).cloned())
                .collect();
            InstanceView {
                host_uuid: instance.host.and_then(|h| hosts.get(&h.0).cloned()),
                migration: migrations.remove(&instance.id.0),
                groups,
                instance,
            }
        })
        .collect())
}

/// The writes of an instance create, once its host is chosen and reserved.
struct Create<'a> {
    principal: &'a Principal,
    want: &'a Want<'a>,
    create: &'a InstanceCreate,
    operation: Option<OperationRequest>,
}

impl PlacementChange for Create<'_> {
    type Output = (InstanceView, Option<Operation>);

    async fn write(
        &mut self,
        berth: &Berth,
        tx: &mut Tx,
        chosen: std::result::Result<(Placement, GroupsSnapshot), NoHost>,
    ) -> Result<Attempt<Self::Output>> {
        let (placement, checked) = chosen.map_err(|no_host| refusal(self.want, no_host))?;
        let new = NewInstance {
            uuid: uuid::Uuid::new_v4().to_string(),
            account_id: self.principal.account.0,
            label: self.create.label.as_str().to_string(),
            region_id: self.want.region.as_str().to_string(),
            type_id: self.create.type_id.clone(),
            size: convert::size(self.want.size),
            host_id: placement.host.0,
            state: self.create.state.as_str().to_string(),
            image: self.create.image.clone(),
            tags: convert::tags_to_store(&self.create.tags),
            firewall_id: self.create.firewall.map(|f| f.0),
            labels: convert::labels_to_store(&self.create.labels),
        };
        let view = berth.create_in(tx, self.principal, self.want, &new, self.create.unique_label, checked).await?;
        // The last write of the change: the cache learns of it only once nothing else
        // can fail before the commit.
        let operation =
            operation_of_change(&mut tx.db(), self.principal.account, self.operation, &view.instance.uuid).await?;
        berth.fleets.apply(self.want.region, |fleet| {
            fleet.instance_add(InstanceSpec {
                id: view.instance.id,
                size: view.instance.size,
                host: Some(placement.host),
                target: None,
            })?;
            for group in &view.groups {
                fleet.member_add(group.id, view.instance.id)?;
            }
            Ok(())
        });
        Ok(Attempt::Done((view, operation)))
    }
}
