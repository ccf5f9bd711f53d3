//! The integration tests of `berth-core`, in one binary: each `Berth` runs on a fresh database
//! (a SQLite file, or a PostgreSQL database when `BERTH_TEST_POSTGRES_URL` names a server).

mod region_check;
mod stale_cache;

use std::time::Duration;

use berth_core::{
    Berth, FleetSeed, GroupChoice, InstanceCreate, InstanceState, RackSeed, RegionId, RegionSeed, Resources, Settings,
};

/// The one region of [`fleet`].
const REGION: &str = "two-proc";

/// A `Berth` on the database at `path`, as one process would open it.
async fn open(path: &str) -> Berth {
    let store = store::Store::open(path).await.unwrap();
    Berth::new(store, Settings { migration_duration: Duration::from_secs(60), ..Settings::default() })
}

/// One region of `hosts` hosts of `vcpus` vCPUs each, in one rack.
fn fleet(hosts: usize, vcpus: u32) -> FleetSeed {
    FleetSeed {
        regions: vec![RegionSeed {
            id: REGION.into(),
            label: "Two processes".into(),
            country: "us".into(),
            max_members_per_group: 10,
            max_groups_per_account: None,
            racks: vec![RackSeed {
                name: "r1".into(),
                hosts: vec![Resources { vcpus, memory_mib: 64 * 1024, disk_mib: 1024 * 1024, gpus: 0 }; hosts],
            }],
        }],
    }
}

/// A two-vCPU instance in [`REGION`], in `groups`.
fn create(groups: Vec<GroupChoice>) -> InstanceCreate {
    InstanceCreate {
        label: None,
        unique_label: true,
        region: RegionId::parse(REGION).unwrap(),
        type_id: "g6-standard-2".into(),
        disk_gib: None,
        image: None,
        tags: Vec::new(),
        labels: Default::default(),
        firewall: None,
        groups,
        state: InstanceState::Running,
    }
}
