//! The integration tests of `berth-core`, in one binary: each `Berth` runs on a fresh database
//! (a SQLite file, or a PostgreSQL database when `BERTH_TEST_POSTGRES_URL` names a server).

mod region_check;
mod stale_cache;

use std::time::Duration;

use berth_core::{
    Berth, Field, FleetSeed, GroupChoice, InstanceCreate, InstanceState, Label, RackSeed, RegionId, RegionSeed,
    Resources, Settings,
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

/// A two-vCPU instance in [`REGION`], in `groups`, with a label of its own.
fn create(groups: Vec<GroupChoice>) -> InstanceCreate {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    InstanceCreate {
        label: Label::parse(Field::Label, &format!("vm-{number}")).unwrap(),
        unique_label: true,
        region: RegionId::parse(REGION).unwrap(),
        type_id: "standard-2".into(),
        size: Resources { vcpus: 2, memory_mib: 4 * 1024, disk_mib: 80 * 1024, gpus: 0 },
        image: None,
        tags: Vec::new(),
        labels: Default::default(),
        firewall: None,
        groups,
        state: InstanceState::Running,
    }
}
