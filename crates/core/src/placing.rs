//! A placement change, written once: lock what the change re-validates, choose a host from
//! the cached fleet, re-validate the choice against the locked rows and reserve its capacity,
//! write, commit, and start over from fresh data when the fleet moved underneath. Instance
//! creation, migrations and the reconciler's placement of offline instances all run through
//! [`Berth::place`]; moves that follow a plan (queued repair and drain steps) re-validate
//! their planned host with [`reserve`].

use placement::{ChooseError, NoHost, Placement, PlacementRequest};
use store::{Db, Tx};

use crate::error::{Error, Field, GroupRef, Limit, Refusal, Result};
use crate::fleets::{Chosen, GroupsSnapshot, engine, ensure_groups, groups_snapshot, lock};
use crate::groups::member_limit;
use crate::model::*;
use crate::{Berth, convert};

/// How many times a change is re-planned when the fleet moved under it before giving up.
pub(crate) const PLACEMENT_ATTEMPTS: usize = 4;

/// The outcome of one attempt to commit a placement.
pub(crate) enum Attempt<T> {
    /// The change is written: commit it.
    Done(T),
    /// There is nothing to change after all (the instance was deleted or placed meanwhile):
    /// roll back whatever the attempt reserved.
    Abandoned(T),
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

/// What a change locks beyond the groups the instance will be in: the groups it leaves, and
/// the instances it moves.
#[derive(Clone, Copy, Default)]
pub(crate) struct Locks<'a> {
    /// A label that must stay unique in its account while the change runs: its kind (see
    /// `Db::label_lock`), account and text. It is locked first, as the lock order says.
    pub(crate) label: Option<(&'a str, AccountId, &'a str)>,
    pub(crate) groups: &'a [&'a Group],
    pub(crate) instances: &'a [InstanceId],
}

/// The writes of one placement change, which [`Berth::place`] runs in each attempt's
/// transaction once a host is chosen, re-validated and reserved (or refused).
pub(crate) trait PlacementChange {
    type Output;

    /// Writes the change in `tx`, on the host chosen for it (with the snapshot of the groups
    /// that re-validated it: their members and hosts as locked, before this change), or given
    /// why no host can take the instance: `Done` commits, `Abandoned` rolls back and ends,
    /// `Stale` tries again; an error rolls back and ends.
    fn write(
        &mut self,
        berth: &Berth,
        tx: &mut Tx,
        chosen: std::result::Result<(Placement, GroupsSnapshot), NoHost>,
    ) -> impl Future<Output = Result<Attempt<Self::Output>>> + Send;
}

impl Berth {
    /// Runs a placement change to its end. Each attempt opens a transaction, locks what the
    /// change re-validates (`locks`, see [`lock_placement`]), chooses a host for `want`, and,
    /// when one is chosen, re-validates it against the rows as locked and reserves its
    /// capacity; then `change` writes the rest in the same transaction (it is told the host,
    /// or why no host can take the instance), and the transaction commits, forgetting the
    /// cached fleets of `regions` if the commit fails. A choice that no longer holds, or a
    /// collision the database reports, starts a new attempt on a reloaded fleet, at most
    /// [`PLACEMENT_ATTEMPTS`] times; the last attempt locks the whole region and cannot lose.
    pub(crate) async fn place<C: PlacementChange>(
        &self,
        want: &Want<'_>,
        locks: Locks<'_>,
        regions: &[&RegionId],
        mut change: C,
    ) -> Result<C::Output> {
        for attempt in 0..PLACEMENT_ATTEMPTS {
            let outcome = async {
                let mut tx = self.store.write().await?;
                if let Some((kind, account, label)) = locks.label {
                    tx.db().label_lock(kind, account.0, label).await?;
                }
                lock_placement(&mut tx.db(), want, locks.groups, locks.instances, attempt).await?;
                // Held until the attempt ends: concurrent choices prefer other hosts meanwhile.
                let (chosen, _held) = self.choose_or_refuse(&mut tx.db(), want, attempt > 0).await?;
                let chosen = match chosen {
                    Ok(placement) => match reserve_checked(&mut tx.db(), want, placement.host).await? {
                        Some(checked) => Ok((placement, checked)),
                        None => return Ok(Attempt::Stale),
                    },
                    Err(no_host) => Err(no_host),
                };
                let outcome = change.write(self, &mut tx, chosen).await?;
                if let Attempt::Done(_) = outcome {
                    self.commit(tx, regions).await?;
                }
                Ok(outcome)
            }
            .await;
            match retry(outcome, attempt)? {
                Attempt::Done(value) | Attempt::Abandoned(value) => return Ok(value),
                Attempt::Stale => self.fleets.invalidate(want.region),
            }
        }
        Err(Error::Contended)
    }

    /// The engine's choice for `want`, from the cached fleet, read through the transaction of
    /// the change (see [`crate::fleets::Fleets::region`]), or why no host can take it. When the
    /// cache says no host fits, or when `fresh` asks for it after a stale choice, the region is
    /// reloaded first, so a refusal is never stale. A host chosen is held while the change
    /// runs, so that concurrent changes spread over other hosts ([`Fleets::choose_spread`]).
    ///
    /// [`Fleets::choose_spread`]: crate::fleets::Fleets::choose_spread
    pub(crate) async fn choose_or_refuse(
        &self,
        db: &mut Db<'_>,
        want: &Want<'_>,
        fresh: bool,
    ) -> Result<(std::result::Result<Placement, NoHost>, Option<Chosen<'_>>)> {
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
        // Changes run side by side only on a shared database; on SQLite they run one at a time,
        // and the engine's best host is the choice.
        let spread = db.backend().shared();
        let mut reloaded = fresh;
        loop {
            let fleet = self.fleets.region_fresh_for(db, want.region, want.groups).await?;
            let outcome = {
                let mut fleet = lock(&fleet);
                ensure_groups(&mut fleet, want.groups)?;
                if spread {
                    self.fleets.choose_spread(want.region, &fleet, &request).map(|(p, held)| (p, Some(held)))
                } else {
                    fleet.choose_host(&request).map(|p| (p, None))
                }
            };
            match outcome {
                Ok((placement, held)) => return Ok((Ok(placement), held)),
                Err(ChooseError::NoHost(_)) if !reloaded => {
                    self.fleets.invalidate(want.region);
                    reloaded = true;
                }
                Err(ChooseError::NoHost(no_host)) => return Ok((Err(no_host), None)),
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

/// Re-checks, on the rows as they are now, that the chosen host breaks no hard constraint;
/// the snapshot it judged on, when it does not.
async fn revalidate(db: &mut Db<'_>, want: &Want<'_>, host: HostId) -> Result<Option<GroupsSnapshot>> {
    let snapshot = groups_snapshot(db, want.groups, &[host]).await?;
    let group_ids: Vec<GroupId> = want.groups.iter().map(|g| g.id).collect();
    let request = PlacementRequest {
        size: want.size,
        groups: &group_ids,
        moving: want.moving,
        avoid: &[],
        compliant_only: want.compliant_only,
    };
    match snapshot.fleet.judge_host(&request, host) {
        Ok(verdict) => Ok(verdict.is_ok().then_some(snapshot)),
        Err(error) => Err(engine(error)),
    }
}

/// The refusal of `want`: no host can take the instance.
pub(crate) fn refusal(want: &Want<'_>, no_host: NoHost) -> Error {
    Error::Refused {
        field: (!want.groups.is_empty()).then_some(Field::Group),
        refusal: Refusal::NoHost {
            region: want.region.clone(),
            no_host,
            groups: want.groups.iter().map(GroupRef::of).collect(),
        },
    }
}

/// Re-validates a chosen or planned host against the rows as they are now, then reserves the
/// instance's size on it: false when either no longer holds, and nothing was reserved.
pub(crate) async fn reserve(db: &mut Db<'_>, want: &Want<'_>, host: HostId) -> Result<bool> {
    Ok(reserve_checked(db, want, host).await?.is_some())
}

/// [`reserve`], keeping the snapshot of the groups that re-validated the host (their members
/// and hosts before the change), for the change to judge compliance on without reading them
/// again.
pub(crate) async fn reserve_checked(db: &mut Db<'_>, want: &Want<'_>, host: HostId) -> Result<Option<GroupsSnapshot>> {
    let Some(snapshot) = revalidate(db, want, host).await? else { return Ok(None) };
    Ok(db.host_reserve(host.0, convert::size(want.size)).await?.then_some(snapshot))
}

/// Refuses when `group` cannot take `joining` more members.
pub(crate) async fn check_room(db: &mut Db<'_>, group: &Group, joining: usize) -> Result<()> {
    let members = db.system().members_of_groups(&[group.id.0]).await?.len();
    check_room_counted(db, group, members, joining).await
}

/// Refuses when `group`, of `members` members, cannot take `joining` more.
pub(crate) async fn check_room_counted(db: &mut Db<'_>, group: &Group, members: usize, joining: usize) -> Result<()> {
    let limit = member_limit(db, group).await?;
    if members + joining > limit as usize {
        return Err(Error::Limit {
            field: Some(Field::Group),
            limit: Limit::MembersPerGroup { group: GroupRef::of(group), limit, members },
        });
    }
    Ok(())
}
