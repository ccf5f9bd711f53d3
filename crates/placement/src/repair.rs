//! Repair planning: the fewest migrations that make non-compliant groups compliant again,
//! without passing through a worse state on the way.
//!
//! The planner works in three stages (see the crate documentation for the contract):
//!
//! 1. a lower bound on the number of moves, per group and for the whole request;
//! 2. a greedy pass that moves the later joiners of crowded domains (and the stray members of
//!    affinity groups) one at a time, each to the best host where it breaks nothing, verified
//!    against full group compliance on one working copy of the fleet;
//! 3. when the greedy plan is longer than the bound (or repairs less than everything), an exact
//!    best-first search (A*) over move sequences, within a budget.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use crate::choose::{ChooseError, PlacementRequest};
use crate::compliance::Tracker;
use crate::fleet::{DomainSet, Fleet};
use crate::model::{FailureDomain, GroupId, GroupKind, HostId, HostState, InstanceId, Resources};

/// One migration: `instance` leaves `from` for `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Move {
    /// The instance that moves; it runs on `from` and has no migration in flight.
    pub instance: InstanceId,
    /// The host it leaves.
    pub from: HostId,
    /// The host it goes to.
    pub to: HostId,
}

/// What [`Fleet::plan_repair`] should repair, and how hard it may look for a short plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairOptions {
    /// The groups to repair; `None`: every group that is not compliant.
    pub groups: Option<Vec<GroupId>>,
    /// Hosts ruled out as targets for an instance (for example after a failed migration there).
    pub avoid: Vec<(InstanceId, HostId)>,
    /// The work the exact search may spend before it settles for the best plan found, counted
    /// in candidate moves examined (one per instance and host it considers), so that it bounds
    /// the time spent whatever the size of the fleet.
    pub search_budget: usize,
    /// The longest plan to consider.
    pub max_moves: usize,
}

impl Default for RepairOptions {
    /// Every non-compliant group, nothing avoided, a budget of 200,000 candidate moves, plans
    /// of up to 10,000 moves.
    fn default() -> RepairOptions {
        RepairOptions { groups: None, avoid: Vec::new(), search_budget: 200_000, max_moves: 10_000 }
    }
}

/// A group the plan leaves non-compliant, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unrepairable {
    pub group: GroupId,
    /// Why, in a sentence for an operator: for example which member no host can take, with
    /// the [`crate::NoHost`] summary of that attempt.
    pub reason: String,
}

/// The migrations that repair groups, in the order they must run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairPlan {
    /// In order: each move is feasible once the moves before it have completed.
    pub moves: Vec<Move>,
    /// Groups (among those asked for) compliant once the plan has run, by id.
    pub repaired: Vec<GroupId>,
    /// Groups that stay non-compliant, and why, by id.
    pub unresolved: Vec<Unrepairable>,
    /// Whether `moves.len()` is proven minimal for repairing `repaired`.
    pub optimal: bool,
}

/// How many hosts the greedy pass verifies for one instance once `choose_host`'s answers have
/// failed, before it gives up on that instance.
const SCAN_LIMIT: usize = 32;

impl Fleet {
    /// Plans the fewest migrations that make the requested groups compliant.
    ///
    /// See the crate documentation ("Repair planning") for the rules every plan follows, what
    /// is repaired when not everything can be, and the order of preference between plans.
    pub fn plan_repair(&self, options: &RepairOptions) -> RepairPlan {
        let mut asked: Vec<GroupId> = match &options.groups {
            Some(groups) => groups.clone(),
            None => self.groups.keys().copied().collect(),
        };
        asked.sort();
        asked.dedup();
        let mut unresolved = Vec::new();
        let mut targets = Vec::new();
        let mut flags = Vec::new();
        for group in asked {
            if !self.groups.contains_key(&group) {
                unresolved.push(Unrepairable { group, reason: format!("group {group} is not in the fleet") });
                continue;
            }
            member_flags(self, group, &mut flags);
            if flags.contains(&false) {
                targets.push(group);
            }
        }
        if targets.is_empty() {
            return RepairPlan { moves: Vec::new(), repaired: Vec::new(), unresolved, optimal: true };
        }

        let mut planner = Planner::new(self, options);
        let mut reasons: HashMap<GroupId, String> = HashMap::new();
        let mut solvable = Vec::new();
        for &group in &targets {
            match planner.static_obstacle(group) {
                Some(reason) => {
                    reasons.insert(group, reason);
                }
                None => solvable.push(group),
            }
        }
        let (moves, optimal) = planner.plan(&solvable, &mut reasons);

        // The groups the plan repairs are read off the state it leaves.
        planner.apply(&moves);
        let mut repaired = Vec::new();
        for group in targets {
            if planner.is_compliant(group) {
                repaired.push(group);
            } else {
                let reason = reasons
                    .remove(&group)
                    .unwrap_or_else(|| "no plan found that repairs it along with the groups repaired".to_string());
                unresolved.push(Unrepairable { group, reason });
            }
        }
        unresolved.sort_by_key(|unrepairable| unrepairable.group);
        RepairPlan { moves, repaired, unresolved, optimal }
    }
}

/// Each member's compliance, in join order, exactly as [`Fleet::group_compliance`] judges it
/// (a member missing from the fleet counts as offline).
fn member_flags(fleet: &Fleet, group: GroupId, out: &mut Vec<bool>) {
    out.clear();
    let Some(entry) = fleet.groups.get(&group) else { return };
    let spec = &entry.spec;
    let members = entry.members.iter().map(|&member| (member, domains_of(fleet, member, spec.domain)));
    flags_from(spec.kind, spec.max_per_domain, members, out);
}

/// Each member's compliance, in join order, from the domains each stands in: the engine's one
/// definition of compliance ([`Tracker`]), fed from the fleet or from the search's model.
fn flags_from(
    kind: GroupKind,
    max_per_domain: u32,
    members: impl Iterator<Item = (InstanceId, DomainSet)>,
    out: &mut Vec<bool>,
) {
    out.clear();
    let mut tracker = Tracker::new(kind, max_per_domain);
    for (member, domains) in members {
        out.push(tracker.admit(member, domains).is_none());
    }
}

fn domains_of(fleet: &Fleet, instance: InstanceId, domain: FailureDomain) -> DomainSet {
    fleet.instances.get(&instance).map(|entry| fleet.instance_domains(entry, domain)).unwrap_or_default()
}

/// Whether an instance may move at all: it runs on a host and is not migrating.
fn movable(fleet: &Fleet, instance: InstanceId) -> bool {
    fleet.instances.get(&instance).is_some_and(|entry| entry.host.is_some() && entry.target.is_none())
}

/// A lower bound on the moves that make `group` compliant; see [`bound_from`].
fn lower_bound(fleet: &Fleet, group: GroupId) -> u32 {
    let Some(entry) = fleet.groups.get(&group) else { return 0 };
    let spec = &entry.spec;
    let members = entry.members.iter().map(|&member| (domains_of(fleet, member, spec.domain), movable(fleet, member)));
    bound_from(spec.kind, spec.max_per_domain, members, &mut Vec::new())
}

/// A lower bound on the moves that make a group compliant, from where its members stand (in
/// join order) and whether each may move; 0 exactly when the group is compliant. One move
/// changes it by at most one, which makes the search's bound consistent. `keys` is scratch.
///
/// - Anti-affinity: the members beyond `max_per_domain` in each domain, summed over domains
///   (one move takes one member out of one domain).
/// - Affinity: the anchor (the first placed member) stays the anchor whatever moves, so either
///   it stays and every member outside its domain moves, or it moves (one move) to a domain
///   and every other member outside that domain moves; the bound is the cheaper of the two,
///   counting the domain that already holds most members.
fn bound_from(
    kind: GroupKind,
    max_per_domain: u32,
    members: impl Iterator<Item = (DomainSet, bool)>,
    keys: &mut Vec<usize>,
) -> u32 {
    keys.clear();
    match kind {
        GroupKind::AntiAffinity => {
            for (domains, _) in members {
                keys.extend_from_slice(domains.as_slice());
            }
            keys.sort_unstable();
            let max = max_per_domain.max(1) as usize;
            keys.chunk_by(|a, b| a == b).map(|run| run.len().saturating_sub(max) as u32).sum()
        }
        GroupKind::Affinity => {
            let mut anchor: Option<(DomainSet, bool)> = None;
            let mut others = 0u32;
            let mut astray = 0u32;
            for (domains, movable) in members {
                if domains.is_empty() {
                    continue;
                }
                let Some((anchor_domains, _)) = &anchor else {
                    anchor = Some((domains, movable));
                    continue;
                };
                others += 1;
                if !domains.is_subset_of(anchor_domains) {
                    astray += 1;
                }
                if let [key] = domains.as_slice() {
                    keys.push(*key);
                }
            }
            match anchor {
                Some((_, true)) => {
                    keys.sort_unstable();
                    let most = keys.chunk_by(|a, b| a == b).map(|run| run.len() as u32).max().unwrap_or(0);
                    astray.min(1 + others - most)
                }
                _ => astray,
            }
        }
    }
}

/// A bound on the moves that make every group of `bounds` compliant, from each group's bound:
/// the largest one, and the sum divided by `share`, the most of these groups one instance
/// belongs to (a move fixes at most one unit of each group the moved instance is in).
fn total_bound(largest: u32, sum: u32, share: u32) -> u32 {
    largest.max(sum.div_ceil(share.max(1)))
}

/// Where the greedy pass wants a member to go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Aim {
    /// Anywhere it is compliant in every group it belongs to.
    Anywhere,
    /// Into the domain of its affinity group's anchor.
    Anchor,
    /// Into this domain (key): the anchor of an affinity group joins the others.
    Domain(usize),
}

struct Planner<'f> {
    original: &'f Fleet,
    /// The one working copy: moves are applied to it and undone.
    work: Fleet,
    avoid: HashMap<InstanceId, Vec<HostId>>,
    max_moves: usize,
    /// What is left of the search budget.
    budget: usize,
    /// For host domains, then rack domains: whether each domain has an active host, and how
    /// many do.
    active_domains: [(Vec<bool>, usize); 2],
}

impl<'f> Planner<'f> {
    fn new(original: &'f Fleet, options: &RepairOptions) -> Planner<'f> {
        let mut avoid: HashMap<InstanceId, Vec<HostId>> = HashMap::new();
        for &(instance, host) in &options.avoid {
            avoid.entry(instance).or_default().push(host);
        }
        let mut active_domains = [(vec![false; original.hosts.len()], 0), (vec![false; original.racks.len()], 0)];
        for (index, host) in original.hosts.iter().enumerate() {
            if host.state == HostState::Active {
                for (slot, key) in [(0, index), (1, host.rack)] {
                    let (active, count) = &mut active_domains[slot];
                    if !active[key] {
                        active[key] = true;
                        *count += 1;
                    }
                }
            }
        }
        Planner {
            original,
            work: original.clone(),
            avoid,
            max_moves: options.max_moves,
            budget: options.search_budget,
            active_domains,
        }
    }

    fn is_compliant(&self, group: GroupId) -> bool {
        let mut flags = Vec::new();
        member_flags(&self.work, group, &mut flags);
        !flags.contains(&false)
    }

    fn avoided(&self, instance: InstanceId, host: HostId) -> bool {
        self.avoid.get(&instance).is_some_and(|hosts| hosts.contains(&host))
    }

    fn apply(&mut self, moves: &[Move]) {
        for step in moves {
            self.work.instance_move(step.instance, Some(step.to)).expect("a planned move is known");
        }
    }

    fn undo(&mut self, moves: &mut Vec<Move>, keep: usize) {
        while moves.len() > keep {
            let step = moves.pop().expect("a move to undo");
            self.work.instance_move(step.instance, Some(step.from)).expect("a planned move is known");
        }
    }

    /// Why a group can never be repaired under the rules, whatever the capacity: members that
    /// cannot move (they are migrating) stand where no compliant state can have them.
    fn static_obstacle(&self, group: GroupId) -> Option<String> {
        let fleet = self.original;
        let entry = &fleet.groups[&group];
        let spec = &entry.spec;
        match spec.kind {
            GroupKind::AntiAffinity => {
                let max = spec.max_per_domain.max(1) as usize;
                let mut stuck: Vec<(usize, Vec<InstanceId>)> = Vec::new();
                for &member in &entry.members {
                    let placed = fleet.instances.get(&member).is_some_and(|i| i.host.is_some());
                    if !placed || movable(fleet, member) {
                        continue;
                    }
                    for &key in domains_of(fleet, member, spec.domain).as_slice() {
                        match stuck.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, members)) => members.push(member),
                            None => stuck.push((key, vec![member])),
                        }
                    }
                }
                stuck.sort_by_key(|(key, _)| fleet.domain_from_key(*key, spec.domain));
                if let Some((key, members)) = stuck.into_iter().find(|(_, members)| members.len() > max) {
                    return Some(format!(
                        "{} holds {} members that cannot move while they migrate ({}), and at most {max} may share it",
                        fleet.domain_from_key(key, spec.domain),
                        members.len(),
                        list(&members),
                    ));
                }
                // Every placed member ends in a domain that has an active host (where it can
                // go) or that it stands in now (where it can stay).
                let (active, active_count) = match spec.domain {
                    FailureDomain::Host => &self.active_domains[0],
                    FailureDomain::Rack => &self.active_domains[1],
                };
                let mut elsewhere: Vec<usize> = Vec::new();
                let mut placed = 0;
                for &member in &entry.members {
                    let domains = domains_of(fleet, member, spec.domain);
                    placed += usize::from(!domains.is_empty());
                    for &key in domains.as_slice() {
                        if !active[key] && !elsewhere.contains(&key) {
                            elsewhere.push(key);
                        }
                    }
                }
                let usable = active_count + elsewhere.len();
                (placed > max * usable).then(|| {
                    let kind = spec.domain.as_str();
                    format!(
                        "its {placed} placed members need more than the {usable} {kind}s that can hold them, at most \
                         {max} per {kind}"
                    )
                })
            }
            GroupKind::Affinity => {
                let placed: Vec<(InstanceId, DomainSet)> = entry
                    .members
                    .iter()
                    .map(|&member| (member, domains_of(fleet, member, spec.domain)))
                    .filter(|(_, domains)| !domains.is_empty())
                    .collect();
                let (&(anchor, anchor_domains), others) = placed.split_first()?;
                let astray: Vec<&(InstanceId, DomainSet)> = others
                    .iter()
                    .filter(|(member, domains)| !movable(fleet, *member) && !domains.is_subset_of(&anchor_domains))
                    .collect();
                let &&(first_astray, first_domains) = astray.first()?;
                let anchor_domain = fleet.domain_from_key(anchor_domains.as_slice()[0], spec.domain);
                let opening = format!(
                    "member {first_astray} cannot move while it migrates and is not on {anchor_domain} with \
                     member {anchor}, the group's first member"
                );
                if !movable(fleet, anchor) {
                    return Some(format!("{opening}, which cannot move either"));
                }
                if let Some((companion, _)) = others.iter().find(|(_, domains)| domains.is_subset_of(&anchor_domains)) {
                    return Some(format!("{opening}, which cannot leave member {companion} that stands with it"));
                }
                let [key] = first_domains.as_slice() else {
                    return Some(format!("{opening}, and it stands in two domains at once"));
                };
                if let Some((other, _)) = astray.iter().find(|(_, domains)| domains.as_slice() != [*key]) {
                    return Some(format!("{opening}, and neither can member {other}, which stands elsewhere"));
                }
                None
            }
        }
    }

    /// The plan for `set` (groups without a static obstacle) and whether it is proven minimal
    /// for what it repairs; `reasons` receives why each group the greedy pass gave up on could
    /// not be repaired.
    fn plan(&mut self, set: &[GroupId], reasons: &mut HashMap<GroupId, String>) -> (Vec<Move>, bool) {
        if set.is_empty() {
            return (Vec::new(), true);
        }
        let greedy = self.greedy(set, reasons);
        let greedy_repaired: Vec<GroupId> = set.iter().copied().filter(|&group| self.is_compliant(group)).collect();
        self.undo(&mut greedy.clone(), 0);

        if greedy_repaired.len() == set.len() {
            return self.shorten(set, greedy);
        }
        // The greedy pass left groups unrepaired: look for a plan that repairs them all, and
        // remember the state that repairs the most on the way.
        // Half the budget at most, so that what is left can still shorten a partial plan.
        let reserve = self.budget - self.budget / 2;
        self.budget -= reserve;
        let mut search = Search::new(self.original, &self.avoid, &mut self.budget, set, true);
        let outcome = search.run(self.max_moves);
        let partial = search.best_partial();
        self.budget += reserve;
        if let Outcome::Found(moves) = outcome {
            return (moves, true);
        }
        // Otherwise keep what the greedy pass repairs, unless the search saw a state that
        // repairs all of that and more.
        match partial {
            Some((repaired, moves))
                if repaired.len() > greedy_repaired.len() && greedy_repaired.iter().all(|g| repaired.contains(g)) =>
            {
                self.shorten(&repaired, moves)
            }
            _ => self.shorten(&greedy_repaired, greedy),
        }
    }

    /// `plan` repairs every group of `set`, from the original state: the shortest plan the
    /// search finds for `set`, and whether it is proven minimal.
    fn shorten(&mut self, set: &[GroupId], plan: Vec<Move>) -> (Vec<Move>, bool) {
        if set.is_empty() {
            return (Vec::new(), true);
        }
        let mut largest = 0;
        let mut sum = 0;
        for &group in set {
            let bound = lower_bound(self.original, group);
            largest = largest.max(bound);
            sum += bound;
        }
        let share = self.share(set);
        if plan.len() <= total_bound(largest, sum, share) as usize {
            return (plan, true);
        }
        let mut search = Search::new(self.original, &self.avoid, &mut self.budget, set, false);
        match search.run(plan.len() - 1) {
            Outcome::Found(shorter) => (shorter, true),
            Outcome::Exhausted => (plan, true),
            Outcome::OutOfBudget => (plan, false),
        }
    }

    /// The most groups of `set` one movable instance belongs to.
    fn share(&self, set: &[GroupId]) -> u32 {
        let mut counts: HashMap<InstanceId, u32> = HashMap::new();
        for group in set {
            for member in &self.original.groups[group].members {
                if movable(self.original, *member) {
                    *counts.entry(*member).or_default() += 1;
                }
            }
        }
        counts.values().copied().max().unwrap_or(1)
    }

    // The greedy pass.

    /// Repairs the groups of `set` one after another (by id), leaving the working copy in the
    /// state the moves reach. Every move keeps every member that was compliant compliant (so a
    /// repaired group stays repaired) and makes the group being repaired strictly better. A
    /// group the pass cannot finish has its moves undone and its reason recorded.
    fn greedy(&mut self, set: &[GroupId], reasons: &mut HashMap<GroupId, String>) -> Vec<Move> {
        let mut moves = Vec::new();
        for &group in set {
            if self.is_compliant(group) {
                continue;
            }
            let checkpoint = moves.len();
            if let Err(reason) = self.greedy_group(group, &mut moves) {
                self.undo(&mut moves, checkpoint);
                reasons.insert(group, reason);
            }
        }
        moves
    }

    fn greedy_group(&mut self, group: GroupId, moves: &mut Vec<Move>) -> Result<(), String> {
        let mut flags = Vec::new();
        loop {
            member_flags(&self.work, group, &mut flags);
            let Some(latest) = flags.iter().rposition(|compliant| !compliant) else { return Ok(()) };
            if moves.len() >= self.max_moves {
                return Err(format!("repairing it would take more than {} moves", self.max_moves));
            }
            let candidates = match self.work.groups[&group].spec.kind {
                GroupKind::AntiAffinity => self.anti_affinity_candidates(group),
                GroupKind::Affinity => self.affinity_candidates(group, &flags),
            };
            let mut failure = None;
            let mut moved = false;
            for (instance, aim) in candidates {
                match self.greedy_move(instance, group, aim) {
                    Ok(step) => {
                        moves.push(step);
                        moved = true;
                        break;
                    }
                    Err(why) => {
                        failure.get_or_insert(why);
                    }
                }
            }
            if !moved {
                let why = failure.unwrap_or_else(|| "no member can move".to_string());
                let member = self.work.groups[&group].members[latest];
                let compliance = self.work.group_compliance(group).expect("a known group");
                let breach = compliance.member(member).and_then(|m| m.breach.clone());
                let breach = breach.map_or_else(String::new, |breach| format!(" {breach}"));
                return Err(format!("member {member}{breach}; {why}"));
            }
        }
    }

    /// Anti-affinity: the members of the domain where the latest non-compliant member is
    /// crowded, later joiners first (latest first), then the earlier ones (latest first).
    fn anti_affinity_candidates(&self, group: GroupId) -> Vec<(InstanceId, Aim)> {
        let entry = &self.work.groups[&group];
        let spec = &entry.spec;
        let max = spec.max_per_domain.max(1) as usize;
        let mut tracker = Tracker::new(spec.kind, spec.max_per_domain);
        let mut crowded = None;
        for &member in &entry.members {
            let domains = domains_of(&self.work, member, spec.domain);
            if let Some(crate::compliance::RawBreach::Crowded { key, .. }) = tracker.admit(member, domains) {
                crowded = Some(key);
            }
        }
        let Some(key) = crowded else { return Vec::new() };
        let inside: Vec<InstanceId> = entry
            .members
            .iter()
            .copied()
            .filter(|&member| domains_of(&self.work, member, spec.domain).contains(key))
            .collect();
        let (earlier, later) = inside.split_at(max.min(inside.len()));
        later.iter().rev().chain(earlier.iter().rev()).map(|&member| (member, Aim::Anywhere)).collect()
    }

    /// Affinity: the anchor to the domain holding most of the others when it stands alone
    /// and at least two others share that domain, then every member outside the anchor's
    /// domain, in join order.
    fn affinity_candidates(&self, group: GroupId, flags: &[bool]) -> Vec<(InstanceId, Aim)> {
        let entry = &self.work.groups[&group];
        let domain = entry.spec.domain;
        let mut candidates = Vec::new();
        let placed: Vec<(usize, InstanceId, DomainSet)> = entry
            .members
            .iter()
            .enumerate()
            .map(|(position, &member)| (position, member, domains_of(&self.work, member, domain)))
            .filter(|(_, _, domains)| !domains.is_empty())
            .collect();
        let Some((&(_, anchor, _), others)) = placed.split_first() else { return candidates };
        let alone = others.iter().all(|(position, _, _)| !flags[*position]);
        if alone && movable(&self.work, anchor) {
            // The domain with most members; ties go to the one its earliest member joined first.
            let mut counts: Vec<(usize, usize)> = Vec::new();
            for (_, _, domains) in others {
                if let [key] = domains.as_slice() {
                    match counts.iter_mut().find(|(k, _)| k == key) {
                        Some((_, count)) => *count += 1,
                        None => counts.push((*key, 1)),
                    }
                }
            }
            let best = counts.iter().fold(None, |best: Option<(usize, usize)>, &(key, count)| match best {
                Some((_, most)) if most >= count => best,
                _ => Some((key, count)),
            });
            if let Some((key, count)) = best
                && count >= 2
            {
                candidates.push((anchor, Aim::Domain(key)));
            }
        }
        for (position, member, _) in others {
            if !flags[*position] {
                candidates.push((*member, Aim::Anchor));
            }
        }
        candidates
    }

    /// Moves `instance` to the first host that keeps every member of its groups that is
    /// compliant compliant and makes `group` better, trying `choose_host`'s choice (compliant
    /// only, then strict only) before scanning hosts in preference order.
    fn greedy_move(&mut self, instance: InstanceId, group: GroupId, aim: Aim) -> Result<Move, String> {
        let Some(entry) = self.work.instances.get(&instance) else {
            return Err(format!("member {instance} is not in the fleet"));
        };
        let (Some(from), None) = (entry.host, entry.target) else {
            let why = if entry.host.is_none() { "is offline" } else { "is migrating" };
            return Err(format!("member {instance} {why} and cannot move"));
        };
        let size = entry.size;
        let groups = entry.groups.clone();
        let from_id = self.work.hosts[from].id;
        let mut avoid = vec![from_id];
        avoid.extend(self.avoid.get(&instance).into_iter().flatten().copied());

        let mut before: Vec<(GroupId, Vec<bool>)> = Vec::with_capacity(groups.len());
        for &g in &groups {
            let mut flags = Vec::new();
            member_flags(&self.work, g, &mut flags);
            before.push((g, flags));
        }
        let mut tried: Vec<usize> = Vec::new();
        let mut no_host = None;
        let mut scratch = Vec::new();
        let scan: Vec<usize> = match aim {
            Aim::Anywhere | Aim::Anchor => {
                for compliant_only in [true, false] {
                    let request = PlacementRequest {
                        size,
                        groups: &groups,
                        moving: Some(instance),
                        avoid: &avoid,
                        compliant_only,
                    };
                    match self.work.choose_host(&request) {
                        Ok(placement) => {
                            let to = self.work.host_position(placement.host).expect("a chosen host is known");
                            if !tried.contains(&to) {
                                tried.push(to);
                                if self.try_move(instance, from, to, group, &before, &mut scratch) {
                                    return Ok(Move { instance, from: from_id, to: placement.host });
                                }
                            }
                        }
                        Err(ChooseError::NoHost(found)) => {
                            if compliant_only {
                                no_host = Some(found);
                            }
                        }
                        Err(ChooseError::Fleet(_)) => {}
                    }
                }
                match aim {
                    Aim::Anchor => self.anchor_hosts(group),
                    _ => self.work.order.iter().map(|key| key.index).collect(),
                }
            }
            Aim::Domain(key) => {
                let domain = self.work.groups[&group].spec.domain;
                let mut hosts: Vec<usize> = match domain {
                    FailureDomain::Host => vec![key],
                    FailureDomain::Rack => self.work.rack_hosts[key].clone(),
                };
                hosts.sort_by_key(|&index| self.work.hosts[index].order_key());
                hosts
            }
        };
        let mut verified = 0;
        for to in scan {
            if verified >= SCAN_LIMIT {
                break;
            }
            let host = &self.work.hosts[to];
            if to == from
                || tried.contains(&to)
                || host.state != HostState::Active
                || !size.fits_in(&host.free())
                || self.avoided(instance, host.id)
            {
                continue;
            }
            verified += 1;
            let to_id = host.id;
            if self.try_move(instance, from, to, group, &before, &mut scratch) {
                return Ok(Move { instance, from: from_id, to: to_id });
            }
        }
        Err(match no_host {
            Some(no_host) => format!("no host can take member {instance}: {no_host}"),
            None => format!("no host can take member {instance} without breaking a compliant member"),
        })
    }

    /// The hosts of the anchor's domain of an affinity group, in preference order.
    fn anchor_hosts(&self, group: GroupId) -> Vec<usize> {
        let entry = &self.work.groups[&group];
        let domain = entry.spec.domain;
        let anchor = entry.members.iter().map(|&m| domains_of(&self.work, m, domain)).find(|d| !d.is_empty());
        let mut hosts: Vec<usize> = (0..self.work.hosts.len())
            .filter(|&index| anchor.is_some_and(|domains| domains.contains(self.work.domain_key(index, domain))))
            .collect();
        hosts.sort_by_key(|&index| self.work.hosts[index].order_key());
        hosts
    }

    /// Applies the move if it is capacity-feasible, keeps every compliant member of the
    /// instance's groups compliant and lowers the number of non-compliant members of `group`;
    /// otherwise leaves the working copy as it was.
    fn try_move(
        &mut self,
        instance: InstanceId,
        from: usize,
        to: usize,
        group: GroupId,
        before: &[(GroupId, Vec<bool>)],
        scratch: &mut Vec<bool>,
    ) -> bool {
        let host = &self.work.hosts[to];
        let size = self.work.instances[&instance].size;
        if to == from
            || host.state != HostState::Active
            || !size.fits_in(&host.free())
            || self.avoided(instance, host.id)
        {
            return false;
        }
        let (to_id, from_id) = (host.id, self.work.hosts[from].id);
        self.work.instance_move(instance, Some(to_id)).expect("a known instance and host");
        let mut better = true;
        for (g, flags) in before {
            member_flags(&self.work, *g, scratch);
            if flags.iter().zip(scratch.iter()).any(|(before, after)| *before && !*after) {
                better = false;
                break;
            }
            if *g == group {
                let bad = |flags: &[bool]| flags.iter().filter(|compliant| !**compliant).count();
                if bad(scratch) >= bad(flags) {
                    better = false;
                    break;
                }
            }
        }
        if !better {
            self.work.instance_move(instance, Some(from_id)).expect("a known instance and host");
        }
        better
    }
}

fn list(instances: &[InstanceId]) -> String {
    instances.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

// The exact search.

/// FNV-1a: the search hashes many short states, where SipHash's resistance to flooding buys
/// nothing (the states are the engine's own) and costs most of the time.
#[derive(Clone, Copy, Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type FnvMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

/// How a search ended.
enum Outcome {
    /// The shortest plan, proven: nothing shorter repairs the set.
    Found(Vec<Move>),
    /// No plan within the bound repairs the set.
    Exhausted,
    /// The budget ran out first.
    OutOfBudget,
}

/// A host as the search sees it.
struct HostModel {
    id: HostId,
    rack: usize,
    capacity: Resources,
    used: Resources,
    active: bool,
}

/// A member of a group as the search sees it: a candidate, which stands where the state puts
/// it, or an instance that cannot move, which stands where it stands.
#[derive(Clone, Copy)]
enum Member {
    Moving(usize),
    Fixed(DomainSet),
}

/// A group the search must keep an eye on: one of the set, or a group of a candidate.
struct GroupModel {
    kind: GroupKind,
    domain: FailureDomain,
    max_per_domain: u32,
    members: Vec<(InstanceId, Member)>,
    /// Each member's compliance before the plan.
    baseline: Vec<bool>,
}

/// An instance the search may move: every instance that runs on a host and is not migrating.
struct Candidate {
    id: InstanceId,
    origin: usize,
    size: Resources,
    /// Its groups (positions in `Search::groups`).
    groups: Vec<usize>,
    /// Positions in the search's set of the groups being repaired it belongs to.
    in_set: Vec<usize>,
    /// The hosts it may not go to.
    avoid: Vec<usize>,
}

/// A state: which candidates stand away from where they started (candidate, host index),
/// sorted by candidate.
type State = Vec<(u32, u32)>;

struct Node {
    parent: usize,
    step: Option<(u32, u32, u32)>,
    state: State,
}

/// A* over move sequences, on a compact model of the fleet of its own (hosts with their
/// usage, and the groups involved with their members resolved), so that a candidate move
/// costs no lookup by id.
///
/// Every move of every movable instance to every host is a successor (subject to the rules),
/// so a plan it returns as `Found` is the shortest there is, and `Exhausted` proves there is
/// none within the bound. The heuristic is the total bound of the set in the node's state,
/// which no move lowers by more than one (consistent), so a state is expanded at most once.
struct Search<'b> {
    budget: &'b mut usize,
    hosts: Vec<HostModel>,
    /// Every host index, by host id.
    by_id: Vec<usize>,
    groups: Vec<GroupModel>,
    /// The groups being repaired (positions in `groups`), and their ids.
    set: Vec<usize>,
    set_ids: Vec<GroupId>,
    share: u32,
    candidates: Vec<Candidate>,
    /// Where each candidate stands in the current state.
    positions: Vec<usize>,
    /// The state the model is in.
    current: State,
    nodes: Vec<Node>,
    seen: FnvMap<State, u32>,
    track_partial: bool,
    /// The state seen that repairs the most groups of the set, with the fewest moves:
    /// (how many, moves, node, which).
    partial: Option<(usize, u32, usize, Vec<GroupId>)>,
    flags: Vec<bool>,
    keys: Vec<usize>,
}

impl<'b> Search<'b> {
    /// A search from the state of `fleet` for plans that repair every group of `set`.
    fn new(
        fleet: &Fleet,
        avoid: &HashMap<InstanceId, Vec<HostId>>,
        budget: &'b mut usize,
        set: &[GroupId],
        track_partial: bool,
    ) -> Search<'b> {
        let hosts: Vec<HostModel> = fleet
            .hosts
            .iter()
            .map(|host| HostModel {
                id: host.id,
                rack: host.rack,
                capacity: host.capacity,
                used: host.used,
                active: host.state == HostState::Active,
            })
            .collect();
        let mut by_id: Vec<usize> = (0..hosts.len()).collect();
        by_id.sort_by_key(|&index| hosts[index].id);

        let in_set: HashSet<GroupId> = set.iter().copied().collect();
        let mut ids: Vec<InstanceId> = fleet
            .instances
            .iter()
            .filter(|(_, entry)| entry.host.is_some() && entry.target.is_none())
            .map(|(id, _)| *id)
            .collect();
        // Members of the groups to repair first: they are what the plans are made of.
        ids.sort_by_key(|id| (!fleet.instances[id].groups.iter().any(|g| in_set.contains(g)), *id));
        let position: HashMap<InstanceId, usize> = ids.iter().enumerate().map(|(c, id)| (*id, c)).collect();

        let mut group_ids: Vec<GroupId> =
            ids.iter().flat_map(|id| fleet.instances[id].groups.iter().copied()).chain(set.iter().copied()).collect();
        group_ids.sort();
        group_ids.dedup();
        let group_position: HashMap<GroupId, usize> = group_ids.iter().enumerate().map(|(g, id)| (*id, g)).collect();
        let mut groups: Vec<GroupModel> = group_ids
            .iter()
            .map(|id| {
                let entry = &fleet.groups[id];
                let members = entry
                    .members
                    .iter()
                    .map(|&member| match position.get(&member) {
                        Some(&candidate) => (member, Member::Moving(candidate)),
                        None => (member, Member::Fixed(domains_of(fleet, member, entry.spec.domain))),
                    })
                    .collect();
                GroupModel {
                    kind: entry.spec.kind,
                    domain: entry.spec.domain,
                    max_per_domain: entry.spec.max_per_domain,
                    members,
                    baseline: Vec::new(),
                }
            })
            .collect();

        let candidates: Vec<Candidate> = ids
            .iter()
            .map(|id| {
                let entry = &fleet.instances[id];
                let avoid =
                    avoid.get(id).into_iter().flatten().filter_map(|host| fleet.host_position(*host).ok()).collect();
                Candidate {
                    id: *id,
                    origin: entry.host.expect("a candidate runs on a host"),
                    size: entry.size,
                    groups: entry.groups.iter().filter_map(|g| group_position.get(g).copied()).collect(),
                    in_set: set.iter().enumerate().filter(|(_, g)| entry.groups.contains(g)).map(|(p, _)| p).collect(),
                    avoid,
                }
            })
            .collect();
        let share = candidates.iter().map(|c| c.in_set.len() as u32).max().unwrap_or(1).max(1);
        let positions = candidates.iter().map(|c| c.origin).collect();
        let set_positions = set.iter().map(|id| group_position[id]).collect();

        let mut search = Search {
            budget,
            hosts,
            by_id,
            groups: Vec::new(),
            set: set_positions,
            set_ids: set.to_vec(),
            share,
            candidates,
            positions,
            current: Vec::new(),
            nodes: Vec::new(),
            seen: FnvMap::default(),
            track_partial,
            partial: None,
            flags: Vec::new(),
            keys: Vec::new(),
        };
        for group in &mut groups {
            search.group_flags(group);
            group.baseline = std::mem::take(&mut search.flags);
        }
        search.groups = groups;
        search
    }

    fn domains(&self, member: Member, domain: FailureDomain) -> DomainSet {
        match member {
            Member::Fixed(domains) => domains,
            Member::Moving(candidate) => {
                let host = self.positions[candidate];
                let mut domains = DomainSet::default();
                domains.insert(match domain {
                    FailureDomain::Host => host,
                    FailureDomain::Rack => self.hosts[host].rack,
                });
                domains
            }
        }
    }

    /// The group's member flags in the current state, into `self.flags`.
    fn group_flags(&mut self, group: &GroupModel) {
        let mut flags = std::mem::take(&mut self.flags);
        let members = group.members.iter().map(|&(id, member)| (id, self.domains(member, group.domain)));
        flags_from(group.kind, group.max_per_domain, members, &mut flags);
        self.flags = flags;
    }

    /// Whether every member of the candidate's groups that was compliant before the plan
    /// still is.
    fn keeps_baseline(&mut self, candidate: usize) -> bool {
        for position in 0..self.candidates[candidate].groups.len() {
            let g = self.candidates[candidate].groups[position];
            let mut flags = std::mem::take(&mut self.flags);
            let group = &self.groups[g];
            let members = group.members.iter().map(|&(id, member)| (id, self.domains(member, group.domain)));
            flags_from(group.kind, group.max_per_domain, members, &mut flags);
            let kept = group.baseline.iter().zip(&flags).all(|(before, after)| !before || *after);
            self.flags = flags;
            if !kept {
                return false;
            }
        }
        true
    }

    /// The bound of the set's group at `position` in the current state.
    fn bound(&mut self, position: usize) -> u32 {
        let mut keys = std::mem::take(&mut self.keys);
        let group = &self.groups[self.set[position]];
        let members = group
            .members
            .iter()
            .map(|&(_, member)| (self.domains(member, group.domain), matches!(member, Member::Moving(_))));
        let bound = bound_from(group.kind, group.max_per_domain, members, &mut keys);
        self.keys = keys;
        bound
    }

    fn bounds(&mut self) -> Vec<u32> {
        (0..self.set.len()).map(|position| self.bound(position)).collect()
    }

    fn heuristic(&self, bounds: &[u32]) -> u32 {
        let largest = bounds.iter().copied().max().unwrap_or(0);
        let sum = bounds.iter().sum();
        total_bound(largest, sum, self.share)
    }

    /// Puts candidate `candidate` on host `to`.
    fn shift(&mut self, candidate: usize, to: usize) {
        let from = std::mem::replace(&mut self.positions[candidate], to);
        let size = self.candidates[candidate].size;
        self.hosts[from].used = self.hosts[from].used.saturating_sub(&size);
        self.hosts[to].used = self.hosts[to].used.saturating_add(&size);
    }

    /// Moves the model from the current state to `state`.
    fn goto(&mut self, state: &[(u32, u32)]) {
        let current = std::mem::take(&mut self.current);
        for &(candidate, _) in &current {
            if state.binary_search_by_key(&candidate, |(c, _)| *c).is_err() {
                self.shift(candidate as usize, self.candidates[candidate as usize].origin);
            }
        }
        for &(candidate, host) in state {
            if self.positions[candidate as usize] != host as usize {
                self.shift(candidate as usize, host as usize);
            }
        }
        self.current = state.to_vec();
    }

    fn path(&self, mut node: usize) -> Vec<Move> {
        let mut moves = Vec::new();
        while let Some((candidate, from, to)) = self.nodes[node].step {
            moves.push(Move {
                instance: self.candidates[candidate as usize].id,
                from: self.hosts[from as usize].id,
                to: self.hosts[to as usize].id,
            });
            node = self.nodes[node].parent;
        }
        moves.reverse();
        moves
    }

    /// The groups of the set repaired in the best partial state seen, and the plan reaching it.
    fn best_partial(&self) -> Option<(Vec<GroupId>, Vec<Move>)> {
        let (_, _, node, repaired) = self.partial.as_ref()?;
        Some((repaired.clone(), self.path(*node)))
    }

    /// Searches for the shortest plan of at most `bound` moves that makes every group of the
    /// set compliant.
    fn run(&mut self, bound: usize) -> Outcome {
        let bound = u32::try_from(bound).unwrap_or(u32::MAX);
        self.goto(&[]);
        let root_bounds = self.bounds();
        let root_h = self.heuristic(&root_bounds);
        if root_h == 0 {
            return Outcome::Found(Vec::new());
        }
        if root_h > bound {
            return Outcome::Exhausted;
        }
        self.nodes.push(Node { parent: usize::MAX, step: None, state: Vec::new() });
        self.seen.insert(Vec::new(), 0);
        // Lowest f first, then most moves (closest to a goal), then the earliest generated.
        let mut open: BinaryHeap<(Reverse<u32>, u32, Reverse<usize>)> = BinaryHeap::new();
        open.push((Reverse(root_h), 0, Reverse(0)));
        while let Some((Reverse(f), moves, Reverse(id))) = open.pop() {
            let state = self.nodes[id].state.clone();
            if self.seen.get(&state).is_some_and(|&best| best < moves) {
                continue;
            }
            self.goto(&state);
            let node_bounds = self.bounds();
            if self.heuristic(&node_bounds) == 0 {
                return Outcome::Found(self.path(id));
            }
            for candidate in 0..self.candidates.len() {
                let from = self.positions[candidate];
                for position in 0..self.by_id.len() {
                    if *self.budget == 0 {
                        return Outcome::OutOfBudget;
                    }
                    *self.budget -= 1;
                    let to = self.by_id[position];
                    let host = &self.hosts[to];
                    let cand = &self.candidates[candidate];
                    if to == from
                        || !host.active
                        || !cand.size.fits_in(&host.capacity.saturating_sub(&host.used))
                        || cand.avoid.contains(&to)
                    {
                        continue;
                    }
                    self.shift(candidate, to);
                    let allowed = self.keeps_baseline(candidate);
                    let mut child_bounds = Vec::new();
                    if allowed {
                        child_bounds = node_bounds.clone();
                        for p in 0..self.candidates[candidate].in_set.len() {
                            let set_position = self.candidates[candidate].in_set[p];
                            child_bounds[set_position] = self.bound(set_position);
                        }
                    }
                    self.shift(candidate, from);
                    if !allowed {
                        continue;
                    }
                    let mut child_state = state.clone();
                    let key = candidate as u32;
                    let origin = self.candidates[candidate].origin;
                    match child_state.binary_search_by_key(&key, |(c, _)| *c) {
                        Ok(p) if to == origin => {
                            child_state.remove(p);
                        }
                        Ok(p) => child_state[p].1 = to as u32,
                        Err(p) => {
                            if to != origin {
                                child_state.insert(p, (key, to as u32));
                            }
                        }
                    }
                    let child_moves = moves + 1;
                    if self.seen.get(&child_state).is_some_and(|&best| best <= child_moves) {
                        continue;
                    }
                    let child_h = self.heuristic(&child_bounds);
                    let child_f = child_moves + child_h;
                    let repaired = child_bounds.iter().filter(|b| **b == 0).count();
                    let better_partial = self.track_partial
                        && repaired > 0
                        && self.partial.as_ref().is_none_or(|(most, fewest, _, _)| {
                            repaired > *most || (repaired == *most && child_moves < *fewest)
                        });
                    if child_f > bound && !better_partial {
                        continue;
                    }
                    let child = self.nodes.len();
                    self.nodes.push(Node {
                        parent: id,
                        step: Some((key, from as u32, to as u32)),
                        state: child_state.clone(),
                    });
                    if better_partial {
                        let groups =
                            self.set_ids.iter().zip(&child_bounds).filter(|(_, b)| **b == 0).map(|(g, _)| *g).collect();
                        self.partial = Some((repaired, child_moves, child, groups));
                    }
                    if child_f > bound {
                        continue;
                    }
                    if child_h == 0 && child_f == f {
                        return Outcome::Found(self.path(child));
                    }
                    self.seen.insert(child_state, child_moves);
                    open.push((Reverse(child_f), child_moves, Reverse(child)));
                }
            }
        }
        Outcome::Exhausted
    }
}
