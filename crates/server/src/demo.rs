//! The demo fleet `berth serve` seeds on an empty database: regions named as the Linode and
//! Exoscale clients know them, so that their SDKs and CLIs find familiar regions and zones.

use berth_core::{FleetSeed, RackSeed, RegionSeed, Resources};

const GIB: u64 = 1024;

fn capacity(vcpus: u32, memory_gib: u64, disk_gib: u64, gpus: u32) -> Resources {
    Resources { vcpus, memory_mib: memory_gib * GIB, disk_mib: disk_gib * GIB, gpus }
}

/// The demo fleet: four Linode regions and two Exoscale zones of sixteen hosts each, in four
/// racks of four, with the capacities of current two-socket servers. One rack in `us-east`
/// carries GPUs; in `de-fra-1` only two hosts do, so GPU instances there run out of hosts
/// first, as they do in real zones.
pub fn demo_fleet() -> FleetSeed {
    let region = |id: &str, label: &str, country: &str| RegionSeed {
        id: id.to_string(),
        label: label.to_string(),
        country: country.to_string(),
        max_members_per_group: 5,
        max_groups_per_account: None,
        racks: (1..=4)
            .map(|rack| RackSeed {
                name: format!("r{rack}"),
                hosts: (0..4)
                    .map(|host| match (rack, id, host) {
                        (1 | 2, _, _) => capacity(64, 256, 3840, 0),
                        (3, _, _) => capacity(96, 384, 7680, 0),
                        (_, "us-east", _) => capacity(64, 512, 7680, 4),
                        (_, "de-fra-1", 0 | 1) => capacity(64, 512, 7680, 4),
                        _ => capacity(128, 512, 7680, 0),
                    })
                    .collect(),
            })
            .collect(),
    };
    FleetSeed {
        regions: vec![
            region("ch-gva-2", "Geneva, CH", "ch"),
            region("de-fra-1", "Frankfurt, DE", "de"),
            region("eu-central", "Frankfurt, DE", "de"),
            region("us-east", "Newark, NJ", "us"),
            region("us-mia", "Miami, FL", "us"),
            region("us-ord", "Chicago, IL", "us"),
        ],
    }
}
