//! Evacuation: where every instance of a host that is being drained (or has failed) should go.

use std::cmp::Reverse;

use crate::choose::{ChooseError, NoHost, PlacementRequest};
use crate::fleet::{Fleet, FleetError};
use crate::model::{GroupId, HostId, InstanceId, Resources};
use crate::repair::Move;

/// The plan for emptying one host: a move for every instance that has somewhere to go, in the
/// order they were chosen, and the instances no host can take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evacuation {
    /// In order: each target was chosen with the moves before it already applied.
    pub moves: Vec<Move>,
    /// The instances no host can take, with the reasons every host was excluded, in the order
    /// they were tried.
    pub stuck: Vec<(InstanceId, NoHost)>,
}

impl Fleet {
    /// Plans the evacuation of `host`: every instance that runs there and is not already
    /// migrating is re-placed, one after another, with the moves before it applied.
    ///
    /// Instances go largest first (most memory, then lowest instance id), so that big
    /// instances find room before small ones take it. Each goes where [`Fleet::choose_host`]
    /// puts it when asked for its size, every group it belongs to (strict groups exclude hosts,
    /// flexible ones are broken as little as possible), `moving` set to the instance and
    /// `avoid` set to `host`, whatever `host`'s own state. An instance no host can take is
    /// `stuck` with that attempt's [`NoHost`], and holds nothing elsewhere.
    ///
    /// Instances migrating away from `host` are left to their migration; instances migrating
    /// to it are not its instances yet (cancelling those migrations is the caller's choice).
    pub fn plan_evacuation(&self, host: HostId) -> Result<Evacuation, FleetError> {
        let index = self.host_position(host)?;
        let mut leaving: Vec<(InstanceId, Resources)> = self
            .instances
            .iter()
            .filter(|(_, entry)| entry.host == Some(index) && entry.target.is_none())
            .map(|(id, entry)| (*id, entry.size))
            .collect();
        leaving.sort_by_key(|(id, size)| (Reverse(size.memory_mib), *id));

        // Only the hosts and the members of the leaving instances' groups matter to the
        // choices, so the working copy keeps just those (see `Fleet::restricted`).
        let mut groups: Vec<GroupId> =
            leaving.iter().flat_map(|(id, _)| self.instances[id].groups.iter().copied()).collect();
        groups.sort();
        groups.dedup();
        let ids: Vec<InstanceId> = leaving.iter().map(|(id, _)| *id).collect();
        let mut work = self.restricted(&groups, &ids);

        let mut evacuation = Evacuation { moves: Vec::new(), stuck: Vec::new() };
        let avoid = [host];
        for (id, size) in leaving {
            let groups = self.instance_groups(id);
            let request = PlacementRequest { size, groups, moving: Some(id), avoid: &avoid, compliant_only: false };
            match work.choose_host(&request) {
                Ok(placement) => {
                    work.instance_move(id, Some(placement.host))?;
                    evacuation.moves.push(Move { instance: id, from: host, to: placement.host });
                }
                Err(ChooseError::NoHost(no_host)) => evacuation.stuck.push((id, no_host)),
                Err(ChooseError::Fleet(error)) => return Err(error),
            }
        }
        Ok(evacuation)
    }
}
