//! What the operator asks of the fleet: every group and instance with where its members stand,
//! placement explanations, and headroom.

use std::collections::HashMap;

use placement::{Exclusion, Headroom, JoinAssessment, PlacementRequest};

use crate::Berth;
use crate::convert;
use crate::error::{Conflict, Error, Field, GroupRef, Problem, Result};
use crate::fleets::{engine, ensure_groups, groups_fleet};
use crate::groups::{group_views, member_limit, region_get};
use crate::instances::instance_views;
use crate::model::*;

/// A group for the operator: its view, each member's host, and the repair note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDetail {
    pub view: GroupView,
    /// The host each member stands on (`None`: offline).
    pub hosts: HashMap<InstanceId, Option<Host>>,
    /// Why repair cannot make the group compliant, as of its last attempt.
    pub repair_note: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupFilter {
    pub account: Option<AccountId>,
    pub region: Option<RegionId>,
    pub compliant: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    pub account: Option<AccountId>,
    pub region: Option<RegionId>,
    pub host: Option<HostId>,
    pub offline: Option<bool>,
}

/// A placement dry run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExplainPlacement {
    pub region: RegionId,
    pub size: Resources,
    pub groups: Vec<GroupId>,
    pub compliant_only: bool,
}

/// The answer to a dry run: the host chosen, and every host's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explained {
    pub chosen: Option<Host>,
    /// The flexible groups the instance would break on the chosen host, and why.
    pub breaches: Vec<(GroupId, String)>,
    /// The hosts that could take it, in preference order, with the number of flexible
    /// groups each would break.
    pub candidates: Vec<(Host, u32)>,
    /// The hosts that could not, grouped by reason, in the order of the reasons.
    pub excluded: Vec<(String, Vec<Host>)>,
    /// Why the chosen host won, by the engine's documented tie-breaks, or why no host could
    /// take the instance.
    pub why: String,
}

impl Berth {
    /// Every group of every account (or of one), with its members' hosts and compliance.
    pub async fn groups_operator(&self, filter: &GroupFilter) -> Result<Vec<GroupDetail>> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let groups: Vec<Group> = db
            .system()
            .groups_all()
            .await?
            .into_iter()
            .map(convert::group)
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .filter(|g| filter.account.is_none_or(|a| a == g.account))
            .filter(|g| filter.region.as_ref().is_none_or(|r| g.scope == Scope::Region(r.clone())))
            .collect();
        let views = group_views(&mut db, groups).await?;
        let notes = {
            let rows = db.system().repair_notes().await?;
            rows.into_iter().map(|r| (GroupId(r.group_id), r.reason)).collect::<HashMap<_, _>>()
        };
        let ids: Vec<i64> = views.iter().map(|v| v.group.id.0).collect();
        let members = db.system().members_of_groups(&ids).await?;
        let host_ids: Vec<i64> = {
            let mut ids: Vec<i64> = members.iter().filter_map(|m| m.host_id).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let hosts: HashMap<i64, Host> =
            db.hosts_by_id(&host_ids).await?.iter().map(|h| Ok((h.id, convert::host(h)?))).collect::<Result<_>>()?;
        let mut details = Vec::with_capacity(views.len());
        for view in views {
            if filter.compliant.is_some_and(|c| c != view.is_compliant) {
                continue;
            }
            let hosts = members
                .iter()
                .filter(|m| m.group_id == view.group.id.0)
                .map(|m| (InstanceId(m.instance_id), m.host_id.and_then(|h| hosts.get(&h).cloned())))
                .collect();
            let repair_note = notes.get(&view.group.id).cloned();
            details.push(GroupDetail { view, hosts, repair_note });
        }
        Ok(details)
    }

    pub async fn group_operator(&self, id: GroupId) -> Result<GroupDetail> {
        let all = self.groups_operator(&GroupFilter::default()).await?;
        all.into_iter().find(|d| d.view.group.id == id).ok_or_else(|| Error::not_found(Thing::Group))
    }

    /// Every instance of every account (or of one), with its view.
    pub async fn instances_operator(&self, filter: &InstanceFilter) -> Result<Vec<InstanceView>> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let instances: Vec<Instance> = db
            .system()
            .instances_all()
            .await?
            .into_iter()
            .map(convert::instance)
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .filter(|i| filter.account.is_none_or(|a| a == i.account))
            .filter(|i| filter.region.as_ref().is_none_or(|r| *r == i.region))
            .filter(|i| filter.host.is_none_or(|h| i.host == Some(h) || i.target_host == Some(h)))
            .filter(|i| filter.offline.is_none_or(|o| o == i.is_offline()))
            .collect();
        instance_views(&mut db, instances).await
    }

    /// A dry run of a placement: the host the engine would choose, and why every other host
    /// was not chosen. Nothing changes.
    pub async fn explain_placement(&self, request: &ExplainPlacement) -> Result<Explained> {
        let (groups, hosts) = {
            let mut conn = self.store.snapshot().await?;
            let mut db = conn.db();
            region_get(&mut db, &request.region).await?;
            let ids: Vec<i64> = request.groups.iter().map(|g| g.0).collect();
            let groups: Vec<Group> =
                db.system().groups_by_id(&ids).await?.into_iter().map(convert::group).collect::<Result<Vec<_>>>()?;
            if let Some(missing) = request.groups.iter().find(|g| !groups.iter().any(|found| found.id == **g)) {
                return Err(Error::invalid(Field::Groups, Problem::Unknown(missing.to_string())));
            }
            let elsewhere = groups.iter().find_map(|group| match &group.scope {
                Scope::Region(region) if *region != request.region => Some((group, region)),
                _ => None,
            });
            if let Some((group, group_region)) = elsewhere {
                return Err(Error::invalid(
                    Field::Groups,
                    Problem::GroupElsewhere {
                        group: GroupRef::of(group),
                        group_region: group_region.clone(),
                        region: request.region.clone(),
                    },
                ));
            }
            let hosts: HashMap<HostId, Host> = db
                .hosts_in_region(request.region.as_str())
                .await?
                .iter()
                .map(|h| Ok((HostId(h.id), convert::host(h)?)))
                .collect::<Result<_>>()?;
            (groups, hosts)
        };
        let mut fleet = self.region_snapshot(&request.region).await?;
        ensure_groups(&mut fleet, &groups)?;
        let placement = PlacementRequest {
            size: request.size,
            groups: &request.groups,
            moving: None,
            avoid: &[],
            compliant_only: request.compliant_only,
        };
        let explanation = fleet.explain(&placement).map_err(engine)?;
        let name = |id: GroupId| match groups.iter().find(|g| g.id == id) {
            Some(group) => format!("group {id} ({})", group.label),
            None => format!("group {id}"),
        };
        let mut candidates = Vec::new();
        let mut excluded: Vec<(Exclusion, Vec<Host>)> = Vec::new();
        for (id, verdict) in explanation.hosts {
            let Some(host) = hosts.get(&id).cloned() else { continue };
            match verdict {
                Ok(cost) => candidates.push((host, cost)),
                Err(exclusion) => match excluded.iter_mut().find(|(e, _)| *e == exclusion) {
                    Some((_, list)) => list.push(host),
                    None => excluded.push((exclusion, vec![host])),
                },
            }
        }
        // Reasons in the engine's order of precedence, as its refusals list them.
        let rank = |exclusion: &Exclusion| match exclusion {
            Exclusion::Avoided => (0, 0),
            Exclusion::NotActive(state) => (1, *state as usize),
            Exclusion::Lacks(dimension) => (2, *dimension as usize),
            Exclusion::AntiAffinity { group, .. } | Exclusion::Affinity { group, .. } => {
                (3, request.groups.iter().position(|g| g == group).unwrap_or(usize::MAX))
            }
        };
        excluded.sort_by_key(|(exclusion, _)| rank(exclusion));
        let excluded: Vec<(String, Vec<Host>)> = excluded
            .into_iter()
            .map(|(exclusion, hosts)| {
                // "12 lack memory" → "lack memory": the count is the list's length.
                let phrase = exclusion.describe_with(hosts.len(), &name);
                let reason = phrase.split_once(' ').map_or(phrase.clone(), |(_, rest)| rest.to_string());
                (reason, hosts)
            })
            .collect();
        let (chosen, breaches) = match explanation.chosen {
            Some(placement) => (
                hosts.get(&placement.host).cloned(),
                placement.breaches.iter().map(|(g, b)| (*g, b.to_string())).collect(),
            ),
            None => (None, Vec::new()),
        };
        let why = why(chosen.as_ref(), &candidates, &excluded);
        Ok(Explained { chosen, breaches, candidates, excluded, why })
    }

    /// A dry run of assigning an existing instance to a group where it stands.
    pub async fn explain_assignment(
        &self,
        instance: InstanceId,
        group: GroupId,
    ) -> Result<(JoinAssessment, Instance, Group)> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let row = db
            .system()
            .instance_find(Some(instance.0), None)
            .await?
            .ok_or_else(|| Error::not_found(Thing::Instance))?;
        let found = convert::instance(row)?;
        let group_row = db
            .system()
            .groups_by_id(&[group.0])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found(Thing::Group))?;
        let group = convert::group(group_row)?;
        if group.account != found.account {
            return Err(Error::invalid(Field::Group, Problem::OtherAccount));
        }
        let extra: Vec<HostId> = found.host.into_iter().chain(found.target_host).collect();
        let (mut fleet, members) = groups_fleet(&mut db, std::slice::from_ref(&group), &extra).await?;
        if members.iter().any(|m| m.instance_id == instance.0) {
            return Err(Error::conflict(Conflict::AlreadyMember { instance, group: group.id }));
        }
        fleet
            .instance_add(placement::InstanceSpec {
                id: found.id,
                size: Resources::ZERO,
                host: found.host,
                target: found.target_host,
            })
            .map_err(engine)?;
        let assessment = fleet.assess_join(group.id, found.id, false).map_err(engine)?;
        Ok((assessment, found, group))
    }

    /// How many more members of `size` a group can take, now and after losing its worst host
    /// and worst rack. A global group is measured in `region`.
    pub async fn headroom(
        &self,
        group: GroupId,
        size: Resources,
        region: Option<RegionId>,
    ) -> Result<(Group, RegionId, Headroom)> {
        let (group, region, limit, everywhere) = {
            let mut conn = self.store.snapshot().await?;
            let mut db = conn.db();
            let row = db
                .system()
                .groups_by_id(&[group.0])
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| Error::not_found(Thing::Group))?;
            let group = convert::group(row)?;
            let region = match (&group.scope, region) {
                (Scope::Region(own), None) => own.clone(),
                (Scope::Region(own), Some(asked)) if *own == asked => asked,
                (Scope::Region(own), Some(asked)) => {
                    return Err(Error::invalid(
                        Field::Region,
                        Problem::GroupElsewhere {
                            group: GroupRef::of(&group),
                            group_region: own.clone(),
                            region: asked,
                        },
                    ));
                }
                (Scope::Global, Some(asked)) => region_get(&mut db, &asked).await?.id,
                (Scope::Global, None) => {
                    return Err(Error::invalid(Field::Region, Problem::RegionNeeded));
                }
            };
            let limit = member_limit(&mut db, &group).await?;
            // The limit counts members in every region; the engine counts those it sees.
            let everywhere =
                u32::try_from(db.system().members_of_groups(&[group.id.0]).await?.len()).unwrap_or(u32::MAX);
            (group, region, limit, everywhere)
        };
        let mut fleet = self.region_snapshot(&region).await?;
        ensure_groups(&mut fleet, std::slice::from_ref(&group))?;
        let here = u32::try_from(fleet.group_members(group.id).len()).unwrap_or(u32::MAX);
        // The engine counts the members it sees against the limit; those in other regions
        // count too, so they come off it first.
        let elsewhere = everywhere.saturating_sub(here);
        let headroom = fleet.headroom(group.id, size, Some(limit.saturating_sub(elsewhere))).map_err(engine)?;
        Ok((group, region, headroom))
    }
}

/// The sentence that explains a dry run: the winner and the tie-breaks that made it win, in
/// the engine's order (fewest flexible breaches, most free memory, most free vCPUs, lowest
/// id), or every reason hosts were excluded for.
fn why(chosen: Option<&Host>, candidates: &[(Host, u32)], excluded: &[(String, Vec<Host>)]) -> String {
    match (chosen, candidates.first()) {
        (Some(host), Some((_, cost))) => format!(
            "{} breaks {} flexible group(s), the fewest of {} candidate host(s); among those it has the most free \
             memory ({} MiB), then vCPUs ({}), then the lowest id",
            host.name,
            cost,
            candidates.len(),
            host.free().memory_mib,
            host.free().vcpus
        ),
        _ => {
            let total: usize = excluded.iter().map(|(_, hosts)| hosts.len()).sum();
            let reasons: Vec<String> =
                excluded.iter().map(|(reason, hosts)| format!("{} {reason}", hosts.len())).collect();
            format!("0 of {total} hosts: {}", reasons.join(", "))
        }
    }
}
