//! Instances: placed by the engine at creation, moved by migrations, released at deletion.

use std::collections::HashMap;

use placement::{ChooseError, InstanceSpec, NoHost, Placement, PlacementRequest};
use store::{Db, NewInstance, Tx};

use crate::catalog;
use crate::convert;
use crate::error::{Error, Result};
use crate::events;
use crate::fleets::{engine, ensure_groups, groups_fleet, lock};
use crate::groups::{grant_creator, member_limit, region_get};
use crate::migrations::Begin;
use crate::model::*;
use crate::operations::{OperationRequest, operation_of_change, requested};
use crate::{Berth, now};

/// The labels that are unique among an account's Linodes (`Db::label_lock`).
const LINODE_LABELS: &str = "linode";

/// How many times a change is re-planned when the fleet moved under it before giving up.
pub(crate) const PLACEMENT_ATTEMPTS: usize = 4;

/// The outcome of one attempt to commit a placement.
pub(crate) enum Attempt<T> {
    Done(T),
    /// The choice no longer holds (another change took the host or joined the group first).
    Stale,
}

/// What the engine is asked to place.
pub(crate) struct Want<'a> {
    pub(crate) region: &'a RegionId,
    pub(crate) size: Resources,
    pub(crate) groups: &'a [Group],
    pub(crate) moving: Option<InstanceId>,
    pub(crate) avoid: &'a [HostId],
    pub(crate) compliant_only: bool,
}

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
        principal.require_grant("add_linodes", "create Linodes")?;
        let (mut size, disk_included) = catalog::type_size(&create.type_id)
            .ok_or_else(|| Error::invalid("type", "A valid plan type by that ID was not found"))?;
        match (disk_included, create.disk_gib) {
            (_, Some(disk)) => size.disk_mib = disk.saturating_mul(1024),
            (true, None) => {}
            (false, None) => return Err(Error::invalid("disk-size", "this instance type needs a disk size")),
        }
        if let Some(image) = &create.image
            && !catalog::bootable(image)
        {
            return Err(Error::invalid("image", format!("Image {image} not found")));
        }
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let region = region_get(&mut db, &create.region).await?;
        let mut groups = Vec::with_capacity(create.groups.len());
        for choice in &create.groups {
            let group = chosen_group(&mut db, principal, choice).await?;
            if let Scope::Region(group_region) = &group.scope
                && group_region != &region.id
            {
                return Err(Error::invalid(
                    "placement_group.id",
                    format!(
                        "Placement group {} is in region {group_region}; the Linode must be in the same region",
                        group.id
                    ),
                ));
            }
            groups.push(group);
        }
        if groups.iter().filter(|g| matches!(g.scope, Scope::Region(_))).count() > 1 {
            return Err(Error::invalid("placement_group.id", "A Linode can be in at most one placement group"));
        }
        if let Some(firewall) = create.firewall
            && db.tenant(principal.account.0).firewall_get(firewall.0).await?.is_none()
        {
            return Err(Error::invalid("firewall_id", format!("Firewall {} not found", firewall.0)));
        }
        drop(conn);
        let compliant_only = create.groups.iter().any(|c| c.compliant_only);
        let label = match &create.label {
            Some(label) => label.clone(),
            // 64 random bits: an account would need billions of Linodes before two defaults
            // met (and a meeting would be refused as a taken label).
            None => Label::parse("label", &format!("linode-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]))?,
        };
        let want = Want { region: &region.id, size, groups: &groups, moving: None, avoid: &[], compliant_only };
        for attempt in 0..PLACEMENT_ATTEMPTS {
            let outcome = async {
                let mut tx = self.store.write().await?;
                if create.unique_label {
                    tx.db().label_lock(LINODE_LABELS, principal.account.0, label.as_str()).await?;
                }
                lock_placement(&mut tx.db(), &want, &[], &[], attempt).await?;
                let placement = self.choose(&mut tx.db(), &want, attempt > 0).await?;
                let new = NewInstance {
                    uuid: uuid::Uuid::new_v4().to_string(),
                    account_id: principal.account.0,
                    label: label.as_str().to_string(),
                    region_id: region.id.as_str().to_string(),
                    type_id: create.type_id.clone(),
                    size: convert::size(size),
                    host_id: placement.host.0,
                    state: create.state.as_str().to_string(),
                    image: create.image.clone(),
                    tags: convert::tags_to_store(&create.tags),
                    firewall_id: create.firewall.map(|f| f.0),
                    labels: convert::labels_to_store(&create.labels),
                };
                let instance =
                    match self.create_in(&mut tx, principal, &want, &placement, &new, create.unique_label).await? {
                        Attempt::Stale => return Ok(Attempt::Stale),
                        Attempt::Done(instance) => instance,
                    };
                let view = instance_views(&mut tx.db(), vec![instance]).await?.remove(0);
                // The last write of the change: the cache learns of it only once nothing
                // else can fail before the commit.
                let operation =
                    operation_of_change(&mut tx.db(), principal.account, operation, &view.instance.uuid).await?;
                self.fleets.apply(&region.id, |fleet| {
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
                self.commit(tx, &[&region.id]).await?;
                Ok(Attempt::Done((view, operation)))
            }
            .await;
            match retry(outcome, attempt)? {
                Attempt::Done(done) => return Ok(done),
                Attempt::Stale => self.fleets.invalidate(&region.id),
            }
        }
        Err(Error::Contended)
    }

    async fn create_in(
        &self,
        tx: &mut Tx,
        principal: &Principal,
        want: &Want<'_>,
        placement: &Placement,
        new: &NewInstance,
        unique_label: bool,
    ) -> Result<Attempt<Instance>> {
        let mut db = tx.db();
        if unique_label && db.tenant(principal.account.0).instance_label_taken(&new.label, None).await? {
            return Err(Error::invalid("label", "Label must be unique among your Linodes"));
        }
        for group in want.groups {
            if db.tenant(principal.account.0).group_get(group.id.0).await?.is_none() {
                return Err(Error::invalid("placement_group.id", format!("Placement group {} not found", group.id)));
            }
            check_room(&mut db, group, 1).await?;
        }
        if !revalidate(&mut db, want, placement.host).await? || !db.host_reserve(placement.host.0, new.size).await? {
            return Ok(Attempt::Stale);
        }
        let before = events::compliance(&mut db, want.groups).await?;
        let row = db.instance_insert(new, now().0).await?;
        for group in want.groups {
            db.tenant(principal.account.0).member_insert(group.id.0, row.id).await?;
        }
        let instance = convert::instance(row)?;
        grant_creator(&mut db, principal, EntityKind::Linode, instance.id.0).await?;
        let linode = events::instance_entity(&instance);
        events::record(&mut db, principal.account, Some(principal), "linode_create", "finished", &linode, None).await?;
        for group in want.groups {
            let entity = events::group_entity(group);
            events::record(
                &mut db,
                principal.account,
                Some(principal),
                "placement_group_assign",
                "finished",
                &entity,
                Some(&linode),
            )
            .await?;
        }
        events::compliance_changes(&mut db, Some(principal), want.groups, &before, Some(&linode)).await?;
        Ok(Attempt::Done(instance))
    }

    pub async fn instance_get(&self, principal: &Principal, id: InstanceId) -> Result<InstanceView> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let instance = instance_get(&mut db, principal, id).await?;
        Ok(instance_views(&mut db, vec![instance]).await?.remove(0))
    }

    /// An instance by its UUID, the id the Exoscale dialect knows.
    pub async fn instance_get_by_uuid(&self, principal: &Principal, uuid: &str) -> Result<InstanceView> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let instance = match db.tenant(principal.account.0).instance_get_by_uuid(uuid).await? {
            Some(row) => convert::instance(row)?,
            None => return Err(Error::not_found("instance")),
        };
        principal.require_visible(EntityKind::Linode, instance.id.0, "instance")?;
        Ok(instance_views(&mut db, vec![instance]).await?.remove(0))
    }

    /// Any account's instance, by integer id or UUID, with the hosts it stands on: for the
    /// operator.
    pub async fn operator_instance(&self, id: &str) -> Result<(InstanceView, Vec<Host>)> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let row =
            db.system().instance_find(id.parse().ok(), Some(id)).await?.ok_or_else(|| Error::not_found("instance"))?;
        let instance = convert::instance(row)?;
        let host_ids: Vec<i64> = instance.host.into_iter().chain(instance.target_host).map(|h| h.0).collect();
        let hosts = db.hosts_by_id(&host_ids).await?.iter().map(convert::host).collect::<Result<Vec<_>>>()?;
        Ok((instance_views(&mut db, vec![instance]).await?.remove(0), hosts))
    }

    pub async fn instance_list(&self, principal: &Principal) -> Result<Vec<InstanceView>> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let instances = db
            .tenant(principal.account.0)
            .instances_of_account()
            .await?
            .into_iter()
            .filter(|row| principal.can_see(EntityKind::Linode, row.id))
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
            db.label_lock(LINODE_LABELS, principal.account.0, label.as_str()).await?;
        }
        let instance = instance_get(&mut db, principal, id).await?;
        principal.require_change(EntityKind::Linode, id.0, "Linode")?;
        if let Some(label) = &update.label
            && update.unique_label
            && db.tenant(principal.account.0).instance_label_taken(label.as_str(), Some(id.0)).await?
        {
            return Err(Error::invalid("label", "Label must be unique among your Linodes"));
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
            "linode_update",
            "finished",
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
        principal.require_change(EntityKind::Linode, id.0, "Linode")?;
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
        db.tenant(principal.account.0).entity_grants_delete(EntityKind::Linode.as_str(), id.0).await?;
        let linode = events::instance_entity(&instance);
        for group in &groups {
            let entity = events::group_entity(group);
            events::record(
                &mut db,
                principal.account,
                Some(principal),
                "placement_group_unassign",
                "finished",
                &entity,
                Some(&linode),
            )
            .await?;
        }
        events::record(&mut db, principal.account, Some(principal), "linode_delete", "finished", &linode, None).await?;
        events::compliance_changes(&mut db, Some(principal), &groups, &before, Some(&linode)).await?;
        let operation = operation_of_change(&mut db, principal.account, operation, &instance.uuid).await?;
        regions.dedup();
        for region in &regions {
            self.fleets.apply(region, |fleet| fleet.instance_remove(id));
        }
        self.commit(tx, &regions.iter().collect::<Vec<_>>()).await?;
        Ok(operation)
    }

    /// Starts moving an instance to another host: in another region, into another group, or
    /// within its group. The move shows at once and completes after the configured time.
    pub async fn instance_migrate(
        &self,
        principal: &Principal,
        id: InstanceId,
        migrate: InstanceMigrate,
    ) -> Result<InstanceView> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let view = {
            let instance = instance_get(&mut db, principal, id).await?;
            instance_views(&mut db, vec![instance]).await?.remove(0)
        };
        principal.require_change(EntityKind::Linode, id.0, "Linode")?;
        if view.is_migrating() {
            return Err(Error::conflict(None, "Linode busy."));
        }
        let Some(source_host) = view.instance.host else {
            return Err(Error::conflict(None, "Linode is offline and cannot be migrated"));
        };
        let source_region = view.instance.region.clone();
        let target_region = match &migrate.region {
            Some(region) => region_get(&mut db, region).await?.id,
            None => source_region.clone(),
        };
        let source_group = view.groups.iter().find(|g| matches!(g.scope, Scope::Region(_))).cloned();
        let target_group = match &migrate.group {
            Some(choice) => {
                let group = chosen_group(&mut db, principal, choice).await?;
                if group.scope != Scope::Region(target_region.clone()) {
                    return Err(Error::invalid(
                        "placement_group.id",
                        format!("Placement group {} is not in region {target_region}", group.id),
                    ));
                }
                Some(group)
            }
            None if target_region == source_region => source_group.clone(),
            None => None,
        };
        drop(conn);
        let begin = Begin {
            account: principal.account,
            instance: id,
            size: view.instance.size,
            state: view.instance.state,
            source_host,
            source_region,
            target_region,
            source_group,
            target_group,
            kept_groups: view.groups.iter().filter(|g| g.scope == Scope::Global).cloned().collect(),
            compliant_only: migrate.group.as_ref().is_some_and(|c| c.compliant_only),
            reason: MigrationReason::UserRequest,
            avoid: Vec::new(),
        };
        self.migration_begin(&begin, Some(principal)).await?;
        let mut conn = self.store.snapshot().await?;
        let instance = instance_get(&mut conn.db(), principal, id).await?;
        Ok(instance_views(&mut conn.db(), vec![instance]).await?.remove(0))
    }

    /// The engine's choice for `want`, or the refusal as an error that names the groups.
    pub(crate) async fn choose(&self, db: &mut Db<'_>, want: &Want<'_>, fresh: bool) -> Result<Placement> {
        self.choose_or_refuse(db, want, fresh).await?.map_err(|no_host| {
            let field = (!want.groups.is_empty()).then_some("placement_group.id");
            let name = |id: GroupId| match want.groups.iter().find(|g| g.id == id) {
                Some(group) => group_name(group),
                None => format!("group {id}"),
            };
            Error::placement(
                field,
                format!("No host in {} can take this instance: {}", want.region, no_host.render(&name)),
            )
        })
    }

    /// The engine's choice for `want`, from the cached fleet, read through the transaction of
    /// the change (see [`crate::fleets::Fleets::region`]), or why no host can take it. When the
    /// cache says no host fits, or when `fresh` asks for it after a stale choice, the region is
    /// reloaded first, so a refusal is never stale.
    pub(crate) async fn choose_or_refuse(
        &self,
        db: &mut Db<'_>,
        want: &Want<'_>,
        fresh: bool,
    ) -> Result<std::result::Result<Placement, NoHost>> {
        let group_ids: Vec<GroupId> = want.groups.iter().map(|g| g.id).collect();
        let request = PlacementRequest {
            size: want.size,
            groups: &group_ids,
            moving: want.moving,
            avoid: want.avoid,
            compliant_only: want.compliant_only,
        };
        if fresh {
            self.fleets.invalidate(want.region);
        }
        let mut reloaded = fresh;
        loop {
            let fleet = self.fleets.region_fresh_for(db, want.region, want.groups).await?;
            let outcome = {
                let mut fleet = lock(&fleet);
                ensure_groups(&mut fleet, want.groups)?;
                fleet.choose_host(&request)
            };
            match outcome {
                Ok(placement) => return Ok(Ok(placement)),
                Err(ChooseError::NoHost(_)) if !reloaded => {
                    self.fleets.invalidate(want.region);
                    reloaded = true;
                }
                Err(ChooseError::NoHost(no_host)) => return Ok(Err(no_host)),
                Err(ChooseError::Fleet(error)) => return Err(engine(error)),
            }
        }
    }
}

/// Locks what a placement re-validates, before it chooses: the groups the instance will be in
/// (so no other change moves, adds or removes one of their members until this one commits),
/// then `instances` (the ones the change moves), and on the last attempt every host of the
/// region too, so that no concurrent change can take the capacity it counts on: the last
/// attempt cannot lose a race, and a refusal it gives is the real reason.
/// `also` are groups the change touches beyond those the instance will be in (the group it
/// leaves).
pub(crate) async fn lock_placement(
    db: &mut Db<'_>,
    want: &Want<'_>,
    also: &[&Group],
    instances: &[InstanceId],
    attempt: usize,
) -> Result<()> {
    let mut groups: Vec<i64> = want.groups.iter().chain(also.iter().copied()).map(|g| g.id.0).collect();
    groups.sort_unstable();
    groups.dedup();
    db.groups_lock(&groups).await?;
    let mut instances: Vec<i64> = instances.iter().map(|i| i.0).collect();
    instances.sort_unstable();
    db.instances_lock(&instances).await?;
    if attempt + 1 == PLACEMENT_ATTEMPTS {
        db.region_hosts_lock(want.region.as_str()).await?;
    }
    Ok(())
}

/// The outcome of one attempt of a change that retries: a collision with a concurrent change
/// (rolled back whole by the database) is one more stale attempt, until the last.
pub(crate) fn retry<T>(outcome: Result<Attempt<T>>, attempt: usize) -> Result<Attempt<T>> {
    match outcome {
        Err(Error::Contended) if attempt + 1 < PLACEMENT_ATTEMPTS => Ok(Attempt::Stale),
        other => other,
    }
}

/// Re-checks, on the rows as they are now, that the chosen host breaks no hard constraint.
pub(crate) async fn revalidate(db: &mut Db<'_>, want: &Want<'_>, host: HostId) -> Result<bool> {
    let (fleet, _) = groups_fleet(db, want.groups, &[host]).await?;
    let group_ids: Vec<GroupId> = want.groups.iter().map(|g| g.id).collect();
    let request = PlacementRequest {
        size: want.size,
        groups: &group_ids,
        moving: want.moving,
        avoid: &[],
        compliant_only: want.compliant_only,
    };
    match fleet.judge_host(&request, host) {
        Ok(verdict) => Ok(verdict.is_ok()),
        Err(error) => Err(engine(error)),
    }
}

/// A group as messages name it, by the id its dialect knows: the integer of a regional
/// (Linode) group, the UUID of a global (Exoscale) one, and its label.
fn group_name(group: &Group) -> String {
    match group.scope {
        Scope::Region(_) => format!("group {} ({})", group.id, group.label),
        Scope::Global => format!("group {} ({})", group.uuid, group.label),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The group a request names in its body: an unknown one is a 400 naming the field.
async fn chosen_group(db: &mut Db<'_>, principal: &Principal, choice: &GroupChoice) -> Result<Group> {
    match db.tenant(principal.account.0).group_get(choice.group.0).await? {
        Some(row) if principal.can_see(EntityKind::PlacementGroup, row.id) => convert::group(row),
        _ => Err(Error::invalid("placement_group.id", format!("Placement group {} not found", choice.group))),
    }
}

/// Refuses when `group` cannot take `joining` more members.
pub(crate) async fn check_room(db: &mut Db<'_>, group: &Group, joining: usize) -> Result<()> {
    let limit = member_limit(db, group).await?;
    let members = db.system().members_of_groups(&[group.id.0]).await?.len();
    if members + joining > limit as usize {
        return Err(Error::limit(
            Some("placement_group.id"),
            format!("{} can hold at most {limit} members; it has {members}", capitalized(&group_name(group))),
        ));
    }
    Ok(())
}

/// An instance of the caller's account that it may see.
pub(crate) async fn instance_get(db: &mut Db<'_>, principal: &Principal, id: InstanceId) -> Result<Instance> {
    principal.require_visible(EntityKind::Linode, id.0, "linode")?;
    match db.tenant(principal.account.0).instance_get(id.0).await? {
        Some(row) => convert::instance(row),
        None => Err(Error::not_found("linode")),
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
    Ok(instances
        .into_iter()
        .map(|instance| {
            let groups = memberships
                .iter()
                .filter(|m| m.instance_id == instance.id.0)
                .filter_map(|m| groups.get(&m.group_id).cloned())
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
